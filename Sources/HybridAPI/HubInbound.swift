import Foundation
import TradingCore

/// A JSON value from a client, read leniently: a number beyond `Decimal`'s range is not a
/// reason to drop the message. A tiny one (1e-200) is 0; a huge one (1e300) is `null`, which no
/// hub method takes as a number.
struct LenientJSON: Decodable, Sendable {
    let value: JSONValue

    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            value = .null
        } else if let flag = try? container.decode(Bool.self) {
            value = .bool(flag)
        } else if let number = try? container.decode(Decimal.self) {
            value = .number(number)
        } else if let number = try? container.decode(Double.self) {
            value = number.isFinite && abs(number) < 1 ? .number(0) : .null
        } else if let text = try? container.decode(String.self) {
            value = .string(text)
        } else if let items = try? container.decode([LenientJSON].self) {
            value = .array(items.map(\.value))
        } else if let fields = try? container.decode([String: LenientJSON].self) {
            value = .object(fields.mapValues(\.value))
        } else {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: "not a JSON value")
        }
    }
}

/// One message from a SignalR client (JSON hub protocol): the handshake's fields or a hub
/// message's. A field of the wrong type reads as absent, and the session answers as SignalR
/// servers do (a handshake error, a completion with an error, or a close).
struct HubInbound: Decodable, Sendable {
    var `protocol`: String?
    var version: Int?
    var type: Int?
    var invocationId: String?
    var target: String?
    var arguments: [JSONValue]?

    enum CodingKeys: String, CodingKey {
        case `protocol`, version, type, invocationId, target, arguments
    }

    init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        `protocol` = try? container.decode(String.self, forKey: .protocol)
        version = Self.whole(container, .version)
        type = Self.whole(container, .type)
        invocationId = try? container.decode(String.self, forKey: .invocationId)
        target = try? container.decode(String.self, forKey: .target)
        arguments = (try? container.decode([LenientJSON].self, forKey: .arguments))?.map(\.value)
    }

    /// A number's whole part (`1.0` and `1.5` are 1, as a number's `intValue` reads them).
    static func whole(_ container: KeyedDecodingContainer<CodingKeys>, _ key: CodingKeys) -> Int? {
        if let value = try? container.decode(Int.self, forKey: key) { return value }
        guard let value = try? container.decode(Double.self, forKey: key), value.isFinite, abs(value) < 1e15 else { return nil }
        return Int(value)
    }

    /// `SubmitAnswer`'s arguments: `(questionId, value)` or `({questionId, value})` (also
    /// `question_id`/`id` and `answer`); the value a number or a numeric string.
    var answerArguments: (UUID, JSONValue)? {
        let arguments = self.arguments ?? []
        var idValue: JSONValue?, raw: JSONValue?
        if arguments.count == 1, case .object(let fields) = arguments[0] {
            idValue = fields["questionId"] ?? fields["question_id"] ?? fields["id"]
            raw = fields["value"] ?? fields["answer"]
        } else if arguments.count == 2 {
            idValue = arguments[0]
            raw = arguments[1]
        }
        guard case .string(let idText)? = idValue, let id = UUID(uuidString: idText) else { return nil }
        switch raw {
        case .number(let number)?: return (id, .number(number))
        case .string(let text)?: return (id, .string(text))
        default: return nil
        }
    }
}
