import Foundation
import PostgresNIO

extension ChaosChecks {
    /// Kills, jobs, orders, questions, answers, faults and rescue times.
    func figures(_ report: inout ChaosReport, stats: Stats, tracker: Tracker, options: ChaosOptions, chaosSeconds: Double,
                 drainSeconds: Double, ledgerOrders: Int, maxPerID: Int) async throws {
        let kills = await tracker.kills
        let workerKills = kills.filter { $0.role == .worker && $0.cause == .killer }
        let failpointKills = kills.filter { $0.cause == .failpoint }
        let schedulerKills = kills.filter { $0.role == .scheduler }
        let crashes = kills.filter { $0.cause == .crash }
        report.figure("duration", String(format: "%.0f s of chaos, then %.0f s of drain", chaosSeconds, drainSeconds))
        report.figure("kills", "\(kills.count - crashes.count): \(workerKills.count) workers by SIGKILL (\(workerKills.filter { $0.jobs > 0 }.count) "
                      + "holding jobs, \(workerKills.reduce(0) { $0 + $1.jobs }) jobs in hand, \(workerKills.reduce(0) { $0 + $1.submitOrders }) "
                      + "of them submit-order), \(failpointKills.count) workers at the failpoint between the Alpaca POST and the database "
                      + "update, \(schedulerKills.count) leading schedulers")
        report.figure("unexpected process exits (crashes)", "\(crashes.count)" + (crashes.isEmpty ? "" : ": \(crashes.map(\.id))"))
        let rescues = await tracker.rescueSeconds
        let byKind = await tracker.rescuedByKind
        let finishedBeforeKill = await tracker.finishedBeforeKill
        let discardedAtRescue = await tracker.rescuedIntoDiscarded
        let users = await stats.users
        report.figure("rescued jobs of killed workers (claimed again)", "\(rescues.count) (\(byKind.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", "))); "
                      + "\(finishedBeforeKill) had finished before the signal landed"
                      + (discardedAtRescue > 0 ? ", \(discardedAtRescue) discarded at the rescue (last attempt)" : ""))
        report.figure("rescue time, kill → claimed again, p50 / max", "\(seconds(percentile(rescues, 0.5))) / \(seconds(rescues.max()))")
        let failovers = await tracker.failoverSeconds
        report.figure("scheduler failover, kill → new leader, p50 / max", "\(seconds(percentile(failovers, 0.5))) / \(seconds(failovers.max()))")
        let engineRescues = try await int("""
            SELECT count(*)::int FROM jobs, jsonb_array_elements(errors) AS e WHERE e->>'message' LIKE 'lease expired%'
            """)
        let retries = try await int("""
            SELECT count(*)::int FROM jobs, jsonb_array_elements(errors) AS e WHERE e->>'message' NOT LIKE 'lease expired%'
            """)
        report.figure("lease rescues by the engine / failed attempts retried", "\(engineRescues) / \(retries)")

        let jobs = try await client.withConnection { db in
            var result: [(String, String, Int)] = []
            for try await row in try await db.query("SELECT kind, state, count(*)::int FROM jobs GROUP BY 1, 2 ORDER BY 1, 2", logger: logger)
                .decode((String, String, Int).self) { result.append(row) }
            return result
        }
        let total = jobs.reduce(0) { $0 + $1.2 }
        report.figure("jobs", "\(total): " + jobs.map { "\($0.0) \($0.1) \($0.2)" }.joined(separator: ", "))
        let orders = try await pairs("SELECT status, count(*)::int FROM trade_orders GROUP BY 1 ORDER BY 2 DESC")
        report.figure("orders", "\(orders.reduce(0) { $0 + $1.1 }): " + orders.map { "\($0.0) \($0.1)" }.joined(separator: ", ")
                      + "; at the simulator \(ledgerOrders), at most \(maxPerID) per client_order_id")
        let questions = try await pairs("SELECT status, count(*)::int FROM questions GROUP BY 1 ORDER BY 2 DESC")
        report.figure("questions", "\(questions.reduce(0) { $0 + $1.1 }): " + questions.map { "\($0.0) \($0.1)" }.joined(separator: ", "))
        let answers = try await pairs("SELECT coalesce(outcome, '?'), count(*)::int FROM answers GROUP BY 1 ORDER BY 2 DESC")
        report.figure("answers recorded", answers.map { "\($0.0) \($0.1)" }.joined(separator: ", "))
        let counters = await stats.counters
        let driver = counters.filter { !$0.key.hasPrefix("fault: ") }.sorted { $0.key < $1.key }
        report.figure("the scripted users", "\(users) signed up through the API; " + driver.map { "\($0.key) \($0.value)" }.joined(separator: ", "))
        let faults = counters.filter { $0.key.hasPrefix("fault: ") }.sorted { $0.key < $1.key }
        report.figure("faults injected at the simulator", "\(faults.reduce(0) { $0 + $1.value }): "
                      + faults.map { "\($0.key.dropFirst(7)) ×\($0.value)" }.joined(separator: ", "))
        let errors = await stats.apiErrors
        if !errors.isEmpty { report.figure("API errors (first)", errors.prefix(5).joined(separator: "; ")) }
        report.figure("settings", options.summary)

        report.numbers["kills_workers"] = Double(workerKills.count)
        report.numbers["kills_failpoint"] = Double(failpointKills.count)
        report.numbers["kills_scheduler"] = Double(schedulerKills.count)
        report.numbers["crashes"] = Double(crashes.count)
        report.numbers["rescued"] = Double(rescues.count)
        report.numbers["rescue_p50_seconds"] = percentile(rescues, 0.5) ?? -1
        report.numbers["rescue_max_seconds"] = rescues.max() ?? -1
        report.numbers["jobs"] = Double(total)
        report.numbers["orders"] = Double(orders.reduce(0) { $0 + $1.1 })
        report.numbers["api_errors"] = Double(counters["api errors"] ?? 0)
    }
}
