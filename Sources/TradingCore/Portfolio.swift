import Foundation

/// An order not yet ended: what it may still buy or sell (the part not yet filled).
public struct OpenOrderExposure: Sendable, Hashable {
    public var symbol: String
    public var side: OrderSide
    /// Shares it may still buy or sell (a notional order's estimated at its reference price;
    /// NaN when it cannot be estimated, which fails the checks closed).
    public var remainingQty: Decimal
    /// Dollars it may still spend or bring, at its reference price (NaN when unknown).
    public var remainingNotional: Decimal

    public init(symbol: String, side: OrderSide, remainingQty: Decimal, remainingNotional: Decimal) {
        self.symbol = symbol
        self.side = side
        self.remainingQty = remainingQty
        self.remainingNotional = remainingNotional
    }
}

/// What a user's book says when an order is judged: the positions held, the orders still
/// open, and today's P&L. Read under the user's lock at every stage (question, approval, POST).
public struct PortfolioState: Sendable, Hashable {
    public var positions: [String: BookPosition]
    public var openOrders: [OpenOrderExposure]
    /// Realized plus unrealized since the US/Eastern day's start; nil when unknown.
    public var dayPnL: Decimal?

    public init(positions: [String: BookPosition] = [:], openOrders: [OpenOrderExposure] = [], dayPnL: Decimal? = 0) {
        self.positions = positions
        self.openOrders = openOrders
        self.dayPnL = dayPnL
    }

    /// A user who holds nothing and has no open order.
    public static let empty = PortfolioState()

    /// Shares of `symbol` held in the book.
    public func held(_ symbol: String) -> Decimal {
        positions[symbol]?.qty ?? 0
    }

    /// Shares of `symbol` that open sells may still sell (reserved: no second sell may sell them).
    public func reservedBySells(_ symbol: String) -> Decimal {
        openOrders.filter { $0.symbol == symbol && $0.side == .sell }.reduce(0) { $0 + $1.remainingQty }
    }

    /// Shares of `symbol` a new sell may sell: held, less what open sells reserve.
    public func sellable(_ symbol: String) -> Decimal {
        held(symbol) - reservedBySells(symbol)
    }

    /// Dollars at cost in `symbol`, with the open buys' remaining notional.
    public func positionCost(_ symbol: String) -> Decimal {
        max(positions[symbol]?.costBasis ?? 0, 0)
            + openOrders.filter { $0.symbol == symbol && $0.side == .buy }.reduce(0) { $0 + $1.remainingNotional }
    }

    /// Dollars at cost across every long position, with every open buy's remaining notional.
    public var exposure: Decimal {
        positions.values.reduce(Decimal(0)) { $0 + max($1.costBasis, 0) }
            + openOrders.filter { $0.side == .buy }.reduce(0) { $0 + $1.remainingNotional }
    }
}

/// One position as the user sees it, valued at the newest price.
public struct PositionValuation: Sendable, Hashable {
    public var position: BookPosition
    public var price: Decimal?
    public var priceAsOf: Date?
    public var marketValue: Decimal?
    public var unrealizedPnL: Decimal?
    /// Unrealized P&L over the cost basis, in percent.
    public var unrealizedPct: Decimal?
    public var dayPnL: Decimal?
    /// The highest price since the position opened (the trailing stop's high), when known.
    public var highWater: Decimal?
}

/// A user's book valued: open positions, and totals (realized over every position, flat ones
/// included; today's P&L over every symbol with a position or a fill today).
public struct PortfolioValuation: Sendable, Hashable {
    public var tradingDay: String
    public var positions: [PositionValuation]
    public var costBasis: Decimal
    /// nil when a held symbol has no price at all.
    public var marketValue: Decimal?
    public var unrealizedPnL: Decimal?
    public var realizedPnL: Decimal
    public var dayPnL: Decimal?
}

/// A latest price and when it was seen.
public struct PricePoint: Sendable, Hashable {
    public var price: Decimal
    public var asOf: Date

    public init(price: Decimal, asOf: Date) {
        self.price = price
        self.asOf = asOf
    }
}

public enum Portfolio {
    /// Values a user's book (every position row, flat ones included) at `prices` (the newest
    /// last trade), today's P&L against `previousCloses`, as of the trading day `now` falls on.
    public static func value(_ positions: [BookPosition], highWater: [String: Decimal] = [:], prices: [String: PricePoint],
                             previousCloses: [String: Decimal], today: [String: DayActivity], now: Date) -> PortfolioValuation {
        var open: [PositionValuation] = []
        var costBasis: Decimal = 0, marketValue: Decimal? = 0, unrealized: Decimal? = 0, realized: Decimal = 0
        var dayPnL: Decimal? = 0
        let bySymbol = Dictionary(positions.map { ($0.symbol, $0) }, uniquingKeysWith: { first, _ in first })
        for symbol in Set(bySymbol.keys).union(today.keys).sorted() {
            let position = bySymbol[symbol] ?? BookPosition(symbol: symbol)
            realized += position.realizedPnL
            let point = prices[symbol]
            let day = PositionBook.dayPnL(position: position, price: point?.price, previousClose: previousCloses[symbol],
                                          today: today[symbol] ?? DayActivity())
            dayPnL = plus(dayPnL, day)
            guard !position.isFlat else { continue }
            var row = PositionValuation(position: position, price: point?.price, priceAsOf: point?.asOf, dayPnL: day,
                                        highWater: highWater[symbol])
            if let price = point?.price {
                row.marketValue = position.qty * price
                row.unrealizedPnL = position.unrealizedPnL(at: price)
                if position.costBasis != 0, let pnl = row.unrealizedPnL {
                    row.unrealizedPct = Money.rounded(pnl / abs(position.costBasis) * 100, scale: 4)
                }
            }
            costBasis += position.costBasis
            marketValue = plus(marketValue, row.marketValue)
            unrealized = plus(unrealized, row.unrealizedPnL)
            open.append(row)
        }
        return PortfolioValuation(tradingDay: MarketTime.tradingDay(of: now), positions: open, costBasis: costBasis,
                                  marketValue: marketValue, unrealizedPnL: unrealized, realizedPnL: realized, dayPnL: dayPnL)
    }
}

/// a + b, unknown when either is.
private func plus(_ a: Decimal?, _ b: Decimal?) -> Decimal? {
    guard let a, let b else { return nil }
    return a + b
}
