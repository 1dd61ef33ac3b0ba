import Foundation

/// One order's fills as the books record them: the broker's cumulative filled quantity and
/// average price (never the intent), and when it last filled.
public struct OrderFill: Sendable, Hashable {
    public var orderID: UUID
    public var side: OrderSide
    public var qty: Decimal
    public var avgPrice: Decimal
    public var filledAt: Date

    public init(orderID: UUID, side: OrderSide, qty: Decimal, avgPrice: Decimal, filledAt: Date) {
        self.orderID = orderID
        self.side = side
        self.qty = qty
        self.avgPrice = avgPrice
        self.filledAt = filledAt
    }
}

/// A user's position in one symbol, by the average-cost method.
public struct BookPosition: Sendable, Hashable {
    public var symbol: String
    /// Shares held; negative only when the broker filled sells beyond what the book held (a
    /// finding: this server never proposes such a sell).
    public var qty: Decimal = 0
    /// What the shares held cost: `qty` × the average cost.
    public var costBasis: Decimal = 0
    /// Realized over the position's whole history (every sell's proceeds minus its cost).
    public var realizedPnL: Decimal = 0
    /// When the position now held opened (its first fill since it was last flat); nil when flat.
    public var openedAt: Date?
    /// The highest fill price since the position opened (the trailing stop's floor of its high).
    public var highestFillPrice: Decimal?

    public init(symbol: String) {
        self.symbol = symbol
    }

    public init(symbol: String, qty: Decimal, costBasis: Decimal, realizedPnL: Decimal, openedAt: Date?, highestFillPrice: Decimal?) {
        self.symbol = symbol
        self.qty = qty
        self.costBasis = costBasis
        self.realizedPnL = realizedPnL
        self.openedAt = openedAt
        self.highestFillPrice = highestFillPrice
    }

    public var isFlat: Bool { qty == 0 }

    public var averageCost: Decimal? {
        qty == 0 ? nil : Money.rounded(costBasis / qty, scale: PositionBook.scale)
    }

    /// Unrealized P&L at `price`: what the shares are worth minus what they cost.
    public func unrealizedPnL(at price: Decimal) -> Decimal {
        qty * price - costBasis
    }
}

/// What a user's fills did on one trading day in one symbol (for today's P&L).
public struct DayActivity: Sendable, Hashable {
    public var boughtQty: Decimal = 0
    public var boughtCost: Decimal = 0
    public var soldQty: Decimal = 0
    public var soldProceeds: Decimal = 0
    public var realizedPnL: Decimal = 0

    public init() {}

    public init(boughtQty: Decimal, boughtCost: Decimal, soldQty: Decimal, soldProceeds: Decimal, realizedPnL: Decimal) {
        self.boughtQty = boughtQty
        self.boughtCost = boughtCost
        self.soldQty = soldQty
        self.soldProceeds = soldProceeds
        self.realizedPnL = realizedPnL
    }
}

/// The per-user book, as arithmetic (no IO). Average cost, not FIFO: with one broker account
/// shared by many users there are no lots at the broker to match (Alpaca's own positions report
/// an average entry price), a user's average cost is then comparable with Alpaca's, and it
/// needs one running pair (quantity, cost) instead of a lot list.
///
/// The book of a (user, symbol) is a function of that user's orders in the symbol, applied in
/// the order they were submitted: recomputed from `trade_orders` whenever a fill is recorded,
/// so the stream and the poller (in either order, any number of times) and a rebuild all give
/// the same book.
public enum PositionBook {
    /// Decimal places kept where a cost is divided (the share of a cost that a partial sell
    /// closes): Alpaca's 9-place quantities times 4-place prices need 13; every other step is
    /// exact decimal arithmetic.
    public static let scale = 14

    /// Applies one order's fills; returns the P&L the fill realized (0 for a buy that only adds).
    @discardableResult
    public static func apply(_ fill: OrderFill, to position: inout BookPosition) -> Decimal {
        guard fill.qty > 0 else { return 0 }
        let signed = fill.side == .buy ? fill.qty : -fill.qty
        let before = position.qty
        var realized: Decimal = 0
        if position.qty == 0 || (position.qty > 0) == (signed > 0) {
            // Opening or adding: the cost grows by what was paid (or, short, received).
            position.qty += signed
            position.costBasis += signed * fill.avgPrice
        } else {
            // Reducing: the shares closed leave at the average cost; beyond them the position flips.
            let closing = min(abs(signed), abs(position.qty))
            // Closing it all leaves its whole cost (exact); a part, its share (the one division).
            let closedCost = closing == abs(position.qty) ? position.costBasis
                : Money.rounded(position.costBasis * closing / abs(position.qty), scale: scale)
            let longSign: Decimal = position.qty > 0 ? 1 : -1
            realized = (fill.avgPrice * closing - closedCost * longSign) * longSign
            position.qty -= closing * longSign
            position.costBasis -= closedCost * longSign
            let rest = abs(signed) - closing
            if position.qty == 0 { position.costBasis = 0 }
            if rest > 0 {
                position.qty = signed > 0 ? rest : -rest
                position.costBasis = position.qty * fill.avgPrice
            }
        }
        position.realizedPnL += realized
        if position.qty == 0 {
            position.openedAt = nil
            position.highestFillPrice = nil
        } else if before == 0 || (before > 0) != (position.qty > 0) {
            // Opened now (from flat, or flipped through zero).
            position.openedAt = fill.filledAt
            position.highestFillPrice = fill.avgPrice
        } else {
            position.highestFillPrice = max(position.highestFillPrice ?? fill.avgPrice, fill.avgPrice)
        }
        return realized
    }

    /// The book of one symbol from its orders' fills, in the order given (submission order);
    /// with what each order realized.
    public static func replay(symbol: String, fills: [OrderFill]) -> (position: BookPosition, realized: [UUID: Decimal]) {
        var position = BookPosition(symbol: symbol)
        var realized: [UUID: Decimal] = [:]
        for fill in fills {
            realized[fill.orderID] = apply(fill, to: &position)
        }
        return (position, realized)
    }

    /// Today's P&L in one symbol: what the position is worth now, minus what it was worth at
    /// the day's start (the shares then held at the previous close), minus what today's buys
    /// cost, plus what today's sells brought. Realized and unrealized together, so a stock
    /// bought yesterday and sold today at a loss counts today by its move today. Without a
    /// previous close the shares held at the start are valued at their average cost (nil
    /// without a price now).
    public static func dayPnL(position: BookPosition, price: Decimal?, previousClose: Decimal?, today: DayActivity) -> Decimal? {
        let startQty = position.qty - today.boughtQty + today.soldQty
        let flows = today.soldProceeds - today.boughtCost
        guard position.qty != 0 else {
            guard startQty != 0 else { return Money.rounded(flows, scale: scale) }
            // Closed today: without the previous close, what today's sells realized.
            guard let previousClose else { return today.realizedPnL }
            return Money.rounded(flows - startQty * previousClose, scale: scale)
        }
        guard let price else { return nil }
        let startPrice = previousClose ?? position.averageCost ?? price
        return Money.rounded(position.qty * price - startQty * startPrice + flows, scale: scale)
    }
}
