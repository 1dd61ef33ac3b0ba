import AlpacaModels
import Foundation

/// One message of Alpaca's market-data stream (`/v2/{feed}`, JSON: every frame is an array of
/// objects tagged by `T`). Pure decoding, so the protocol is tested without a socket.
public enum MarketStreamMessage: Sendable, Equatable {
    case success(String)
    case error(code: Int, message: String)
    case subscription(trades: [String], quotes: [String], bars: [String])
    case trade(StreamTrade)
    /// A minute bar: its close at its end is another observation of the price.
    case bar(symbol: String, close: Double, volume: Double, start: Date)
    /// Quotes, statuses, corrections and anything newer than this client: read and ignored.
    case other(String)

    /// Decodes one frame (text or binary JSON). A frame that is not JSON yields nothing.
    public static func decode(_ data: Data) -> [MarketStreamMessage] {
        guard let parsed = try? JSONSerialization.jsonObject(with: data) else { return [] }
        let objects = (parsed as? [[String: Any]]) ?? ((parsed as? [String: Any]).map { [$0] } ?? [])
        return objects.map(decode(object:))
    }

    static func decode(object: [String: Any]) -> MarketStreamMessage {
        let tag = object["T"] as? String ?? ""
        switch tag {
        case "success":
            return .success(object["msg"] as? String ?? "")
        case "error":
            return .error(code: (object["code"] as? NSNumber)?.intValue ?? 0, message: object["msg"] as? String ?? "")
        case "subscription":
            func list(_ key: String) -> [String] { object[key] as? [String] ?? [] }
            return .subscription(trades: list("trades"), quotes: list("quotes"), bars: list("bars"))
        case "t":
            guard let symbol = object["S"] as? String, let price = (object["p"] as? NSNumber)?.doubleValue,
                  let text = object["t"] as? String, let time = AlpacaTime.parse(text) else { return .other(tag) }
            return .trade(StreamTrade(symbol: symbol, price: price, size: (object["s"] as? NSNumber)?.doubleValue ?? 0,
                                      time: time, timeText: text, exchange: object["x"] as? String ?? "",
                                      id: (object["i"] as? NSNumber)?.int64Value ?? 0))
        case "b":
            guard let symbol = object["S"] as? String, let close = (object["c"] as? NSNumber)?.doubleValue,
                  let text = object["t"] as? String, let start = AlpacaTime.parse(text) else { return .other(tag) }
            return .bar(symbol: symbol, close: close, volume: (object["v"] as? NSNumber)?.doubleValue ?? 0, start: start)
        default:
            return .other(tag)
        }
    }

    /// Client → server: `{"action": "subscribe"|"unsubscribe", "trades": [...]}`.
    public static func subscriptionRequest(_ action: String, trades: [String]) -> String {
        let object: [String: Any] = ["action": action, "trades": trades]
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data()
        return String(decoding: data, as: UTF8.self)
    }
}

public struct StreamTrade: Sendable, Equatable {
    public var symbol: String
    public var price: Double
    public var size: Double
    public var time: Date
    /// Alpaca's own text of the time (RFC 3339 with nanoseconds), kept in the raw fragment.
    public var timeText: String
    public var exchange: String
    public var id: Int64

    public init(symbol: String, price: Double, size: Double, time: Date, timeText: String, exchange: String, id: Int64) {
        self.symbol = symbol
        self.price = price
        self.size = size
        self.time = time
        self.timeText = timeText
        self.exchange = exchange
        self.id = id
    }
}

/// One message of Alpaca's trading stream (`/stream`): `{"stream": ..., "data": {...}}`.
public enum TradeStreamMessage: Sendable, Equatable {
    case authorization(authorized: Bool)
    case listening([String])
    case tradeUpdate(event: String, order: AlpacaOrder)
    case error(String)
    case other(String)

    public static func decode(_ data: Data) -> TradeStreamMessage {
        struct Envelope: Decodable { var stream: String }
        struct Authorization: Decodable {
            struct Body: Decodable { var status: String? }
            var data: Body
        }
        struct Listening: Decodable {
            struct Body: Decodable { var streams: [String]? }
            var data: Body
        }
        struct Update: Decodable {
            struct Body: Decodable {
                var event: String
                var order: AlpacaOrder
            }
            var data: Body
        }
        struct Failure: Decodable {
            struct Body: Decodable {
                var errorMessage: String?
                enum CodingKeys: String, CodingKey { case errorMessage = "error_message" }
            }
            var data: Body?
        }
        let decoder = JSONDecoder()
        guard let envelope = try? decoder.decode(Envelope.self, from: data) else { return .other("not JSON") }
        switch envelope.stream {
        case "authorization":
            return .authorization(authorized: (try? decoder.decode(Authorization.self, from: data))?.data.status == "authorized")
        case "listening":
            return .listening((try? decoder.decode(Listening.self, from: data))?.data.streams ?? [])
        case "trade_updates":
            guard let update = try? decoder.decode(Update.self, from: data) else { return .other("trade_updates without an order") }
            return .tradeUpdate(event: update.data.event, order: update.data.order)
        case "error":
            return .error((try? decoder.decode(Failure.self, from: data))?.data?.errorMessage ?? "unknown error")
        default:
            return .other(envelope.stream)
        }
    }
}
