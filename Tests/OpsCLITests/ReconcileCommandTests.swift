import Foundation
import HybridStore
import HybridTestSupport
import PostgresNIO
import Testing
import TradingCore
import TradingPipeline

/// `hybridhub-ops reconcile [--apply]` as a real process: it enqueues reconcile-orders, a
/// worker (in-process, with the simulator's keys; the CLI has none) runs it, the CLI waits
/// with progress on stderr and prints the run's findings.
@Suite(.serialized) struct ReconcileCommandTests {
    @Test func theOpsCommandPrintsTheFindingsAndRepairsOnlyWithApply() async throws {
        try await Farm.run { farm in
            let (orderID, clientOrderID) = try await Self.filledOrder(farm)
            _ = try await farm.client.withConnection { db in
                try await db.query("""
                    UPDATE trade_orders SET status = 'failed', alpaca_order_id = NULL, filled_qty = NULL WHERE id = \(orderID)
                    """, logger: logger)
            }
            let cli = try OpsCLI(farm.db)

            // A dry run: the table names the finding; nothing changes.
            let dry = try await cli.run("reconcile")
            #expect(dry.status == 0, "\(dry.stderr)")
            #expect(dry.stderr.contains("reconcile: job") && dry.stderr.contains("(dry run)"), "progress on stderr: \(dry.stderr)")
            #expect(dry.stdout.contains("reconcile run") && dry.stdout.contains("(dry run)"), "\(dry.stdout)")
            #expect(dry.stdout.contains("book_diverged") && dry.stdout.contains(clientOrderID), "\(dry.stdout)")
            #expect(dry.stdout.contains("status failed→filled"), "\(dry.stdout)")
            #expect(dry.stdout.contains("dry run: 1 divergence would be repaired; nothing changed. Add --apply to repair."), "\(dry.stdout)")
            #expect(try await farm.order(orderID)?.status == "failed")

            // --apply --json: one document, the finding repaired.
            let applied = try await cli.json("reconcile", "--apply")
            let run = try #require(applied["run"])
            #expect(run["apply"]?.bool == true && run["counts"]?["repaired"]?.int == 1 && run["counts"]?["findings"]?.int == 1)
            #expect(run["requested_by"]?.string?.hasPrefix("hybridhub-ops reconcile (") == true)
            let finding = try #require(applied["findings"]?[0])
            #expect(finding["kind"]?.string == "book_diverged" && finding["client_order_id"]?.string == clientOrderID)
            #expect(finding["repaired"]?.bool == true && finding["broker_status"]?.string == "filled")
            #expect(try await farm.order(orderID)?.status == "filled")

            // And now the books equal the broker.
            let clean = try await cli.table("reconcile", "--apply")
            #expect(clean.contains("findings:") && clean.contains("the books equal the broker."), "\(clean)")
            #expect(try await farm.int("SELECT count(*)::int FROM order_reconciliation_runs WHERE requested_by LIKE 'hybridhub-ops reconcile (%'") == 3)
        }
    }

    /// No worker takes the job: the command says so within its timeout and exits 1; the job
    /// stays queued. A bad --timeout is refused before anything is enqueued.
    @Test func withoutAWorkerTheCommandTimesOutAndSaysWhatToCheck() async throws {
        try await TestDatabase.withMigrated { db in
            let cli = try OpsCLI(db)
            let result = try await cli.run("reconcile", "--timeout", "1s")
            #expect(result.status == 1)
            #expect(result.stderr.contains("did not finish within") && result.stderr.contains("hybridhub-ops workers"), "\(result.stderr)")
            #expect(result.stderr.contains("waiting for a worker"), "\(result.stderr)")
            let json = try await cli.run("reconcile", "--timeout", "1s", "--json")
            #expect(json.status == 1)
            let error = try JSONValue.parse(json.stdout)
            #expect(error["error"]?["command"]?.string == "reconcile", "\(json.stdout)")
            let bad = try await cli.run("reconcile", "--timeout", "soon")
            #expect(bad.status == 1 && bad.stderr.contains("bad --timeout 'soon'"), "\(bad.stderr)")
            let queued = try await withClient(db, poolSize: 4) { client in
                try await client.int("SELECT count(*)::int FROM jobs WHERE kind = 'reconcile-orders' AND state = 'available'")
            }
            #expect(queued == 2, "the timed-out jobs stay queued; the bad --timeout enqueued nothing")
        }
    }

    static func filledOrder(_ farm: Farm) async throws -> (UUID, String) {
        try await farm.seedUser()
        let question = try #require(try await farm.openDipQuestions(1).first)
        let (orderID, clientOrderID) = try await farm.approve(question)
        #expect(try await farm.settled(orderID).status == "filled")
        try await farm.drain()
        return (orderID, clientOrderID)
    }
}
