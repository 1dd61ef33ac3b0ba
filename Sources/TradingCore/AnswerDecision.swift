import Foundation

/// How a swipe answer branches (plan §8.2). Thresholds, also in docs/config-document.md:
/// value ≥ +8 approves, value ≤ −8 skips, anything strictly between is ambiguous and gets
/// a follow-up question. Values outside [−10, 10], NaN and infinities are refused.
public enum AnswerDecision: Sendable, Hashable {
    case approve
    case skip
    case ambiguous
    case invalid(String)

    public static let approveAtOrAbove: Double = 8
    public static let skipAtOrBelow: Double = -8
    public static let range: ClosedRange<Double> = -10...10

    public static func decide(_ value: Double) -> AnswerDecision {
        guard value.isFinite else { return .invalid("answer must be a finite number") }
        guard range.contains(value) else { return .invalid("answer must be between -10 and 10, got \(value)") }
        if value >= approveAtOrAbove { return .approve }
        if value <= skipAtOrBelow { return .skip }
        return .ambiguous
    }

    /// The decision of a JSON answer: `parse(json).decision`.
    public static func decide(_ json: JSONValue) -> AnswerDecision {
        parse(json).decision
    }

    /// Reads an answer as JSON carries it (a number, or a string holding one: the app sends
    /// both) into the one `Decimal` it is decided on. This is the only parser of answers:
    /// whoever stores the answer stores `ParsedAnswer.value`, so what is stored is what was
    /// decided.
    ///
    /// - A number is taken as it is.
    /// - A string is accepted when, without surrounding spaces or tabs, it is a plain decimal
    ///   numeral: an optional `+` or `-`, digits with at most one `.` (`10`, `-8.5`, `.5`, `10.`),
    ///   and optionally an exponent (`1e1`, `-8E0`), as a JSON number may have. Anything else is
    ///   `.invalid`: hexadecimal (`0x1p3`), `inf`, `nan`, an empty string, inner spaces, a
    ///   thousands separator, a decimal comma.
    /// - Digits beyond `Decimal`'s 38 significant ones are dropped (as `Decimal` reads them); the
    ///   shortened value is the one decided on and stored.
    /// - A finite number whose magnitude is beyond `Decimal`'s exponent range is 0 when tiny
    ///   (`1e-200`: within [−10, 10], and closer to 0 than any answer can tell apart) and
    ///   `.invalid` (out of range) when huge.
    public static func parse(_ json: JSONValue) -> ParsedAnswer {
        switch json {
        case .number(let number):
            return decided(number)
        case .string(let text):
            let trimmed = text.trimmingCharacters(in: .whitespaces)
            guard isDecimalNumeral(trimmed) else {
                return ParsedAnswer(value: nil, decision: .invalid("answer must be a number, got '\(text.prefix(40))'"))
            }
            if let number = Decimal(string: trimmed, locale: posix), !number.isNaN {
                return decided(number)
            }
            // A numeral Decimal cannot hold: its exponent is beyond Decimal's range. The grammar
            // above admits no "inf"/"nan"/hex, so Double reads it as a finite value or ±inf.
            let magnitude = abs(Double(trimmed) ?? .infinity)
            if magnitude < 1 { return decided(0) }
            return ParsedAnswer(value: nil, decision: .invalid("answer must be between -10 and 10, got \(trimmed.prefix(40))"))
        default:
            return ParsedAnswer(value: nil, decision: .invalid("answer must be a number, got \(json.typeName)"))
        }
    }

    private static let posix = Locale(identifier: "en_US_POSIX")
    private static let lowest = Decimal(-10), highest = Decimal(10)
    private static let approveAt = Decimal(8), skipAt = Decimal(-8)

    /// The decision on the exact `Decimal` (never via `Double`, which rounds 7.99999999999999999
    /// up to 8 and would approve what is stored as ambiguous).
    private static func decided(_ value: Decimal) -> ParsedAnswer {
        guard !value.isNaN else { return ParsedAnswer(value: nil, decision: .invalid("answer must be a finite number")) }
        guard value >= lowest, value <= highest else {
            return ParsedAnswer(value: nil, decision: .invalid("answer must be between -10 and 10, got \(value)"))
        }
        let decision: AnswerDecision = value >= approveAt ? .approve : value <= skipAt ? .skip : .ambiguous
        return ParsedAnswer(value: value, decision: decision)
    }

    /// `[+-]? (digits [. digits?] | . digits) ([eE] [+-]? digits)?`, ASCII only.
    static func isDecimalNumeral(_ text: String) -> Bool {
        var bytes = text.utf8[...]
        func isDigit(_ byte: UInt8) -> Bool { (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) }
        func digits() -> Int {
            let count = bytes.prefix(while: isDigit).count
            bytes = bytes.dropFirst(count)
            return count
        }
        func take(_ allowed: String) -> Bool {
            guard let first = bytes.first, allowed.utf8.contains(first) else { return false }
            bytes = bytes.dropFirst()
            return true
        }
        _ = take("+-")
        var mantissa = digits()
        if take(".") { mantissa += digits() }
        guard mantissa > 0 else { return false }
        if take("eE") {
            _ = take("+-")
            guard digits() > 0 else { return false }
        }
        return bytes.isEmpty
    }
}

/// An answer as read once: the `Decimal` decided on and the decision. `value` is nil exactly
/// when the decision is `.invalid`; otherwise it is the value to store with the answer.
public struct ParsedAnswer: Sendable, Hashable {
    public let value: Decimal?
    public let decision: AnswerDecision

    public init(value: Decimal?, decision: AnswerDecision) {
        self.value = value
        self.decision = decision
    }
}
