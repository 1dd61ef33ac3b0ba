import ArgumentParser
import Foundation
import HybridSettings
import HybridStore
import JobEngine
import Logging
import PostgresNIO
import ProcessKit
import ServiceLifecycle

/// `hybridhub-jobs-lab`: the job engine on its own, with lab job kinds, for the engine's
/// tests (real processes), chaos runs and benchmarks.
@main
struct JobsLabCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "hybridhub-jobs-lab",
        abstract: "Run the job engine with lab job kinds (tests, chaos runs, benchmarks).",
        subcommands: [Setup.self, Worker.self, Scheduler.self, Enqueue.self])
}

struct LabRuntime {
    let settings: Settings
    let logger: Logger

    static func load(label: String) throws -> LabRuntime {
        do {
            let runtime = try ProcessRuntime.load(label: label)
            return LabRuntime(settings: runtime.settings, logger: runtime.logger)
        } catch {
            throw ValidationError(error.description)
        }
    }

    /// Runs `services` after the Postgres client, with SIGTERM/SIGINT as graceful shutdown.
    func run(_ client: PostgresClient, _ services: [any Service]) async throws {
        var configured = [ServiceGroupConfiguration.ServiceConfiguration(service: client)]
        configured += services.map { .init(service: $0, successTerminationBehavior: .gracefullyShutdownGroup) }
        let group = ServiceGroup(configuration: .init(services: configured, gracefulShutdownSignals: [.sigterm, .sigint],
                                                      logger: logger))
        try await group.run()
    }
}

struct Setup: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Create the lab_executions table.")

    func run() async throws {
        let runtime = try LabRuntime.load(label: "jobs-lab")
        try await PostgresClientFactory.withClient(runtime.settings.database, logger: runtime.logger) { client in
            try await client.withConnection { db in
                for sql in LabJobs.setupSQL { try await db.query(PostgresQuery(unsafeSQL: sql), logger: runtime.logger) }
            }
        }
    }
}

struct Worker: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run one worker process.")

    @Option var id: String = WorkerConfiguration.defaultWorkerID()
    @Option var queue = "lab"
    @Option var concurrency = 8
    @Option var batch = 10
    @Option var lease = 5.0
    @Option var heartbeat = 1.0
    @Option var poll = 1.0
    @Option var maintenance = 1.0
    @Option var grace = 20.0
    @Option var timeout = 60.0
    @Option var maxAttempts = 5
    @Option var poolSize = 6
    @Option(help: "Where the worker's tasks run: 'event-loop' (one NIO thread for the client's connections, the worker and its handlers) or 'global' (Swift's global executor, the client on NIO's shared group).")
    var executor: ExecutorChoice = .eventLoop
    @Option(help: "Write each job's enqueue-to-start latency (seconds) to this file at exit.")
    var latencyOut: String?

    func validate() throws {
        guard lease > heartbeat * 2 else { throw ValidationError("--lease must be more than twice --heartbeat") }
        guard concurrency >= 1, batch >= 1, poolSize >= 2 else {
            throw ValidationError("--concurrency and --batch must be at least 1, --pool-size at least 2")
        }
    }

    func run() async throws {
        let runtime = try LabRuntime.load(label: "jobs-lab.worker")
        var database = runtime.settings.database
        database.poolSize = poolSize
        // One event loop for the client's connections and the worker: no thread hop per job.
        let group = executor == .eventLoop ? MultiThreadedEventLoopGroup(numberOfThreads: 1) : nil
        let client = PostgresClient(configuration: PostgresClientFactory.configuration(database),
                                    eventLoopGroup: group ?? PostgresClient.defaultEventLoopGroup,
                                    backgroundLogger: runtime.logger)
        let configuration = WorkerConfiguration(
            workerID: id, queues: [queue: concurrency], leaseSeconds: lease, heartbeatSeconds: heartbeat,
            pollSeconds: poll, maintenanceSeconds: maintenance, claimBatch: batch, shutdownGraceSeconds: grace)
        let latencies = latencyOut.map { _ in LatencyLog() }
        let registry = LabJobs.registry(client: client, queue: queue, timeoutSeconds: timeout, maxAttempts: maxAttempts,
                                        latencies: latencies)
        let worker = JobWorker(client: client, registry: registry, configuration: configuration, logger: runtime.logger,
                               taskExecutor: group.map { EventLoopTaskExecutor($0.next()) })
        try await runtime.run(client, [worker])
        try await group?.shutdownGracefully()
        if let latencies, let latencyOut { try latencies.write(to: latencyOut) }
    }
}

enum ExecutorChoice: String, ExpressibleByArgument, CaseIterable {
    case eventLoop = "event-loop"
    case global
}

struct Scheduler: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run one scheduler process (one of them leads).")

    @Option var id: String = WorkerConfiguration.defaultWorkerID()
    @Option(help: "Seconds per periodic tick bucket.") var interval = 1
    @Option var lease = 3.0
    @Option var renew = 0.5
    @Option var queue = "lab"

    func validate() throws {
        guard lease > renew * 2 else { throw ValidationError("--lease must be more than twice --renew") }
        guard interval >= 1 else { throw ValidationError("--interval must be at least 1 second") }
    }

    func run() async throws {
        let runtime = try LabRuntime.load(label: "jobs-lab.scheduler")
        var database = runtime.settings.database
        database.poolSize = 3
        let client = PostgresClientFactory.make(database, logger: runtime.logger)
        let elector = LeaderElector(name: "lab-scheduler", holderID: id, leaseSeconds: lease, renewSeconds: renew)
        let queue = self.queue
        let tick = PeriodicSchedule(name: "lab.tick", intervalSeconds: interval) { bucket in
            [try NewJob(LabPayload(tag: "tick:\(bucket)", record: true), definition: nil)].map { job in
                var job = job
                job.queue = queue
                return job
            }
        }
        let scheduler = SchedulerService(client: client, elector: elector, schedules: [tick],
                                         tickSeconds: renew, logger: runtime.logger)
        try await runtime.run(client, [scheduler])
    }
}

struct Enqueue: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Enqueue lab jobs in batches.")

    @Option var count = 1000
    @Option var batch = 1000
    @Option var queue = "lab"
    @Flag var record = false
    @Option var sleepMs = 0
    @Option(help: "Enqueue one job per call at this many per second instead of in batches.")
    var rate: Double?

    func run() async throws {
        let runtime = try LabRuntime.load(label: "jobs-lab.enqueue")
        let payload = LabPayload(sleepMs: sleepMs > 0 ? sleepMs : nil, record: record ? true : nil)
        var job = try NewJob(payload)
        job.queue = queue
        let template = job
        let (count, batch) = (self.count, self.batch)
        let rate = self.rate
        let started = ContinuousClock.now
        try await PostgresClientFactory.withClient(runtime.settings.database, logger: runtime.logger) { client in
            var done = 0
            if let rate {
                // Paced single enqueues (latency benchmarks): job n goes in at start + n / rate.
                let start = ContinuousClock.now
                while done < count {
                    let due = start + .seconds(Double(done) / rate)
                    if due > ContinuousClock.now { try await Task.sleep(until: due, clock: .continuous) }
                    _ = try await client.withConnection { try await JobStore.enqueue(template, on: $0, logger: runtime.logger) }
                    done += 1
                }
                return
            }
            while done < count {
                let n = min(batch, count - done)
                if n == 1 {
                    _ = try await client.withConnection { try await JobStore.enqueue(template, on: $0, logger: runtime.logger) }
                } else {
                    _ = try await client.withConnection { try await JobStore.enqueue(Array(repeating: template, count: n), on: $0, logger: runtime.logger) }
                }
                done += n
            }
        }
        let elapsed = (ContinuousClock.now - started) / .seconds(1)
        print("enqueued \(count) in \(String(format: "%.3f", elapsed)) s (\(String(format: "%.0f", Double(count) / elapsed)) jobs/s)")
    }
}
