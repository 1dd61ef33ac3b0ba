import AlpacaModels
import AsyncHTTPClient
import Foundation
import HybridStore
import HybridTestSupport
import JobEngine
import NIOCore
import PostgresNIO
import Synchronization
import Testing
import TradingCore
import TradingJobs
import TradingPipeline

/// reconcile-orders against the simulator over real sockets and real Postgres: divergences
/// made on purpose are reported by a dry run and repaired with apply; orders the books do not
/// know, and book orders the broker lacks, are reported; paging sees every order once.
@Suite(.serialized) struct ReconciliationTests {
    /// (1) An order placed and filled normally, then its row edited behind the system's back
    /// into the crash case (ended `failed`, no Alpaca id, nothing filled): a dry run reports it
    /// and changes nothing; a run with apply makes the row equal the simulator's order again,
    /// publishes the change, and the order counts toward the caps once more.
    @Test func aDivergenceMadeOnPurposeIsReportedThenRepaired() async throws {
        try await Farm.run { farm in
            let (orderID, clientOrderID) = try await Self.placeFilledOrder(farm)
            let original = try #require(try await farm.order(orderID))
            #expect(original.status == "filled" && original.alpacaOrderID != nil)
            #expect(try await Self.counted(farm) == 1)

            _ = try await farm.client.withConnection { db in
                try await db.query("""
                    UPDATE trade_orders SET status = 'failed', alpaca_order_id = NULL, filled_qty = NULL,
                           status_reason = 'edited behind the system''s back', updated_at = now()
                    WHERE id = \(orderID)
                    """, logger: logger)
            }
            let edited = try #require(try await farm.order(orderID))
            #expect(try await Self.counted(farm) == 0, "a failed order does not count")

            // The dry run: reported, nothing changed, no watermark.
            let dry = try await Self.reconcileByJob(farm, apply: false)
            #expect(!dry.apply && dry.repaired == 0 && dry.ourOrders == 1 && dry.findingsCount == 1)
            let finding = try #require(dry.findings.array.first)
            #expect(finding["kind"] == .string("book_diverged") && finding["client_order_id"] == .string(clientOrderID))
            #expect(finding["book_status"] == .string("failed") && finding["broker_status"] == .string("filled"))
            #expect(finding["repaired"] == .bool(false))
            let fields = finding["differences"]?.array.compactMap { $0["field"] } ?? []
            #expect(fields == [.string("status"), .string("alpaca_order_id"), .string("filled_qty")])
            #expect(try await farm.order(orderID) == edited, "a dry run changes nothing")
            #expect(try await farm.int("SELECT count(*)::int FROM order_reconciliation_state") == 0)

            // Apply: the row is the broker's again, and the change is published.
            let (applied, updates) = try await Self.collectingTradeUpdates(farm, until: { $0.contains(clientOrderID) && $0.contains("\"filled\"") }) {
                try await Self.reconcileByJob(farm, apply: true)
            }
            #expect(applied.apply && applied.repaired == 1 && applied.findingsCount == 1)
            #expect(applied.findings.array.first?["repaired"] == .bool(true))
            let repaired = try #require(try await farm.order(orderID))
            let broker = try #require(farm.sim.simulator.exchange.ledger().orders.first { $0.order.clientOrderID == clientOrderID }?.order)
            #expect(repaired.status == broker.status && repaired.alpacaOrderID == broker.id)
            #expect(repaired.filledQty == Decimal(string: broker.filledQty))
            #expect(repaired.filledAvgPrice == broker.filledAvgPrice.flatMap { Decimal(string: $0) })
            #expect(repaired.submittedAt == AlpacaTime.parse(broker.submittedAt))
            var expected = original
            expected.statusReason = repaired.statusReason
            expected.updatedAt = repaired.updatedAt
            #expect(repaired == expected, "the row equals what it was before the edit")
            #expect(repaired.statusReason?.contains("reconciliation") == true)
            #expect(updates.contains { $0.contains(clientOrderID) && $0.contains("\"status\":\"filled\"") }, "\(updates)")
            #expect(try await Self.counted(farm) == 1, "the order counts toward the caps again")
            #expect(try await farm.int("SELECT count(*)::int FROM order_reconciliation_state") == 1, "the first applied run stores its watermark")

            // Nothing left to repair.
            let again = try await Self.reconcileByJob(farm, apply: true)
            #expect(again.findingsCount == 0 && again.repaired == 0 && again.agreed == 1)
            #expect(try await farm.order(orderID) == repaired)
            #expect(try await farm.int("SELECT count(*)::int FROM order_reconciliation_runs") == 3)
            #expect(farm.sim.orders(clientOrderID: clientOrderID) == 1, "reconciliation never posts")
        }
    }

    /// (2) An order placed at the simulator directly, with a well-formed client_order_id of our
    /// prefix that no book row has: reported, never given a row. A foreign order is ignored.
    @Test func anOrderTheBooksDoNotKnowIsReportedNotInvented() async throws {
        try await Farm.run(worker: false) { farm in
            let ghost = ClientOrderID.make(firebaseUID: "nobody", ruleID: "dip_confirm", questionID: UUID().uuidString)
            let placed = try await Self.placeAtSimulator(farm, clientOrderID: ghost)
            _ = try await Self.placeAtSimulator(farm, clientOrderID: "manual-\(UUID().uuidString.prefix(8))")

            let summary = try await farm.pipeline.reconciliation.reconcileOrders(apply: true, logger: logger)
            #expect(summary.counts.brokerOrders == 2 && summary.counts.ours == 1 && summary.repaired == 0)
            #expect(summary.findings.map(\.kind) == [.unknownOrder])
            #expect(summary.findings.first?.clientOrderID == ghost && summary.findings.first?.alpacaOrderID == placed.id)
            #expect(try await farm.int("SELECT count(*)::int FROM trade_orders") == 0, "no row is invented")
            let run = try #require(try await farm.client.withConnection {
                try await ReconciliationStore.latestRuns(limit: 1, on: $0, logger: logger).first
            })
            #expect(run.id == summary.runID && run.findings.array.first?["kind"] == .string("unknown_broker_order"))
        }
    }

    /// (3) Book orders the broker lacks: a row with an Alpaca id and one stuck in
    /// `pending_submit`, both unchanged for longer than the grace, are reported; the same rows
    /// changed within the grace are not (yet); an unsent row the broker lacks agrees.
    @Test func bookOrdersTheBrokerLacksAreReportedPastTheGrace() async throws {
        try await Farm.run(worker: false) { farm in
            try await farm.seedUser()
            let questions = try await farm.openDipQuestions(5)
            let decided = Farm.dipInstant.addingTimeInterval(-600)
            var ids: [String] = []
            for question in questions {
                let clientOrderID = ClientOrderID.make(firebaseUID: Farm.uid, ruleID: "dip_confirm", questionID: question.uuidString)
                ids.append(clientOrderID)
                try await farm.client.withConnection { db in
                    try await OrderStore.insert(NewOrder(firebaseUID: Farm.uid, clientOrderID: clientOrderID, symbol: "SPY", side: "buy",
                                                         notionalUSD: 10, qty: nil, questionID: question, ruleID: "dip_confirm",
                                                         referencePrice: Decimal(string: "126.56"), decidedAt: decided), on: db, logger: logger)
                }
            }
            let (gone, young, stuck, youngStuck, unsent) = (ids[0], ids[1], ids[2], ids[3], ids[4])
            _ = try await farm.client.withConnection { db in
                try await db.query("""
                    UPDATE trade_orders
                       SET status = 'filled', alpaca_order_id = gen_random_uuid()::text, filled_qty = 0.079, filled_avg_price = 126.56,
                           submitted_at = \(decided)
                     WHERE client_order_id IN (\(gone), \(young))
                    """, logger: logger)
                try await db.query("UPDATE trade_orders SET status = 'failed', status_reason = 'HTTP 403' WHERE client_order_id = \(unsent)",
                                   logger: logger)
                try await db.query("""
                    UPDATE trade_orders SET created_at = now() - interval '10 minutes', updated_at = now() - interval '10 minutes'
                     WHERE client_order_id IN (\(gone), \(stuck), \(unsent))
                    """, logger: logger)
            }
            let before = try await farm.rows("SELECT t::text FROM trade_orders t ORDER BY client_order_id")

            let summary = try await farm.pipeline.reconciliation.reconcileOrders(apply: true, logger: logger)
            let found = Dictionary(summary.findings.map { ($0.clientOrderID ?? "", $0.kind) }, uniquingKeysWith: { a, _ in a })
            #expect(found == [gone: .missingAtBroker, stuck: .stuckPendingSubmit], "\(summary.findings)")
            #expect(summary.findings.first { $0.kind == .missingAtBroker }?.alpacaOrderID != nil)
            #expect(!found.keys.contains(young) && !found.keys.contains(youngStuck), "within the grace the broker may not list them yet")
            #expect(summary.counts.agreed == 1 && summary.counts.bookOrders == 5 && summary.repaired == 0)
            #expect(try await farm.rows("SELECT t::text FROM trade_orders t ORDER BY client_order_id") == before, "findings are reported, not repaired")
        }
    }

    /// (4) More orders than a page (five per page here), three at each instant so pages
    /// overlap: every order is seen exactly once; the next run starts from the watermark, does
    /// not report the passed ones again, and sees only what is new.
    @Test func pagingSeesEveryOrderOnceAndTheWatermarkMovesOn() async throws {
        var settings = Farm.settings
        settings.reconcileGraceSeconds = 0
        settings.reconcilePageSize = 5
        try await Farm.run(worker: false, settings: settings) { farm in
            _ = try await Self.placeAtSimulator(farm, clientOrderID: "manual-first", notional: "1")
            var ours: [String] = []
            for group in 0..<4 {
                try await farm.setClock(Farm.dipInstant.addingTimeInterval(Double(group)))
                for i in 0..<3 {
                    let id = ClientOrderID.make(firebaseUID: "ghost", ruleID: "paging", questionID: "\(group)-\(i)")
                    _ = try await Self.placeAtSimulator(farm, clientOrderID: id, notional: "1")
                    ours.append(id)
                }
            }
            let first = try await farm.pipeline.reconciliation.reconcileOrders(apply: true, logger: logger)
            #expect(first.counts.brokerOrders == 13 && first.counts.ours == 12 && !first.truncated)
            #expect(first.pages >= 3, "13 orders at 5 a page")
            let unknown = first.findings.filter { $0.kind == .unknownOrder }.compactMap(\.clientOrderID)
            #expect(unknown.sorted() == ours.sorted(), "each order exactly once")
            let last = Farm.dipInstant.addingTimeInterval(3)
            #expect(first.watermark == last, "every order is terminal and reported: the watermark passes the last")

            let second = try await farm.pipeline.reconciliation.reconcileOrders(apply: true, logger: logger)
            #expect(second.findings.isEmpty, "the overlap lists the last instant again; it was reported already")
            #expect(second.pages == 1 && second.counts.brokerOrders == 3 && second.watermark == nil)

            try await farm.setClock(Farm.dipInstant.addingTimeInterval(4))
            let newcomer = ClientOrderID.make(firebaseUID: "ghost", ruleID: "paging", questionID: "late")
            _ = try await Self.placeAtSimulator(farm, clientOrderID: newcomer, notional: "1")
            let third = try await farm.pipeline.reconciliation.reconcileOrders(apply: true, logger: logger)
            #expect(third.findings.compactMap(\.clientOrderID) == [newcomer])
            #expect(try await farm.client.withConnection { try await ReconciliationStore.watermark(on: $0, logger: logger) }
                    == Farm.dipInstant.addingTimeInterval(4))
        }
    }

    /// The scheduler's schedule: one apply run per bucket, keyed by the bucket, behind
    /// submissions in the orders queue.
    @Test func theScheduleEnqueuesOneApplyRunPerBucket() async throws {
        try await Farm.run(worker: false) { farm in
            let schedule = ReconcileOrdersHandler.schedule(intervalSeconds: 60)
            #expect(schedule.name == "reconcile-orders" && schedule.intervalSeconds == 60)
            let jobs = try await farm.client.withConnection { try await schedule.makeJobs(42, $0, logger) }
            #expect(jobs.count == 1)
            let job = try #require(jobs.first)
            #expect(job.kind == "reconcile-orders" && job.queue == "orders" && job.uniqueKey == "reconcile-orders:42")
            #expect(job.priority == TradingJobCatalog.reconcileOrders.priority)
            #expect(try JSONDecoder().decode(ReconcileOrders.self, from: Data(job.payload.utf8)) == ReconcileOrders(bucket: 42, apply: true))
        }
    }

    // MARK: Helpers

    /// The §17 dip approved through the answer service; the worker places and fills it.
    static func placeFilledOrder(_ farm: Farm) async throws -> (UUID, String) {
        try await farm.seedUser()
        let question = try #require(try await farm.openDipQuestions(1).first)
        let (orderID, clientOrderID) = try await farm.approve(question)
        let order = try await farm.settled(orderID)
        #expect(order.status == "filled")
        try await farm.drain()
        return (orderID, clientOrderID)
    }

    static func counted(_ farm: Farm) async throws -> Int {
        try await farm.client.withConnection { try await OrderStore.countedOrders(of: Farm.uid, around: Farm.dipInstant, on: $0, logger: logger) }.count
    }

    /// Enqueues a reconcile-orders job as the ops CLI does and waits for its run.
    static func reconcileByJob(_ farm: Farm, apply: Bool) async throws -> ReconciliationStore.Run {
        let payload = ReconcileOrders(bucket: 1, apply: apply, requestedBy: "test \(UUID().uuidString)")
        let id = try await farm.client.withConnection {
            try await JobStore.enqueue(try TradingJobCatalog.reconcileOrders.job(payload), on: $0, logger: logger).id
        }
        let done = try await eventually(within: 30) {
            try await farm.int("SELECT count(*)::int FROM jobs WHERE id = \(id) AND state IN ('completed', 'discarded', 'cancelled')") == 1
        }
        if done == nil {
            let state = try await farm.rows("SELECT state || ' ' || errors::text FROM jobs WHERE id = \(id)")
            Issue.record("reconcile-orders job \(id) did not finish: \(state)")
        }
        return try #require(try await farm.client.withConnection { try await ReconciliationStore.run(jobID: id, on: $0, logger: logger) })
    }

    /// `POST /v2/orders` at the simulator with the farm's keys, as any Alpaca client would.
    static func placeAtSimulator(_ farm: Farm, clientOrderID: String, notional: String = "10") async throws -> AlpacaOrder {
        var request = HTTPClientRequest(url: farm.sim.url.absoluteString + "/v2/orders")
        request.method = .POST
        request.headers.add(name: "APCA-API-KEY-ID", value: farm.keyID)
        request.headers.add(name: "APCA-API-SECRET-KEY", value: farm.secret)
        request.headers.add(name: "Content-Type", value: "application/json")
        request.body = .bytes(ByteBuffer(string: """
            {"symbol": "SPY", "notional": "\(notional)", "side": "buy", "type": "market", "time_in_force": "day", "client_order_id": "\(clientOrderID)"}
            """))
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(5))
        let body = try await response.body.collect(upTo: 1 << 20)
        guard response.status.code == 200 else {
            throw FarmError("POST /v2/orders answered \(response.status.code): \(String(buffer: body))")
        }
        return try JSONDecoder().decode(AlpacaOrder.self, from: Data(body.readableBytesView))
    }

    /// Runs `body` while listening on the trade-update channel; returns its result and the
    /// payloads heard until one satisfies `until` (or 5 s pass).
    static func collectingTradeUpdates<T: Sendable>(_ farm: Farm, until: @escaping @Sendable (String) -> Bool,
                                                    _ body: @Sendable () async throws -> T) async throws -> (T, [String]) {
        let heard = Mutex<[String]>([])
        let (ready, signal) = AsyncStream.makeStream(of: Void.self)
        let listener = Task {
            try await farm.client.withConnection { db in
                try await db.listen(on: NotifyChannels.tradeUpdates) { notifications in
                    signal.yield()
                    for try await notification in notifications { heard.withLock { $0.append(notification.payload) } }
                }
            }
        }
        defer { listener.cancel() }
        for await _ in ready { break }
        let result = try await body()
        _ = try await eventually(within: 5) { heard.withLock { $0.contains(where: until) } }
        return (result, heard.withLock { $0 })
    }
}
