import AlpacaClient
import Foundation
import JobEngine
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
