import AlpacaClient
import AlpacaModels
import AsyncHTTPClient
import AlpacaSimulator
import Foundation
import HybridSettings
import HybridStore
import HybridTestSupport
import JobEngine
import Logging
import PostgresNIO
import ServiceLifecycle
import TradingCore
import TradingJobs
import TradingPipeline
import NIOCore

let logger = TestDatabase.logger

/// A migrated database, the simulator on a real socket, the pipeline with the real Alpaca
/// clients pointed at it, and (optionally) an in-process worker running the five kinds.
struct Farm: Sendable {
    let db: DatabaseSettings
    let client: PostgresClient
    let sim: RunningSimulator
    let pipeline: TradingPipeline
    var keyID = RunningSimulator.keyID
    var secret = RunningSimulator.secret

    /// 2011-03-16 13:39:50 ET: SPY's 13:39 minute trades at 126.56, -1.56 % vs the previous
    /// close of 128.56, so the plan's §17 dip rule (-1.5 %) fires.
    static let dipInstant = Date(timeIntervalSince1970: 1_300_297_190)
    static let uid = "plan17-user-u"
    /// The §17 override: watch only SPY; accept a price up to 2 minutes old.
    static let override: JSONValue = .object([
        "data_inputs": .array([.object(["id": .string("primary_watchlist"), "symbols": .array([.string("SPY")]),
                                         "poll_interval_seconds": .number(1)])]),
        "rules": .array([.object(["id": .string("dip_confirm"), "max_staleness_seconds": .number(120)])]),
    ])

    static func run<T: Sendable>(start: Date = dipInstant, worker: Bool = true, settings: PipelineSettings? = nil,
                                 keys: (id: String, secret: String) = (RunningSimulator.keyID, RunningSimulator.secret),
                                 logger: Logger = TestDatabase.logger,
                                 _ body: @Sendable (Farm) async throws -> T) async throws -> T {
        try await TestDatabase.withMigrated { db in
            var database = db
            database.poolSize = 12
            return try await PostgresClientFactory.withClient(database, logger: logger) { client in
                try await RunningSimulator.run(start: start, keys: [.init(keyID: keys.id, secret: keys.secret)]) { sim in
                    let credentials = AlpacaCredentials(keyID: Secret(keys.id), secretKey: Secret(keys.secret))
                    let pipeline = TradingPipeline(
                        client: client,
                        marketData: AlpacaMarketDataClient(baseURL: sim.url, credentials: credentials, timeoutSeconds: 2, logger: logger),
                        trading: AlpacaTradingClient(baseURL: sim.url, credentials: credentials, timeoutSeconds: 2, logger: logger),
                        clock: SimulatorMarketClock(simulatorURL: sim.url, refreshSeconds: 0),
                        settings: settings ?? Self.settings, logger: logger)
                    let farm = Farm(db: db, client: client, sim: sim, pipeline: pipeline, keyID: keys.id, secret: keys.secret)
                    guard worker else { return try await body(farm) }
                    let configuration = WorkerConfiguration(
                        workerID: "test-worker", queues: ["market": 4, "evaluate": 4, "delivery": 4, "orders": 4],
                        leaseSeconds: 5, heartbeatSeconds: 1, pollSeconds: 0.2, maintenanceSeconds: 0.5)
                    let jobWorker = JobWorker(client: client, registry: pipeline.registry(), configuration: configuration, logger: logger)
                    let group = ServiceGroup(configuration: .init(services: [jobWorker], logger: logger))
                    return try await withThrowingTaskGroup(of: Void.self) { tasks in
                        tasks.addTask { try await group.run() }
                        do {
                            let result = try await body(farm)
                            await group.triggerGracefulShutdown()
                            try await tasks.waitForAll()
                            return result
                        } catch {
                            await group.triggerGracefulShutdown()
                            try? await tasks.waitForAll()
                            throw error
                        }
                    }
                }
            }
        }
    }

    static let settings = PipelineSettings(
        gate: LiveTradingGate(allowLive: false, tradingURLIsLive: false, hardMaxOrderNotionalUSD: 250),
        questionTTLSeconds: 900, approvalMaxDriftPct: 1, ingestBatchSymbols: 100, evaluateDelaySeconds: 0)

    func seedUser(_ uid: String = Farm.uid, override: JSONValue = Farm.override) async throws {
        try await client.transaction(logger: logger) { db in
            try await TradingStore.upsertUser(uid, displayName: "test user", on: db, logger: logger)
            try await TradingStore.upsertUserConfig(uid, templateName: "default_paper_watchlist", override: override,
                                                    enabled: true, on: db, logger: logger)
        }
    }

    func enqueue<P: TradingJobPayload>(_ spec: JobSpec, _ payload: P) async throws {
        _ = try await client.withConnection { try await JobStore.enqueue(try spec.job(payload), on: $0, logger: logger) }
    }

    /// Waits until no job is left non-terminal (or fails after `seconds`).
    func drain(seconds: Double = 20) async throws {
        let deadline = ContinuousClock.now + .seconds(seconds)
        while ContinuousClock.now < deadline {
            if try await int("SELECT count(*)::int FROM jobs WHERE state NOT IN ('completed', 'discarded', 'cancelled')") == 0 { return }
            try await Task.sleep(for: .milliseconds(50))
        }
        let left = try await rows("SELECT kind || ':' || state || ':' || errors::text FROM jobs WHERE state NOT IN ('completed', 'discarded', 'cancelled')")
        throw FarmError("jobs still pending after \(seconds) s: \(left)")
    }

    func int(_ sql: String) async throws -> Int {
        try await client.withConnection { db in
            for try await n in try await db.query(PostgresQuery(unsafeSQL: sql), logger: logger).decode(Int.self) { return n }
            return 0
        }
    }

    func rows(_ sql: String) async throws -> [String] {
        try await client.withConnection { db in
            var result: [String] = []
            for try await text in try await db.query(PostgresQuery(unsafeSQL: sql), logger: logger).decode(String?.self) { result.append(text ?? "NULL") }
            return result
        }
    }

    func openQuestions(_ uid: String = Farm.uid) async throws -> [StoredQuestion] {
        try await client.withConnection { try await QuestionStore.openQuestions(of: uid, on: $0, logger: logger) }
    }

    func order(_ id: UUID) async throws -> StoredOrder? {
        try await client.withConnection { try await OrderStore.order(id, on: $0, logger: logger) }
    }

    /// Waits until the order is terminal.
    func settled(_ id: UUID, seconds: Double = 20) async throws -> StoredOrder {
        let deadline = ContinuousClock.now + .seconds(seconds)
        while ContinuousClock.now < deadline {
            if let order = try await order(id), order.isTerminal { return order }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw FarmError("order \(id) not terminal after \(seconds) s: \(String(describing: try await order(id)))")
    }

    func fault(_ json: String) async throws {
        try await post("/_sim/faults", json)
    }

    func setClock(_ instant: Date) async throws {
        try await post("/_sim/clock", #"{"now": "\#(AlpacaTime.utc(instant))"}"#)
    }

    func post(_ path: String, _ json: String) async throws {
        var request = HTTPClientRequest(url: sim.url.absoluteString + path)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.body = .bytes(ByteBuffer(string: json))
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(5))
        guard response.status.code < 300 else { throw FarmError("\(path) answered \(response.status.code)") }
    }
}

struct FarmError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
