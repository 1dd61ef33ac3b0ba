import Foundation
import PropertyBased
import Testing
@testable import TradingCore

/// The reconciliation's decision, case by case: broker orders + book rows → repairs, findings
/// and the watermark; and the pager over `GET /v2/orders`.
@Suite struct OrderReconciliationTests {
    typealias R = OrderReconciliation
    static let t0 = Date(timeIntervalSince1970: 1_300_297_190)
    static func at(_ seconds: Double) -> Date { t0.addingTimeInterval(seconds) }
    static func cid(_ n: Int) -> String { ClientOrderID.make(firebaseUID: "u", ruleID: "r", questionID: "q\(n)") }
    /// The watermark a run starts from (the listing starts a millisecond before it).
    static let previous = at(-100)

    static func broker(_ n: Int, _ status: String = "filled", qty: String? = "0.39", price: String? = "126.56", at seconds: Double = 0,
                       id: String? = nil, clientOrderID: String? = nil) -> R.BrokerOrder {
        R.BrokerOrder(id: id ?? "alpaca-\(n)", clientOrderID: clientOrderID ?? cid(n), status: status,
                      filledQty: qty.flatMap { Decimal(string: $0) }, filledAvgPrice: price.flatMap { Decimal(string: $0) },
                      submittedAt: at(seconds), symbol: "SPY")
    }

    static func book(_ n: Int, _ status: String = "filled", alpaca: String?? = .some(nil), qty: String? = "0.39", price: String? = "126.56",
                     at seconds: Double = 0, pastGrace: Bool = true) -> R.BookOrder {
        let alpacaID: String? = alpaca ?? "alpaca-\(n)"
        return R.BookOrder(id: UUID(uuidString: String(format: "00000000-0000-0000-0000-%012d", n)) ?? UUID(), clientOrderID: cid(n),
                           alpacaOrderID: alpacaID, status: status, filledQty: qty.flatMap { Decimal(string: $0) },
                           filledAvgPrice: price.flatMap { Decimal(string: $0) }, at: at(seconds), pastGrace: pastGrace)
    }

    /// A row that matches `broker(n)` exactly.
    static func matching(_ n: Int, _ status: String = "filled", qty: String? = "0.39", price: String? = "126.56", at seconds: Double = 0) -> R.BookOrder {
        book(n, status, alpaca: .some("alpaca-\(n)"), qty: qty, price: price, at: seconds)
    }

    static func decide(_ broker: [R.BrokerOrder], _ book: [R.BookOrder], coveredUntil: Date? = nil) -> R.Plan {
        R.decide(broker: broker, book: book, watermark: previous, coveredUntil: coveredUntil)
    }

    static func watermark(_ plan: R.Plan, previous: Date = OrderReconciliationTests.previous, cap: Date = OrderReconciliationTests.at(1000), repaired: Set<String> = []) -> Date {
        R.watermark(previous: previous, checkpoints: plan.checkpoints, cap: cap, repaired: repaired)
    }

    // MARK: Matched orders

    @Test func anAgreeingTerminalOrderIsSettled() {
        let plan = Self.decide([Self.broker(1)], [Self.matching(1)])
        #expect(plan.repairs.isEmpty && plan.findings.isEmpty)
        #expect(plan.counts == R.Counts(brokerOrders: 1, ours: 1, bookOrders: 1, agreed: 1, deferred: 0))
        #expect(Self.watermark(plan) == Self.at(0))
    }

    @Test func quantitiesAreComparedAsNumbers() {
        let plan = Self.decide([Self.broker(1, qty: "0.390", price: "126.5600")], [Self.matching(1, qty: "0.39", price: "126.56")])
        #expect(plan.findings.isEmpty && plan.counts.agreed == 1)
    }

    @Test func anAgreeingOpenOrderHoldsTheWatermark() {
        let plan = Self.decide([Self.broker(1, "new", qty: "0", price: nil, at: -10), Self.broker(2, at: 5)],
                               [Self.matching(1, "new", qty: "0", price: nil, at: -10), Self.matching(2, at: 5)])
        #expect(plan.findings.isEmpty && plan.counts.agreed == 2)
        #expect(Self.watermark(plan) == Self.previous, "the open order at -10 stops the watermark before it")
    }

    /// The crash case: the books ended the order unsent, the broker has it and filled it.
    @Test func anOrderTheBooksEndedUnsentIsRepairedFromTheBroker() {
        for status in ["failed", "blocked", "expired", "canceled"] {
            let row = Self.book(1, status, alpaca: .some(nil), qty: nil, price: nil)
            let plan = Self.decide([Self.broker(1)], [row])
            #expect(plan.repairs == [R.Repair(book: row, broker: Self.broker(1), differences: [
                R.Difference(field: "status", book: status, broker: "filled"),
                R.Difference(field: "alpaca_order_id", book: nil, broker: "alpaca-1"),
                R.Difference(field: "filled_qty", book: nil, broker: "0.39"),
                R.Difference(field: "filled_avg_price", book: nil, broker: "126.56"),
            ])])
            let finding = plan.findings.first
            #expect(plan.findings.count == 1)
            #expect(finding?.kind == .diverged && finding?.tradeOrderID == row.id && finding?.alpacaOrderID == "alpaca-1")
            #expect(finding?.bookStatus == status && finding?.brokerStatus == "filled" && finding?.repaired == false)
            #expect(finding?.detail.contains("unsent (\(status))") == true, "\(finding?.detail ?? "")")
            // Terminal at the broker: settled once the repair commits, not before.
            #expect(Self.watermark(plan) == Self.previous)
            #expect(Self.watermark(plan, repaired: [Self.cid(1)]) == Self.at(0))
        }
    }

    @Test func aPendingRowWhoseOrderReachedTheBrokerIsRecorded() {
        let row = Self.book(1, "pending_submit", alpaca: .some(nil), qty: nil, price: nil)
        let plan = Self.decide([Self.broker(1, "new", qty: "0", price: nil)], [row])
        #expect(plan.repairs.count == 1 && plan.findings.map(\.kind) == [.diverged])
        #expect(plan.findings.first?.detail.contains("the books disagree") == true)
        #expect(Self.watermark(plan, repaired: [Self.cid(1)]) == Self.previous, "open at the broker: never passed")
    }

    @Test(arguments: ["status", "filled_qty", "filled_avg_price", "alpaca_order_id"])
    func eachFieldAloneIsADivergence(field: String) {
        var row = Self.matching(1)
        switch field {
        case "status": row.status = "partially_filled"
        case "filled_qty": row.filledQty = Decimal(string: "0.2")   // fewer shares than the broker: behind, not ahead
        case "filled_avg_price": row.filledAvgPrice = Decimal(string: "126.5")
        default: row.alpacaOrderID = "alpaca-other"
        }
        let plan = Self.decide([Self.broker(1)], [row])
        #expect(plan.repairs.first?.differences.map(\.field) == [field], "\(plan.repairs)")
        #expect(plan.findings.map(\.kind) == [.diverged])
    }

    /// The stream recorded the fill between the listing and the read: not a divergence, and
    /// recording the listing would move the row backwards.
    @Test func aBookAheadOfTheListingIsDeferredNotRepaired() {
        let ahead = Self.matching(1, "filled")
        let plan = Self.decide([Self.broker(1, "new", qty: "0", price: nil)], [ahead])
        #expect(plan.repairs.isEmpty && plan.findings.isEmpty && plan.counts.deferred == 1)
        #expect(Self.watermark(plan) == Self.previous)

        let moreFilled = Self.matching(1, "partially_filled", qty: "0.3")
        let partial = Self.decide([Self.broker(1, "partially_filled", qty: "0.1")], [moreFilled])
        #expect(partial.repairs.isEmpty && partial.counts.deferred == 1)
    }

    @Test func aDifferentAlpacaIDIsNeverAheadOfTheListing() {
        var row = Self.matching(1, "filled")
        row.alpacaOrderID = "alpaca-other"
        #expect(!R.isBehindTheBook(row, Self.broker(1, "new", qty: "0", price: nil)))
        #expect(Self.decide([Self.broker(1, "new", qty: "0", price: nil)], [row]).repairs.count == 1)
    }

    @Test func aTerminalBookStatusTheBrokerContradictsIsRepaired() {
        // Same order, both terminal, different verdicts: the broker is the truth.
        let plan = Self.decide([Self.broker(1, "canceled", qty: "0", price: nil)], [Self.matching(1, "expired", qty: "0", price: nil)])
        #expect(plan.repairs.first?.differences.map(\.field) == ["status"])
    }

    // MARK: Broker orders the books do not know

    @Test func anOrderWithOurPrefixAndNoRowIsUnknown() {
        let plan = Self.decide([Self.broker(7, at: 3)], [])
        #expect(plan.repairs.isEmpty)
        let finding = plan.findings.first
        #expect(plan.findings.count == 1 && finding?.kind == .unknownOrder && finding?.clientOrderID == Self.cid(7))
        #expect(finding?.alpacaOrderID == "alpaca-7" && finding?.brokerStatus == "filled" && finding?.tradeOrderID == nil)
        #expect(finding?.detail.contains("not attributed") == true && finding?.detail.contains("SPY") == true)
        // Terminal: reported here, and the watermark passes it.
        #expect(Self.watermark(plan) == Self.at(3))
        let open = Self.decide([Self.broker(7, "new", qty: "0", price: nil, at: 3)], [])
        #expect(open.findings.map(\.kind) == [.unknownOrder])
        #expect(Self.watermark(open) == Self.previous)
    }

    /// The listing starts a millisecond before the watermark: an unknown order the watermark
    /// passed (reported then) is not reported again; a row edited since is still judged.
    @Test func theOverlapDoesNotReportAPassedUnknownOrderAgain() {
        let atWatermark = Self.broker(7, at: -100)
        let plan = Self.decide([atWatermark, Self.broker(8, at: -100)], [Self.book(8, "failed", alpaca: .some(nil), qty: nil, price: nil, at: -100)])
        #expect(plan.findings.map(\.kind) == [.diverged] && plan.findings.first?.clientOrderID == Self.cid(8))
        let open = Self.decide([Self.broker(7, "new", qty: "0", price: nil, at: -100)], [])
        #expect(open.findings.map(\.kind) == [.unknownOrder], "an open one was never passed")
    }

    @Test func aMalformedIDWithOurPrefixIsUnknownAndSaysSo() {
        let plan = Self.decide([Self.broker(1, clientOrderID: "hh1-not-ours")], [])
        #expect(plan.findings.map(\.kind) == [.unknownOrder])
        #expect(plan.findings.first?.detail.contains("not one this server makes") == true)
    }

    @Test func foreignOrdersAreIgnored() {
        let plan = Self.decide([Self.broker(1, clientOrderID: "manual-123"), Self.broker(2, at: 1)], [Self.matching(2, at: 1)])
        #expect(plan.findings.isEmpty && plan.repairs.isEmpty)
        #expect(plan.counts.brokerOrders == 2 && plan.counts.ours == 1 && plan.counts.agreed == 1)
        #expect(Self.watermark(plan) == Self.at(1))
    }

    // MARK: Book orders the broker lacks

    @Test func aRowWithAnAlpacaIDTheBrokerLacksIsReportedPastTheGrace() {
        let row = Self.book(3, "filled", alpaca: .some("alpaca-gone"), at: 2)
        let plan = Self.decide([], [row])
        #expect(plan.findings.map(\.kind) == [.missingAtBroker])
        #expect(plan.findings.first?.alpacaOrderID == "alpaca-gone" && plan.findings.first?.tradeOrderID == row.id)
        #expect(Self.watermark(plan) == Self.previous)

        var young = row
        young.pastGrace = false
        let within = Self.decide([], [young])
        #expect(within.findings.isEmpty, "within the grace the listing may not have caught up")
        #expect(Self.watermark(within) == Self.previous)
    }

    @Test func aBrokerStatusWithoutAnAlpacaIDIsMissingAtTheBroker() {
        let plan = Self.decide([], [Self.book(3, "new", alpaca: .some(nil), qty: "0", price: nil)])
        #expect(plan.findings.map(\.kind) == [.missingAtBroker])
        #expect(plan.findings.first?.detail.contains("without an Alpaca id") == true)
    }

    @Test func aStuckPendingSubmitIsReportedPastTheGrace() {
        let row = Self.book(4, "pending_submit", alpaca: .some(nil), qty: nil, price: nil, at: 1)
        #expect(Self.decide([], [row]).findings.map(\.kind) == [.stuckPendingSubmit])
        var young = row
        young.pastGrace = false
        #expect(Self.decide([], [young]).findings.isEmpty)
        #expect(Self.watermark(Self.decide([], [row])) == Self.previous)
    }

    @Test func anUnsentRowTheBrokerLacksAgrees() {
        let plan = Self.decide([Self.broker(2, at: 5)], [Self.book(1, "blocked", alpaca: .some(nil), qty: nil, price: nil, at: 1), Self.matching(2, at: 5)])
        #expect(plan.findings.isEmpty && plan.counts.agreed == 2)
        #expect(Self.watermark(plan) == Self.at(5))
    }

    @Test func rowsOutsideTheListedWindowAreNotJudged() {
        let early = Self.book(3, "filled", alpaca: .some("alpaca-old"), at: -200)
        let pending = Self.book(4, "pending_submit", alpaca: .some(nil), qty: nil, price: nil, at: -150)
        let plan = Self.decide([], [early, pending])
        #expect(plan.findings.isEmpty)
        #expect(Self.watermark(plan) == Self.previous)
    }

    // MARK: A truncated listing

    @Test func aTruncatedListingJudgesOnlyWhatItCovers() {
        let covered = Self.at(10)
        let before = Self.book(1, "filled", alpaca: .some("alpaca-gone"), at: 5)
        let after = Self.book(2, "filled", alpaca: .some("alpaca-later"), at: 10)
        let plan = Self.decide([Self.broker(3, at: 1), Self.broker(4, at: 10)], [before, after, Self.matching(3, at: 1), Self.matching(4, at: 10)],
                               coveredUntil: covered)
        #expect(plan.findings.map(\.clientOrderID) == [Self.cid(1)], "only the row before the truncation point is judged")
        #expect(Self.watermark(plan) == Self.at(1))
        let clean = Self.decide([Self.broker(3, at: 1), Self.broker(4, at: 10)], [Self.matching(3, at: 1), Self.matching(4, at: 10)],
                                coveredUntil: covered)
        #expect(Self.watermark(clean) == Self.at(1), "the truncation point holds the watermark before it")
    }

    // MARK: The watermark

    @Test func theWatermarkNeverPassesTheCap() {
        let plan = Self.decide([Self.broker(1, at: 1), Self.broker(2, at: 20)], [Self.matching(1, at: 1), Self.matching(2, at: 20)])
        #expect(Self.watermark(plan, cap: Self.at(10)) == Self.at(1))
        #expect(Self.watermark(plan, cap: Self.at(20)) == Self.at(20))
        #expect(Self.watermark(plan, cap: Self.at(0)) == Self.previous)
    }

    @Test func theWatermarkStopsBeforeAnOpenOrderThatSharesAnInstant() {
        let plan = Self.decide([Self.broker(1, at: 0), Self.broker(2, "new", qty: "0", price: nil, at: 5), Self.broker(3, at: 5), Self.broker(4, at: 9)],
                               [Self.matching(1, at: 0), Self.matching(2, "new", qty: "0", price: nil, at: 5), Self.matching(3, at: 5), Self.matching(4, at: 9)])
        #expect(Self.watermark(plan) == Self.at(0))
    }

    @Test func theWatermarkNeverMovesBack() {
        let plan = Self.decide([Self.broker(1, at: -50)], [Self.matching(1, at: -50)])
        #expect(Self.watermark(plan, previous: Self.at(3)) == Self.at(3))
        #expect(R.watermark(previous: Self.at(3), checkpoints: [], cap: Self.at(100), repaired: []) == Self.at(3))
    }

    @Test func anOpenPointBeforeTheOldWatermarkDoesNotHoldIt() {
        let points = [R.Checkpoint(at: Self.at(1), settlement: .open, clientOrderID: "x"),
                      R.Checkpoint(at: Self.at(8), settlement: .settled, clientOrderID: "y")]
        #expect(R.watermark(previous: Self.at(2), checkpoints: points, cap: Self.at(100), repaired: []) == Self.at(8))
    }

    @Test func theFirstRunStartsADayBackOrAtTheOldestOpenOrder() {
        let now = Self.at(0)
        #expect(R.initialWatermark(earliestOpenBookOrder: nil, now: now) == now.addingTimeInterval(-86_401))
        #expect(R.initialWatermark(earliestOpenBookOrder: now.addingTimeInterval(-90_000), now: now) == now.addingTimeInterval(-90_001))
        #expect(R.initialWatermark(earliestOpenBookOrder: now.addingTimeInterval(-60), now: now) == now.addingTimeInterval(-86_401))
    }

    @Test func findingsEncodeWithStableKeys() {
        let finding = R.Finding(kind: .diverged, clientOrderID: "hh1-x", tradeOrderID: UUID(uuidString: "7BC01A34-45BA-405A-B67A-85F6D427B2A1"),
                                alpacaOrderID: "a-1", bookStatus: "failed", brokerStatus: "filled",
                                differences: [R.Difference(field: "status", book: "failed", broker: "filled")], detail: "d", repaired: true)
        #expect(finding.json == .object([
            "kind": .string("book_diverged"), "client_order_id": .string("hh1-x"), "trade_order_id": .string("7bc01a34-45ba-405a-b67a-85f6d427b2a1"),
            "alpaca_order_id": .string("a-1"), "book_status": .string("failed"), "broker_status": .string("filled"),
            "differences": .array([.object(["field": .string("status"), "book": .string("failed"), "broker": .string("filled")])]),
            "detail": .string("d"), "repaired": .bool(true),
        ]))
        #expect(R.Finding(kind: .listingTruncated, clientOrderID: nil, detail: "x").json["client_order_id"] == .null)
    }
}

/// Paging `GET /v2/orders` by `after` with overlap and de-duplication.
@Suite struct OrderListingPagerTests {
    typealias R = OrderReconciliation

    /// A broker that answers `after` (exclusive), ascending by submitted_at, `limit` at most.
    static func page(_ all: [R.BrokerOrder], after: Date, limit: Int) -> [R.BrokerOrder] {
        Array(all.filter { $0.submittedAt > after }.sorted { ($0.submittedAt, $0.id) < ($1.submittedAt, $1.id) }.prefix(limit))
    }

    static func list(_ all: [R.BrokerOrder], pageSize: Int, from start: Date) -> (pager: OrderListingPager, last: OrderListingPager.Step) {
        var pager = OrderListingPager(after: start, pageSize: pageSize)
        var step = pager.take(page(all, after: start, limit: pageSize))
        while case .next(let after) = step, pager.pages < 1000 { step = pager.take(page(all, after: after, limit: pageSize)) }
        return (pager, step)
    }

    static func orders(groups: [Int], spacing: Double = 1) -> [R.BrokerOrder] {
        var result: [R.BrokerOrder] = []
        for (g, size) in groups.enumerated() {
            for i in 0..<size {
                result.append(R.BrokerOrder(id: "o-\(g)-\(i)", clientOrderID: "hh1-\(g)-\(i)", status: "filled", filledQty: 1, filledAvgPrice: 1,
                                            submittedAt: OrderReconciliationTests.at(Double(g) * spacing)))
            }
        }
        return result
    }

    @Test func aShortPageEndsTheListing() {
        var pager = OrderListingPager(after: OrderReconciliationTests.at(-1), pageSize: 5)
        #expect(pager.take(Self.orders(groups: [1, 1])) == .done)
        #expect(pager.orders.count == 2 && pager.pages == 1)
    }

    @Test func aFullPageAsksAgainJustBeforeItsLastOrder() {
        var pager = OrderListingPager(after: OrderReconciliationTests.at(-1), pageSize: 3)
        #expect(pager.take(Self.orders(groups: [1, 1, 1])) == .next(after: OrderReconciliationTests.at(2).addingTimeInterval(-0.001)))
        // The overlap returns the order at the boundary again: counted once.
        #expect(pager.take(Array(Self.orders(groups: [1, 1, 1, 1]).suffix(2))) == .done)
        #expect(pager.orders.map(\.id) == ["o-0-0", "o-1-0", "o-2-0", "o-3-0"])
    }

    @Test func ordersSharingAnInstantAcrossPagesAreAllSeenOnce() {
        let all = Self.orders(groups: [3, 3, 3, 3, 2])
        let (pager, last) = Self.list(all, pageSize: 5, from: OrderReconciliationTests.at(-1))
        #expect(last == .done)
        #expect(pager.orders.count == all.count && Set(pager.orders.map(\.id)) == Set(all.map(\.id)))
        #expect(pager.pages > 3)
    }

    @Test func aFullPageAtOneInstantIsTruncated() {
        let all = Self.orders(groups: [1, 6, 2])
        let (pager, last) = Self.list(all, pageSize: 5, from: OrderReconciliationTests.at(-1))
        #expect(last == .truncated(coveredUntil: OrderReconciliationTests.at(1)))
        // The first order, and the five of the six at one instant that a page can hold.
        #expect(pager.orders.count == 6 && pager.pages == 2)
        #expect(!pager.orders.contains { $0.submittedAt > OrderReconciliationTests.at(1) })
    }

    @Test func everyOrderIsListedExactlyOnceWhateverThePaging() async {
        await propertyCheck(count: 300, input: Gen.int(in: 1...6).array(of: 0...12), Gen.int(in: 2...7)) { groups, pageSize in
            let sizes = groups.map { min($0, pageSize - 1) }   // fewer than a page at any one instant
            let all = Self.orders(groups: sizes)
            let (pager, last) = Self.list(all, pageSize: pageSize, from: OrderReconciliationTests.at(-1))
            #expect(last == .done)
            #expect(pager.orders.map(\.id).sorted() == all.map(\.id).sorted())
            #expect(Set(pager.orders.map(\.id)).count == pager.orders.count)
        }
    }
}
