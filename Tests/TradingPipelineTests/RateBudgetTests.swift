import AlpacaClient
import AlpacaModels
import Foundation
import HybridStore
import HybridTestSupport
import JobEngine
import PostgresNIO
import Synchronization
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

    @Test func theSubmissionReserveIsAFifthOfTheBurstAndAtLeastOneToken() {
        #expect(RateBudgetShape(perMinute: 200, burst: 20).submissionReserve == 4)
        #expect(RateBudgetShape(perMinute: 11, burst: 10).submissionReserve == 2)
        #expect(RateBudgetShape(perMinute: 30, burst: 3).submissionReserve == 1)
        #expect(RateBudgetShape(perMinute: 10, burst: 2).submissionReserve == 1)
        // A burst of one leaves no room for a reserve: routine calls must still get a token.
        #expect(RateBudgetShape(perMinute: 10, burst: 1).submissionReserve == 0)
        #expect(RateBudgetShape(perMinute: 10, burst: 1.5).submissionReserve == 0.5)
    }

    /// Drained down to the reserve, the bucket refuses a take that must leave the reserve and
    /// grants one that may take the last token.
    @Test func aTakeThatMustLeaveTheReserveIsRefusedWhereASubmissionIsGranted() async throws {
        try await Farm.run(worker: false) { farm in
            // A token a minute refills: nothing refills noticeably while the test runs.
            let shape = RateBudgetShape(perMinute: 11, burst: 10)
            let reserve = shape.submissionReserve
            try await farm.client.withConnection { db in
                try await RateBudgetStore.ensure("prio", shape: shape, on: db, logger: logger)
                for _ in 0..<8 { #expect(try await RateBudgetStore.take("prio", leaving: reserve, on: db, logger: logger) == nil) }
                let wait = try #require(try await RateBudgetStore.take("prio", leaving: reserve, on: db, logger: logger),
                                        "a routine take dipped into the reserve")
                #expect(wait > 50, "a whole token must refill above the reserve first: \(wait)")
                #expect(try await RateBudgetStore.take("prio", on: db, logger: logger) == nil, "a submission takes the reserve")
                #expect(try await RateBudgetStore.take("prio", on: db, logger: logger) == nil)
                #expect(try await RateBudgetStore.take("prio", on: db, logger: logger) != nil, "the bucket is empty now")
            }
        }
    }

    /// Through the trading wrapper: polls and pre-flight reads (routine, the default) stop at
    /// the reserve; submit-order's lookup (`prioritized(.submission)`) and POST still get through.
    @Test func pollsNeverStarveASubmission() async throws {
        try await Farm.run(worker: false) { farm in
            let budget = RateBudget(client: farm.client, shape: RateBudgetShape(perMinute: 11, burst: 10), logger: logger)
            let inner = FakeTrading()
            let trading: any TradingAPI = BudgetedTrading(inner, budget: budget, keyID: "prio-\(UUID())")
            // Eight routine calls of every kind drain the bucket (10) down to the reserve (2).
            _ = try await trading.account()
            _ = try await trading.clock()
            _ = try await trading.asset(symbol: "SPY")
            _ = try await trading.activeAssets()
            _ = try await trading.position(symbol: "SPY")
            for _ in 0..<3 { _ = try await trading.order(clientOrderID: "hh1-poll") }
            await #expect(throws: RateBudgetExhausted.self) { try await trading.order(clientOrderID: "hh1-poll") }
            await #expect(throws: RateBudgetExhausted.self) { try await trading.account() }
            await #expect(throws: RateBudgetExhausted.self) { try await trading.prioritized(.routine).clock() }

            // submit-order: the lookup at submission priority, then the POST.
            let submitting = trading.prioritized(.submission)
            #expect(try await submitting.order(clientOrderID: "hh1-submit") == nil)
            let placed = try await trading.submit(OrderSubmission(symbol: "SPY", side: "buy", notional: 10, qty: nil,
                                                                  clientOrderID: "hh1-submit"))
            #expect(placed.clientOrderID == "hh1-submit")
            // Now the bucket is empty for everyone.
            await #expect(throws: RateBudgetExhausted.self) { try await submitting.order(clientOrderID: "hh1-submit") }
            #expect(inner.calls == ["account", "clock", "asset", "assets", "position", "order", "order", "order", "order", "submit"])
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

/// A trading API that answers at once and records the calls that reached it.
final class FakeTrading: TradingAPI, Sendable {
    private let log = Mutex<[String]>([])
    var calls: [String] { log.withLock { $0 } }
    private func record(_ call: String) { log.withLock { $0.append(call) } }

    func account() async throws -> AlpacaAccount { record("account"); return AlpacaAccount(id: "acct", status: "ACTIVE") }
    func clock() async throws -> AlpacaClock {
        record("clock")
        return AlpacaClock(timestamp: "2011-03-16T09:31:00-04:00", isOpen: true, nextOpen: "2011-03-17T09:30:00-04:00",
                           nextClose: "2011-03-16T16:00:00-04:00")
    }
    func order(clientOrderID: String) async throws -> AlpacaOrder? {
        record("order")
        return clientOrderID == "hh1-poll" ? AlpacaOrder(id: UUID().uuidString.lowercased(), clientOrderID: clientOrderID, status: "new") : nil
    }
    func submit(_ order: OrderSubmission) async throws -> AlpacaOrder {
        record("submit")
        return AlpacaOrder(id: UUID().uuidString.lowercased(), clientOrderID: order.clientOrderID, status: "accepted")
    }
    func asset(symbol: String) async throws -> AlpacaAsset? { record("asset"); return nil }
    func activeAssets() async throws -> [AlpacaAsset] { record("assets"); return [] }
    func position(symbol: String) async throws -> AlpacaPosition? { record("position"); return nil }
    func positions() async throws -> [AlpacaPosition] { record("positions"); return [] }
    func orders(after: Date, limit: Int) async throws -> [AlpacaOrder] { record("orders"); return [] }
}
