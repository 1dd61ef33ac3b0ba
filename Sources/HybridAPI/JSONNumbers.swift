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
        case let number as Double:
            guard number.isFinite else { return nil }
            if let decimal = Decimal(string: "\(number)") { return .number(decimal) }
            // Beyond Decimal's exponent range: a magnitude like 1e-200 is 0 as an answer (a huge
            // one stays refused: it is outside [-10, 10] anyway).
            return abs(number) < 1 ? .number(0) : nil
        case let number as NSNumber: return .number(number.decimalValue)
        default: return nil
        }
    }
}
