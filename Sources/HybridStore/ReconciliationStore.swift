import Foundation
import Logging
import PostgresNIO
import TradingCore

/// The reconcile-orders job's SQL (migration 0009): the book rows a run compares with the
/// broker, the compare-and-set repair, the run rows and the watermark.
public enum ReconciliationStore {
    /// The watermark's row in `order_reconciliation_state` (one broker account per farm).
    public static let stateName = "alpaca"

    /// Database time, for a run's `started_at`.
    public static func now(on db: PostgresConnection, logger: Logger) async throws -> Date {
        for try await now in try await db.query("SELECT now()", logger: logger).decode(Date.self) { return now }
        throw ReconciliationStoreError("SELECT now() returned no row")
    }

    public static func watermark(on db: PostgresConnection, logger: Logger) async throws -> Date? {
        let rows = try await db.query("SELECT watermark FROM order_reconciliation_state WHERE name = \(stateName)", logger: logger)
        for try await watermark in rows.decode(Date.self) { return watermark }
        return nil
    }

    /// The oldest order the books still hold open, on the broker's time line (a first run
    /// starts there if it is older than a day).
    public static func earliestOpenOrder(on db: PostgresConnection, logger: Logger) async throws -> Date? {
        let rows = try await db.query("""
            SELECT min(coalesce(submitted_at, decided_at)) FROM trade_orders
            WHERE status NOT IN \(unescaped: OrderStatus.sqlList(OrderStatus.terminal))
            """, logger: logger)
        for try await earliest in rows.decode(Date?.self) { return earliest }
        return nil
    }

    /// The rows a run compares: those the listing names (by client_order_id), those on the
    /// broker's time line after `after`, and every open one; `pastGrace`: the books last
    /// changed the row more than `graceSeconds` ago (database clock).
    public static func bookOrders(clientOrderIDs: [String], after: Date, graceSeconds: Double,
                                  on db: PostgresConnection, logger: Logger) async throws -> [OrderReconciliation.BookOrder] {
        let rows = try await db.query("""
            SELECT id, client_order_id, alpaca_order_id, status, filled_qty, filled_avg_price,
                   coalesce(submitted_at, decided_at), updated_at < now() - make_interval(secs => \(graceSeconds))
            FROM trade_orders
            WHERE client_order_id = ANY(\(clientOrderIDs))
               OR coalesce(submitted_at, decided_at) > \(after)
               OR status NOT IN \(unescaped: OrderStatus.sqlList(OrderStatus.terminal))
            """, logger: logger)
        var result: [OrderReconciliation.BookOrder] = []
        for try await row in rows.decode((UUID, String, String?, String, Decimal?, Decimal?, Date, Bool).self) {
            result.append(OrderReconciliation.BookOrder(id: row.0, clientOrderID: row.1, alpacaOrderID: row.2, status: row.3,
                                                        filledQty: row.4, filledAvgPrice: row.5, at: row.6, pastGrace: row.7))
        }
        return result
    }

    /// Records the broker's order on the row, overriding whatever the books said (a terminal
    /// status included: Alpaca is the truth), but only if the row is still exactly as the run
    /// read it (`expected`), so a poll or stream update made meanwhile is never overwritten.
    /// Returns false when the row changed meanwhile (the next run judges it again).
    @discardableResult
    public static func repair(_ expected: OrderReconciliation.BookOrder, _ update: BrokerOrderUpdate, note: String,
                              on db: PostgresConnection, logger: Logger) async throws -> Bool {
        let rows = try await db.query("""
            WITH before AS (SELECT id, filled_qty, filled_avg_price FROM trade_orders WHERE id = \(expected.id) FOR UPDATE)
            UPDATE trade_orders t
               SET alpaca_order_id = \(update.alpacaOrderID), status = \(update.status),
                   submitted_at = coalesce(\(update.submittedAt), t.submitted_at), filled_at = \(update.filledAt),
                   last_fill_at = CASE WHEN coalesce(t.filled_qty, 0) <> coalesce(\(update.filledQty), 0)
                                       THEN coalesce(\(update.lastFillAt), now()) ELSE t.last_fill_at END,
                   filled_qty = \(update.filledQty), filled_avg_price = \(update.filledAvgPrice),
                   raw = \(update.raw)::jsonb, status_reason = \(note), updated_at = now()
              FROM before
             WHERE t.id = before.id AND t.status = \(expected.status)
               AND t.alpaca_order_id IS NOT DISTINCT FROM \(expected.alpacaOrderID)
               AND t.filled_qty IS NOT DISTINCT FROM \(expected.filledQty)
               AND t.filled_avg_price IS NOT DISTINCT FROM \(expected.filledAvgPrice)
            RETURNING t.firebase_uid, t.symbol,
                      (before.filled_qty, before.filled_avg_price) IS DISTINCT FROM (t.filled_qty, t.filled_avg_price)
            """, logger: logger)
        // The fill corrected is booked in the user's position in this transaction.
        return try await OrderStore.bookIfFilled(rows, on: db, logger: logger)
    }

    /// What a finished run stores.
    public struct RunRecord: Sendable {
        public var jobID: Int64?
        public var startedAt: Date
        public var apply: Bool
        public var requestedBy: String?
        public var listedAfter: Date
        /// The new watermark; nil leaves it alone (a dry run, or it did not move).
        public var watermark: Date?
        public var counts: OrderReconciliation.Counts
        public var repaired: Int
        public var truncated: Bool
        public var findings: [OrderReconciliation.Finding]

        public init(jobID: Int64?, startedAt: Date, apply: Bool, requestedBy: String?, listedAfter: Date, watermark: Date?,
                    counts: OrderReconciliation.Counts, repaired: Int, truncated: Bool, findings: [OrderReconciliation.Finding]) {
            self.jobID = jobID
            self.startedAt = startedAt
            self.apply = apply
            self.requestedBy = requestedBy
            self.listedAfter = listedAfter
            self.watermark = watermark
            self.counts = counts
            self.repaired = repaired
            self.truncated = truncated
            self.findings = findings
        }
    }

    /// Runs kept this long; older ones go in small batches as new ones are recorded.
    public static let retentionDays = 30

    /// The run's row and, with a new watermark, the state row (never moved back), in one
    /// transaction; prunes a batch of runs past retention. Returns the run's id.
    public static func finish(_ run: RunRecord, on db: PostgresConnection, logger: Logger) async throws -> Int64 {
        let findings = JSONValue.array(run.findings.map(\.json)).canonicalString()
        return try await db.transaction(logger: logger) { db in
            let rows = try await db.query("""
                INSERT INTO order_reconciliation_runs
                    (job_id, started_at, finished_at, apply, requested_by, listed_after, watermark, broker_orders, our_orders,
                     book_orders, agreed, deferred, repaired, findings_count, truncated, findings)
                VALUES (\(run.jobID), \(run.startedAt), greatest(now(), \(run.startedAt)), \(run.apply), \(run.requestedBy),
                        \(run.listedAfter), \(run.watermark), \(run.counts.brokerOrders), \(run.counts.ours), \(run.counts.bookOrders),
                        \(run.counts.agreed), \(run.counts.deferred), \(run.repaired), \(run.findings.count), \(run.truncated),
                        \(findings)::jsonb)
                RETURNING id
                """, logger: logger)
            var id: Int64 = 0
            for try await value in rows.decode(Int64.self) { id = value }
            if let watermark = run.watermark {
                try await db.query("""
                    INSERT INTO order_reconciliation_state AS s (name, watermark, last_run_id)
                    VALUES (\(stateName), \(watermark), \(id))
                    ON CONFLICT (name) DO UPDATE
                       SET watermark = greatest(s.watermark, EXCLUDED.watermark), last_run_id = EXCLUDED.last_run_id, updated_at = now()
                    """, logger: logger)
            }
            try await db.query("""
                DELETE FROM order_reconciliation_runs WHERE id IN (
                    SELECT id FROM order_reconciliation_runs
                    WHERE finished_at < now() - make_interval(secs => \(Double(retentionDays) * 86_400)) ORDER BY finished_at LIMIT 1000)
                """, logger: logger)
            return id
        }
    }

    /// A stored run (the ops CLI prints it).
    public struct Run: Sendable, Equatable {
        public var id: Int64
        public var jobID: Int64?
        public var startedAt: Date
        public var finishedAt: Date
        public var apply: Bool
        public var requestedBy: String?
        public var listedAfter: Date
        public var watermark: Date?
        public var brokerOrders: Int
        public var ourOrders: Int
        public var bookOrders: Int
        public var agreed: Int
        public var deferred: Int
        public var repaired: Int
        public var findingsCount: Int
        public var truncated: Bool
        public var findings: JSONValue
    }

    static let runColumns = """
        id, job_id, started_at, finished_at, apply, requested_by, listed_after, watermark, broker_orders, our_orders,
        book_orders, agreed, deferred, repaired, findings_count, truncated, findings::text
        """

    /// The latest run of a job (a job retried after a failure may have run more than once).
    public static func run(jobID: Int64, on db: PostgresConnection, logger: Logger) async throws -> Run? {
        var binds = PostgresBindings()
        binds.append(jobID)
        let sql = "SELECT \(runColumns) FROM order_reconciliation_runs WHERE job_id = $1 ORDER BY id DESC LIMIT 1"
        return try await decodeRuns(db.query(PostgresQuery(unsafeSQL: sql, binds: binds), logger: logger)).first
    }

    /// The newest runs first.
    public static func latestRuns(limit: Int, on db: PostgresConnection, logger: Logger) async throws -> [Run] {
        var binds = PostgresBindings()
        binds.append(limit)
        let sql = "SELECT \(runColumns) FROM order_reconciliation_runs ORDER BY id DESC LIMIT $1"
        return try await decodeRuns(db.query(PostgresQuery(unsafeSQL: sql, binds: binds), logger: logger))
    }

    static func decodeRuns(_ rows: PostgresRowSequence) async throws -> [Run] {
        var result: [Run] = []
        for try await row in rows {
            let cells = row.makeRandomAccess()
            func cell<T: PostgresDecodable>(_ index: Int, _ type: T.Type) throws -> T { try cells[index].decode(T.self) }
            let findingsText = try cell(16, String.self)
            result.append(Run(
                id: try cell(0, Int64.self), jobID: try cell(1, Int64?.self), startedAt: try cell(2, Date.self),
                finishedAt: try cell(3, Date.self), apply: try cell(4, Bool.self), requestedBy: try cell(5, String?.self),
                listedAfter: try cell(6, Date.self), watermark: try cell(7, Date?.self), brokerOrders: try cell(8, Int.self),
                ourOrders: try cell(9, Int.self), bookOrders: try cell(10, Int.self), agreed: try cell(11, Int.self),
                deferred: try cell(12, Int.self), repaired: try cell(13, Int.self), findingsCount: try cell(14, Int.self),
                truncated: try cell(15, Bool.self), findings: (try? JSONValue.parse(findingsText)) ?? .array([])))
        }
        return result
    }
}

public struct ReconciliationStoreError: Error, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}
