import Foundation
import JobEngine
import TradingCore

/// The five job kinds of the design card. Payloads carry ids only: never keys, never secrets,
/// never data the handler can read from Postgres.

/// A payload that names its own unique key (each kind's key shape is in its spec).
public protocol TradingJobPayload: JobPayload {
    var uniqueKey: String { get }
}

/// One Alpaca market-data call for many symbols → snapshot rows.
public struct IngestSymbolBatch: TradingJobPayload, Equatable {
    public static let kind = "ingest-symbol-batch"
    public var feed: String
    public var symbols: [String]
    public var metrics: [String]
    /// The scheduler's time bucket (tick).
    public var bucket: Int64

    public init(feed: String, symbols: [String], metrics: [String], bucket: Int64) {
        self.feed = feed
        self.symbols = symbols
        self.metrics = metrics
        self.bucket = bucket
    }

    /// Unique per (feed, symbol set, bucket): the symbol set enters as a digest.
    public var uniqueKey: String {
        let digest = SHA256.hex(Array(symbols.sorted().joined(separator: ",").utf8)).prefix(16)
        return "\(Self.kind):\(feed):\(digest):\(bucket)"
    }
}

/// Resolve config → latest snapshots → rules → guardrail pre-check → question + delivery.
public struct EvaluateUser: TradingJobPayload, Equatable {
    public static let kind = "evaluate-user"
    public var firebaseUID: String
    /// The tick's bucket; for a stream-triggered evaluation, the trigger's instant in ms.
    public var bucket: Int64
    /// nil: the scheduler's tick; "stream": new trades of the user's symbols arrived by the
    /// market-data stream (at most one per user per MARKET_STREAM_EVALUATE_SECONDS).
    public var trigger: String?

    public init(firebaseUID: String, bucket: Int64, trigger: String? = nil) {
        self.firebaseUID = firebaseUID
        self.bucket = bucket
        self.trigger = trigger
    }

    public var uniqueKey: String {
        trigger.map { "\(Self.kind):\(firebaseUID):\($0):\(bucket)" } ?? "\(Self.kind):\(firebaseUID):\(bucket)"
    }

    enum CodingKeys: String, CodingKey {
        case firebaseUID = "firebase_uid"
        case bucket, trigger
    }
}

/// Publish a question to every live hub connection of its user and mark it delivered.
public struct DeliverQuestion: TradingJobPayload, Equatable {
    public static let kind = "deliver-question"
    public var questionID: UUID

    public init(questionID: UUID) {
        self.questionID = questionID
    }

    public var uniqueKey: String { "\(Self.kind):\(questionID.uuidString.lowercased())" }

    enum CodingKeys: String, CodingKey {
        case questionID = "question_id"
    }

    /// Ids are written lower-case, as everywhere else (keys, NOTIFY payloads, the API).
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(questionID.uuidString.lowercased(), forKey: .questionID)
    }
}

/// Re-check guardrails, look the order up by client_order_id, POST only if absent, record.
public struct SubmitOrder: TradingJobPayload, Equatable {
    public static let kind = "submit-order"
    public var tradeOrderID: UUID
    public var clientOrderID: String

    public init(tradeOrderID: UUID, clientOrderID: String) {
        self.tradeOrderID = tradeOrderID
        self.clientOrderID = clientOrderID
    }

    public var uniqueKey: String { "\(Self.kind):\(clientOrderID)" }

    enum CodingKeys: String, CodingKey {
        case tradeOrderID = "trade_order_id"
        case clientOrderID = "client_order_id"
    }
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(tradeOrderID.uuidString.lowercased(), forKey: .tradeOrderID)
        try container.encode(clientOrderID, forKey: .clientOrderID)
    }
}

/// GET the order until it is terminal (snoozing in between), update trade_orders, notify.
public struct PollOrderStatus: TradingJobPayload, Equatable {
    public static let kind = "poll-order-status"
    public var tradeOrderID: UUID
    public var clientOrderID: String

    public init(tradeOrderID: UUID, clientOrderID: String) {
        self.tradeOrderID = tradeOrderID
        self.clientOrderID = clientOrderID
    }

    public var uniqueKey: String { "\(Self.kind):\(clientOrderID)" }

    enum CodingKeys: String, CodingKey {
        case tradeOrderID = "trade_order_id"
        case clientOrderID = "client_order_id"
    }
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(tradeOrderID.uuidString.lowercased(), forKey: .tradeOrderID)
        try container.encode(clientOrderID, forKey: .clientOrderID)
    }
}
