import Foundation

/// What the broker says that decides whether an order would be accepted, read just before a
/// question is asked (asset, account, position, market clock). Pure facts: no IO here.
public struct BrokerFacts: Sendable, Hashable {
    public struct Asset: Sendable, Hashable {
        public var symbol: String
        public var active: Bool
        public var tradable: Bool
        public var fractionable: Bool

        public init(symbol: String, active: Bool, tradable: Bool, fractionable: Bool) {
            self.symbol = symbol
            self.active = active
            self.tradable = tradable
            self.fractionable = fractionable
        }
    }

    /// nil: the broker does not know the symbol.
    public var asset: Asset?
    public var buyingPower: Decimal
    /// Shares held long (0 when none).
    public var positionQty: Decimal
    public var marketOpen: Bool
    public var nextOpen: Date?

    public init(asset: Asset?, buyingPower: Decimal, positionQty: Decimal, marketOpen: Bool, nextOpen: Date?) {
        self.asset = asset
        self.buyingPower = buyingPower
        self.positionQty = positionQty
        self.marketOpen = marketOpen
        self.nextOpen = nextOpen
    }
}

/// Why the broker would refuse the order a rule proposes.
public enum PreflightRefusal: Sendable, Hashable, CustomStringConvertible {
    case unknownAsset(String)
    case notTradable(String)
    case notFractionable(String)
    /// An order shape Alpaca refuses (both or neither of qty and notional, a notional under $1).
    case invalidShape(String)
    case insufficientBuyingPower(needed: Decimal, available: Decimal)
    case insufficientPosition(needed: Decimal, held: Decimal)

    /// A short code for metadata, metrics and the question's `pipeline_step`.
    public var code: String {
        switch self {
        case .unknownAsset: "unknown_asset"
        case .notTradable: "not_tradable"
        case .notFractionable: "not_fractionable"
        case .invalidShape: "invalid_order_shape"
        case .insufficientBuyingPower: "insufficient_buying_power"
        case .insufficientPosition: "insufficient_position"
        }
    }

    public var description: String {
        switch self {
        case .unknownAsset(let symbol): "the broker does not know \(symbol)"
        case .notTradable(let symbol): "\(symbol) is not tradable at the broker now"
        case .notFractionable(let symbol): "\(symbol) cannot be bought in fractions, so a dollar-amount order is refused"
        case .invalidShape(let why): "the order's shape is not one the broker accepts: \(why)"
        case .insufficientBuyingPower(let needed, let available):
            "buying power $\(Money.format(available)) does not cover $\(Money.format(needed))"
        case .insufficientPosition(let needed, let held):
            "selling \(needed) shares needs them held; the account holds \(held)"
        }
    }
}

/// The broker's verdict on a proposed order, before anyone is asked about it.
public struct PreflightResult: Sendable, Hashable {
    public var refusals: [PreflightRefusal]
    public var marketOpen: Bool
    /// When the order would reach the market: now when open, else the next open.
    public var executesAt: Date?

    public var allowed: Bool { refusals.isEmpty }
}

/// Alpaca's acceptance rules for the orders this server places (plan §10.1: market, day,
/// `notional` or `qty`): the asset is active and tradable; a notional or fractional order
/// needs a fractionable asset and at least $1; a buy needs buying power for its notional
/// (or qty × the question's price); a sell needs the shares. Outside market hours a market
/// day order queues for the next open, so it is allowed and says when it would execute.
public enum BrokerPreflight {
    public static let minimumNotionalUSD: Decimal = 1

    public static func check(_ proposal: OrderProposal, facts: BrokerFacts) -> PreflightResult {
        var refusals: [PreflightRefusal] = []
        let symbol = proposal.symbol
        if let asset = facts.asset {
            if !asset.active || !asset.tradable { refusals.append(.notTradable(symbol)) }
            let fractional = proposal.notionalUSD != nil || proposal.qty.map { $0 != Money.rounded($0, scale: 0) } == true
            if fractional && !asset.fractionable { refusals.append(.notFractionable(symbol)) }
        } else {
            refusals.append(.unknownAsset(symbol))
        }
        switch (proposal.notionalUSD, proposal.qty) {
        case (nil, nil), (.some, .some):
            refusals.append(.invalidShape("exactly one of notional and qty"))
        case (.some(let notional), nil) where notional < minimumNotionalUSD:
            refusals.append(.invalidShape("a notional order needs at least $\(Money.format(minimumNotionalUSD))"))
        case (nil, .some(let qty)) where qty <= 0:
            refusals.append(.invalidShape("qty must be positive"))
        default:
            break
        }
        switch proposal.side {
        case .buy:
            if let needed = proposal.estimatedNotionalUSD, needed > facts.buyingPower {
                refusals.append(.insufficientBuyingPower(needed: needed, available: facts.buyingPower))
            }
        case .sell:
            let needed = proposal.estimatedQty
            if let needed, needed > facts.positionQty {
                refusals.append(.insufficientPosition(needed: needed, held: facts.positionQty))
            } else if needed == nil && facts.positionQty <= 0 {
                refusals.append(.insufficientPosition(needed: 0, held: facts.positionQty))
            }
        }
        return PreflightResult(refusals: refusals, marketOpen: facts.marketOpen, executesAt: facts.marketOpen ? nil : facts.nextOpen)
    }
}

extension PreflightResult {
    /// What the question adds when the market is closed: when the order would go in.
    public var closedMarketNote: String? {
        guard !marketOpen else { return nil }
        guard let executesAt else { return "The market is closed; the order would go in when it next opens." }
        return "The market is closed; the order would go in at the open, \(MarketTime.describe(executesAt))."
    }

    /// The text of the question that explains why no order is proposed.
    public func refusalText(explanation: String, proposal: OrderProposal) -> String {
        let reasons = refusals.map(\.description).joined(separator: "; ")
        let size = proposal.notionalUSD.map { "$\(Money.format($0))" } ?? "\(proposal.qty ?? 0) shares"
        return "\(explanation). The rule would \(proposal.side.rawValue) \(size) of \(proposal.symbol), but the broker would refuse "
            + "the order (\(reasons)), so none is proposed. Swipe either way to dismiss."
    }
}

extension MarketTime {
    /// "Thu 17 Mar 09:30 ET": an instant as a person in New York reads it.
    public static func describe(_ date: Date) -> String {
        let parts = calendar.dateComponents([.weekday, .day, .month, .hour, .minute], from: date)
        let weekdays = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
        let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        let weekday = weekdays[((parts.weekday ?? 1) - 1 + 7) % 7]
        let month = months[((parts.month ?? 1) - 1 + 12) % 12]
        func two(_ n: Int?) -> String { n.map { $0 < 10 ? "0\($0)" : "\($0)" } ?? "00" }
        return "\(weekday) \(parts.day ?? 0) \(month) \(two(parts.hour)):\(two(parts.minute)) ET"
    }
}
