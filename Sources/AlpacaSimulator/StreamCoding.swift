import AlpacaModels
import Foundation
import MessagePack
import NIOCore
import TradingCore

/// Stream frames are built as MessagePack values and written as MessagePack (binary) or JSON
/// (text), whichever the client asked for with the upgrade's `Content-Type`.
enum StreamEncoding: Sendable {
    case json
    case msgpack

    func frame(_ value: MessagePackValue) -> (text: String?, binary: ByteBuffer?) {
        switch self {
        case .msgpack: return (nil, ByteBuffer(bytes: MessagePack.encode(value)))
        case .json: return (StreamJSON.text(value), nil)
        }
    }
}

enum StreamJSON {
    /// MessagePack value → JSON text; timestamps become RFC 3339 strings.
    static func text(_ value: MessagePackValue) -> String {
        switch value {
        case .null: return "null"
        case .bool(let b): return b ? "true" : "false"
        case .int(let n): return String(n)
        case .uint(let n): return String(n)
        case .double(let d): return d.isFinite ? "\(d)" : "null"
        case .float(let f): return f.isFinite ? "\(f)" : "null"
        case .string(let s): return quote(s)
        case .binary(let data): return quote(data.base64EncodedString())
        case .array(let items): return "[" + items.map(text).joined(separator: ",") + "]"
        case .map(let pairs):
            return "{" + pairs.map { key, value in quote(key.stringValue ?? "") + ":" + text(value) }.joined(separator: ",") + "}"
        case .timestamp: return quote(value.dateValue.map(AlpacaTime.utc) ?? "")
        case .ext: return "null"
        }
    }

    static func quote(_ s: String) -> String {
        let data = (try? JSONSerialization.data(withJSONObject: [s], options: [.withoutEscapingSlashes])) ?? Data("[\"\"]".utf8)
        let array = String(decoding: data, as: UTF8.self)
        return String(array.dropFirst().dropLast())
    }

    /// JSON text → MessagePack value (what clients send as text frames).
    static func parse(_ text: String) -> MessagePackValue? {
        guard let json = try? JSONValue.parse(text) else { return nil }
        return value(json)
    }

    static func value(_ json: JSONValue) -> MessagePackValue {
        switch json {
        case .null: return .null
        case .bool(let b): return .bool(b)
        case .number(let n):
            let double = Double(NSDecimalNumber(decimal: n).stringValue) ?? 0
            if double.rounded() == double, abs(double) < 9e15 { return .int(Int64(double)) }
            return .double(double)
        case .string(let s): return .string(s)
        case .array(let items): return .array(items.map(value))
        case .object(let fields): return .map(fields.keys.sorted().map { (.string($0), value(fields[$0] ?? .null)) })
        }
    }
}

extension MessagePackValue {
    /// A map with string keys, in the given order.
    static func object(_ pairs: KeyValuePairs<String, MessagePackValue>) -> MessagePackValue {
        .map(pairs.map { (.string($0.key), $0.value) })
    }

    static func strings(_ items: [String]) -> MessagePackValue { .array(items.map { .string($0) }) }
}
