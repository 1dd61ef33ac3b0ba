import Foundation
import PropertyBased
import Testing
@testable import TradingCore

@Suite struct GuardrailTests {
    let now = Fixture.eastern(2026, 3, 10, 11, 0)

    func check(_ proposal: OrderProposal = Fixture.buy(10), config: TradingConfig = Fixture.config(),
               gate: LiveTradingGate = Fixture.paperGate, prior: [PlacedOrder] = [], approved: Bool = true,
               at time: Date? = nil) -> GuardrailDecision {
        GuardrailPolicy.check(proposal: proposal, config: config, gate: gate, priorOrders: prior, portfolio: .empty,
                              questionApproved: approved, now: time ?? now)
    }

    func kinds(_ decision: GuardrailDecision) -> [GuardrailKind] { decision.refusals.map(\.guardrail) }

    @Test func aPlainPaperOrderPasses() {
        #expect(check() == .allow)
    }

    @Test func questionRequiredUnlessConfiguredOff() {
        #expect(kinds(check(approved: false)) == [.questionRequired])
        #expect(check(config: Fixture.config(requireQuestion: false), approved: false) == .allow)
    }

    @Test(arguments: [
        // (allowLive, urlIsLive, mode, refused)
        (false, false, TradingMode.paper, false),
        (false, false, TradingMode.live, false),   // a paper URL can only place paper orders
        (true, false, TradingMode.paper, false),
        (false, true, TradingMode.paper, true),
        (false, true, TradingMode.live, true),     // mode live alone is not enough
        (true, true, TradingMode.paper, true),     // ALPACA_ALLOW_LIVE alone is not enough
        (true, true, TradingMode.live, false),     // both opt-ins
    ])
    func liveNeedsBothOptIns(allowLive: Bool, urlIsLive: Bool, mode: TradingMode, refused: Bool) {
        let gate = LiveTradingGate(allowLive: allowLive, tradingURLIsLive: urlIsLive, hardMaxOrderNotionalUSD: 250)
        let decision = check(config: Fixture.config(mode: mode), gate: gate)
        #expect(kinds(decision).contains(.liveTrading) == refused)
    }

    @Test func hardCapWinsOverAnyConfig() {
        let generous = Fixture.config(per4h: 1_000_000)
        #expect(check(Fixture.buy(250), config: generous) == .allow)
        let decision = check(Fixture.buy(250.01), config: generous)
        #expect(kinds(decision) == [.hardNotionalCap])
        #expect(decision.refusals.first?.description
            == "hard_max_order_notional: order notional 250.01 USD exceeds the server's hard cap 250.00 USD")
    }

    @Test func qtyOrdersAreBoundedByTheirReferencePrice() {
        let qty = OrderProposal(symbol: "SPY", side: .buy, notionalUSD: nil, qty: 1.5, referencePrice: 126)
        #expect(check(qty, config: Fixture.config(per4h: 189)) == .allow)
        #expect(kinds(check(qty, config: Fixture.config(per4h: 188.99))) == [.maxNotionalPer4h])
        let tooBig = OrderProposal(symbol: "SPY", side: .buy, notionalUSD: nil, qty: 2, referencePrice: 126)
        #expect(kinds(check(tooBig, config: Fixture.config(per4h: 1000))) == [.hardNotionalCap])
        let unpriced = OrderProposal(symbol: "SPY", side: .buy, notionalUSD: nil, qty: 1, referencePrice: nil)
        #expect(kinds(check(unpriced)) == [.unboundedNotional])
    }

    @Test func blocklistAndWatchlist() {
        #expect(kinds(check(Fixture.buy(10, "TSLA"))) == [.notWatchlisted])
        #expect(kinds(check(config: Fixture.config(blocklist: ["SPY"]))) == [.blocklisted])
        #expect(kinds(check(Fixture.buy(10, "TSLA"), config: Fixture.config(blocklist: ["TSLA"]))) == [.notWatchlisted, .blocklisted])
    }

    @Test func ordersPerDayCountsTheEasternDay() {
        let morning = [9, 10, 10].map { PlacedOrder(createdAt: Fixture.eastern(2026, 3, 10, $0, 30), notionalUSD: 1) }
        #expect(kinds(check(prior: morning)) == [.maxOrdersPerDay])
        #expect(check(prior: Array(morning.prefix(2))) == .allow)
        // Yesterday 23:59:59 ET does not count today, even though it is the same UTC day.
        let lateYesterday = PlacedOrder(createdAt: Fixture.eastern(2026, 3, 9, 23, 59, 59), notionalUSD: 1)
        #expect(check(prior: Array(morning.prefix(2)) + [lateYesterday], at: Fixture.eastern(2026, 3, 10, 0, 0, 1)) == .allow)
        let refusal = check(prior: morning).refusals.first?.description
        #expect(refusal == "max_orders_per_day: 3 buys already on 2026-03-10 (US/Eastern); the limit is 3")
    }

    @Test func notionalWindowIsRollingFourHours() {
        let cap = Fixture.config(per4h: 100)
        let prior = [PlacedOrder(createdAt: now.addingTimeInterval(-3 * 3600), notionalUSD: 90)]
        #expect(check(Fixture.buy(10), config: cap, prior: prior) == .allow)
        #expect(kinds(check(Fixture.buy(10.01), config: cap, prior: prior)) == [.maxNotionalPer4h])
        // Exactly four hours old: out of the window.
        let edge = [PlacedOrder(createdAt: now.addingTimeInterval(-4 * 3600), notionalUSD: 90)]
        #expect(check(Fixture.buy(100), config: cap, prior: edge) == .allow)
        let inside = [PlacedOrder(createdAt: now.addingTimeInterval(-4 * 3600 + 0.001), notionalUSD: 90)]
        #expect(kinds(check(Fixture.buy(100), config: cap, prior: inside)) == [.maxNotionalPer4h])
    }

    @Test func everyRefusalIsReported() {
        let gate = LiveTradingGate(allowLive: false, tradingURLIsLive: true, hardMaxOrderNotionalUSD: 5)
        let decision = check(Fixture.buy(500, "TSLA"), config: Fixture.config(perDay: 1, per4h: 10, blocklist: ["TSLA"]),
                             gate: gate, prior: [PlacedOrder(createdAt: now, notionalUSD: 1)], approved: false)
        #expect(Set(kinds(decision)) == [.questionRequired, .liveTrading, .hardNotionalCap, .notWatchlisted,
                                         .blocklisted, .maxOrdersPerDay, .maxNotionalPer4h])
    }

    // MARK: - Properties over time windows

    /// Second Sunday of March and first Sunday of November: US daylight-saving changes.
    static func dstSundays(_ year: Int) -> (spring: Date, fall: Date) {
        func nthSunday(_ month: Int, _ n: Int) -> Date {
            var components = DateComponents(year: year, month: month, weekday: 1, weekdayOrdinal: n)
            components.hour = 12
            return MarketTime.calendar.date(from: components) ?? Date(timeIntervalSince1970: 0)
        }
        return (nthSunday(3, 2), nthSunday(11, 1))
    }

    @Test func dstDaysAreTwentyThreeAndTwentyFiveHours() {
        let (spring, fall) = Self.dstSundays(2026)
        #expect(MarketTime.tradingDay(of: spring) == "2026-03-08")
        #expect(MarketTime.tradingDay(of: fall) == "2026-11-01")
        let springStart = MarketTime.startOfTradingDay(spring)
        let fallStart = MarketTime.startOfTradingDay(fall)
        #expect(MarketTime.startOfTradingDay(springStart.addingTimeInterval(23 * 3600)) != springStart)
        #expect(MarketTime.startOfTradingDay(springStart.addingTimeInterval(23 * 3600 - 1)) == springStart)
        #expect(MarketTime.startOfTradingDay(fallStart.addingTimeInterval(25 * 3600 - 1)) == fallStart)
        #expect(MarketTime.startOfTradingDay(fallStart.addingTimeInterval(25 * 3600)) != fallStart)
    }

    @Test func ordersPerDayAroundMidnightAndDST() async {
        // Any year, either DST Sunday or an ordinary day, any second of that Eastern day: orders
        // earlier that day count, orders a second before its midnight do not.
        await propertyCheck(count: 300, input: Gen.int(in: 2008...2035), Gen.int(in: 0...2), Gen.int(in: 0...90_000), Gen.int(in: 0...5)) { year, which, second, count in
            let sundays = Self.dstSundays(year)
            let anchor = [sundays.spring, sundays.fall, MarketTime.date(year: year, month: 6, day: 15, hour: 12) ?? sundays.fall][which]
            let start = MarketTime.startOfTradingDay(anchor)
            let nextStart = MarketTime.startOfTradingDay(start.addingTimeInterval(26 * 3600))
            let dayLength = nextStart.timeIntervalSince(start)
            #expect([23 * 3600, 24 * 3600, 25 * 3600].contains(dayLength))
            let now = start.addingTimeInterval(Double(second).truncatingRemainder(dividingBy: dayLength))
            let today = (0..<count).map { i in PlacedOrder(createdAt: start.addingTimeInterval(now.timeIntervalSince(start) * Double(i) / Double(max(count, 1))), notionalUSD: 0.01) }
            let yesterday = PlacedOrder(createdAt: start.addingTimeInterval(-1), notionalUSD: 0.01)
            let tomorrow = PlacedOrder(createdAt: nextStart, notionalUSD: 0.01)
            let counted = GuardrailPolicy.ordersOnTradingDay(of: now, in: today + [yesterday, tomorrow])
            #expect(counted.count == count)
            let decision = GuardrailPolicy.check(proposal: Fixture.buy(1), config: Fixture.config(perDay: 3, per4h: 1000),
                                                 gate: Fixture.paperGate, priorOrders: today + [yesterday], portfolio: .empty,
                                                 questionApproved: true, now: now)
            #expect(decision.refusals.contains { $0.guardrail == .maxOrdersPerDay } == (count >= 3))
        }
    }

    @Test func notionalWindowEdge() async {
        // Orders at random ages up to 5 h: exactly those strictly younger than 4 h count.
        await propertyCheck(count: 300, input: Gen.int(in: 0...18_000).array(of: 0...8), Gen.int(in: 1...100)) { ages, amount in
            let now = Fixture.eastern(2026, 11, 1, 3, 30)   // inside the repeated 01:00-02:00 hour's aftermath
            let orders = ages.map { PlacedOrder(createdAt: now.addingTimeInterval(-Double($0)), notionalUSD: 10) }
            let used = GuardrailPolicy.notionalInWindow(endingAt: now, in: orders)
            #expect(used == Decimal(ages.filter { $0 < 4 * 3600 }.count * 10))
            let decision = GuardrailPolicy.check(proposal: Fixture.buy(Decimal(amount)), config: Fixture.config(perDay: 100, per4h: 100),
                                                 gate: Fixture.paperGate, priorOrders: orders, portfolio: .empty, questionApproved: true, now: now)
            #expect(decision.refusals.contains { $0.guardrail == .maxNotionalPer4h } == (used + Decimal(amount) > 100))
        }
    }

    @Test func moreHistoryNeverLoosensTheCaps() async {
        await propertyCheck(count: 200, input: Gen.int(in: 0...20_000).array(of: 0...6), Gen.int(in: 0...20_000)) { ages, extra in
            let orders = ages.map { PlacedOrder(createdAt: now.addingTimeInterval(-Double($0)), notionalUSD: 20) }
            let more = orders + [PlacedOrder(createdAt: now.addingTimeInterval(-Double(extra)), notionalUSD: 20)]
            let before = check(Fixture.buy(20), prior: orders)
            let after = check(Fixture.buy(20), prior: more)
            #expect(Set(kinds(before)).isSubset(of: Set(kinds(after))))
        }
    }
}
