import Foundation

/// `{{placeholder}}` substitution for question text.
public enum QuestionTemplate {
    /// `pct` is the size of the move (no sign: "down {{pct}}%"); `change_pct` keeps the sign.
    public static let placeholders: [String] = ["symbol", "price", "pct", "change_pct", "ref", "rule_id"]

    public struct Values: Sendable, Hashable {
        public var symbol: String
        public var price: Decimal
        public var reference: Decimal
        public var changePct: Decimal
        public var ruleID: String

        public init(symbol: String, price: Decimal, reference: Decimal, changePct: Decimal, ruleID: String) {
            self.symbol = symbol
            self.price = price
            self.reference = reference
            self.changePct = changePct
            self.ruleID = ruleID
        }

        func value(of name: String) -> String? {
            switch name {
            case "symbol": symbol
            case "price": Money.format(price)
            case "ref": Money.format(reference)
            case "pct": Money.format(abs(changePct))
            case "change_pct": Money.format(changePct)
            case "rule_id": ruleID
            default: nil
            }
        }
    }

    /// Problems in a template: unknown placeholders, unclosed braces, empty or too long.
    public static func problems(in template: String) -> [String] {
        var problems: [String] = []
        if template.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty { problems.append("must not be empty") }
        if template.count > 500 { problems.append("must be at most 500 characters, got \(template.count)") }
        for token in tokens(in: template) {
            switch token {
            case .placeholder(let name, _) where !placeholders.contains(name):
                let allowed = placeholders.map { "{{\($0)}}" }.joined(separator: ", ")
                problems.append("unknown placeholder {{\(name)}}; allowed: \(allowed)")
            case .unclosed:
                problems.append("'{{' without a matching '}}'")
            default: break
            }
        }
        return problems
    }

    /// Renders a template that passed validation; unknown placeholders are left as written.
    public static func render(_ template: String, values: Values) -> String {
        tokens(in: template).map { token in
            switch token {
            case .text(let text): text
            case .placeholder(let name, let raw): values.value(of: name) ?? raw
            case .unclosed(let text): text
            }
        }.joined()
    }

    enum Token: Equatable {
        case text(String)
        /// The trimmed name, and the text as written (kept when the name is unknown).
        case placeholder(String, raw: String)
        case unclosed(String)
    }

    static func tokens(in template: String) -> [Token] {
        var tokens: [Token] = []
        var rest = Substring(template)
        while let open = rest.range(of: "{{") {
            if open.lowerBound > rest.startIndex { tokens.append(.text(String(rest[..<open.lowerBound]))) }
            let afterOpen = rest[open.upperBound...]
            guard let close = afterOpen.range(of: "}}") else {
                tokens.append(.unclosed(String(rest[open.lowerBound...])))
                return tokens
            }
            let name = afterOpen[..<close.lowerBound].trimmingCharacters(in: .whitespaces)
            tokens.append(.placeholder(name, raw: String(rest[open.lowerBound..<close.upperBound])))
            rest = afterOpen[close.upperBound...]
        }
        if !rest.isEmpty { tokens.append(.text(String(rest))) }
        return tokens
    }
}

/// Decimal formatting and rounding for prices, percentages and dollars.
public enum Money {
    /// Rounds half away from zero to `scale` places.
    public static func rounded(_ value: Decimal, scale: Int = 2) -> Decimal {
        var input = value
        var result = Decimal()
        NSDecimalRound(&result, &input, scale, .plain)
        return result
    }

    /// A quantity as typed: "2", "0.5", "1.234" (no trailing zeros, no grouping).
    public static func plain(_ value: Decimal) -> String {
        NSDecimalNumber(decimal: rounded(value, scale: 9)).stringValue
    }

    /// "492.00", "-1.60": always `scale` decimals, '.' separator whatever the locale.
    public static func format(_ value: Decimal, scale: Int = 2) -> String {
        let value = rounded(value, scale: scale)
        let negative = value < 0
        let magnitude = negative ? -value : value
        var text = NSDecimalNumber(decimal: magnitude).stringValue
        if scale > 0 {
            let parts = text.split(separator: ".", omittingEmptySubsequences: false)
            let whole = parts.first.map(String.init) ?? "0"
            var fraction = parts.count > 1 ? String(parts[1]) : ""
            fraction += String(repeating: "0", count: max(0, scale - fraction.count))
            text = "\(whole).\(fraction.prefix(scale))"
        }
        return (negative && value != 0 ? "-" : "") + text
    }
}
