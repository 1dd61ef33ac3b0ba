import AlpacaClient
import Foundation
import HybridStore
import JobEngine
import Logging
import PostgresNIO
import TradingCore

/// Knobs of the pipeline that come from the environment (see `SettingsCatalog`).
public struct PipelineSettings: Sendable {
    /// The server's half of the live gate and the hard per-order cap.
    public var gate: LiveTradingGate
    /// How long a trading question stays open (wall time: a person answers it).
    public var questionTTLSeconds: Int
    /// An approval whose price moved more than this since the question asks again.
    public var approvalMaxDriftPct: Decimal
    /// Symbols per market-data call.
    public var ingestBatchSymbols: Int
    /// evaluate-user runs this long after its tick's ingest was enqueued, so it reads fresh rows.
    public var evaluateDelaySeconds: Double
    public var ingestEnabled: Bool
    public var evaluateEnabled: Bool
    /// How long the pre-flight reuses the account and positions (assets and the market clock
    /// a minute); 0 reads everything from Alpaca for every pre-flight.
    public var preflightCacheSeconds: Double
    /// `TRADING_ENABLED`: false stops evaluation, approvals and submission in this process.
    public var tradingEnabled: Bool
    /// An approval older than this when its POST would go out is not sent (`expired`).
    public var approvalMaxAgeSeconds: Int
    /// reconcile-orders: a book order the broker lacks is a finding only after this long, and
    /// the watermark stays this far behind the broker's now.
    public var reconcileGraceSeconds: Double
    /// reconcile-orders: orders per `GET /v2/orders` page (Alpaca's maximum is 500).
    public var reconcilePageSize: Int

    public init(gate: LiveTradingGate, questionTTLSeconds: Int = 900, approvalMaxDriftPct: Decimal = 1,
                ingestBatchSymbols: Int = 100, evaluateDelaySeconds: Double = 2,
                ingestEnabled: Bool = true, evaluateEnabled: Bool = true, preflightCacheSeconds: Double = 5,
                tradingEnabled: Bool = true, approvalMaxAgeSeconds: Int = 120,
                reconcileGraceSeconds: Double = 300, reconcilePageSize: Int = 500) {
        self.tradingEnabled = tradingEnabled
        self.approvalMaxAgeSeconds = approvalMaxAgeSeconds
        self.preflightCacheSeconds = preflightCacheSeconds
        self.reconcileGraceSeconds = reconcileGraceSeconds
        self.reconcilePageSize = min(500, max(1, reconcilePageSize))
        self.gate = gate
        self.questionTTLSeconds = questionTTLSeconds
        self.approvalMaxDriftPct = approvalMaxDriftPct
        self.ingestBatchSymbols = ingestBatchSymbols
        self.evaluateDelaySeconds = evaluateDelaySeconds
        self.ingestEnabled = ingestEnabled
        self.evaluateEnabled = evaluateEnabled
    }
}

/// Postgres NOTIFY channels the API processes listen on.
public enum PipelineChannels {
    /// `{"question_id", "firebase_uid"}`: a question to put on the user's phone.
    public static let questions = "hybridhub_questions"
    /// `{"firebase_uid", "trade_order_id", "client_order_id", "status", …}`: an order changed.
    public static let tradeUpdates = "hybridhub_trade_updates"
}

/// Everything the five handlers and the answer service share: the database, the two Alpaca
/// APIs (protocols: the real clients talk to Alpaca or the simulator), the trading clock.
public struct TradingPipeline: Sendable {
    public let client: PostgresClient
    public let marketData: any MarketDataAPI
    public let trading: any TradingAPI
    public let clock: any MarketClock
    public let settings: PipelineSettings
    public let failpoints: Failpoints
    public let logger: Logger
    let configCache = ConfigCache()
    let evaluationBatcher = EvaluationBatcher()
    let brokerFacts: BrokerFactsCache

    public init(client: PostgresClient, marketData: any MarketDataAPI, trading: any TradingAPI, clock: any MarketClock,
                settings: PipelineSettings, failpoints: Failpoints = Failpoints(), logger: Logger) {
        self.client = client
        self.marketData = marketData
        self.trading = trading
        self.clock = clock
        self.settings = settings
        self.failpoints = failpoints
        self.logger = logger
        let caching = settings.preflightCacheSeconds > 0
        self.brokerFacts = BrokerFactsCache(accountSeconds: settings.preflightCacheSeconds, referenceSeconds: caching ? 60 : 0,
                                            assetListSeconds: caching ? 3600 : 0, logger: logger)
    }

    /// Loads and validates a user's effective config.
    func effectiveConfig(_ uid: String, on db: PostgresConnection) async throws -> EffectiveTradingConfig {
        guard let stored = try await UserConfigStore.userConfig(uid, on: db, logger: logger) else {
            throw PipelineError.noConfig(uid)
        }
        switch stored.effective {
        case .success(let value): return value
        case .failure(let error): throw PipelineError.invalidConfig(uid, error)
        }
    }

    /// Publishes an order change for the user's live connections (sent at commit).
    func publishTradeUpdate(_ order: StoredOrder, on db: PostgresConnection) async throws {
        var fields: [String: JSONValue] = [
            "firebase_uid": .string(order.firebaseUID), "trade_order_id": .string(order.id.uuidString.lowercased()),
            "client_order_id": .string(order.clientOrderID), "status": .string(order.status), "symbol": .string(order.symbol),
            "side": .string(order.side),
        ]
        if let value = order.notionalUSD { fields["notional_usd"] = .number(value) }
        if let value = order.qty { fields["qty"] = .number(value) }
        if let value = order.filledQty { fields["filled_qty"] = .number(value) }
        if let value = order.filledAvgPrice { fields["filled_avg_price"] = .number(value) }
        if let value = order.statusReason { fields["status_reason"] = .string(String(value.prefix(500))) }
        if let value = order.alpacaOrderID { fields["alpaca_order_id"] = .string(value) }
        try await db.query("SELECT pg_notify(\(PipelineChannels.tradeUpdates), \(JSONValue.object(fields).canonicalString()))",
                           logger: logger)
    }
}

public enum PipelineError: Error, CustomStringConvertible, RetryClassifiedError {
    case noConfig(String)
    case invalidConfig(String, ConfigValidationError)
    case leaseLost(String)
    /// A POST whose outcome is unknown and whose order Alpaca does not show (yet): retried,
    /// and the retry starts by asking Alpaca again.
    case outcomeUnknown(String, retryAfterSeconds: Double? = nil)

    public var isRetryable: Bool {
        switch self {
        case .leaseLost, .outcomeUnknown: true
        case .noConfig, .invalidConfig: false
        }
    }

    public var retryAfterSeconds: Double? {
        if case .outcomeUnknown(_, let after) = self { return after }
        return nil
    }

    public var description: String {
        switch self {
        case .noConfig(let uid): "user \(uid) has no trading config"
        case .invalidConfig(let uid, let error): "user \(uid) has an invalid effective config:\n\(error)"
        case .leaseLost(let what): "this worker lost the job's lease before \(what); another worker owns it now"
        case .outcomeUnknown(let what, _): what
        }
    }
}

extension AlpacaError: RetryClassifiedError {}
