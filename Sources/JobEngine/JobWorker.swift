import Foundation
import Logging
import PostgresNIO
import ServiceLifecycle
import Synchronization

/// One worker process's engine: claims jobs of its queues with `FOR UPDATE SKIP LOCKED`, runs
/// them under renewed leases, records each outcome fenced by the lease epoch, wakes on NOTIFY
/// with a polling floor, promotes due jobs and rescues expired leases, and on graceful
/// shutdown stops claiming, finishes what it holds within the grace period and releases the rest.
public final class JobWorker: Service, Sendable {
    let client: PostgresClient
    let registry: JobRegistry
    let config: WorkerConfiguration
    let logger: Logger

    private struct Held {
        var lease: JobStore.Lease
        var kind: String
        var queue: String
        var task: Task<Void, Never>?
        /// Handed to the completer; waiting for its batch to commit.
        var completing = false
        /// Someone else holds the job now: the handler is cancelled and its outcome dropped.
        var lost = false
        /// Given back at shutdown: the handler is cancelled and its outcome dropped.
        var released = false
    }

    private let held = Mutex<[Int64: Held]>([:])
    private let busy = Mutex<[String: Int]>([:])
    private let pendingCompletions = Mutex<[JobStore.Lease]>([])
    private let stopping = Atomic<Bool>(false)
    private let wakes: [String: WakeSignal]
    private let completionWake = WakeSignal()
    private let drainWake = WakeSignal()

    public init(client: PostgresClient, registry: JobRegistry, configuration: WorkerConfiguration, logger: Logger) {
        self.client = client
        self.registry = registry
        self.config = configuration
        var logger = logger
        logger[metadataKey: "worker.id"] = .string(configuration.workerID)
        self.logger = logger
        self.wakes = Dictionary(uniqueKeysWithValues: configuration.queues.keys.map { ($0, WakeSignal()) })
    }

    /// Jobs this process holds right now (for tests and the ops view).
    public var heldJobIDs: Set<Int64> { held.withLock { Set($0.keys) } }

    public func run() async throws {
        try await register()
        logger.info("worker started", metadata: ["worker.queues": "\(config.queues)"])
        await withGracefulShutdownHandler {
            await withDiscardingTaskGroup { support in
                support.addTask { await self.listenLoop() }
                support.addTask { await self.heartbeatLoop() }
                support.addTask { await self.maintenanceLoop() }
                support.addTask { await self.completionLoop() }
                // One periodic wake-up per loop instead of a timer per wait: the polling floor.
                support.addTask { await self.tick(every: self.config.pollSeconds, Array(self.wakes.values)) }
                support.addTask { await self.tick(every: 1, [self.completionWake]) }
                support.addTask { await self.tick(every: 0.1, [self.drainWake]) }
                await withDiscardingTaskGroup { fetchers in
                    for (queue, concurrency) in self.config.queues {
                        fetchers.addTask { await self.fetchLoop(queue: queue, concurrency: concurrency) }
                    }
                }
                await self.drain()
                support.cancelAll()
            }
        } onGracefulShutdown: {
            self.beginStop()
        }
        await unregister()
        logger.info("worker stopped")
    }

    /// Stop claiming; jobs in hand get the grace period.
    public func beginStop() {
        guard !stopping.exchange(true, ordering: .relaxed) else { return }
        logger.info("worker stopping: no new claims", metadata: ["worker.held": "\(held.withLock { $0.count })"])
        for wake in wakes.values { wake.signal() }
        drainWake.signal()
    }

    private var isStopping: Bool { stopping.load(ordering: .relaxed) || Task.isCancelled }

    // MARK: Claiming

    private func fetchLoop(queue: String, concurrency: Int) async {
        guard let wake = wakes[queue] else { return }
        let kinds = registry.definitions.values.filter { $0.queue == queue }.map(\.kind).sorted()
        // While jobs are running, wait until at least half a batch of slots is free: claiming
        // one job per freed slot costs a round trip and a commit per job.
        let worthClaiming = max(1, min(config.claimBatch, concurrency) / 2)
        while !isStopping {
            let running = busy.withLock { $0[queue, default: 0] }
            let free = concurrency - running
            guard free > 0, free >= worthClaiming || running == 0 else {
                await wake.wait()
                continue
            }
            let want = min(free, config.claimBatch)
            let started = ContinuousClock.now
            let jobs: [ClaimedJob]
            do {
                jobs = try await client.withConnection { db in
                    try await JobStore.claim(queue: queue, kinds: kinds, limit: want, workerID: config.workerID,
                                             leaseSeconds: config.leaseSeconds, on: db, logger: logger)
                }
            } catch {
                logger.warning("claim failed; retrying after the poll interval", metadata: ["error": "\(String(reflecting: error))"])
                await wake.wait()
                continue
            }
            JobMetrics.claimLatency(queue, ContinuousClock.now - started)
            if !jobs.isEmpty { JobMetrics.claimed(queue, jobs.count) }
            for job in jobs { start(job) }
            // Fewer than asked for: the queue is empty for now; wait for NOTIFY, a free slot or the poll floor.
            if jobs.count < want { await wake.wait() }
        }
    }

    private func start(_ job: ClaimedJob) {
        busy.withLock { $0[job.queue, default: 0] += 1 }
        held.withLock { $0[job.id] = Held(lease: .init(id: job.id, epoch: job.leaseEpoch), kind: job.kind, queue: job.queue) }
        let task = Task { await self.execute(job) }
        held.withLock { held in held[job.id]?.task = task }
    }

    // MARK: Running one job

    private func execute(_ job: ClaimedJob) async {
        var jobLogger = self.logger
        jobLogger[metadataKey: "job.id"] = "\(job.id)"
        jobLogger[metadataKey: "job.kind"] = .string(job.kind)
        jobLogger[metadataKey: "job.attempt"] = "\(job.attempt)"
        jobLogger[metadataKey: "job.epoch"] = "\(job.leaseEpoch)"
        let logger = jobLogger
        let lease = JobStore.Lease(id: job.id, epoch: job.leaseEpoch)
        let result: Result<JobOutcome, any Error>
        let started = ContinuousClock.now
        if let definition = registry[job.kind] {
            let client = self.client
            let probeLogger = logger
            let context = JobContext(
                id: job.id, kind: job.kind, queue: job.queue, attempt: job.attempt, maxAttempts: job.maxAttempts,
                leaseEpoch: job.leaseEpoch, workerID: config.workerID, enqueuedAt: job.enqueuedAt, logger: logger,
                holdsLease: { try await client.withConnection { try await JobStore.holdsLease(lease, on: $0, logger: probeLogger) } })
            do {
                result = .success(try await Self.withTimeout(seconds: definition.timeoutSeconds) {
                    try await definition.run(job.payload, context)
                })
            } catch {
                result = .failure(error)
            }
        } else {
            result = .failure(JobError.permanent("no handler for kind \(job.kind) in worker \(config.workerID)"))
        }
        JobMetrics.handlerDuration(job.kind, ContinuousClock.now - started)
        busy.withLock { $0[job.queue, default: 1] -= 1 }
        wakes[job.queue]?.signal()

        let (lost, released) = held.withLock { ($0[job.id]?.lost ?? true, $0[job.id]?.released ?? false) }
        if lost || released {
            if lost { logger.warning("job lease lost while running: another worker holds it now; outcome dropped") }
            forget(job.id)
            return
        }
        switch result {
        case .success(.complete):
            held.withLock { $0[job.id]?.completing = true }
            pendingCompletions.withLock { $0.append(lease) }
            completionWake.signal()
        case .success(let outcome):
            await record(job, logger: logger) { db in
                switch outcome {
                case .snooze(let seconds):
                    return try await JobStore.snooze(lease, seconds: seconds, on: db, logger: logger) ? "snoozed" : nil
                case .cancel(let reason):
                    return try await JobStore.cancel(lease, reason: reason, on: db, logger: logger) ? "cancelled" : nil
                case .complete:
                    return nil
                }
            }
        case .failure(let error):
            let classified = error as? any RetryClassifiedError
            let retryable = classified?.isRetryable ?? true
            let policy = registry[job.kind]?.retry ?? RetryPolicy()
            let delay = classified?.retryAfterSeconds ?? policy.delay(afterAttempt: job.attempt, unit: Double.random(in: 0..<1))
            let message = (error as? JobError)?.message ?? String(reflecting: error)
            await record(job, logger: logger) { db in
                switch try await JobStore.fail(lease, message: message, retryable: retryable, delaySeconds: delay, on: db, logger: logger) {
                case .retryScheduled(let after):
                    logger.warning("job failed; retry scheduled", metadata: ["job.retry_in_seconds": "\(Int(after))", "error": "\(message.prefix(300))"])
                    return "retried"
                case .discarded:
                    logger.error("job discarded", metadata: ["error": "\(message.prefix(300))", "job.retryable": "\(retryable)"])
                    return "discarded"
                case .leaseLost:
                    return nil
                }
            }
        }
    }

    /// Writes a non-complete outcome. A write that keeps failing stops renewing the lease, so
    /// the job is rescued and runs again rather than staying `running` for ever.
    private func record(_ job: ClaimedJob, logger: Logger, _ write: @Sendable (PostgresConnection) async throws -> String?) async {
        for attempt in 1...3 {
            do {
                let outcome = try await client.withConnection { try await write($0) }
                if let outcome {
                    JobMetrics.outcome(job.kind, outcome)
                } else {
                    JobMetrics.leaseLost(job.kind)
                    logger.warning("job lease lost before its outcome was written; outcome dropped")
                }
                forget(job.id)
                return
            } catch {
                logger.error("writing job outcome failed", metadata: ["error": "\(String(reflecting: error))", "try": "\(attempt)"])
                try? await Task.sleep(for: .milliseconds(200 * attempt))
            }
        }
        forget(job.id)
    }

    private func forget(_ id: Int64) {
        held.withLock { _ = $0.removeValue(forKey: id) }
        drainWake.signal()
    }

    static func withTimeout<T: Sendable>(seconds: Double, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
        try await withThrowingTaskGroup(of: T.self) { group in
            group.addTask { try await body() }
            group.addTask {
                try await Task.sleep(for: .seconds(seconds))
                throw JobError.retryable("timed out after \(seconds)s")
            }
            defer { group.cancelAll() }
            guard let first = try await group.next() else { throw CancellationError() }
            return first
        }
    }

    // MARK: Completions, batched

    private func completionLoop() async {
        while true {
            let batch = pendingCompletions.withLock { pending -> [JobStore.Lease] in
                defer { pending.removeAll() }
                return pending
            }
            if batch.isEmpty {
                if Task.isCancelled { return }
                await completionWake.wait()
                // Let jobs finishing together join this batch.
                await Task.yield()
                continue
            }
            var done: Set<Int64>?
            for attempt in 1...5 where done == nil {
                do {
                    done = try await client.withConnection { try await JobStore.complete(batch, on: $0, logger: logger) }
                } catch {
                    logger.error("completing jobs failed", metadata: ["error": "\(String(reflecting: error))", "try": "\(attempt)"])
                    try? await Task.sleep(for: .milliseconds(100 * attempt))
                }
            }
            for lease in batch {
                let kind = held.withLock { $0[lease.id]?.kind } ?? "unknown"
                if done?.contains(lease.id) == true {
                    JobMetrics.outcome(kind, "completed")
                } else if done != nil {
                    JobMetrics.leaseLost(kind)
                    logger.warning("job lease lost before completion; another worker holds it", metadata: ["job.id": "\(lease.id)", "job.kind": "\(kind)"])
                }
                forget(lease.id)
            }
        }
    }

    // MARK: Leases and liveness

    private func heartbeatLoop() async {
        while !Task.isCancelled {
            try? await Task.sleep(for: .seconds(config.heartbeatSeconds))
            let snapshot = held.withLock { $0.values.filter { !$0.released }.map { ($0.lease, $0.completing) } }
            do {
                let renewed = try await client.withConnection { db in
                    try await db.query("UPDATE job_workers SET heartbeat_at = now() WHERE id = \(config.workerID)", logger: logger)
                    return try await JobStore.renew(snapshot.map(\.0), workerID: config.workerID,
                                                    leaseSeconds: config.leaseSeconds, on: db, logger: logger)
                }
                for (lease, completing) in snapshot where !renewed.contains(lease.id) && !completing {
                    let task = held.withLock { held -> Task<Void, Never>? in
                        guard held[lease.id]?.lease == lease, held[lease.id]?.completing == false else { return nil }
                        held[lease.id]?.lost = true
                        return held[lease.id]?.task
                    }
                    if let task {
                        logger.warning("job lease lost: stopping its handler", metadata: ["job.id": "\(lease.id)"])
                        task.cancel()
                    }
                }
            } catch {
                if Task.isCancelled { return }
                logger.warning("lease renewal failed", metadata: ["error": "\(String(reflecting: error))"])
            }
        }
    }

    private func maintenanceLoop() async {
        while !Task.isCancelled {
            // Jitter spreads N workers' maintenance over the interval.
            try? await Task.sleep(for: .seconds(config.maintenanceSeconds * Double.random(in: 0.8...1.2)))
            if Task.isCancelled { return }
            do {
                try await client.withConnection { db in
                    try await JobStore.promoteDue(on: db, logger: logger)
                    for rescued in try await JobStore.rescueExpired(on: db, logger: logger) {
                        JobMetrics.rescued(rescued.kind)
                        logger.warning("rescued job with an expired lease", metadata: [
                            "job.id": "\(rescued.id)", "job.kind": "\(rescued.kind)", "job.state": "\(rescued.state.rawValue)",
                            "job.overdue_seconds": "\(rescued.overdueSeconds)"])
                    }
                }
            } catch {
                if Task.isCancelled { return }
                logger.warning("maintenance failed", metadata: ["error": "\(String(reflecting: error))"])
            }
        }
    }

    private func listenLoop() async {
        while !Task.isCancelled {
            do {
                try await client.withConnection { db in
                    try await db.listen(on: JobStore.channel) { notifications in
                        for try await notification in notifications {
                            wakes[notification.payload]?.signal()
                        }
                    }
                }
            } catch {
                if Task.isCancelled { return }
                logger.warning("LISTEN failed; polling until it is back", metadata: ["error": "\(String(reflecting: error))"])
                try? await Task.sleep(for: .seconds(1))
            }
        }
    }

    private func tick(every seconds: Double, _ signals: [WakeSignal]) async {
        while !Task.isCancelled {
            try? await Task.sleep(for: .seconds(seconds))
            for signal in signals { signal.signal() }
        }
    }

    // MARK: Shutdown

    private func drain() async {
        let deadline = ContinuousClock.now + .seconds(config.shutdownGraceSeconds)
        while held.withLock({ !$0.isEmpty }) && ContinuousClock.now < deadline && !Task.isCancelled {
            await drainWake.wait()
        }
        let leftovers = held.withLock { held -> [(JobStore.Lease, Task<Void, Never>?)] in
            var leftovers: [(JobStore.Lease, Task<Void, Never>?)] = []
            for (id, job) in held where !job.completing {
                held[id]?.released = true
                leftovers.append((job.lease, job.task))
            }
            return leftovers
        }
        if !leftovers.isEmpty {
            for (_, task) in leftovers { task?.cancel() }
            do {
                let released = try await client.withConnection {
                    try await JobStore.release(leftovers.map(\.0), on: $0, logger: logger)
                }
                logger.warning("grace period over: released jobs still running", metadata: ["jobs.released": "\(released.count)"])
            } catch {
                logger.error("releasing jobs failed; their leases will expire and they will be rescued",
                             metadata: ["error": "\(String(reflecting: error))"])
            }
            for (_, task) in leftovers { await task?.value }
        }
        // Let the completer commit what finished.
        let flushDeadline = ContinuousClock.now + .seconds(5)
        while held.withLock({ !$0.isEmpty }) && ContinuousClock.now < flushDeadline {
            completionWake.signal()
            await drainWake.wait()
        }
    }

    private func register() async throws {
        let queues = config.queues.keys.sorted()
        let concurrency = config.queues.values.reduce(0, +)
        let host = ProcessInfo.processInfo.hostName
        let pid = Int(ProcessInfo.processInfo.processIdentifier)
        _ = try await client.withConnection { db in
            try await db.query("""
                INSERT INTO job_workers (id, host, pid, queues, concurrency) VALUES (\(config.workerID), \(host), \(pid), \(queues), \(concurrency))
                ON CONFLICT (id) DO UPDATE SET heartbeat_at = now(), stopping = false
                """, logger: logger)
        }
    }

    private func unregister() async {
        do {
            _ = try await client.withConnection { db in
                try await db.query("DELETE FROM job_workers WHERE id = \(config.workerID)", logger: logger)
            }
        } catch {
            logger.warning("could not remove the worker row", metadata: ["error": "\(String(reflecting: error))"])
        }
    }
}
