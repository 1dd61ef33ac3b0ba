import Foundation
import JobEngine
import HybridStore
import Logging
import PostgresNIO
import TradingCore

/// The end of a run: what the database and the simulator's ledger say, the assertions, the
/// figures, as Markdown (for ops/chaos/results) and JSON (for the test suite).
struct ChaosReport: Sendable {
    struct Assertion: Sendable {
        let name: String
        let value: String
        let holds: Bool
    }

    var assertions: [Assertion] = []
    var figures: [(String, String)] = []
    var numbers: [String: Double] = [:]
    var passed: Bool { assertions.allSatisfy(\.holds) }

    mutating func check(_ name: String, _ value: String, _ holds: Bool) { assertions.append(.init(name: name, value: value, holds: holds)) }
    mutating func figure(_ name: String, _ value: String) { figures.append((name, value)) }

    var markdown: String {
        var lines = ["| Assertion | Value | |", "|---|---:|---|"]
        lines += assertions.map { "| \($0.name) | \($0.value) | \($0.holds ? "holds" : "**FAILED**") |" }
        lines += ["", "| Figure | Value |", "|---|---|"]
        lines += figures.map { "| \($0.0) | \($0.1) |" }
        return lines.joined(separator: "\n")
    }

    var json: String {
        let object: [String: Any] = [
            "passed": passed,
            "assertions": assertions.map { ["name": $0.name, "value": $0.value, "holds": $0.holds] },
            "numbers": numbers,
        ]
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data()
        return String(decoding: data, as: UTF8.self)
    }
}

struct ChaosChecks: Sendable {
    let client: PostgresClient
    let logger: Logger
    let simulator: String

    func rows<T: Sendable>(_ sql: String, _ type: T.Type) async throws -> [T] where T: PostgresDecodable {
        try await client.withConnection { db in
            var result: [T] = []
            for try await value in try await db.query(PostgresQuery(unsafeSQL: sql), logger: logger).decode(T.self) { result.append(value) }
            return result
        }
    }

    func int(_ sql: String) async throws -> Int { try await rows(sql, Int.self).first ?? 0 }

    func pairs(_ sql: String) async throws -> [(String, Int)] {
        try await client.withConnection { db in
            var result: [(String, Int)] = []
            for try await row in try await db.query(PostgresQuery(unsafeSQL: sql), logger: logger).decode((String, Int).self) { result.append(row) }
            return result
        }
    }

    static let terminalJobs = JobState.sqlList(JobState.terminal)
    static let terminalOrders = OrderStatus.sqlList(OrderStatus.terminal)

    func nonTerminalJobs() async throws -> Int {
        try await int("SELECT count(*)::int FROM jobs WHERE state NOT IN \(Self.terminalJobs)")
    }

    func run(stats: Stats, tracker: Tracker, switchboard: Switchboard, options: ChaosOptions, chaosSeconds: Double,
             drainSeconds: Double) async throws -> ChaosReport {
        var report = ChaosReport()
        // Jobs: every one terminal, none given up on or dropped, every unit of work with its job.
        let nonTerminal = try await nonTerminalJobs()
        let discarded = try await int("SELECT count(*)::int FROM jobs WHERE state IN ('discarded', 'cancelled')")
        let ordersWithoutJob = try await int("""
            SELECT count(*)::int FROM trade_orders t WHERE NOT EXISTS (
              SELECT 1 FROM jobs j WHERE j.kind = 'submit-order' AND j.unique_key = 'submit-order:' || t.client_order_id)
            """)
        let questionsWithoutJob = try await int("""
            SELECT count(*)::int FROM questions q WHERE NOT EXISTS (
              SELECT 1 FROM jobs j WHERE j.kind = 'deliver-question' AND lower(j.unique_key) = 'deliver-question:' || q.id::text)
            """)
        let known = Set(try await rows("SELECT client_order_id FROM trade_orders", String.self))
        let approvalsWithoutOrder = await stats.ordered.filter { !known.contains($0) }.count
        let openOrders = try await int("SELECT count(*)::int FROM trade_orders WHERE status NOT IN \(Self.terminalOrders)")
        let lost = discarded + ordersWithoutJob + questionsWithoutJob + approvalsWithoutOrder
        report.check("jobs lost (discarded or cancelled \(discarded), orders without submit-order \(ordersWithoutJob), "
                     + "questions without deliver-question \(questionsWithoutJob), approved orders missing \(approvalsWithoutOrder))",
                     "\(lost)", lost == 0)
        report.check("jobs left non-terminal", "\(nonTerminal)", nonTerminal == 0)
        report.check("trade orders left non-terminal", "\(openOrders)", openOrders == 0)

        // Exactly once at the broker.
        let ledger = try await HTTP.call("GET", simulator + "/_sim/ledger", timeout: 30).object
        let perID = ledger["orders_per_client_order_id"] as? [String: Int] ?? [:]
        // An order the books ended unsent (blocked, failed, canceled or expired before its POST)
        // has no alpaca_order_id and must not exist at the simulator; every other exactly once.
        let orders = try await client.withConnection { db in
            var result: [(String, String, Bool)] = []
            for try await row in try await db.query("""
                SELECT client_order_id, status,
                       status IN \(unescaped: OrderStatus.sqlList(OrderStatus.unsentEnd)) AND alpaca_order_id IS NULL
                FROM trade_orders
                """, logger: logger).decode((String, String, Bool).self) { result.append(row) }
            return result
        }
        var wrong: [String] = []
        for (id, status, unsent) in orders {
            let expected = unsent ? 0 : 1
            if (perID[id] ?? 0) != expected { wrong.append("\(id) (\(status)): \(perID[id] ?? 0)") }
        }
        let unknown = perID.keys.filter { !known.contains($0) }
        let atBroker = orders.filter { !$0.2 }.count
        report.check("orders per client_order_id at the simulator ≠ 1 (of \(atBroker) that reached it; orders ended unsent must be 0)",
                     "\(wrong.count)", wrong.isEmpty)
        report.check("orders at the simulator unknown to trade_orders", "\(unknown.count)", unknown.isEmpty)
        if !wrong.isEmpty { note("client_order_id counts wrong: \(wrong.prefix(10))") }

        // Guardrails, recomputed as the caps count: buys only (sells count against neither buy
        // cap), an open order at its size, an ended one by what was filled (unsent, rejected or
        // cancelled with nothing filled never count).
        let breaches = try await client.withConnection { db -> (Int, Int) in
            for try await row in try await db.query("""
                WITH o AS (
                  SELECT t.firebase_uid, t.decided_at,
                         CASE WHEN t.status = 'filled' AND t.filled_qty IS NULL THEN coalesce(t.notional_usd, t.qty * t.reference_price, 0)
                              WHEN t.status IN \(unescaped: OrderStatus.sqlList(OrderStatus.terminal))
                              THEN coalesce(t.filled_qty * coalesce(t.filled_avg_price, t.reference_price), t.notional_usd, 0)
                              ELSE coalesce(t.notional_usd, t.qty * t.reference_price, 0) END AS notional,
                         coalesce((c.config->'guardrails'->>'max_orders_per_day')::int, 3) AS per_day,
                         coalesce((c.config->'guardrails'->>'max_notional_usd_per_4h')::numeric, 100) AS per_4h
                  FROM trade_orders t JOIN user_trading_config c USING (firebase_uid)
                  WHERE t.side = 'buy' AND (t.status NOT IN \(unescaped: OrderStatus.sqlList(OrderStatus.terminal))
                     OR t.status = 'filled' OR coalesce(t.filled_qty, 0) > 0))
                SELECT
                  (SELECT count(*)::int FROM (SELECT 1 FROM o GROUP BY firebase_uid, (decided_at AT TIME ZONE 'America/New_York')::date
                                              HAVING count(*) > max(per_day)) d),
                  (SELECT count(*)::int FROM o a WHERE (SELECT sum(b.notional) FROM o b WHERE b.firebase_uid = a.firebase_uid
                     AND b.decided_at > a.decided_at - interval '4 hours' AND b.decided_at <= a.decided_at) > a.per_4h)
                """, logger: logger).decode((Int, Int).self) { return row }
            return (0, 0)
        }
        report.check("guardrail breaches (user-days over max_orders_per_day \(breaches.0), orders over max_notional_usd_per_4h \(breaches.1))",
                     "\(breaches.0 + breaches.1)", breaches.0 + breaches.1 == 0)

        // A question withdrawn (its rule or the user switched off) before its delivery ran is
        // not delivered: it proposes nothing any more.
        let created = try await int("SELECT count(*)::int FROM questions")
        let delivered = try await int("SELECT count(*)::int FROM questions WHERE delivered_at IS NOT NULL")
        let withdrawnFirst = try await int("""
            SELECT count(*)::int FROM questions WHERE delivered_at IS NULL AND status = 'cancelled' AND metadata ? 'withdrawn_reason'
            """)
        report.check("questions delivered = questions created − withdrawn before delivery",
                     "\(delivered) = \(created) − \(withdrawnFirst)", delivered == created - withdrawnFirst)
        if delivered != created - withdrawnFirst {
            note("undelivered: \(try await rows("SELECT id::text || ' ' || status || ' ' || created_at::text FROM questions WHERE delivered_at IS NULL LIMIT 10", String.self))")
        }
        try await integrity(&report, ledger: ledger, switchboard: switchboard, tracker: tracker, options: options)
        try await books(&report, ledger: ledger)
        let duplicates = await stats.duplicateViolations
        let sentTwice = await stats.value("answers sent twice")
        report.check("answers sent twice at once that took effect twice", "\(duplicates.count) of \(sentTwice)",
                     duplicates.isEmpty)
        if !duplicates.isEmpty { note("duplicate answers: \(duplicates.prefix(5))") }

        try await figures(&report, stats: stats, tracker: tracker, options: options, chaosSeconds: chaosSeconds, drainSeconds: drainSeconds,
                          ledgerOrders: (ledger["orders"] as? [Any])?.count ?? 0, maxPerID: perID.values.max() ?? 0)
        report.numbers["jobs_lost"] = Double(lost)
        report.numbers["jobs_non_terminal"] = Double(nonTerminal)
        report.numbers["orders_wrong_count"] = Double(wrong.count + unknown.count)
        report.numbers["guardrail_breaches"] = Double(breaches.0 + breaches.1)
        report.numbers["questions_created"] = Double(created)
        report.numbers["questions_delivered"] = Double(delivered)
        report.numbers["questions_withdrawn_before_delivery"] = Double(withdrawnFirst)
        report.numbers["orders_at_broker"] = Double(atBroker)
        return report
    }

    /// Every user's book equals their fills (recomputed from trade_orders), none is short, and
    /// per symbol the books add up to the simulator's account position.
    func books(_ report: inout ChaosReport, ledger: [String: Any]) async throws {
        let (differing, short, sums, positions, sells) = try await client.withConnection { db in
            var differing: [String] = [], short: [String] = [], positions = 0
            for key in try await BookStore.bookKeys(on: db, logger: logger) {
                let found = try await BookStore.compare(key.uid, symbol: key.symbol, on: db, logger: logger)
                let fields = found.differences.filter { ["row", "qty", "cost_basis", "realized_pnl"].contains($0.field) }
                if !fields.isEmpty {
                    differing.append("\(key.uid)/\(key.symbol): " + fields.map { "\($0.field) \($0.stored) ≠ fills \($0.recomputed)" }.joined(separator: ", "))
                }
                if found.recomputed.qty < 0 { short.append("\(key.uid)/\(key.symbol) \(found.recomputed.qty)") }
                if found.recomputed.qty != 0 { positions += 1 }
            }
            let sells = try await self.int("SELECT count(*)::int FROM trade_orders WHERE side = 'sell' AND filled_qty > 0")
            return (differing, short, try await BookStore.accountSum(on: db, logger: logger), positions, sells)
        }
        report.check("users' books that differ from their fills (of \(positions) open positions; \(sells) sells filled)",
                     "\(differing.count)", differing.isEmpty)
        if !differing.isEmpty { note("books differing: \(differing.prefix(5))") }
        report.check("users left short", "\(short.count)", short.isEmpty)
        if !short.isEmpty { note("short: \(short.prefix(5))") }
        var account: [String: Decimal] = [:]
        for case let held as [String: String] in (ledger["positions"] as? [String: Any] ?? [:]).values {
            for (symbol, qty) in held { account[symbol, default: 0] += Decimal(string: qty) ?? 0 }
        }
        let drift = OrderReconciliation.positionDrift(books: sums, account: account, settling: [])
        report.check("symbols whose books do not add up to the simulator's account", "\(drift.count)", drift.isEmpty)
        if !drift.isEmpty { note("drift: \(drift.prefix(5).map { $0.detail })") }
        report.numbers["books_differing"] = Double(differing.count)
        report.numbers["books_short"] = Double(short.count)
        report.numbers["books_drift_symbols"] = Double(drift.count)
        report.numbers["sells_filled"] = Double(sells)
    }
}
