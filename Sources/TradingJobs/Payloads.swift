import Foundation
import JobEngine
import TradingCore

/// The five job kinds of the design card, and reconcile-orders. Payloads carry ids only: never keys, never secrets,
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

/// Which trade order a job is about: all that submit-order and poll-order-status carry.
public struct TradeOrderRef: Codable, Sendable, Equatable {
    public var tradeOrderID: UUID
    public var clientOrderID: String

    public init(tradeOrderID: UUID, clientOrderID: String) {
        self.tradeOrderID = tradeOrderID
        self.clientOrderID = clientOrderID
    }

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

/// A job about one trade order: its payload is the order's `TradeOrderRef` (the same JSON for
/// every such kind) and its unique key `<kind>:<client_order_id>`.
public protocol TradeOrderJob: TradingJobPayload {
    var order: TradeOrderRef { get }
    init(_ order: TradeOrderRef)
}

extension TradeOrderJob {
    public init(tradeOrderID: UUID, clientOrderID: String) {
        self.init(TradeOrderRef(tradeOrderID: tradeOrderID, clientOrderID: clientOrderID))
    }

    public var tradeOrderID: UUID { order.tradeOrderID }
    public var clientOrderID: String { order.clientOrderID }

    public var uniqueKey: String { Self.uniqueKey(clientOrderID: clientOrderID) }

    /// The key of this kind's job for an order (the tick asks whether one is live).
    public static func uniqueKey(clientOrderID: String) -> String { "\(Self.kind):\(clientOrderID)" }

    public init(from decoder: any Decoder) throws {
        self.init(try TradeOrderRef(from: decoder))
    }

    public func encode(to encoder: any Encoder) throws {
        try order.encode(to: encoder)
    }
}

/// Re-check guardrails, look the order up by client_order_id, POST only if absent, record.
public struct SubmitOrder: TradeOrderJob, Equatable {
    public static let kind = "submit-order"
    public var order: TradeOrderRef
    public init(_ order: TradeOrderRef) { self.order = order }
}

/// GET the order until it is terminal (snoozing in between), update trade_orders, notify.
public struct PollOrderStatus: TradeOrderJob, Equatable {
    public static let kind = "poll-order-status"
    public var order: TradeOrderRef
    public init(_ order: TradeOrderRef) { self.order = order }
}

/// List Alpaca's orders since the watermark and compare them with `trade_orders`: record what
/// the broker says where the books lack it or have it wrong (with `apply`), report the rest.
public struct ReconcileOrders: TradingJobPayload, Equatable {
    public static let kind = "reconcile-orders"
    /// The scheduler's time bucket; for a run an operator asked for, the request's instant in ms.
    public var bucket: Int64
    /// false: a dry run (reports only; nothing repaired, the watermark left alone).
    public var apply: Bool
    /// nil: the scheduler; else who asked (the ops CLI names itself, the OS user and host).
    public var requestedBy: String?

    public init(bucket: Int64, apply: Bool, requestedBy: String? = nil) {
        self.bucket = bucket
        self.apply = apply
        self.requestedBy = requestedBy
    }

    public var uniqueKey: String {
        requestedBy.map { "\(Self.kind):requested:\(apply ? "apply" : "dry-run"):\(bucket):\($0)" } ?? "\(Self.kind):\(bucket)"
    }

    enum CodingKeys: String, CodingKey {
        case bucket, apply
        case requestedBy = "requested_by"
    }
}
