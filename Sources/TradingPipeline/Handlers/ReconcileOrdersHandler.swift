import AlpacaClient
import AlpacaModels
import Foundation
import HybridStore
import JobEngine
import Logging
import Metrics
import PostgresNIO
import TradingCore
import TradingJobs

/// What one reconciliation found and did: the run as stored (an `order_reconciliation_runs`
/// row), its id, and the listing's pages.
public struct ReconciliationSummary: Sendable {
    public var runID: Int64
    public var run: ReconciliationStore.RunRecord
    /// `GET /v2/orders` calls made.
    public var pages: Int

    public var apply: Bool { run.apply }
    /// Where the listing started on the broker's time line (the watermark less the overlap).
    public var listedAfter: Date { run.listedAfter }
    /// The watermark after the run; nil when it was left alone (a dry run, or no progress).
    public var watermark: Date? { run.watermark }
    public var counts: OrderReconciliation.Counts { run.counts }
    public var repaired: Int { run.repaired }
    public var truncated: Bool { run.truncated }
    public var findings: [OrderReconciliation.Finding] { run.findings }
}

/// Findings by kind, repairs, runs, and how far the watermark trails the broker's now.
enum ReconcileMetrics {
    static func run(apply: Bool) {
        Counter(label: "hybridhub_reconcile_runs_total", dimensions: [("apply", "\(apply)")]).increment()
    }

    static func finding(_ kind: OrderReconciliation.FindingKind) {
        Counter(label: "hybridhub_reconcile_findings_total", dimensions: [("kind", kind.rawValue)]).increment()
    }

    static func repaired(_ count: Int) {
        guard count > 0 else { return }
        Counter(label: "hybridhub_reconcile_repairs_total").increment(by: count)
    }

    static func watermarkLag(seconds: Double) {
        Gauge(label: "hybridhub_reconcile_watermark_lag_seconds").record(seconds)
    }

    /// Symbols whose users' books did not add up to the account at the last run (0: they all do).
    static func positionDrift(symbols: Int) {
        Gauge(label: "hybridhub_book_drift_symbols").record(symbols)
    }
}

/// `reconcile-orders`: the books against the broker (see `reconcileOrders`). Also run in-process
/// by `hybridhub-ops reconcile` and the tests.
public struct ReconcileOrdersHandler: TradingJobHandler {
    public static let spec = TradingJobCatalog.reconcileOrders
    let client: PostgresClient
    let trading: any TradingAPI
    /// The broker's time line (the simulator's replayed instant in test mode).
    let clock: any MarketClock
    let settings: PipelineSettings
    let orders: OrderRecorder

    public init(client: PostgresClient, trading: any TradingAPI, clock: any MarketClock, settings: PipelineSettings,
                orders: OrderRecorder) {
        self.client = client
        self.trading = trading
        self.clock = clock
        self.settings = settings
        self.orders = orders
    }

    /// At most this many `GET /v2/orders` pages per run (250,000 orders at 500 a page); a
    /// listing longer than that is treated as truncated and goes on from there next run.
    static let maxReconcilePages = 500

    /// The scheduler's schedule: one `reconcile-orders` (apply) per bucket of `intervalSeconds`.
    public static func schedule(intervalSeconds: Int) -> PeriodicSchedule {
        PeriodicSchedule(name: "reconcile-orders", intervalSeconds: intervalSeconds, maxCatchUp: 1) { bucket in
            [try TradingJobCatalog.reconcileOrders.job(ReconcileOrders(bucket: bucket, apply: true))]
        }
    }

    public func handle(_ job: ReconcileOrders, _ context: JobContext) async throws -> JobOutcome {
        _ = try await reconcileOrders(apply: job.apply, requestedBy: job.requestedBy, jobID: context.id,
                                      holdsLease: context.holdsLease, logger: context.logger)
        return .complete
    }

    /// Lists Alpaca's orders since the watermark, compares them with `trade_orders`
    /// (`OrderReconciliation.decide`), repairs with `apply` (each in its own transaction, with
    /// its trade update published), logs and counts every finding, and records the run with
    /// the new watermark. The broker's time line is the trading clock's (the simulator's
    /// replayed instant in test mode); ages in the books are the database's.
    public func reconcileOrders(apply: Bool, requestedBy: String? = nil, jobID: Int64? = nil,
                                holdsLease: @escaping @Sendable () async throws -> Bool = { true },
                                logger: Logger) async throws -> ReconciliationSummary {
        var logger = logger
        logger[metadataKey: "reconcile.apply"] = "\(apply)"
        let (startedAt, stored, earliestOpen) = try await client.withConnection { db in
            (try await ReconciliationStore.now(on: db, logger: logger), try await ReconciliationStore.watermark(on: db, logger: logger),
             try await ReconciliationStore.earliestOpenOrder(on: db, logger: logger))
        }
        let brokerNow = try await clock.now()
        let previous = stored ?? OrderReconciliation.initialWatermark(earliestOpenBookOrder: earliestOpen, now: brokerNow)
        let listedAfter = OrderReconciliation.listedAfter(watermark: previous)

        // The broker: every order since the watermark, page by page.
        let pageSize = settings.reconcilePageSize
        var pager = OrderListingPager(after: listedAfter, pageSize: pageSize)
        var placed: [String: AlpacaOrder] = [:]
        func page(after: Date) async throws -> [OrderReconciliation.BrokerOrder] {
            let orders = try await trading.orders(after: after, limit: pageSize)
            return orders.compactMap { order in
                placed[order.id] = order
                guard let facts = Self.brokerFacts(order) else {
                    // Alpaca always sends one; a listing row without it cannot be placed in time
                    // and must not stop every later run.
                    logger.warning("reconcile: a broker order without submitted_at or created_at; skipped",
                                   metadata: ["order.alpaca_id": "\(order.id)", "order.client_order_id": "\(order.clientOrderID)"])
                    return nil
                }
                return facts
            }
        }
        var step = pager.take(try await page(after: listedAfter))
        while case .next(let after) = step {
            if pager.pages >= Self.maxReconcilePages {
                step = .truncated(coveredUntil: after.addingTimeInterval(OrderReconciliation.overlapSeconds))
                break
            }
            step = pager.take(try await page(after: after))
        }
        var coveredUntil: Date?
        if case .truncated(let until) = step { coveredUntil = until }

        // The books, read after the listing: a row is written before its order is posted, so a
        // listed order of ours without a row here has none.
        let ours = pager.orders.map(\.clientOrderID).filter { $0.hasPrefix(ClientOrderID.prefix) }
        let book = try await client.withConnection {
            try await ReconciliationStore.bookOrders(clientOrderIDs: ours, after: listedAfter, graceSeconds: settings.reconcileGraceSeconds,
                                                     on: $0, logger: logger)
        }
        let plan = OrderReconciliation.decide(broker: pager.orders, book: book, watermark: previous, coveredUntil: coveredUntil)
        var findings = plan.findings
        if let coveredUntil {
            findings.append(OrderReconciliation.Finding(
                kind: .listingTruncated, clientOrderID: nil,
                detail: "the listing stopped at \(AlpacaTime.utc(coveredUntil)) (\(pager.pages) pages of \(pageSize)): orders from then on are judged next run"))
        }

        var repaired: Set<String> = []
        if apply && !plan.repairs.isEmpty {
            // Fencing: a worker that lost this job (paused, partitioned) must not write.
            guard try await holdsLease() else { throw PipelineError.leaseLost("repairing the books") }
            for repair in plan.repairs {
                guard let order = placed[repair.broker.id] else { continue }
                if try await applyRepair(repair, order, logger: logger) {
                    repaired.insert(repair.broker.clientOrderID)
                } else {
                    logger.notice("order changed while it was reconciled; judged again next run",
                                  metadata: ["order.client_order_id": "\(repair.broker.clientOrderID)"])
                }
            }
        }
        for index in findings.indices where findings[index].kind == .diverged {
            findings[index].repaired = findings[index].clientOrderID.map(repaired.contains) ?? false
        }
        // The users' books, after the repairs, against the account's positions.
        findings += try await positionDrift(logger: logger)

        var watermark: Date?
        if apply {
            let cap = brokerNow.addingTimeInterval(-settings.reconcileGraceSeconds)
            let next = OrderReconciliation.watermark(previous: previous, checkpoints: plan.checkpoints, cap: cap, repaired: repaired)
            // The first run stores where it started, or the next would start a day before its own now.
            if next > previous || stored == nil { watermark = next }
        }
        let run = ReconciliationStore.RunRecord(
            jobID: jobID, startedAt: startedAt, apply: apply, requestedBy: requestedBy, listedAfter: listedAfter, watermark: watermark,
            counts: plan.counts, repaired: repaired.count, truncated: coveredUntil != nil, findings: findings)
        let runID = try await client.withConnection { try await ReconciliationStore.finish(run, on: $0, logger: logger) }

        ReconcileMetrics.run(apply: apply)
        ReconcileMetrics.repaired(repaired.count)
        ReconcileMetrics.watermarkLag(seconds: brokerNow.timeIntervalSince(watermark ?? previous))
        for finding in findings {
            ReconcileMetrics.finding(finding.kind)
            var metadata: Logger.Metadata = [
                "reconcile.run_id": "\(runID)", "reconcile.finding": "\(finding.kind.rawValue)", "reconcile.repaired": "\(finding.repaired)",
                "reconcile.detail": "\(finding.detail)",
            ]
            if let value = finding.clientOrderID { metadata["order.client_order_id"] = "\(value)" }
            if let value = finding.tradeOrderID { metadata["order.id"] = "\(value.uuidString.lowercased())" }
            if let value = finding.alpacaOrderID { metadata["order.alpaca_id"] = "\(value)" }
            if let value = finding.bookStatus { metadata["order.status"] = "\(value)" }
            if let value = finding.brokerStatus { metadata["broker.status"] = "\(value)" }
            logger.warning(finding.repaired ? "books repaired from the broker" : "books differ from the broker", metadata: metadata)
        }
        logger.info("orders reconciled", metadata: [
            "reconcile.run_id": "\(runID)", "reconcile.listed_after": "\(AlpacaTime.utc(listedAfter))",
            "reconcile.watermark": "\(watermark.map(AlpacaTime.utc) ?? "unchanged")", "reconcile.pages": "\(pager.pages)",
            "reconcile.broker_orders": "\(plan.counts.brokerOrders)", "reconcile.our_orders": "\(plan.counts.ours)",
            "reconcile.book_orders": "\(plan.counts.bookOrders)", "reconcile.agreed": "\(plan.counts.agreed)",
            "reconcile.deferred": "\(plan.counts.deferred)", "reconcile.repaired": "\(repaired.count)",
            "reconcile.findings": "\(findings.count)",
        ])
        return ReconciliationSummary(runID: runID, run: run, pages: pager.pages)
    }

    /// Do the users' books add up to the account? The settling symbols and the books are read
    /// before the account, so a fill that lands in between shows as settling, not as drift.
    func positionDrift(logger: Logger) async throws -> [OrderReconciliation.Finding] {
        let (settling, books, short) = try await client.withConnection { db in
            (try await BookStore.settlingSymbols(on: db, logger: logger), try await BookStore.accountSum(on: db, logger: logger),
             try await BookStore.shortPositions(on: db, logger: logger))
        }
        guard !books.isEmpty else { return [] }
        var account: [String: Decimal] = [:]
        for position in try await trading.positions() {
            let qty = Decimal(string: position.qty) ?? 0
            account[position.symbol] = position.side == "short" && qty > 0 ? -qty : qty
        }
        let drift = OrderReconciliation.positionDrift(books: books, account: account, settling: settling, short: short)
        ReconcileMetrics.positionDrift(symbols: drift.count)
        return drift
    }

    /// The decision's view of a broker order.
    static func brokerFacts(_ order: AlpacaOrder) -> OrderReconciliation.BrokerOrder? {
        guard let submittedAt = AlpacaTime.parse(order.submittedAt) ?? AlpacaTime.parse(order.createdAt) else { return nil }
        return OrderReconciliation.BrokerOrder(
            id: order.id, clientOrderID: order.clientOrderID, status: order.status, filledQty: Decimal(string: order.filledQty),
            filledAvgPrice: order.filledAvgPrice.flatMap { Decimal(string: $0) }, submittedAt: submittedAt, symbol: order.symbol ?? "")
    }

    /// Records the broker's order on the row (if the row is still as read), publishes the
    /// change, follows an open order with a poll, and explains a failure the user never heard
    /// of; in one transaction. False when the row changed meanwhile.
    func applyRepair(_ repair: OrderReconciliation.Repair, _ placed: AlpacaOrder, logger: Logger) async throws -> Bool {
        let update = BrokerOrderUpdate(placed)
        let fields = repair.differences.map(\.field).joined(separator: ", ")
        let note = "recorded from the broker by reconciliation: the books said \(repair.book.status) (\(fields) corrected)"
        return try await client.transaction(logger: logger) { db -> Bool in
            guard try await ReconciliationStore.repair(repair.book, update, note: note, on: db, logger: logger),
                  let fresh = try await OrderStore.order(repair.book.id, on: db, logger: logger) else { return false }
            try await OrderStore.publishUpdate(fresh, on: db, logger: logger)
            PipelineMetrics.order(status: placed.status)
            if !placed.isTerminal { try await orders.followWithPoll(fresh, on: db, logger: logger) }
            // A failure the books never ended: the user was never told (an unsent row was).
            if !OrderStatus.terminal.contains(repair.book.status) && OrderStatus.brokerFailures.contains(placed.status) {
                try await orders.explain(fresh, why: "the broker reports it \(placed.status)", on: db, logger: logger)
            }
            return true
        }
    }
}
