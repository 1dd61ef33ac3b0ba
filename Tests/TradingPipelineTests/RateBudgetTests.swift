import Foundation
import HybridStore
import HybridTestSupport
import JobEngine
import PostgresNIO
import Testing
import TradingJobs
import TradingPipeline

/// One Alpaca rate budget for the whole farm, in Postgres on database time.
@Suite(.serialized) struct RateBudgetTests {
    @Test func theBucketGrantsItsBurstThenRefillsAndA429ClosesIt() async throws {
        try await Farm.run(worker: false) { farm in
            let shape = RateBudgetShape(perMinute: 10, burst: 3)
            try await farm.client.withConnection { db in
                try await RateBudgetStore.ensure("test", shape: shape, on: db, logger: logger)
                for _ in 0..<3 { #expect(try await RateBudgetStore.take("test", on: db, logger: logger) == nil) }
                let wait = try #require(try await RateBudgetStore.take("test", on: db, logger: logger))
                #expect(wait > 7 && wait <= 60.0 / 7 + 0.5, "one token every 60/7 s: \(wait)")
                try await RateBudgetStore.block("test", seconds: 30, on: db, logger: logger)
                let blocked = try #require(try await RateBudgetStore.take("test", on: db, logger: logger))
                #expect(blocked > 29, "closed for the Retry-After: \(blocked)")
            }
        }
    }

    /// Six worker processes with 30 market-data calls a minute between them (burst 3):
    /// sixty ingest jobs at once reach the simulator at the budget's pace, and the jobs that
    /// find no token snooze without using an attempt or recording an error.
    @Test func sixWorkersTogetherStayWithinTheBudget() async throws {
        try await Farm.run(worker: false) { farm in
            let binary = try ChildProcess.executable("hybridhub")
            let environment = farm.processEnvironment(["ALPACA_RATE_LIMIT_PER_MINUTE": "30", "ALPACA_RATE_BURST": "3"])
            let workers = try (1...6).map { try RunningProcess.start(binary, ["worker", "--id", "budget-\($0)"], environment: environment) }
            defer { workers.forEach { $0.stop() } }
            let keyID = farm.keyID
            // Each worker's start-up account check is one (unbudgeted) trading call.
            _ = try await eventually(within: 30) { farm.sim.simulator.stats.summary()[keyID]?.total == 6 }
            let baseline = farm.sim.simulator.stats.summary()[keyID]?.total ?? 0
            try await farm.client.withConnection { db in
                let jobs = try (0..<60).map { try TradingJobCatalog.ingestSymbolBatch.job(
                    IngestSymbolBatch(feed: "iex", symbols: ["SPY"], metrics: ["last_trade"], bucket: Int64($0))) }
                _ = try await JobStore.enqueue(jobs, on: db, logger: logger)
            }
            let started = ContinuousClock.now
            try await Task.sleep(for: .seconds(10))
            let elapsed = Double((ContinuousClock.now - started).components.seconds) + 1
            let calls = (farm.sim.simulator.stats.summary()[keyID]?.total ?? 0) - baseline
            let allowed = 3 + 27.0 / 60 * elapsed
            #expect(calls >= 3 && Double(calls) <= allowed + 1, "\(calls) calls in ~\(elapsed) s; the budget allows \(allowed)")
            #expect(try await farm.int("SELECT count(*)::int FROM jobs WHERE errors <> '[]'::jsonb OR state = 'discarded'") == 0)
            #expect(try await farm.int("SELECT count(*)::int FROM jobs WHERE state = 'completed'") == calls)
            #expect(try await farm.int("SELECT max(attempt)::int FROM jobs WHERE state <> 'completed'") <= 1, "snoozes use no attempt")
        }
    }
}
