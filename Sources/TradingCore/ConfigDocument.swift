import Foundation

/// The trading config document of plan §4.2, fully resolved: every default filled in.
/// Built only by `TradingConfigDecoder`, which validates; its JSON form is `jsonValue`.
public struct TradingConfig: Sendable, Hashable {
    public var version: Int
    public var enabled: Bool
    public var mode: TradingMode
    public var dataInputs: [DataInput]
    public var rules: [Rule]
    public var guardrails: Guardrails

    /// Every symbol any data input watches: the user's watchlist.
    public var watchlist: Set<String> {
        Set(dataInputs.flatMap(\.symbols))
    }

    public func rule(id: String) -> Rule? {
        rules.first { $0.id == id }
    }
}

public enum TradingMode: String, Sendable, Hashable, CaseIterable {
    case paper
    case live
}

public enum AssetClass: String, Sendable, Hashable, CaseIterable {
    case usEquity = "us_equity"
    case crypto
}

public enum DataFeed: String, Sendable, Hashable, CaseIterable {
    case iex
    case sip
}

/// A normalized market fact stored in `market_data_snapshots.metric`.
public enum Metric: String, Sendable, Hashable, CaseIterable, Codable {
    case lastTrade = "last_trade"
    case dailyBar = "daily_bar"
    case prevClose = "prev_close"
}

public struct DataInput: Sendable, Hashable {
    public var id: String
    public var source: String
    public var assetClass: AssetClass
    public var symbols: [String]
    public var feed: DataFeed
    public var pollIntervalSeconds: Int
    public var metrics: [Metric]
}

public enum RuleType: String, Sendable, Hashable, CaseIterable {
    /// Fires when `price` is at or below `ref × (1 + threshold_pct/100)`; threshold negative.
    case priceBelowPctOfRef = "price_below_pct_of_ref"
    /// Fires when `price` is at or above `ref × (1 + threshold_pct/100)`; threshold positive.
    case priceAbovePctOfRef = "price_above_pct_of_ref"
    /// Take-profit on a held position: `price` ≥ average cost × (1 + threshold_pct/100); positive.
    case positionGainPct = "position_gain_pct"
    /// Stop-loss on a held position: `price` ≤ average cost × (1 + threshold_pct/100); negative.
    case positionLossPct = "position_loss_pct"
    /// Trailing stop on a held position: `price` ≤ the highest price since it opened ×
    /// (1 + threshold_pct/100); negative.
    case trailingStopPct = "trailing_stop_pct"

    /// An exit rule: measured from the user's own position (its average cost or its high), not
    /// from a market reference; it sells, and never fires without a position.
    public var isExit: Bool {
        switch self {
        case .priceBelowPctOfRef, .priceAbovePctOfRef: false
        case .positionGainPct, .positionLossPct, .trailingStopPct: true
        }
    }
}

public enum OrderSide: String, Sendable, Hashable, CaseIterable, Codable {
    case buy
    case sell
}

/// What an approved answer does. Exactly one of `notionalUSD`, `qty` and `positionPct` is set.
public struct OrderAction: Sendable, Hashable {
    public var action: String
    public var side: OrderSide
    public var notionalUSD: Decimal?
    public var qty: Decimal?
    /// Sells only: this percentage of the shares the user may sell (100 = all), resolved to a
    /// quantity when the question is asked (the question shows, and an approval sells, that qty).
    public var positionPct: Decimal?

    public init(action: String, side: OrderSide, notionalUSD: Decimal?, qty: Decimal?, positionPct: Decimal? = nil) {
        self.action = action
        self.side = side
        self.notionalUSD = notionalUSD
        self.qty = qty
        self.positionPct = positionPct
    }
}

public struct Rule: Sendable, Hashable {
    public var id: String
    public var type: RuleType
    public var enabled: Bool
    public var symbol: String
    public var priceMetric: Metric
    public var refMetric: Metric
    public var thresholdPct: Decimal
    public var questionTemplate: String
    public var onAnswerMatch: OrderAction
    /// Seconds after its question closes before the rule may fire again.
    public var cooldownSeconds: Int
    /// The price row must be at most this old.
    public var maxStalenessSeconds: Int
    /// The reference row (a previous close is a day or more old) must be at most this old.
    public var refMaxAgeSeconds: Int
}

public struct Guardrails: Sendable, Hashable {
    public var maxOrdersPerDay: Int
    public var maxNotionalUSDPer4h: Decimal
    public var requireQuestionBeforeOrder: Bool
    public var symbolsBlocklist: [String]
    public var maxOpenQuestions: Int
    /// What a fired rule does when the broker's pre-flight says the order would be refused.
    public var onBrokerRefusal: BrokerRefusalPolicy
    /// Portfolio caps (nil: none). Per symbol: cost basis held plus open buys plus the buy.
    public var maxPositionUSD: Decimal?
    /// Across symbols: cost basis of every open position plus open buys plus the buy.
    public var maxExposureUSD: Decimal?
    /// Today's loss (realized plus unrealized since the US/Eastern day's start) at which buys
    /// stop for the day; exits still go.
    public var dailyLossLimitUSD: Decimal?

    public init(maxOrdersPerDay: Int, maxNotionalUSDPer4h: Decimal, requireQuestionBeforeOrder: Bool, symbolsBlocklist: [String],
                maxOpenQuestions: Int, onBrokerRefusal: BrokerRefusalPolicy = ConfigDefaults.onBrokerRefusal,
                maxPositionUSD: Decimal? = nil, maxExposureUSD: Decimal? = nil, dailyLossLimitUSD: Decimal? = nil) {
        self.maxOrdersPerDay = maxOrdersPerDay
        self.maxNotionalUSDPer4h = maxNotionalUSDPer4h
        self.requireQuestionBeforeOrder = requireQuestionBeforeOrder
        self.symbolsBlocklist = symbolsBlocklist
        self.maxOpenQuestions = maxOpenQuestions
        self.onBrokerRefusal = onBrokerRefusal
        self.maxPositionUSD = maxPositionUSD
        self.maxExposureUSD = maxExposureUSD
        self.dailyLossLimitUSD = dailyLossLimitUSD
    }
}

/// `guardrails.on_broker_refusal`: an order the broker would refuse is never proposed.
public enum BrokerRefusalPolicy: String, Sendable, Hashable, CaseIterable, Codable {
    /// Ask a question that says why no order is proposed (answered by a swipe to dismiss);
    /// the rule's cooldown starts as for any question.
    case explain
    /// Ask nothing; the rule fires again at a later evaluation, once the broker would accept.
    case wait
}

/// The config a worker acts on for one user: template ⊕ override, validated, with the
/// `enabled` column applied (the column wins over the document).
public struct EffectiveTradingConfig: Sendable, Hashable {
    public var firebaseUID: String
    public var templateName: String?
    public var config: TradingConfig

    public init(firebaseUID: String, templateName: String?, config: TradingConfig, enabledColumn: Bool) {
        self.firebaseUID = firebaseUID
        self.templateName = templateName
        var config = config
        config.enabled = enabledColumn
        self.config = config
    }
}

/// Defaults applied when a document leaves a field out. Documented in docs/config-document.md.
public enum ConfigDefaults {
    public static let version = 1
    public static let enabled = true
    public static let mode = TradingMode.paper
    public static let source = "alpaca"
    public static let assetClass = AssetClass.usEquity
    public static let feed = DataFeed.iex
    public static let pollIntervalSeconds = 60
    public static let metrics: [Metric] = [.lastTrade, .dailyBar, .prevClose]
    public static let priceMetric = Metric.lastTrade
    public static let refMetric = Metric.prevClose
    public static let cooldownSeconds = 3600
    public static let maxStalenessSeconds = 300
    /// The largest `max_staleness_seconds` a rule may set: a price older than an hour is not a
    /// price to trade on (the market has moved; a stream or poll that stopped should stop the rule).
    public static let maxStalenessSecondsBound = 3600
    public static let refMaxAgeSeconds = 4 * 24 * 3600
    public static let maxOrdersPerDay = 3
    public static let maxNotionalUSDPer4h: Decimal = 100
    public static let requireQuestionBeforeOrder = true
    public static let maxOpenQuestions = 3
    /// The largest `max_open_questions`: each open question is a decision a person must make on a
    /// phone; more than this at once is a flood, not a guardrail.
    public static let maxOpenQuestionsBound = 20
    public static let onBrokerRefusal = BrokerRefusalPolicy.explain
    /// Alpaca Basic streams at most 30 symbols.
    public static let maxDistinctSymbols = 30
}
