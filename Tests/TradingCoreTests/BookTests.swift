import Foundation
import PropertyBased
import Testing
@testable import TradingCore

/// The per-user book (average cost), today's P&L and the sizing of sells: pure arithmetic.
@Suite struct BookTests {
    let t0 = Fixture.eastern(2011, 3, 9, 10, 0)

    func fill(_ side: OrderSide, _ qty: Decimal, at price: Decimal, minute: Double = 0) -> OrderFill {
        OrderFill(orderID: UUID(), side: side, qty: qty, avgPrice: price, filledAt: t0.addingTimeInterval(minute * 60))
    }

    @Test func averageCostBuysAndSells() {
        var position = BookPosition(symbol: "SPY")
        #expect(PositionBook.apply(fill(.buy, 10, at: 100), to: &position) == 0)
        #expect(position.openedAt == t0 && position.highestFillPrice == 100)
        PositionBook.apply(fill(.buy, 10, at: 110, minute: 1), to: &position)
        #expect(position.qty == 20 && position.costBasis == 2100 && position.averageCost == 105)
        #expect(position.openedAt == t0, "adding keeps the position's opening")
        #expect(position.highestFillPrice == 110)
        #expect(PositionBook.apply(fill(.sell, 5, at: 120, minute: 2), to: &position) == 75)
        #expect(position.qty == 15 && position.costBasis == 1575 && position.averageCost == 105)
        #expect(PositionBook.apply(fill(.sell, 15, at: 90, minute: 3), to: &position) == -225)
        #expect(position.isFlat && position.costBasis == 0 && position.realizedPnL == -150)
        #expect(position.openedAt == nil && position.highestFillPrice == nil)
        // Reopened: a new opening instant and high.
        PositionBook.apply(fill(.buy, 1, at: 95, minute: 4), to: &position)
        #expect(position.openedAt == t0.addingTimeInterval(240) && position.highestFillPrice == 95 && position.realizedPnL == -150)
    }

    @Test func fractionalSharesKeepTheirDigits() {
        var position = BookPosition(symbol: "SPY")
        PositionBook.apply(fill(.buy, Decimal(string: "0.079013906")!, at: Decimal(string: "126.56")!), to: &position)
        PositionBook.apply(fill(.buy, Decimal(string: "0.078")!, at: Decimal(string: "128.1")!), to: &position)
        let realized = PositionBook.apply(fill(.sell, Decimal(string: "0.157013906")!, at: 130), to: &position)
        #expect(position.isFlat && position.costBasis == 0)
        // Proceeds minus what was paid, exactly (nothing lost to rounding when all is sold).
        let paid = Decimal(string: "0.079013906")! * Decimal(string: "126.56")! + Decimal(string: "0.078")! * Decimal(string: "128.1")!
        #expect(realized == Decimal(string: "0.157013906")! * 130 - paid)
    }

    @Test func aSellBeyondTheBookFlipsShortAndSaysWhen() {
        var position = BookPosition(symbol: "SPY")
        PositionBook.apply(fill(.buy, 2, at: 100), to: &position)
        PositionBook.apply(fill(.sell, 3, at: 110, minute: 5), to: &position)
        #expect(position.qty == -1 && position.costBasis == -110 && position.realizedPnL == 20)
        #expect(position.openedAt == t0.addingTimeInterval(300))
        #expect(position.unrealizedPnL(at: 100) == 10, "a short gains when the price falls")
        PositionBook.apply(fill(.buy, 1, at: 100, minute: 6), to: &position)
        #expect(position.isFlat && position.realizedPnL == 30)
    }

    /// Whatever the sequence of buys and sells (never selling more than held): the quantity is
    /// bought minus sold, and realized plus unrealized is exactly the cash result marked at a
    /// price (the method only splits it).
    @Test func realizedPlusUnrealizedIsTheCashResult() async {
        await propertyCheck(count: 300, input: Gen.int(in: 1...400).array(of: 1...12), Gen.int(in: 1...300)) { steps, mark in
            var position = BookPosition(symbol: "SPY")
            var cash: Decimal = 0, bought: Decimal = 0, sold: Decimal = 0
            var fills: [OrderFill] = []
            for (i, step) in steps.enumerated() {
                let price = Decimal(90 + step % 40) + Decimal(step % 7) / 8
                let qty = Decimal(step % 13 + 1) / 4
                let selling = i % 3 == 2 && position.qty >= qty
                let made = fill(selling ? .sell : .buy, qty, at: price, minute: Double(i))
                fills.append(made)
                PositionBook.apply(made, to: &position)
                cash += selling ? qty * price : -qty * price
                if selling { sold += qty } else { bought += qty }
            }
            let markPrice = Decimal(mark)
            #expect(position.qty == bought - sold)
            let total = position.realizedPnL + position.unrealizedPnL(at: markPrice)
            #expect(abs(total - (cash + position.qty * markPrice)) < Decimal(string: "0.000001")!)
            // A replay of the same fills gives the same book (the rebuild's premise).
            #expect(PositionBook.replay(symbol: "SPY", fills: fills).position == position)
        }
    }

    @Test func replayReportsWhatEachSellRealized() {
        let buy = fill(.buy, 4, at: 100), sell = fill(.sell, 1, at: 103, minute: 1)
        let (position, realized) = PositionBook.replay(symbol: "SPY", fills: [buy, sell])
        #expect(position.qty == 3 && realized[buy.orderID] == 0 && realized[sell.orderID] == 3)
        #expect(PositionBook.replay(symbol: "SPY", fills: [buy, sell]).position == position)
    }

    /// Today's P&L: the move today of what was held at the start (from the previous close), plus
    /// today's trades against the price now.
    @Test func todaysPnLMeasuresFromThePreviousClose() {
        let held = BookPosition(symbol: "SPY", qty: 10, costBasis: 1000, realizedPnL: 0, openedAt: t0, highestFillPrice: 100)
        #expect(PositionBook.dayPnL(position: held, price: 103, previousClose: 105, today: DayActivity()) == -20)
        // Bought 5 more today at 104: those count from 104.
        let more = BookPosition(symbol: "SPY", qty: 15, costBasis: 1520, realizedPnL: 0, openedAt: t0, highestFillPrice: 104)
        let bought = DayActivity(boughtQty: 5, boughtCost: 520, soldQty: 0, soldProceeds: 0, realizedPnL: 0)
        #expect(PositionBook.dayPnL(position: more, price: 103, previousClose: 105, today: bought) == -25)
        // Sold everything today at 106 after a close of 105: +10 today (realized says +60, since the buy at 100).
        let sold = DayActivity(boughtQty: 0, boughtCost: 0, soldQty: 10, soldProceeds: 1060, realizedPnL: 60)
        #expect(PositionBook.dayPnL(position: BookPosition(symbol: "SPY"), price: 106, previousClose: 105, today: sold) == 10)
        // Without a previous close, a position closed today counts what it realized.
        #expect(PositionBook.dayPnL(position: BookPosition(symbol: "SPY"), price: nil, previousClose: nil, today: sold) == 60)
        // Without a price now, a held position's day is unknown.
        #expect(PositionBook.dayPnL(position: held, price: nil, previousClose: 105, today: DayActivity()) == nil)
    }

    @Test func theValuationSumsOpenPositionsAndEveryRealizedPnL() {
        let spy = BookPosition(symbol: "SPY", qty: 2, costBasis: 200, realizedPnL: 5, openedAt: t0, highestFillPrice: 100)
        let closed = BookPosition(symbol: "QQQ", qty: 0, costBasis: 0, realizedPnL: -3, openedAt: nil, highestFillPrice: nil)
        let value = Portfolio.value([spy, closed], prices: ["SPY": PricePoint(price: 110, asOf: t0)], previousCloses: ["SPY": 105],
                                    today: [:], now: t0)
        #expect(value.positions.map(\.position.symbol) == ["SPY"])
        #expect(value.positions.first?.unrealizedPnL == 20 && value.positions.first?.unrealizedPct == 10)
        #expect(value.costBasis == 200 && value.marketValue == 220 && value.unrealizedPnL == 20 && value.realizedPnL == 2)
        #expect(value.dayPnL == 10 && value.tradingDay == "2011-03-09")
        // A held symbol without any price: its value and today's P&L are unknown, not zero.
        let unpriced = Portfolio.value([spy], prices: [:], previousCloses: [:], today: [:], now: t0)
        #expect(unpriced.marketValue == nil && unpriced.dayPnL == nil && unpriced.costBasis == 200)
    }

    @Test(arguments: [
        // (pct, sellable, shares)
        ("100", "0.079013906", "0.079013906"),
        ("50", "3", "1"),
        ("50", "0.5", "0.25"),
        ("33.3", "0.1", "0.0333"),
        ("10", "0.000000005", "0"),
        ("25", "0", "0"),
        ("100", "-1", "0"),
    ])
    func positionPctSizesFromWhatMayBeSold(pct: String, sellable: String, shares: String) {
        #expect(PositionSizing.shares(pct: Decimal(string: pct)!, of: Decimal(string: sellable)!) == Decimal(string: shares)!)
    }
}
