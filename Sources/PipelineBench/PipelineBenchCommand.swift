import ArgumentParser
import AsyncHTTPClient
import Foundation
import HybridHubApp
import HybridStore
import JobEngine
import Logging
import PostgresNIO
import ProcessKit
import TradingCore
import TradingPipeline

/// `hybridhub-pipeline-bench`: the pipeline benchmark's driver (ops/bench/pipeline/run.sh
/// starts the simulator and the workers). Seeds users, runs one scheduler tick the way the
/// scheduler does, waits for every evaluation, then paces approvals; prints a Markdown report.
@main
struct PipelineBenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "hybridhub-pipeline-bench", abstract: "Benchmark one trading tick and approval latency against running workers.")

    @Option(help: "Enabled users to seed.") var users = 10_000
    @Option(help: "Symbols in the universe (SPY plus synthetic SYNnn from the simulator).") var symbols = 30
    @Option(help: "Symbols each user watches.") var watch = 5
    @Option(help: "Fraction of users whose first rule fires at the replayed dip.") var fireFraction = 0.1
    @Option(help: "Approvals to time.") var approvals = 200
    @Option(help: "Approvals per second.") var approvalRate = 20.0
    @Option(help: "Seconds to wait for the tick's evaluations.") var timeout = 120.0
    @Option(help: "Ticks to run one after the other (the first finds every cache cold; later ones are the steady state).") var ticks = 2

    func run() async throws {
        let runtime = try ProcessRuntime.load(label: "pipeline-bench")
        let settings = runtime.settings
        let logger = runtime.logger
        let universe = ["SPY"] + (1..<symbols).map { "SYN" + ($0 < 10 ? "0\($0)" : "\($0)") }
        let (users, watch, fireFraction, approvals, approvalRate, timeout) = (self.users, self.watch, self.fireFraction, self.approvals, self.approvalRate, self.timeout)
        let simulator = settings.alpaca.simulatorURL.absoluteString
        try await PostgresClientFactory.withClient(settings.database, logger: logger) { client in
            let pipeline = TradingComposition.pipeline(settings: settings, client: client, logger: logger)
            note("seeding \(users) users (\(watch) of \(universe.count) symbols each, 3 rules, \(Int(fireFraction * 100)) % firing)")
            try await BenchSeed.users(users, universe: universe, watch: watch, fireFraction: fireFraction, client: client, logger: logger)

            // 1. Ticks, exactly as the leader enqueues them, each timed to its last evaluate-user.
            let callsBefore = try await Self.simulatorCalls(simulator)
            var tickResults: [(seconds: Double, evaluated: Int, enqueued: Int)] = []
            for n in 0..<max(1, ticks) {
                note("tick \(n + 1): enqueueing ingest + evaluate-user jobs")
                let bucket = Int64(Date().timeIntervalSince1970) + Int64(n)
                let (tickAt, enqueued) = try await client.transaction(logger: logger) { db -> (Date, Int) in
                    var at = Date()
                    for try await now in try await db.query("SELECT now()", logger: logger).decode(Date.self) { at = now }
                    let jobs = try await pipeline.tick.schedule(intervalSeconds: settings.worker.intervalSeconds).makeJobs(bucket, db, logger)
                    _ = try await JobStore.enqueue(jobs, on: db, logger: logger)
                    return (at, jobs.count)
                }
                var evaluated = 0, elapsed = 0.0
                let deadline = ContinuousClock.now + .seconds(timeout)
                while ContinuousClock.now < deadline {
                    let rows = try await client.withConnection { db in
                        try await db.query("""
                            SELECT count(*) FILTER (WHERE state = 'completed')::int, count(*)::int,
                                   coalesce(extract(epoch FROM max(finalized_at) - \(tickAt)), 0)::float8
                            FROM jobs WHERE kind = 'evaluate-user' AND (payload->>'bucket')::bigint = \(bucket)
                            """, logger: logger)
                    }
                    var done = 0, total = 0
                    for try await (d, t, e) in rows.decode((Int, Int, Double).self) { (done, total, elapsed) = (d, t, e) }
                    evaluated = done
                    if done == total { break }
                    try await Task.sleep(for: .milliseconds(200))
                }
                note("tick \(n + 1): \(evaluated) evaluations in \(String(format: "%.2f", elapsed)) s")
                tickResults.append((elapsed, evaluated, enqueued))
            }
            let callsAfter = try await Self.simulatorCalls(simulator)
            let questions = try await Self.int(client, "SELECT count(*)::int FROM questions", logger)
            let (elapsed, evaluated, enqueued) = tickResults.last ?? (0, 0, 0)
            let first = tickResults.first ?? (0, 0, 0)

            // 2. Approvals, paced, each of another user's question: commit → accepted at the simulator.
            let open = try await client.withConnection { db in
                var ids: [(UUID, String)] = []
                for try await row in try await db.query("SELECT id, firebase_uid FROM questions WHERE status = 'open' ORDER BY created_at LIMIT \(approvals)", logger: logger).decode((UUID, String).self) { ids.append(row) }
                return ids
            }
            note("approvals: \(open.count) at \(approvalRate)/s")
            let start = ContinuousClock.now
            var ordered = 0
            for (n, (id, uid)) in open.enumerated() {
                let due = start + .seconds(Double(n) / approvalRate)
                if due > ContinuousClock.now { try await Task.sleep(until: due, clock: .continuous) }
                if case .ordered = try await pipeline.answers.answer(questionID: id, firebaseUID: uid, value: .number(10)).outcome { ordered += 1 }
            }
            var latencies: [Double] = []
            let waitUntil = ContinuousClock.now + .seconds(60)
            while ContinuousClock.now < waitUntil {
                latencies = try await client.withConnection { db in
                    var values: [Double] = []
                    for try await value in try await db.query("""
                        SELECT extract(epoch FROM finalized_at - created_at)::float8 FROM jobs
                        WHERE kind = 'submit-order' AND state = 'completed'
                        """, logger: logger).decode(Double.self) { values.append(value) }
                    return values
                }
                if latencies.count >= ordered { break }
                try await Task.sleep(for: .milliseconds(200))
            }
            let ledger = try await Self.simulatorOrders(simulator)
            latencies.sort()
            func pct(_ p: Double) -> String {
                guard !latencies.isEmpty else { return "-" }
                return String(format: "%.1f", latencies[min(latencies.count - 1, Int(Double(latencies.count) * p))] * 1000)
            }
            let batch = settings.trading.ingestBatchSymbols
            let expectedCalls = (universe.count + batch - 1) / batch
            print("""
                | Measure | Value | Goal | |
                |---|---:|---:|---|
                | users enabled / rules | \(users) / \(users * 3) | | |
                | jobs enqueued per tick | \(enqueued) | | |
                | first tick (cold caches) → last evaluate-user done (s) | \(String(format: "%.2f", first.seconds)) | | |
                | evaluate-user done (tick \(tickResults.count)) | \(evaluated) of \(users) | | |
                | tick \(tickResults.count) (steady state) → last evaluate-user done (s) | \(String(format: "%.2f", elapsed)) | < 10 | \(elapsed < 10 && evaluated == users ? "met" : "**MISSED**") |
                | (of which TRADING_EVALUATE_DELAY_SECONDS) | \(settings.trading.evaluateDelaySeconds) | | |
                | evaluations per second after the delay | \(String(format: "%.0f", Double(evaluated) / max(0.001, elapsed - Double(settings.trading.evaluateDelaySeconds)))) | | |
                | questions asked | \(questions) | | |
                | Alpaca market-data calls per tick | \((callsAfter - callsBefore) / max(1, tickResults.count)) | ceil(\(universe.count) / \(batch)) = \(expectedCalls) | \((callsAfter - callsBefore) == expectedCalls * tickResults.count ? "met" : "**MISSED**") |
                | approvals ordered | \(ordered) of \(open.count) | | |
                | approval committed → order accepted and recorded, p50 (ms) | \(pct(0.5)) | | |
                | same, p99 (ms) | \(pct(0.99)) | | |
                | orders at the simulator / per client_order_id max | \(ledger.count) / \(ledger.maxPerID) | = ordered / 1 | \(ledger.count == ordered && ledger.maxPerID <= 1 ? "met" : "**MISSED**") |
                """)
        }
    }

    func note(_ text: String) {
        FileHandle.standardError.write(Data("bench: \(text)\n".utf8))
    }

    static func int(_ client: PostgresClient, _ sql: String, _ logger: Logger) async throws -> Int {
        try await client.withConnection { db in
            for try await n in try await db.query(PostgresQuery(unsafeSQL: sql), logger: logger).decode(Int.self) { return n }
            return 0
        }
    }

    static func fetchJSON(_ url: String) async throws -> Any {
        let response = try await HTTPClient.shared.execute(HTTPClientRequest(url: url), timeout: .seconds(10))
        let body = try await response.body.collect(upTo: 64 << 20)
        return try JSONSerialization.jsonObject(with: Data(body.readableBytesView))
    }

    /// Market-data requests the simulator has answered (its per-key, per-API count
    /// "<key>|market_data"; the trading calls of the broker pre-flight are not market data).
    static func simulatorCalls(_ base: String) async throws -> Int {
        let stats = try await fetchJSON(base + "/_sim/stats") as? [String: [String: Any]] ?? [:]
        return stats.filter { $0.key.hasSuffix("|market_data") }.values.reduce(0) { $0 + (($1["total"] as? Int) ?? 0) }
    }

    static func simulatorOrders(_ base: String) async throws -> (count: Int, maxPerID: Int) {
        let ledger = try await fetchJSON(base + "/_sim/ledger") as? [String: Any] ?? [:]
        let perID = ledger["orders_per_client_order_id"] as? [String: Int] ?? [:]
        return ((ledger["orders"] as? [Any])?.count ?? 0, perID.values.max() ?? 0)
    }
}

/// Bulk seeding: users, configs (no template, so each document is whole).
enum BenchSeed {
    static func users(_ count: Int, universe: [String], watch: Int, fireFraction: Double,
                      client: PostgresClient, logger: Logger) async throws {
        var uids: [String] = [], configs: [String] = []
        let firing = Int(Double(count) * fireFraction)
        for n in 0..<count {
            let symbols = (0..<watch).map { universe[(n + $0 * 7) % universe.count] }
            let fires = n < firing
            let watchlist = fires ? ["SPY"] + symbols.filter { $0 != "SPY" }.prefix(watch - 1) : symbols
            let rules: [JSONValue] = (0..<3).map { k in
                .object([
                    "id": .string("rule_\(k)"), "type": .string("price_below_pct_of_ref"), "symbol": .string(watchlist[k % watchlist.count]),
                    "threshold_pct": .number(fires && k == 0 ? -1.5 : -8), "max_staleness_seconds": .number(600),
                    "question_template": .string("{{symbol}} is down {{pct}}%. Swipe +10 to buy $10, -10 to skip."),
                    "on_answer_match": .object(["action": .string("propose_order"), "side": .string("buy"), "notional_usd": .number(10)]),
                ])
            }
            let document: JSONValue = .object([
                "data_inputs": .array([.object(["id": .string("w"), "symbols": .array(watchlist.map { .string($0) }), "poll_interval_seconds": .number(60)])]),
                "rules": .array(rules),
            ])
            uids.append("bench-\(n)")
            configs.append(document.canonicalString())
        }
        try await client.transaction(logger: logger) { db in
            try await db.query("INSERT INTO users (firebase_uid) SELECT unnest(\(uids)::text[]) ON CONFLICT DO NOTHING", logger: logger)
            try await db.query("""
                INSERT INTO user_trading_config (firebase_uid, config, enabled)
                SELECT uid, config::jsonb, true FROM unnest(\(uids)::text[], \(configs)::text[]) AS t(uid, config)
                ON CONFLICT (firebase_uid) DO UPDATE SET config = EXCLUDED.config, enabled = true
                """, logger: logger)
        }
    }
}
