import Foundation
import HybridSettings
import HybridStore
import HybridTestSupport
import JobEngine
import PostgresNIO
import ServiceLifecycle
import Testing
import TradingCore
import TradingJobs
import TradingPipeline

/// `hybridhub-ops trace` on an order the real pipeline made: the simulator replaying the
/// 2011-03-16 dip, the real Alpaca clients, an in-process worker running the five kinds, and
/// the answer service's approval.
@Suite struct PipelineTraceTests {
    static let dipInstant = Date(timeIntervalSince1970: 1_300_297_190)
    static let uid = "ops-trace-user"

    @Test func traceOfAnOrderThePipelineMadeAndFilled() async throws {
        try await TestDatabase.withMigrated { db in
            try await withClient(db, poolSize: 4) { client in
                try await RunningSimulator.run(start: Self.dipInstant) { sim in
                    let pipeline = try Farm(db: db, client: client, sim: sim, settings: PipelineSettings(
                        gate: LiveTradingGate(allowLive: false, tradingURLIsLive: false, hardMaxOrderNotionalUSD: 250),
                        questionTTLSeconds: 900, approvalMaxDriftPct: 1, ingestBatchSymbols: 100, evaluateDelaySeconds: 0), logger: logger).pipeline
                    let worker = JobWorker(client: client, registry: pipeline.registry(), configuration: WorkerConfiguration(
                        workerID: "trace-worker", queues: ["market": 2, "evaluate": 2, "delivery": 2, "orders": 2],
                        leaseSeconds: 5, heartbeatSeconds: 1, pollSeconds: 0.2, maintenanceSeconds: 0.5), logger: logger)
                    let group = ServiceGroup(configuration: .init(services: [worker], logger: logger))
                    try await withThrowingTaskGroup(of: Void.self) { tasks in
                        tasks.addTask { try await group.run() }
                        defer { tasks.cancelAll() }
                        let clientOrderID = try await approveTheDip(client, pipeline)
                        await group.triggerGracefulShutdown()
                        try await tasks.waitForAll()
                        try await checkTrace(db, client, clientOrderID)
                    }
                }
            }
        }
    }

    func approveTheDip(_ client: PostgresClient, _ pipeline: TradingPipeline) async throws -> String {
        let override: JSONValue = .object([
            "data_inputs": .array([.object(["id": .string("primary_watchlist"), "symbols": .array([.string("SPY")]),
                                             "poll_interval_seconds": .number(1)])]),
            "rules": .array([.object(["id": .string("dip_confirm"), "max_staleness_seconds": .number(120)])]),
        ])
        try await client.transaction(logger: logger) { db in
            try await UserConfigStore.upsertUser(Self.uid, displayName: "ops trace", on: db, logger: logger)
            try await UserConfigStore.upsertUserConfig(Self.uid, templateName: "default_paper_watchlist", override: override,
                                                    enabled: true, on: db, logger: logger)
        }
        _ = try await client.enqueue(try TradingJobCatalog.ingestSymbolBatch.job(
            IngestSymbolBatch(feed: "iex", symbols: ["SPY"], metrics: ["last_trade", "prev_close"], bucket: 1)))
        try await drain(client)
        _ = try await client.enqueue(try TradingJobCatalog.evaluateUser.job(EvaluateUser(firebaseUID: Self.uid, bucket: 1)))
        try await drain(client)
        let question = try #require(try await client.withConnection {
            try await QuestionStore.openQuestions(of: Self.uid, on: $0, logger: logger)
        }.first)
        #expect(try await eventually(within: 10) {
            try await client.int("SELECT count(*)::int FROM questions WHERE delivered_at IS NOT NULL") == 1
        } != nil)
        let answer = try await pipeline.answers.answer(questionID: question.id, firebaseUID: Self.uid, value: .number(10))
        guard case .ordered(_, let clientOrderID) = answer.outcome else { throw OpsTestError("the approval did not order: \(answer)") }
        #expect(try await eventually(within: 20) {
            try await client.int("SELECT count(*)::int FROM trade_orders WHERE status = 'filled'") == 1
        } != nil)
        try await drain(client)
        return clientOrderID
    }

    func drain(_ client: PostgresClient) async throws {
        let done = try await eventually(within: 20) {
            try await client.int("SELECT count(*)::int FROM jobs WHERE state NOT IN ('completed', 'discarded', 'cancelled')") == 0
        }
        if done == nil { throw OpsTestError("jobs still pending after 20 s") }
    }

    func checkTrace(_ db: DatabaseSettings, _ client: PostgresClient, _ clientOrderID: String) async throws {
        let ops = try OpsCLI(db)
        let document = try await ops.json("trace", clientOrderID)
        #expect(document["order"]?["status"]?.string == "filled")
        #expect(document["order"]?["alpaca_order_id"]?.string != nil && document["order"]?["filled_avg_price"] != .null)
        #expect(document["evaluation"]?["rule_id"]?.string == "dip_confirm" && document["evaluation"]?["symbol"]?.string == "SPY")
        let question = try #require(document["questions"]?[0])
        #expect(question["delivered_at"] != .null && question["answer"]?["decision"]?.string == "approve")
        #expect(question["answer"]?["outcome"]?.string == "ordered")
        // The payloads as the pipeline writes them: each job of the chain is found, nothing else
        // (the simulator fills a market order at once, so submit-order records the fill and no
        // poll-order-status is needed; one may still appear on a slower fill).
        let kinds = document["jobs"]?.array.compactMap { $0["kind"]?.string } ?? []
        #expect(Array(kinds.prefix(3)) == ["evaluate-user", "deliver-question", "submit-order"], "\(kinds)")
        #expect(kinds.dropFirst(3).allSatisfy { $0 == "poll-order-status" }, "\(kinds)")
        #expect(document["jobs"]?.array.allSatisfy { $0["state"]?.string == "completed" } == true)
        let steps = document["timeline"]?.array.compactMap { $0["step"]?.string } ?? []
        for step in ["rule evaluation", "job evaluate-user", "question", "delivered", "job deliver-question", "answer", "trade order",
                     "job submit-order", "submitted", "filled", "status"] {
            #expect(steps.contains(step), "no \(step) in \(steps)")
        }
        let table = try await ops.table("trace", clientOrderID)
        #expect(table.contains("rule dip_confirm fired") && table.contains("value 10 → approve, outcome ordered"), "\(table)")
        #expect(table.contains("(broker clock)") && table.contains("filled"))
    }
}

struct OpsTestError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
