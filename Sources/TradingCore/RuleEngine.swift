import Foundation

/// One row of `market_data_snapshots` as the rule engine sees it. The engine never reads
/// Alpaca JSON, only these rows (plan §9.3).
public struct SnapshotRow: Sendable, Hashable {
    public var symbol: String
    public var metric: Metric
    public var price: Decimal?
    public var asOf: Date

    public init(symbol: String, metric: Metric, price: Decimal?, asOf: Date) {
        self.symbol = symbol
        self.metric = metric
        self.price = price
        self.asOf = asOf
    }
}

/// The outcome of evaluating one rule, with everything a question or an audit line needs.
public struct RuleEvaluation: Sendable, Hashable {
    public enum Outcome: Sendable, Hashable {
        case fired
        case thresholdNotCrossed
        case ruleDisabled
        case missingPrice
        case missingReference
        case stalePrice(ageSeconds: Int, maxSeconds: Int)
        case staleReference(ageSeconds: Int, maxSeconds: Int)
        case invalidReference
        case blockedByCooldown(CooldownBlock)
        /// An exit rule on a symbol the user does not hold.
        case noPosition
    }

    public var ruleID: String
    public var symbol: String
    public var outcome: Outcome
    public var price: Decimal?
    public var reference: Decimal?
    /// Signed change of price vs reference, in percent, rounded to 4 places.
    public var changePct: Decimal?
    public var thresholdPct: Decimal
    public var priceAsOf: Date?
    public var priceAgeSeconds: Int?
    public var referenceAgeSeconds: Int?

    public var fired: Bool { outcome == .fired }

    /// One sentence: what was compared and why the rule did or did not fire.
    public var explanation: String {
        let figures: String
        if let price, let reference, let changePct {
            figures = "\(symbol) \(Money.format(price)) vs ref \(Money.format(reference)) = \(Money.format(changePct))%"
                + " (threshold \(thresholdPct)%)"
        } else {
            figures = "\(symbol) (threshold \(thresholdPct)%)"
        }
        let ages = [priceAgeSeconds.map { "price age \($0)s" }, referenceAgeSeconds.map { "ref age \($0)s" }]
            .compactMap { $0 }.joined(separator: ", ")
        let reason: String
        switch outcome {
        case .fired: reason = "fired"
        case .thresholdNotCrossed: reason = "not fired: threshold not crossed"
        case .ruleDisabled: reason = "not fired: rule disabled"
        case .missingPrice: reason = "not fired: no price row"
        case .missingReference: reason = "not fired: no reference row"
        case .stalePrice(let age, let max): reason = "not fired: price is stale (\(age)s > \(max)s)"
        case .staleReference(let age, let max): reason = "not fired: reference is stale (\(age)s > \(max)s)"
        case .invalidReference: reason = "not fired: reference price is zero, negative or missing"
        case .blockedByCooldown(let block): reason = "not fired: \(block.explanation)"
        case .noPosition: reason = "not fired: you hold no \(symbol)"
        }
        return ages.isEmpty ? "\(rule(reason)): \(figures)" : "\(rule(reason)): \(figures); \(ages)"
    }

    private func rule(_ reason: String) -> String { "rule \(ruleID) \(reason)" }

    /// Values for the question text (only meaningful when fired).
    public var templateValues: QuestionTemplate.Values? {
        guard let price, let reference, let changePct else { return nil }
        return .init(symbol: symbol, price: price, reference: reference, changePct: changePct, ruleID: ruleID)
    }
}

/// What an exit rule measures from: the user's own position in the rule's symbol.
public struct HeldPosition: Sendable, Hashable {
    public var qty: Decimal
    public var averageCost: Decimal
    /// The highest price known since the position opened (fills and stored prices).
    public var highWater: Decimal?

    public init(qty: Decimal, averageCost: Decimal, highWater: Decimal?) {
        self.qty = qty
        self.averageCost = averageCost
        self.highWater = highWater
    }
}

/// Rules × snapshot rows → evaluations. Pure: the caller passes the rows and `now`.
public enum RuleEngine {
    /// Rows more than this far in the future (clock skew) are treated as not yet valid.
    public static let futureToleranceSeconds = 60

    /// An exit rule (`rule.type.isExit`) measures from `position`: its average cost, or for a
    /// trailing stop the highest of its high-water mark and the price now; without a position
    /// it never fires.
    public static func evaluate(
        rule: Rule, snapshots: [SnapshotRow], now: Date, cooldown: RuleCooldownState = .init(), position: HeldPosition? = nil
    ) -> RuleEvaluation {
        var evaluation = RuleEvaluation(ruleID: rule.id, symbol: rule.symbol, outcome: .thresholdNotCrossed,
                                        thresholdPct: rule.thresholdPct)
        guard rule.enabled else {
            evaluation.outcome = .ruleDisabled
            return evaluation
        }
        let price = latest(rule.symbol, rule.priceMetric, in: snapshots, now: now)
        evaluation.price = price?.price
        evaluation.priceAsOf = price?.asOf
        evaluation.priceAgeSeconds = price.map { age(of: $0, now: now) }

        // What the price is measured from: a market reference row, or the user's position.
        let measured = rule.type.isExit ? positionReference(rule, price: price?.price, position: position)
            : marketReference(rule, in: snapshots, now: now, evaluation: &evaluation)
        let priceValue: Decimal, refValue: Decimal, referenceRow: SnapshotRow?
        switch measured {
        case .failure(let outcome):
            evaluation.outcome = outcome.outcome
            return evaluation
        case .success(let found):
            (priceValue, refValue, referenceRow) = found
        }
        evaluation.reference = refValue
        evaluation.changePct = Money.rounded((priceValue - refValue) / refValue * 100, scale: 4)

        if let price, case let priceAge = age(of: price, now: now), priceAge > rule.maxStalenessSeconds {
            evaluation.outcome = .stalePrice(ageSeconds: priceAge, maxSeconds: rule.maxStalenessSeconds)
            return evaluation
        }
        if let referenceRow, case let refAge = age(of: referenceRow, now: now), refAge > rule.refMaxAgeSeconds {
            evaluation.outcome = .staleReference(ageSeconds: refAge, maxSeconds: rule.refMaxAgeSeconds)
            return evaluation
        }
        guard crossed(rule: rule, price: priceValue, reference: refValue) else {
            evaluation.outcome = .thresholdNotCrossed
            return evaluation
        }
        if let block = Cooldown.block(state: cooldown, now: now) {
            evaluation.outcome = .blockedByCooldown(block)
            return evaluation
        }
        evaluation.outcome = .fired
        return evaluation
    }

    /// Why a rule cannot be judged (as an error, to travel in a `Result`).
    struct Unjudged: Error {
        var outcome: RuleEvaluation.Outcome
    }

    typealias Measured = Result<(price: Decimal, reference: Decimal, referenceRow: SnapshotRow?), Unjudged>

    /// A market rule: the price against the newest reference row (previous close, …).
    static func marketReference(_ rule: Rule, in snapshots: [SnapshotRow], now: Date, evaluation: inout RuleEvaluation) -> Measured {
        let reference = latest(rule.symbol, rule.refMetric, in: snapshots, now: now)
        evaluation.reference = reference?.price
        evaluation.referenceAgeSeconds = reference.map { age(of: $0, now: now) }
        guard let priceValue = evaluation.price else { return .failure(Unjudged(outcome: .missingPrice)) }
        guard let reference else { return .failure(Unjudged(outcome: .missingReference)) }
        guard let refValue = reference.price, refValue > 0 else { return .failure(Unjudged(outcome: .invalidReference)) }
        return .success((priceValue, refValue, reference))
    }

    /// An exit rule: the price against the position's average cost, or for a trailing stop the
    /// higher of its high-water mark and the price now; no position, no judgement.
    static func positionReference(_ rule: Rule, price: Decimal?, position: HeldPosition?) -> Measured {
        guard let position, position.qty > 0 else { return .failure(Unjudged(outcome: .noPosition)) }
        guard let price else { return .failure(Unjudged(outcome: .missingPrice)) }
        let reference = rule.type == .trailingStopPct ? max(position.highWater ?? price, price) : position.averageCost
        guard reference > 0 else { return .failure(Unjudged(outcome: .invalidReference)) }
        return .success((price, reference, nil))
    }

    /// The comparison is done on prices, not on the rounded percentage: price ≤ ref × (1 + t/100).
    /// (Also the market-data stream's trigger: it evaluates a user when a trade crosses this.)
    /// An exit rule's reference is the position's average cost (or its high, trailing).
    public static func crossed(rule: Rule, price: Decimal, reference: Decimal) -> Bool {
        let trigger = reference * (1 + rule.thresholdPct / 100)
        switch rule.type {
        case .priceBelowPctOfRef, .positionLossPct, .trailingStopPct: return price <= trigger
        case .priceAbovePctOfRef, .positionGainPct: return price >= trigger
        }
    }

    /// The newest row for (symbol, metric) that is not from the future.
    static func latest(_ symbol: String, _ metric: Metric, in rows: [SnapshotRow], now: Date) -> SnapshotRow? {
        let horizon = now.addingTimeInterval(TimeInterval(futureToleranceSeconds))
        return rows
            .filter { $0.symbol == symbol && $0.metric == metric && $0.asOf <= horizon }
            .max { $0.asOf < $1.asOf }
    }

    static func age(of row: SnapshotRow, now: Date) -> Int {
        max(0, Int(now.timeIntervalSince(row.asOf).rounded(.down)))
    }
}
