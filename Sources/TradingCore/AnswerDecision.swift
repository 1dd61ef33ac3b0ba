import Foundation

/// How a swipe answer branches (plan §8.2). Thresholds, also in the README:
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

    /// Answers arrive as JSON: a number, or a string holding one (the app sends both).
    public static func decide(_ json: JSONValue) -> AnswerDecision {
        switch json {
        case .number(let number):
            return decide(NSDecimalNumber(decimal: number).doubleValue)
        case .string(let text):
            guard let value = Double(text.trimmingCharacters(in: .whitespaces)) else {
                return .invalid("answer must be a number, got '\(text.prefix(40))'")
            }
            return decide(value)
        default:
            return .invalid("answer must be a number, got \(json.typeName)")
        }
    }
}
