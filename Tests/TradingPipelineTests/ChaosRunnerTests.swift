import Foundation
import HybridTestSupport
import Testing

/// The chaos runner of ops/chaos/run.sh, shortened: `hybridhub-chaos` (a real process, which
/// starts the simulator, two schedulers, four workers, two API processes and the local
/// issuer as real processes) SIGKILLs workers and the leading scheduler for 40 s while users
/// sign up and answer through the API and the simulator injects faults; then it drains the
/// farm and checks: no job lost or left non-terminal, exactly one order per client_order_id
/// at the simulator, no guardrail breached, every question delivered.
@Suite struct ChaosRunnerTests {
    @Test(.timeLimit(.minutes(6)))
    func aShortChaosRunLosesNothingAndDoublesNothing() async throws {
        try await TestDatabase.withMigrated { db in
            let binary = try ChildProcess.executable("hybridhub-chaos")
            let folder = FileManager.default.temporaryDirectory.appendingPathComponent("hh-chaos-test-\(UUID().uuidString.prefix(8))")
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            let summary = folder.appendingPathComponent("summary.json")
            let result = try await ChildProcess.run(binary, [
                "--seconds", "40", "--workers", "4", "--schedulers", "2", "--apis", "2", "--failpoint-probability", "0.5",
                "--kill-every", "3", "--scheduler-kill-every", "3", "--initial-users", "12", "--signups-per-second", "0.5",
                "--user-lifetime", "30", "--clock-rate", "14", "--drain-timeout", "150", "--seed", "7",
                "--edit-every", "1", "--halt-every", "8",
                "--logs", folder.appendingPathComponent("logs").path, "--json", summary.path,
            ], environment: ChildProcess.environment(for: db))
            let report = "\(result.stdout)\n\(result.stderr.suffix(6000))\n(logs in \(folder.path))"
            #expect(result.status == 0, "\(report)")
            let data = try Data(contentsOf: summary)
            let object = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
            let numbers = try #require(object["numbers"] as? [String: Double])
            #expect(object["passed"] as? Bool == true, "\(report)")
            #expect(numbers["jobs_lost"] == 0 && numbers["jobs_non_terminal"] == 0, "\(report)")
            #expect(numbers["orders_wrong_count"] == 0 && numbers["guardrail_breaches"] == 0, "\(report)")
            #expect(numbers["questions_created"] == (numbers["questions_delivered"] ?? 0) + (numbers["questions_withdrawn_before_delivery"] ?? 0),
                    "\(report)")
            // Order integrity under edits and halts: the books equal the broker, every order is an
            // approved intent, none was sent inside a stop or past the approval's maximum age.
            #expect(numbers["orders_books_differ"] == 0 && numbers["orders_not_approved"] == 0, "\(report)")
            #expect(numbers["orders_after_stop"] == 0 && numbers["orders_too_old"] == 0, "\(report)")
            #expect((numbers["stop_windows"] ?? 0) >= 5, "users edited and the farm was halted: \(report)")
            // Each user's own book equals their fills, none is short, the books add up to the account.
            #expect(numbers["books_differing"] == 0 && numbers["books_short"] == 0 && numbers["books_drift_symbols"] == 0, "\(report)")
            print("chaos (short): \(Int(numbers["sells_filled"] ?? -1)) sells filled, \(Int(numbers["orders_at_broker"] ?? -1)) orders at the broker")
            // The chaos happened: workers and a leader were killed, orders reached the simulator.
            #expect((numbers["kills_workers"] ?? 0) >= 3 && (numbers["kills_scheduler"] ?? 0) >= 1, "\(report)")
            #expect((numbers["orders_at_broker"] ?? 0) >= 1 && (numbers["rescued"] ?? 0) >= 1, "\(report)")
            if result.status == 0 { try? FileManager.default.removeItem(at: folder) }
        }
    }
}
