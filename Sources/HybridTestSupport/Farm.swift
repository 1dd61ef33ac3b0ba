import AlpacaClient
import AlpacaModels
import AsyncHTTPClient
import AlpacaSimulator
import Foundation
import HybridHubApp
import HybridSettings
import HybridStore
import JobEngine
import Logging
import NIOCore
import PostgresNIO
import TradingCore
import TradingJobs
import TradingPipeline

private let logger = TestDatabase.logger

/// A migrated database, the simulator on a real socket, the pipeline as every process builds
/// it (`TradingComposition`: the real Alpaca clients pointed at the simulator, behind the
/// farm's rate budget), and (optionally) an in-process worker running every kind.
public struct Farm: Sendable {
    public let db: DatabaseSettings
    public let client: PostgresClient
    public let sim: RunningSimulator
    public let pipeline: TradingPipeline
    /// The trading clock the pipeline reads (the simulator's replayed instant).
    public let clock: any MarketClock
    /// The simulator's APIs without the budget, for the tests' own look at the broker.
    public let trading: any TradingAPI
    public let marketData: any MarketDataAPI
    public var keyID = RunningSimulator.keyID
    public var secret = RunningSimulator.secret

    /// 2011-03-16 13:39:50 ET: SPY's 13:39 minute trades at 126.56, -1.56 % vs the previous
    /// close of 128.56, so the plan's §17 dip rule (-1.5 %) fires.
    public static let dipInstant = Date(timeIntervalSince1970: 1_300_297_190)
    public static let uid = "plan17-user-u"
    /// The §17 override: watch only SPY; accept a price up to 2 minutes old.
    public static let override: JSONValue = .object([
        "data_inputs": .array([.object(["id": .string("primary_watchlist"), "symbols": .array([.string("SPY")]),
                                         "poll_interval_seconds": .number(1)])]),
        "rules": .array([.object(["id": .string("dip_confirm"), "max_staleness_seconds": .number(120)])]),
    ])

    public static func run<T: Sendable>(start: Date = dipInstant, worker: Bool = true, settings: PipelineSettings? = nil,
                                 keys: (id: String, secret: String) = (RunningSimulator.keyID, RunningSimulator.secret),
                                 logger: Logger = TestDatabase.logger,
                                 _ body: @Sendable (Farm) async throws -> T) async throws -> T {
        try await TestDatabase.withMigrated { db in
            var database = db
            database.poolSize = 12
            return try await PostgresClientFactory.withClient(database, logger: logger) { client in
                try await RunningSimulator.run(start: start, keys: [.init(keyID: keys.id, secret: keys.secret)]) { sim in
                    let farm = try Farm(db: db, client: client, sim: sim, keys: keys, settings: settings ?? Self.settings, logger: logger)
                    guard worker else { return try await body(farm) }
                    let configuration = WorkerConfiguration(
                        workerID: "test-worker", queues: ["market": 4, "evaluate": 4, "delivery": 4, "orders": 4],
                        leaseSeconds: 5, heartbeatSeconds: 1, pollSeconds: 0.2, maintenanceSeconds: 0.5)
                    let jobWorker = JobWorker(client: client, registry: farm.pipeline.registry(), configuration: configuration, logger: logger)
                    return try await withRunningServices([jobWorker], logger: logger) { try await body(farm) }
                }
            }
        }
    }

    /// The farm over `client` and `sim`, wired by the composition root; `overrides` pass
    /// doubles (a counting trading client, say) in place of the simulator's clients.
    public init(db: DatabaseSettings, client: PostgresClient, sim: RunningSimulator,
                keys: (id: String, secret: String) = (RunningSimulator.keyID, RunningSimulator.secret),
                settings: PipelineSettings = Farm.settings, overrides: Overrides = Overrides(),
                logger: Logger = TestDatabase.logger) throws {
        let processSettings = try Self.processSettings(db: db, sim: sim, keys: keys)
        let clock = overrides.clock ?? SimulatorMarketClock(simulatorURL: sim.url, refreshSeconds: 0)
        var overrides = overrides
        overrides.clock = clock
        overrides.pipelineSettings = overrides.pipelineSettings ?? settings
        overrides.failpoints = overrides.failpoints ?? Failpoints()
        self.db = db
        self.client = client
        self.sim = sim
        self.clock = clock
        self.trading = TradingComposition.tradingClient(processSettings, logger: logger)
        self.marketData = TradingComposition.marketDataClient(processSettings, logger: logger)
        self.pipeline = TradingComposition.pipeline(settings: processSettings, client: client, logger: logger, overrides: overrides)
        self.keyID = keys.id
        self.secret = keys.secret
    }

    /// The settings a `hybridhub` process of this farm reads (test mode, this simulator, its
    /// keys), from the environment variables, as a process reads them. The rate budget is
    /// wide: tests count their calls themselves.
    public static func processSettings(db: DatabaseSettings, sim: RunningSimulator,
                                       keys: (id: String, secret: String) = (RunningSimulator.keyID, RunningSimulator.secret))
        throws -> Settings {
        var settings = try Settings.load(environment: [
            "DATABASE_URL": ChildProcess.databaseURL(db), "ALPACA_RATE_LIMIT_PER_MINUTE": "1000000", "ALPACA_RATE_BURST": "100000",
        ].merging(farmVariables(sim: sim, keys: keys)) { $1 })
        settings.database = db
        return settings
    }

    /// The pipeline of this farm again, with other knobs or doubles (the composition root's wiring).
    public func pipeline(settings: PipelineSettings = Farm.settings, overrides: Overrides = Overrides(),
                         logger: Logger = TestDatabase.logger) throws -> TradingPipeline {
        try Farm(db: db, client: client, sim: sim, keys: (keyID, secret), settings: settings, overrides: overrides, logger: logger).pipeline
    }

    public static let settings = PipelineSettings(
        gate: LiveTradingGate(allowLive: false, tradingURLIsLive: false, hardMaxOrderNotionalUSD: 250),
        questionTTLSeconds: 900, approvalMaxDriftPct: 1, ingestBatchSymbols: 100, evaluateDelaySeconds: 0,
        preflightCacheSeconds: 0)

    public func seedUser(_ uid: String = Farm.uid, override: JSONValue = Farm.override) async throws {
        try await client.transaction(logger: logger) { db in
            try await UserConfigStore.upsertUser(uid, displayName: "test user", on: db, logger: logger)
            try await UserConfigStore.upsertUserConfig(uid, templateName: "default_paper_watchlist", override: override,
                                                    enabled: true, on: db, logger: logger)
        }
    }

    /// Replaces the user's override as the API's PUT does (validated against the template,
    /// stored under the user's lock, stale questions withdrawn); returns the withdrawn ids.
    @discardableResult
    public func reconfigure(_ uid: String = Farm.uid, override: JSONValue) async throws -> [UUID] {
        try await client.transaction(logger: logger) { db in
            let stored = try await UserConfigStore.userConfig(uid, on: db, logger: logger)
            let templateName = stored?.templateName ?? "default_paper_watchlist"
            let template = try await UserConfigStore.templates(on: db, logger: logger).first { $0.name == templateName }?.config
            let merged = template.map { ConfigMerge.merge(template: $0, override: override) } ?? override
            switch TradingConfigDecoder.decode(merged) {
            case .failure(let error): throw FarmError("the new config is invalid: \(error)")
            case .success(let config):
                return try await UserConfigChange.saveUserConfig(uid, templateName: templateName, override: override, config: config,
                                                         on: db, logger: logger)
            }
        }
    }

    /// Approves `questionID` as the §17 user (+10) and returns the order it made; throws, with
    /// the answer, when the approval made none.
    public func approve(_ questionID: UUID, uid: String = Farm.uid) async throws -> (id: UUID, clientOrderID: String) {
        let answer = try await pipeline.answers.answer(questionID: questionID, firebaseUID: uid, value: .number(10))
        guard case .ordered(let id, let clientOrderID) = answer.outcome else { throw FarmError("expected an order, got \(answer)") }
        return (id, clientOrderID)
    }

    /// Halts (or resumes) the farm as `hybridhub-ops trading halt` does.
    public func halt(_ halted: Bool = true, reason: String = "test") async throws {
        _ = try await client.transaction(logger: logger) { db in
            try await HaltStore.set(halted: halted, reason: reason, by: "tests", on: db, logger: logger)
        }
    }

    /// Pauses the orders queue: approvals leave their submit-order jobs waiting.
    public func pauseOrders() async throws {
        _ = try await client.withConnection { db in
            try await db.query("INSERT INTO job_queues (name, paused_at) VALUES ('orders', now()) ON CONFLICT (name) DO UPDATE SET paused_at = now()",
                               logger: logger)
        }
    }

    /// Resumes the orders queue and wakes the workers.
    public func resumeOrders() async throws {
        _ = try await client.withConnection { db in
            try await db.query("UPDATE job_queues SET paused_at = NULL WHERE name = 'orders'", logger: logger)
            try await db.query("SELECT pg_notify('hybridhub_jobs', 'orders')", logger: logger)
        }
    }

    public func enqueue<P: TradingJobPayload>(_ spec: JobSpec, _ payload: P) async throws {
        _ = try await client.withConnection { try await JobStore.enqueue(try spec.job(payload), on: $0, logger: logger) }
    }

    /// Waits until no job is left non-terminal (or fails after `seconds`).
    public func drain(seconds: Double = 20) async throws {
        let deadline = ContinuousClock.now + .seconds(seconds)
        while ContinuousClock.now < deadline {
            if try await int("SELECT count(*)::int FROM jobs WHERE state NOT IN \(JobState.sqlList(JobState.terminal))") == 0 { return }
            try await Task.sleep(for: .milliseconds(50))
        }
        let left = try await rows("SELECT kind || ':' || state || ':' || errors::text FROM jobs WHERE state NOT IN \(JobState.sqlList(JobState.terminal))")
        throw FarmError("jobs still pending after \(seconds) s: \(left)")
    }

    public func int(_ sql: String) async throws -> Int {
        try await client.withConnection { db in
            for try await n in try await db.query(PostgresQuery(unsafeSQL: sql), logger: logger).decode(Int.self) { return n }
            return 0
        }
    }

    public func rows(_ sql: String) async throws -> [String] {
        try await client.withConnection { db in
            var result: [String] = []
            for try await text in try await db.query(PostgresQuery(unsafeSQL: sql), logger: logger).decode(String?.self) { result.append(text ?? "NULL") }
            return result
        }
    }

    public func openQuestions(_ uid: String = Farm.uid) async throws -> [StoredQuestion] {
        try await client.withConnection { try await QuestionStore.openQuestions(of: uid, on: $0, logger: logger) }
    }

    public func order(_ id: UUID) async throws -> StoredOrder? {
        try await client.withConnection { try await OrderStore.order(id, on: $0, logger: logger) }
    }

    /// Waits until the order is terminal.
    public func settled(_ id: UUID, seconds: Double = 20) async throws -> StoredOrder {
        let deadline = ContinuousClock.now + .seconds(seconds)
        while ContinuousClock.now < deadline {
            if let order = try await order(id), order.isTerminal { return order }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw FarmError("order \(id) not terminal after \(seconds) s: \(String(describing: try await order(id)))")
    }

    public func fault(_ json: String) async throws {
        try await post("/_sim/faults", json)
    }

    public func setClock(_ instant: Date) async throws {
        try await post("/_sim/clock", #"{"now": "\#(AlpacaTime.utc(instant))"}"#)
    }

    public func post(_ path: String, _ json: String) async throws {
        var request = HTTPClientRequest(url: sim.url.absoluteString + path)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.body = .bytes(ByteBuffer(string: json))
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(5))
        guard response.status.code < 300 else { throw FarmError("\(path) answered \(response.status.code)") }
    }
}

public struct FarmError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

extension Farm {
    /// `n` open dip questions for the §17 user (as evaluate-user words them), with a fresh
    /// SPY price at the simulator's instant so approvals see no drift.
    public func openDipQuestions(_ n: Int) async throws -> [UUID] {
        let now = try await seedDipPrices()
        return try await client.transaction(logger: logger) { db in
            let intent = try await Self.dipIntent(now: now, on: db)
            var ids: [UUID] = []
            for _ in 0..<n {
                ids.append(try await QuestionStore.insertQuestion(NewQuestion(
                    firebaseUID: Farm.uid, text: "SPY is down 1.56% vs yesterday. \(intent.summary)", sourceTag: "trading:rule:dip_confirm",
                    pipelineKey: "trading", pipelineStep: "dip_confirm:await_confirm", correctAnswer: 10,
                    metadata: .object(["rule_id": .string("dip_confirm"), "symbol": .string("SPY"),
                                       "price": .number(Decimal(string: "126.56") ?? 0), "reference": .number(Decimal(string: "128.56") ?? 0),
                                       "order": intent.jsonValue]),
                    expiresInSeconds: 900), on: db, logger: logger))
            }
            return ids
        }
    }

    /// SPY's dip prices (126.56 against a previous close of 128.56) stored at the simulator's
    /// instant, which is returned.
    @discardableResult
    public func seedDipPrices() async throws -> Date {
        let now = try await clock.now()
        _ = try await client.withConnection { db in
            try await SnapshotStore.insertSnapshots([
                SnapshotInsert(symbol: "SPY", metric: .lastTrade, price: Decimal(string: "126.56"), volume: 100, asOf: now.addingTimeInterval(-5)),
                SnapshotInsert(symbol: "SPY", metric: .prevClose, price: Decimal(string: "128.56"), volume: 100, asOf: now.addingTimeInterval(-80_000)),
            ], on: db, logger: logger)
        }
        return now
    }

    /// The order the §17 user's dip rule proposes as the user's config reads now, frozen as
    /// evaluate-user freezes it (SPY at 126.56 against 128.56).
    static func dipIntent(now: Date, on db: PostgresConnection) async throws -> OrderIntent {
        guard let config = try await UserConfigStore.userConfig(Farm.uid, on: db, logger: logger),
              case .success(let effective) = config.effective, let rule = effective.config.rule(id: "dip_confirm") else {
            throw FarmError("the §17 user has no valid config with rule dip_confirm; seedUser() first")
        }
        return OrderIntent(symbol: rule.symbol, side: rule.onAnswerMatch.side, notionalUSD: rule.onAnswerMatch.notionalUSD,
                           qty: rule.onAnswerMatch.qty, price: Decimal(string: "126.56"), reference: Decimal(string: "128.56"),
                           priceMetric: rule.priceMetric, refMetric: rule.refMetric, feed: "iex", priceAsOf: now.addingTimeInterval(-5),
                           dataAgeSeconds: 5, ruleID: rule.id, ruleDigest: rule.digest, judgedAt: now)
    }

    /// What a `hybridhub` process needs to join this farm: the database, test mode pointed
    /// at this simulator, its keys, the trading switches.
    public func processEnvironment(_ extra: [String: String] = [:]) -> [String: String] {
        ChildProcess.environment(for: db, extra: Self.farmVariables(sim: sim, keys: (keyID, secret))
            .merging(["LOG_LEVEL": "notice"]) { $1 }.merging(extra) { $1 })
    }

    /// What points a process (or the in-process pipeline) at this farm: trading on, test mode
    /// against this simulator with its keys, a 2 s Alpaca timeout.
    static func farmVariables(sim: RunningSimulator, keys: (id: String, secret: String)) -> [String: String] {
        [
            "TRADING_ENABLED": "true", "QUESTION_PIPELINE_TEST_MODE": "true", "ALPACA_SIMULATOR_URL": sim.url.absoluteString,
            "ALPACA_API_KEY_ID": keys.id, "ALPACA_API_SECRET_KEY": keys.secret, "ALPACA_HTTP_TIMEOUT_SECONDS": "2",
        ]
    }
}
