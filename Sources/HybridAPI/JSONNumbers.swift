import Foundation
import TradingCore

/// Answer values from untyped JSON (JSONSerialization): a number or a numeric string; never
/// a boolean (which Foundation may also hand out as a number).
enum AnswerValue {
    static func parse(_ raw: Any?) -> JSONValue? {
        guard let raw else { return nil }
        if raw is Bool, String(describing: type(of: raw)).contains("Bool") { return nil }
        switch raw {
        case let text as String: return .string(text)
        case let number as Int: return .number(Decimal(number))
        case let number as Double: return number.isFinite ? Decimal(string: "\(number)").map { .number($0) } : nil
        case let number as NSNumber: return .number(number.decimalValue)
        default: return nil
        }
    }
}
