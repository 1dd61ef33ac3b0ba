import Foundation

/// The order a question proposes, frozen when the question is asked: an approval executes
/// exactly this, or nothing (never the rule's order as it reads at answer time). Stored in the
/// question's metadata under `order` and copied onto the `trade_orders` row.
public struct OrderIntent: Sendable, Hashable {
    public var symbol: String
    public var side: OrderSide
    /// Exactly one of `notionalUSD` and `qty` is set.
    public var notionalUSD: Decimal?
    public var qty: Decimal?
    public var orderType: String
    public var timeInForce: String
    /// The price the rule was judged on, and the reference it was compared with.
    public var price: Decimal?
    public var reference: Decimal?
    public var priceMetric: Metric
    public var refMetric: Metric
    public var feed: String
    public var priceAsOf: Date?
    public var dataAgeSeconds: Int?
    public var ruleID: String
    /// A digest of the rule as it was when the question was asked: a changed rule no longer
    /// proposes this order.
    public var ruleDigest: String
    public var judgedAt: Date
    /// A sell sized as a share of the position: the percentage the qty was resolved from.
    public var positionPct: Decimal?

    public init(symbol: String, side: OrderSide, notionalUSD: Decimal?, qty: Decimal?, orderType: String = "market",
                timeInForce: String = "day", price: Decimal?, reference: Decimal?, priceMetric: Metric, refMetric: Metric,
                feed: String, priceAsOf: Date?, dataAgeSeconds: Int?, ruleID: String, ruleDigest: String, judgedAt: Date) {
        self.symbol = symbol
        self.side = side
        self.notionalUSD = notionalUSD
        self.qty = qty
        self.orderType = orderType
        self.timeInForce = timeInForce
        self.price = price
        self.reference = reference
        self.priceMetric = priceMetric
        self.refMetric = refMetric
        self.feed = feed
        self.priceAsOf = priceAsOf
        self.dataAgeSeconds = dataAgeSeconds
        self.ruleID = ruleID
        self.ruleDigest = ruleDigest
        self.judgedAt = judgedAt
    }

    /// The intent of a rule that fired on `evaluation` at `now`, sized as `proposal` (the
    /// rule's size, a `position_pct` resolved to shares).
    public init(rule: Rule, evaluation: RuleEvaluation, proposal: OrderProposal, feed: String, now: Date) {
        self.init(symbol: rule.symbol, side: rule.onAnswerMatch.side, notionalUSD: proposal.notionalUSD,
                  qty: proposal.qty, price: evaluation.price, reference: evaluation.reference,
                  priceMetric: rule.priceMetric, refMetric: rule.refMetric, feed: feed, priceAsOf: evaluation.priceAsOf,
                  dataAgeSeconds: evaluation.priceAgeSeconds, ruleID: rule.id, ruleDigest: rule.digest, judgedAt: now)
        positionPct = rule.onAnswerMatch.positionPct
    }

    /// The proposal the guardrails judge; a qty order is priced at `price` (the freshest known).
    public func proposal(pricedAt price: Decimal?) -> OrderProposal {
        OrderProposal(symbol: symbol, side: side, notionalUSD: notionalUSD, qty: qty, referencePrice: price ?? self.price)
    }

    /// The same order judged again on newer data (a question asked again after a price move).
    public func rejudged(price: Decimal, reference: Decimal?, priceAsOf: Date?, dataAgeSeconds: Int?, at now: Date) -> OrderIntent {
        var copy = self
        copy.price = price
        copy.reference = reference ?? self.reference
        copy.priceAsOf = priceAsOf
        copy.dataAgeSeconds = dataAgeSeconds
        copy.judgedAt = now
        return copy
    }

    /// "buy $10.00 of SPY" / "sell 2 shares of SPY".
    public var sizeText: String {
        if let notionalUSD { return "$\(Money.format(notionalUSD)) of \(symbol)" }
        let shares = qty ?? 0
        let text = "\(Money.plain(shares)) \(shares == 1 ? "share" : "shares") of \(symbol)"
        guard let positionPct else { return text }
        return text + (positionPct == 100 ? " (all you hold)" : " (\(Money.plain(positionPct))% of what you hold)")
    }

    /// One sentence that says exactly what an approval executes; appended to the question.
    public var summary: String {
        var text = "Approving places a \(orderType) order (\(timeInForce)) to \(side.rawValue) \(sizeText)"
        if let price {
            text += ", judged at $\(Money.format(price))"
            if let reference { text += " against $\(Money.format(reference))" }
        }
        return text + "."
    }

    public var jsonValue: JSONValue {
        var fields: [String: JSONValue] = [
            "symbol": .string(symbol), "side": .string(side.rawValue), "order_type": .string(orderType),
            "time_in_force": .string(timeInForce), "price_metric": .string(priceMetric.rawValue),
            "ref_metric": .string(refMetric.rawValue), "feed": .string(feed), "rule_id": .string(ruleID),
            "rule_digest": .string(ruleDigest), "judged_at": .string(OrderIntent.iso(judgedAt)),
        ]
        if let notionalUSD { fields["notional_usd"] = .number(notionalUSD) }
        if let qty { fields["qty"] = .number(qty) }
        if let price { fields["price"] = .number(price) }
        if let reference { fields["reference"] = .number(reference) }
        if let priceAsOf { fields["price_as_of"] = .string(OrderIntent.iso(priceAsOf)) }
        if let dataAgeSeconds { fields["data_age_seconds"] = .number(Decimal(dataAgeSeconds)) }
        if let positionPct { fields["position_pct"] = .number(positionPct) }
        return .object(fields)
    }

    /// Reads an intent back; nil when anything an order needs is missing or malformed (such a
    /// question proposes nothing, and its approval trades nothing).
    public init?(json: JSONValue?) {
        guard let json, case .string(let symbol)? = json["symbol"], !symbol.isEmpty,
              case .string(let sideText)? = json["side"], let side = OrderSide(rawValue: sideText),
              case .string(let orderType)? = json["order_type"], case .string(let timeInForce)? = json["time_in_force"],
              case .string(let ruleID)? = json["rule_id"], case .string(let digest)? = json["rule_digest"],
              case .string(let judgedText)? = json["judged_at"], let judgedAt = OrderIntent.date(judgedText),
              case .string(let priceMetricText)? = json["price_metric"], let priceMetric = Metric(rawValue: priceMetricText),
              case .string(let refMetricText)? = json["ref_metric"], let refMetric = Metric(rawValue: refMetricText),
              case .string(let feed)? = json["feed"]
        else { return nil }
        func number(_ key: String) -> Decimal? { if case .number(let n)? = json[key] { n } else { nil } }
        let notional = number("notional_usd"), qty = number("qty")
        guard (notional == nil) != (qty == nil), (notional ?? qty ?? 0) > 0 else { return nil }
        var asOf: Date?
        if case .string(let text)? = json["price_as_of"] { asOf = OrderIntent.date(text) }
        self.init(symbol: symbol, side: side, notionalUSD: notional, qty: qty, orderType: orderType, timeInForce: timeInForce,
                  price: number("price"), reference: number("reference"), priceMetric: priceMetric, refMetric: refMetric,
                  feed: feed, priceAsOf: asOf, dataAgeSeconds: number("data_age_seconds").map { NSDecimalNumber(decimal: $0).intValue },
                  ruleID: ruleID, ruleDigest: digest, judgedAt: judgedAt)
        positionPct = number("position_pct")
    }

    static func iso(_ date: Date) -> String {
        date.formatted(Date.ISO8601FormatStyle(includingFractionalSeconds: true))
    }

    static func date(_ text: String) -> Date? {
        (try? Date(text, strategy: Date.ISO8601FormatStyle(includingFractionalSeconds: true)))
            ?? (try? Date(text, strategy: .iso8601))
    }
}

extension OrderProposal {
    /// The order a rule proposes now (its `on_answer_match`), a qty bounded by the question's
    /// price; a `position_pct` sell sized from the shares the user may sell (`sellable`).
    public init(rule: Rule, referencePrice: Decimal?, sellable: Decimal) {
        let action = rule.onAnswerMatch
        let qty = action.positionPct.map { PositionSizing.shares(pct: $0, of: sellable) } ?? action.qty
        self.init(symbol: rule.symbol, side: action.side, notionalUSD: action.notionalUSD, qty: qty, referencePrice: referencePrice)
    }
}

public enum PositionSizing {
    /// `pct` percent of `sellable` shares, rounded down: 100 is all of it, exactly; a whole
    /// position sells whole shares (the asset may not be fractionable); a fractional one (which
    /// only a fractionable asset can be) to Alpaca's 9 decimal places. 0 when nothing is held.
    public static func shares(pct: Decimal, of sellable: Decimal) -> Decimal {
        guard sellable > 0, !sellable.isNaN, pct > 0 else { return 0 }
        if pct >= 100 { return sellable }
        let raw = sellable * pct / 100
        let whole = sellable == Money.rounded(sellable, scale: 0)
        var input = raw
        var result = Decimal()
        NSDecimalRound(&result, &input, whole ? 0 : 9, .down)
        return result
    }
}

extension Rule {
    /// A digest of everything the rule says (its canonical JSON): equal digests, same rule.
    public var digest: String {
        String(SHA256.hex(Array(jsonValue.canonicalData())).prefix(32))
    }
}
