import Foundation
import HybridStore
import HybridTestSupport
import Testing
import TradingCore
import TradingPipeline

/// `hybridhub-ops trading halt|resume|status` and `orders cancel`, as real processes.
@Suite struct TradingControlCommandTests {
    @Test func haltAndResumeAreHeldInPostgresAndShownWithWhoAndWhy() async throws {
        try await Farm.run(worker: false) { farm in
            let ops = try OpsCLI(farm.db)
            let running = try await ops.json("trading", "status")
            #expect(running["halted"]?.bool == false)
            let halted = try await ops.json("trading", "halt", "--reason", "broker incident", "--by", "alice")
            #expect(halted["halted"]?.bool == true && halted["reason"]?.string == "broker incident" && halted["set_by"]?.string == "alice")
            // Every process reads it from Postgres: the pipeline's stages see it at once.
            let seen = try await farm.client.withConnection { try await HaltStore.current(on: $0, logger: logger) }
            #expect(seen.halted && seen.setBy == "alice")
            let table = try await ops.table("trading", "status")
            #expect(table.contains("HALTED") && table.contains("broker incident"), "\(table)")
            let resumed = try await ops.json("trading", "resume", "--by", "bob")
            #expect(resumed["halted"]?.bool == false)
            let events = resumed["events"]?.array ?? []
            #expect(events.compactMap { $0["set_by"]?.string } == ["bob", "alice"], "newest first")
            let refused = try await ops.run("trading", "halt", "--reason", "  ")
            #expect(refused.status != 0 && refused.stderr.contains("--reason"), "\(refused.stderr)")
        }
    }

    @Test func cancelRecordsTheRequestOnAnUnsentOrderAndRefusesOthers() async throws {
        try await Farm.run(worker: false) { farm in
            try await farm.seedUser()
            let question = try #require(try await farm.openDipQuestions(1).first)
            let (orderID, clientOrderID) = try await farm.approve(question)
            let ops = try OpsCLI(farm.db)
            let cancelled = try await ops.json("orders", "cancel", clientOrderID, "--reason", "customer called")
            #expect(cancelled["outcome"]?.string == "cancel_requested" && cancelled["status"]?.string == "pending_submit")
            let order = try #require(try await farm.order(orderID))
            #expect(order.cancelRequestedAt != nil && order.cancelReason == "customer called")
            #expect(try await farm.int("SELECT count(*)::int FROM jobs WHERE kind = 'submit-order' AND state = 'available'") == 1,
                    "a submit attempt is there to end it")
            let unknown = try await ops.run("orders", "cancel", "hh1-nope")
            #expect(unknown.status == 1 && unknown.stdout.contains("no order"), "\(unknown.stdout)")
            _ = try await farm.client.withConnection {
                try await $0.query("UPDATE trade_orders SET status = 'filled', alpaca_order_id = 'x' WHERE id = \(orderID)", logger: logger)
            }
            let ended = try await ops.run("orders", "cancel", orderID.uuidString)
            #expect(ended.status == 1 && ended.stdout.contains("has ended"), "\(ended.stdout)")
        }
    }
}
