import Foundation

/// An order the system wants to place, before any broker is involved.
public struct OrderProposal: Sendable, Hashable {
    public var symbol: String
    public var side: OrderSide
    public var notionalUSD: Decimal?
    public var qty: Decimal?
    /// For `qty` orders, the price used to bound the notional (the question's price).
    public var referencePrice: Decimal?

    public init(symbol: String, side: OrderSide, notionalUSD: Decimal?, qty: Decimal?, referencePrice: Decimal?) {
        self.symbol = symbol
        self.side = side
        self.notionalUSD = notionalUSD
        self.qty = qty
        self.referencePrice = referencePrice
    }

    /// Shares the order would trade: its qty, or its notional at the reference price (nil when
    /// unknowable). What a sell needs held.
    public var estimatedQty: Decimal? {
        if let qty { return qty }
        guard let notionalUSD, let referencePrice, referencePrice > 0 else { return nil }
        return notionalUSD / referencePrice
    }

    /// Dollars at risk: the notional, or qty × reference price; nil when unknowable.
    public var estimatedNotionalUSD: Decimal? {
        if let notionalUSD { return notionalUSD }
        if let qty, let referencePrice { return qty * referencePrice }
        return nil
    }
}

/// An order already counted against the caps (any status but one the broker never saw).
public struct PlacedOrder: Sendable, Hashable {
    public var createdAt: Date
    public var notionalUSD: Decimal
    /// Sells count against neither buy cap (the orders per day and the notional per 4 h): an
    /// exit is never stopped by what the user bought.
    public var side: OrderSide

    public init(createdAt: Date, notionalUSD: Decimal, side: OrderSide = .buy) {
        self.createdAt = createdAt
        self.notionalUSD = notionalUSD
        self.side = side
    }
}

/// What the server environment says about live trading (never from a user document).
public struct LiveTradingGate: Sendable, Hashable {
    /// `ALPACA_ALLOW_LIVE=true`.
    public var allowLive: Bool
    /// The trading base URL is Alpaca's live host (not the paper host or a simulator).
    public var tradingURLIsLive: Bool
    /// Hard cap per order from the environment; wins over any config.
    public var hardMaxOrderNotionalUSD: Decimal

    public init(allowLive: Bool, tradingURLIsLive: Bool, hardMaxOrderNotionalUSD: Decimal) {
        self.allowLive = allowLive
        self.tradingURLIsLive = tradingURLIsLive
        self.hardMaxOrderNotionalUSD = hardMaxOrderNotionalUSD
    }
}

public enum GuardrailKind: String, Sendable, Hashable, CaseIterable {
    case questionRequired = "require_question_before_order"
    case liveTrading = "live_trading"
    case hardNotionalCap = "hard_max_order_notional"
    case unboundedNotional = "unbounded_notional"
    case notWatchlisted = "watchlist"
    case blocklisted = "symbols_blocklist"
    case maxOrdersPerDay = "max_orders_per_day"
    case maxNotionalPer4h = "max_notional_usd_per_4h"
    /// A sell of more than the user's own book holds (less what their open sells reserve).
    case sellBeyondPosition = "position"
    case maxPositionUSD = "max_position_usd"
    case maxExposureUSD = "max_exposure_usd"
    case dailyLossLimit = "daily_loss_limit_usd"
}

public struct GuardrailRefusal: Sendable, Hashable, CustomStringConvertible {
    public var guardrail: GuardrailKind
    public var reason: String
    public var description: String { "\(guardrail.rawValue): \(reason)" }
}

public enum GuardrailDecision: Sendable, Hashable {
    case allow
    /// Every guardrail that refused, most fundamental first.
    case refuse([GuardrailRefusal])

    public var refusals: [GuardrailRefusal] {
        if case .refuse(let list) = self { return list }
        return []
    }

    public var allowed: Bool { self == .allow }
}

/// Plan §8.3, as arithmetic. Callers pass the orders already placed; this decides.
public enum GuardrailPolicy {
    public static let notionalWindow: TimeInterval = 4 * 3600

    /// `portfolio` is the user's own book (positions, open orders, today's P&L): a sell needs
    /// the shares in it; a buy is held to the portfolio caps. `priorOrders` are the user's buys
    /// and sells of the last day; only buys count toward the buy caps.
    public static func check(
        proposal: OrderProposal,
        config: TradingConfig,
        gate: LiveTradingGate,
        priorOrders: [PlacedOrder],
        portfolio: PortfolioState,
        questionApproved: Bool,
        now: Date
    ) -> GuardrailDecision {
        var refusals: [GuardrailRefusal] = []
        func refuse(_ kind: GuardrailKind, _ reason: String) {
            refusals.append(GuardrailRefusal(guardrail: kind, reason: reason))
        }
        let rails = config.guardrails

        if rails.requireQuestionBeforeOrder && !questionApproved {
            refuse(.questionRequired, "no approved answer to a question for this order")
        }
        if gate.tradingURLIsLive && !(gate.allowLive && config.mode == .live) {
            refuse(.liveTrading, "the trading URL is live but ALPACA_ALLOW_LIVE=\(gate.allowLive) and mode=\(config.mode.rawValue); both must allow live")
        }
        // Arithmetic that cannot be trusted (NaN, overflow, a non-positive size) refuses: fail closed.
        var notional = proposal.estimatedNotionalUSD
        if let value = notional, value.isNaN || value <= 0 {
            refuse(.unboundedNotional, "the order's notional cannot be computed")
            notional = nil
        } else if let notional {
            if notional > gate.hardMaxOrderNotionalUSD {
                refuse(.hardNotionalCap, "order notional \(Money.format(notional)) USD exceeds the server's hard cap \(Money.format(gate.hardMaxOrderNotionalUSD)) USD")
            }
        } else {
            refuse(.unboundedNotional, "a qty order needs a reference price to bound its notional")
        }
        if !config.watchlist.contains(proposal.symbol) {
            refuse(.notWatchlisted, "\(proposal.symbol) is not in the user's watchlist")
        }
        if rails.symbolsBlocklist.contains(proposal.symbol) {
            refuse(.blocklisted, "\(proposal.symbol) is on the user's blocklist")
        }
        switch proposal.side {
        case .sell:
            if let reason = sellRefusal(proposal, portfolio: portfolio) { refuse(.sellBeyondPosition, reason) }
        case .buy:
            let buys = priorOrders.filter { $0.side == .buy }
            let today = ordersOnTradingDay(of: now, in: buys)
            if today.count >= rails.maxOrdersPerDay {
                refuse(.maxOrdersPerDay, "\(today.count) buys already on \(MarketTime.tradingDay(of: now)) (US/Eastern); the limit is \(rails.maxOrdersPerDay)")
            }
            if let notional {
                let used = notionalInWindow(endingAt: now, in: buys)
                if used.isNaN || (used + notional).isNaN {
                    refuse(.maxNotionalPer4h, "the notional already used cannot be computed")
                } else if used + notional > rails.maxNotionalUSDPer4h {
                    refuse(.maxNotionalPer4h, "\(Money.format(used)) USD in the last 4 hours + \(Money.format(notional)) USD exceeds \(Money.format(rails.maxNotionalUSDPer4h)) USD")
                }
            }
            for refusal in portfolioRefusals(symbol: proposal.symbol, notional: notional, rails: rails, portfolio: portfolio) {
                refusals.append(refusal)
            }
        }
        return refusals.isEmpty ? .allow : .refuse(refusals)
    }

    /// Why a sell may not go: it would sell shares the user's own book does not hold (another
    /// user's, on the shared account), or ones an open sell of theirs already sells. Never a short.
    static func sellRefusal(_ proposal: OrderProposal, portfolio: PortfolioState) -> String? {
        let symbol = proposal.symbol
        let held = portfolio.held(symbol), reserved = portfolio.reservedBySells(symbol)
        let sellable = held - reserved
        guard let shares = proposal.estimatedQty, !shares.isNaN, !sellable.isNaN else {
            return "the shares this sell would sell cannot be computed, so it could leave you short"
        }
        guard shares > 0 else { return "nothing to sell: you hold no \(symbol) that is not already being sold" }
        guard shares <= sellable else {
            let pending = reserved > 0 ? " (\(Money.plain(reserved)) of them already being sold)" : ""
            return "selling \(Money.plain(shares)) \(symbol) needs them in your own book; you hold \(Money.plain(held))\(pending)"
        }
        return nil
    }

    /// The portfolio caps on a buy of `notional` dollars of `symbol`.
    static func portfolioRefusals(symbol: String, notional: Decimal?, rails: Guardrails, portfolio: PortfolioState) -> [GuardrailRefusal] {
        var refusals: [GuardrailRefusal] = []
        let add = notional ?? .nan
        if let cap = rails.maxPositionUSD {
            let held = portfolio.positionCost(symbol)
            if held.isNaN || add.isNaN || held + add > cap {
                refusals.append(.init(guardrail: .maxPositionUSD, reason: held.isNaN || add.isNaN
                    ? "the position's cost cannot be computed"
                    : "\(Money.format(held)) USD in \(symbol) (held and open buys) + \(Money.format(add)) USD exceeds \(Money.format(cap)) USD"))
            }
        }
        if let cap = rails.maxExposureUSD {
            let exposure = portfolio.exposure
            if exposure.isNaN || add.isNaN || exposure + add > cap {
                refusals.append(.init(guardrail: .maxExposureUSD, reason: exposure.isNaN || add.isNaN
                    ? "the exposure cannot be computed"
                    : "\(Money.format(exposure)) USD at cost across your positions and open buys + \(Money.format(add)) USD exceeds \(Money.format(cap)) USD"))
            }
        }
        if let limit = rails.dailyLossLimitUSD, let reason = dailyLossBreach(portfolio.dayPnL, limit: limit) {
            refusals.append(.init(guardrail: .dailyLossLimit, reason: reason))
        }
        return refusals
    }

    /// Why today's P&L stops buys (a loss of at least `limit`, or a P&L that cannot be known).
    public static func dailyLossBreach(_ dayPnL: Decimal?, limit: Decimal) -> String? {
        guard let dayPnL, !dayPnL.isNaN else { return "today's P&L cannot be computed, so no buys today" }
        guard dayPnL <= -limit else { return nil }
        return "today's P&L is \(Money.format(dayPnL)) USD, a loss at the \(Money.format(limit)) USD daily limit: no buys until the next trading day (selling still works)"
    }

    /// Orders whose creation falls on the same US/Eastern calendar day as `now`.
    public static func ordersOnTradingDay(of now: Date, in orders: [PlacedOrder]) -> [PlacedOrder] {
        let day = MarketTime.tradingDay(of: now)
        return orders.filter { MarketTime.tradingDay(of: $0.createdAt) == day }
    }

    /// Notional of orders created in the rolling window (now − 4h, now]; an order exactly
    /// four hours old has left the window.
    public static func notionalInWindow(endingAt now: Date, in orders: [PlacedOrder]) -> Decimal {
        let start = now.addingTimeInterval(-notionalWindow)
        return orders.filter { $0.createdAt > start && $0.createdAt <= now }
            .reduce(Decimal(0)) { $0 + $1.notionalUSD }
    }
}
