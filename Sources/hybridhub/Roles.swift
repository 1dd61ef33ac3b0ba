import ArgumentParser
import Foundation
import HybridHubApp
import HybridSettings
import HybridStore
import JobEngine
import Logging
import NIOPosix
import PostgresNIO
import ProcessKit
import TradingCore
import TradingPipeline

/// `hybridhub worker`: claims and runs the five job kinds; any number run side by side.
struct WorkerRole: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "worker", abstract: "Run a worker: claims ingest, evaluate, deliver, submit and poll jobs (SIGTERM drains).")

    @Option(help: "Worker id (default host:pid:random).") var id: String = WorkerConfiguration.defaultWorkerID()
    @Option(help: "Jobs run at once per queue (market, delivery, orders).") var concurrency = 8
    @Option(help: "evaluate-user jobs held at once (default 4 × --concurrency): they are evaluated together in batches.")
    var evaluateConcurrency: Int?
    @Option(help: "Jobs claimed per statement.") var batch = 10
    @Option(help: "Lease seconds; a dead worker's jobs are rescued about this long after it died.") var lease = 5.0
    @Option(help: "Heartbeat seconds (lease renewal).") var heartbeat = 1.0
    @Option(help: "Polling floor in seconds (NOTIFY wakes workers sooner).") var poll = 1.0
    @Option(help: "Seconds to finish jobs in hand on SIGTERM before releasing the rest.") var grace = 20.0
    @Option(help: "Where the worker's tasks run: 'global' (Swift's global executor) or 'event-loop' (one NIO thread for the database connections, the worker and its handlers: no thread hop per job, one core per process).")
    var executor: WorkerExecutor = .global

    func validate() throws {
        guard lease > heartbeat * 2 else { throw ValidationError("--lease must be more than twice --heartbeat") }
        guard (1...10_000).contains(concurrency), batch >= 1, (1...10_000).contains(evaluateConcurrency ?? 1) else {
            throw ValidationError("--concurrency and --evaluate-concurrency must be between 1 and 10000, --batch at least 1")
        }
    }

    func run() async throws {
        let runtime = try Runtime.load()
        try await MigrationCommand.verify(settings: runtime.settings, logger: runtime.logger)
        var logger = runtime.logger
        logger[metadataKey: "worker.id"] = .string(id)
        let group = executor == .eventLoop ? MultiThreadedEventLoopGroup(numberOfThreads: 1) : nil
        let client = PostgresClient(configuration: PostgresClientFactory.configuration(runtime.settings.database),
                                    eventLoopGroup: group ?? PostgresClient.defaultEventLoopGroup, backgroundLogger: logger)
        let pipeline = TradingComposition.pipeline(settings: runtime.settings, client: client, logger: logger)
        let configuration = WorkerConfiguration(
            workerID: id, queues: TradingComposition.workerQueues(concurrency: concurrency, evaluateConcurrency: evaluateConcurrency),
            leaseSeconds: lease, heartbeatSeconds: heartbeat, pollSeconds: poll, claimBatch: batch, shutdownGraceSeconds: grace)
        do {
            try await TradingComposition.verifyTradingAccount(settings: runtime.settings, logger: logger)
        } catch let error as StartupCheckError {
            throw CommandFailure("worker: \(error)")
        }
        let worker = JobWorker(client: client, registry: pipeline.registry(), configuration: configuration, logger: logger,
                               taskExecutor: group.map { EventLoopTaskExecutor($0.next()) })
        logger.notice("worker starting", metadata: [
            "alpaca.trading": "\(TradingComposition.endpoints(runtime.settings).trading)",
            "alpaca.data": "\(TradingComposition.endpoints(runtime.settings).data)",
            "test_mode": "\(runtime.settings.worker.testMode)",
        ])
        try await ProcessServices.run(client: client, services: [worker, TradingComposition.metricsEndpoint(runtime.settings, logger: logger)],
                                         logger: logger)
        try await group?.shutdownGracefully()
    }
}

enum WorkerExecutor: String, ExpressibleByArgument {
    case global
    case eventLoop = "event-loop"
}

/// The options of a singleton role (scheduler, streams): any number run, one leads by a lease
/// row on database time.
struct LeadershipOptions: ParsableArguments {
    @Option(help: "Process id (default host:pid:random).") var id: String = WorkerConfiguration.defaultWorkerID()
    @Option(help: "Leadership lease seconds; a standby takes over about this long after the leader died.") var lease = 5.0
    @Option(help: "Leadership renewal seconds.") var renew = 1.0

    func validate() throws {
        guard lease > renew * 2 else { throw ValidationError("--lease must be more than twice --renew") }
    }

    /// A small pool: singletons run a handful of statements a second.
    func client(_ settings: Settings, poolSize: Int, logger: Logger) -> PostgresClient {
        var database = settings.database
        database.poolSize = min(database.poolSize, poolSize)
        return PostgresClientFactory.make(database, logger: logger)
    }
}

/// `hybridhub scheduler`: one of any number leads and enqueues the trading tick.
struct SchedulerRole: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "scheduler",
        abstract: "Run a scheduler: one leads (lease on database time) and enqueues each tick's jobs; the others stand by.")

    @OptionGroup var leadership: LeadershipOptions

    func run() async throws {
        let runtime = try Runtime.load()
        try await MigrationCommand.verify(settings: runtime.settings, logger: runtime.logger)
        let client = leadership.client(runtime.settings, poolSize: 3, logger: runtime.logger)
        let pipeline = TradingComposition.pipeline(settings: runtime.settings, client: client, logger: runtime.logger)
        let scheduler = TradingComposition.scheduler(settings: runtime.settings, pipeline: pipeline, client: client, holderID: leadership.id,
                                                     leaseSeconds: leadership.lease, renewSeconds: leadership.renew, logger: runtime.logger)
        try await ProcessServices.run(client: client, services: [scheduler, TradingComposition.metricsEndpoint(runtime.settings, logger: runtime.logger)],
                                         logger: runtime.logger)
    }
}

/// `hybridhub streams`: the farm's Alpaca streams (market data → snapshots and evaluations;
/// trade updates → orders). Run two or more: one leads and holds the connections, the others
/// stand by.
struct StreamsRole: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "streams",
        abstract: "Hold the farm's one market-data stream and the trade-update stream (one process leads; the others stand by).")

    @OptionGroup var leadership: LeadershipOptions

    func run() async throws {
        let runtime = try Runtime.load()
        try await MigrationCommand.verify(settings: runtime.settings, logger: runtime.logger)
        var logger = runtime.logger
        logger[metadataKey: "streams.id"] = .string(leadership.id)
        let client = leadership.client(runtime.settings, poolSize: 4, logger: logger)
        let pipeline = TradingComposition.pipeline(settings: runtime.settings, client: client, logger: logger)
        let streams = TradingComposition.streams(settings: runtime.settings, pipeline: pipeline, holderID: leadership.id,
                                                 leaseSeconds: leadership.lease, renewSeconds: leadership.renew, logger: logger)
        let options = TradingComposition.streamOptions(runtime.settings)
        logger.notice("streams starting", metadata: [
            "stream.market_data": "\(options.marketDataURL)", "stream.trade_updates": "\(options.tradeUpdatesURL)",
        ])
        try await ProcessServices.run(client: client, services: [streams, TradingComposition.metricsEndpoint(runtime.settings, logger: logger)],
                                         logger: logger)
    }
}

/// `hybridhub answer`: the answer service from the command line (the app's POST, until the
/// hub exists; also the demo's scripted client).
struct AnswerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "answer", abstract: "Answer a question as its user: +10 approves, -10 skips, in between asks again.")

    @Option(help: "The question id.") var question: String
    @Option(help: "The user's firebase uid.") var user: String
    @Option(help: "The swipe value, -10 to 10.") var value: String

    func run() async throws {
        let runtime = try Runtime.load()
        guard let questionID = UUID(uuidString: question) else { throw ValidationError("--question must be a UUID") }
        let parsed: JSONValue = Decimal(string: value, locale: Locale(identifier: "en_US_POSIX")).map { .number($0) } ?? .string(value)
        let user = self.user
        let result = try await PostgresClientFactory.withClient(runtime.settings.database, logger: runtime.logger) { client in
            let answers = TradingComposition.answers(settings: runtime.settings, client: client, logger: runtime.logger)
            do {
                return try await answers.answer(questionID: questionID, firebaseUID: user, value: parsed)
            } catch let error as AnswerError {
                throw CommandFailure("answer: \(error)")
            }
        }
        var line = "answer: \(result.outcome.name): \(result.detail)"
        if case .ordered(let order, let clientOrderID) = result.outcome { line += " (trade order \(order.uuidString.lowercased()), client_order_id \(clientOrderID))" }
        if result.repeated { line += " [answered before]" }
        print(line)
    }
}
