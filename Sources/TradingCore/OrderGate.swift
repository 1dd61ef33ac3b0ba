import Foundation

/// The farm-wide halt, as held in Postgres (`trading_halt`).
public struct TradingHalt: Sendable, Hashable {
    public var halted: Bool
    public var reason: String?
    public var setBy: String?
    public var setAt: Date?

    public init(halted: Bool, reason: String? = nil, setBy: String? = nil, setAt: Date? = nil) {
        self.halted = halted
        self.reason = reason
        self.setBy = setBy
        self.setAt = setAt
    }

    public static let running = TradingHalt(halted: false)
}

/// Why an approved intent does not (or no longer may) trade. Each stage (evaluation, approval,
/// just before the POST) asks the same questions, so a switch stops every stage alike.
public enum IntentStop: Sendable, Hashable, CustomStringConvertible {
    /// `hybridhub-ops trading halt`.
    case halted(reason: String, by: String)
    /// `TRADING_ENABLED=false` in this process's environment.
    case serverOff
    /// The user's `enabled: false`.
    case userOff
    case ruleRemoved(String)
    case ruleDisabled(String)
    /// The rule was edited after the question was asked: it proposes another order now.
    case ruleChanged(String)
    /// The approval is older than `TRADING_APPROVAL_MAX_AGE_SECONDS` when the POST would go out.
    case approvalTooOld(ageSeconds: Int, maxSeconds: Int)
    /// The price moved more than `TRADING_APPROVAL_MAX_DRIFT_PCT` since the approval.
    case priceDrifted(from: Decimal, to: Decimal, pct: Decimal, maxPct: Decimal)
    /// An operator cancelled the unsent order.
    case operatorCancelled(String)

    public var code: String {
        switch self {
        case .halted: "halted"
        case .serverOff: "trading_disabled"
        case .userOff: "user_disabled"
        case .ruleRemoved: "rule_removed"
        case .ruleDisabled: "rule_disabled"
        case .ruleChanged: "rule_changed"
        case .approvalTooOld: "approval_too_old"
        case .priceDrifted: "price_drifted"
        case .operatorCancelled: "operator_cancelled"
        }
    }

    /// The status an unsent order ends with: a switch cancels it, time and price expire it.
    public var orderStatus: String {
        switch self {
        case .approvalTooOld, .priceDrifted: OrderStatus.expired
        default: OrderStatus.canceled
        }
    }

    public var description: String {
        switch self {
        case .halted(let reason, let by): "trading is halted (by \(by): \(reason))"
        case .serverOff: "trading is switched off on this server (TRADING_ENABLED=false)"
        case .userOff: "you switched trading off"
        case .ruleRemoved(let id): "rule \(id) was removed"
        case .ruleDisabled(let id): "rule \(id) was switched off"
        case .ruleChanged(let id): "rule \(id) changed since you were asked, so it no longer proposes this order"
        case .approvalTooOld(let age, let max): "the approval is \(age) s old (at most \(max) s may pass before the order goes out)"
        case .priceDrifted(let from, let to, let pct, let max):
            "the price moved \(Money.format(pct))% since your approval ($\(Money.format(from)) → $\(Money.format(to)); at most \(Money.format(max))%)"
        case .operatorCancelled(let reason): "an operator cancelled it: \(reason)"
        }
    }
}

public enum OrderGate {
    /// Do the farm, this server and the user's config still let `intent` trade? With
    /// `requireUnchangedRule` (at approval) an edited rule stops it too: the user approved
    /// what the question showed, and the rule now proposes something else. The guardrails
    /// (watchlist, blocklist, caps) are judged apart, by `GuardrailPolicy`.
    public static func switches(for intent: OrderIntent, config: TradingConfig, halt: TradingHalt, serverEnabled: Bool,
                                requireUnchangedRule: Bool) -> IntentStop? {
        if halt.halted { return .halted(reason: halt.reason ?? "no reason given", by: halt.setBy ?? "an operator") }
        if !serverEnabled { return .serverOff }
        if !config.enabled { return .userOff }
        guard let rule = config.rule(id: intent.ruleID) else { return .ruleRemoved(intent.ruleID) }
        if !rule.enabled { return .ruleDisabled(rule.id) }
        if requireUnchangedRule && rule.digest != intent.ruleDigest { return .ruleChanged(rule.id) }
        return nil
    }

    /// How far `latest` moved from `approved`, in percent (unsigned; NaN when it cannot be
    /// computed); nil without a positive price to measure from. The approval and the POST both
    /// judge drift by it.
    public static func driftPct(from approved: Decimal, to latest: Decimal) -> Decimal? {
        guard approved > 0 else { return nil }
        return abs((latest - approved) / approved * 100)
    }

    /// Just before the POST: the approval must be recent, and the price near the approved one.
    /// `latestPrice` is the freshest stored price (nil: nothing newer is known, no drift).
    public static func freshness(decidedAt: Date, approvedPrice: Decimal?, latestPrice: Decimal?, now: Date,
                                 maxAgeSeconds: Int, maxDriftPct: Decimal) -> IntentStop? {
        let age = now.timeIntervalSince(decidedAt)
        if age > Double(maxAgeSeconds) { return .approvalTooOld(ageSeconds: Int(age.rounded(.down)), maxSeconds: maxAgeSeconds) }
        if let approvedPrice, let latestPrice, let drift = driftPct(from: approvedPrice, to: latestPrice) {
            // Fails closed: a drift that cannot be computed is too much.
            if drift.isNaN || drift > maxDriftPct {
                return .priceDrifted(from: approvedPrice, to: latestPrice, pct: drift.isNaN ? 0 : Money.rounded(drift, scale: 2), maxPct: maxDriftPct)
            }
        }
        return nil
    }
}
