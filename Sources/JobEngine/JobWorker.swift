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
        /// When the handler's timeout runs out (the watchdog cancels it then).
        var deadline: ContinuousClock.Instant
        /// The watchdog cancelled the handler: its outcome is a retryable timeout.
        var timedOut = false
        /// Handed to the completer; waiting for its batch to commit.
        var completing = false
        /// Someone else holds the job now: the handler is cancelled and its outcome dropped.
        var lost = false
        /// Given back at shutdown: the handler is cancelled and its outcome dropped.
        var released = false
    }

    /// Jobs in hand and the running count per queue, under one lock (taken once per claimed
    /// batch, once per finished handler and once per completed batch).
    private struct State {
        var held: [Int64: Held] = [:]
        var busy: [String: Int] = [:]
        var pendingCompletions: [JobStore.Lease] = []
    }

    private let state = Mutex(State())
    private let stopping = Atomic<Bool>(false)
    private let wakes: [String: WakeSignal]
    private let completionWake = WakeSignal()
    private let drainWake = WakeSignal()
    private let taskExecutor: (any TaskExecutor)?

    /// - Parameter taskExecutor: where the worker's loops and its handlers run. `nil` (the
    ///   default) is Swift's global executor. Passing the event loop of the client's connections
    ///   (``EventLoopTaskExecutor``, with a client on a one-thread `EventLoopGroup`) runs claim,
    ///   handlers and completion on that one thread, without a thread hop per job; handlers must
    ///   then not block (as anywhere on an event loop).
    public init(client: PostgresClient, registry: JobRegistry, configuration: WorkerConfiguration, logger: Logger,
                taskExecutor: (any TaskExecutor)? = nil) {
        self.client = client
        self.taskExecutor = taskExecutor
        self.registry = registry
        self.config = configuration
        var logger = logger
        logger[metadataKey: "worker.id"] = .string(configuration.workerID)
        self.logger = logger
        self.wakes = Dictionary(uniqueKeysWithValues: configuration.queues.keys.map { ($0, WakeSignal()) })
    }

    /// Jobs this process holds right now (for tests and the ops view).
    public var heldJobIDs: Set<Int64> { state.withLock { Set($0.held.keys) } }

    public func run() async throws {
        try await withTaskExecutorPreference(taskExecutor) {
            try await self.runLoops()
        }
    }

    private func runLoops() async throws {
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
                support.addTask { await self.watchdog() }
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
        logger.info("worker stopping: no new claims", metadata: ["worker.held": "\(state.withLock { $0.held.count })"])
        for wake in wakes.values { wake.signal() }
        drainWake.signal()
    }

    private var isStopping: Bool { stopping.load(ordering: .relaxed) || Task.isCancelled }

    // MARK: Claiming

    /// How long a loop keeps one pooled connection for its statements before giving it back
    /// (checked after each statement and each wake-up, so a hold ends at most one wake-up,
    /// ≤ `pollSeconds`, later). Leasing a connection per statement costs a round through the
    /// pool's own task and its idle and keep-alive timers: thread wake-ups and timer tasks
    /// for every claim and completion.
    static let connectionHoldSeconds = 0.1

    private func fetchLoop(queue: String, concurrency: Int) async {
        guard let wake = wakes[queue] else { return }
        let kinds = registry.definitions.values.filter { $0.queue == queue }.map(\.kind).sorted()
        // While jobs are running, wait until at least half a batch of slots is free: claiming
        // one job per freed slot costs a round trip and a commit per job.
        let worthClaiming = max(1, min(config.claimBatch, concurrency) / 2)
        /// Slots to claim for now, or nil when it is not worth a claim yet.
        func wanted() -> Int? {
            let running = state.withLock { $0.busy[queue, default: 0] }
            let free = concurrency - running
            guard free > 0, free >= worthClaiming || running == 0 else { return nil }
            return min(free, config.claimBatch)
        }
        while !isStopping {
            guard wanted() != nil else {
                await wake.wait()
                continue
            }
            var drained = false
            do {
                // Claim after claim on one connection while the queue has jobs, also across the
                // short waits for slots to free up.
                try await client.withConnection { db in
                    let until = ContinuousClock.now + .seconds(Self.connectionHoldSeconds)
                    while !isStopping {
                        guard let want = wanted() else {
                            if ContinuousClock.now >= until { return }
                            await wake.wait()
                            continue
                        }
                        let started = ContinuousClock.now
                        let jobs = try await JobStore.claim(queue: queue, kinds: kinds, limit: want, workerID: config.workerID,
                                                            leaseSeconds: config.leaseSeconds, on: db, logger: logger)
                        JobMetrics.claimLatency(queue, ContinuousClock.now - started)
                        if !jobs.isEmpty {
                            JobMetrics.claimed(queue, jobs.count)
                            start(jobs, queue: queue)
                        }
                        // Fewer than asked for: the queue is empty for now.
                        if jobs.count < want {
                            drained = true
                            return
                        }
                        if ContinuousClock.now >= until { return }
                    }
                }
            } catch {
                logger.warning("claim failed; retrying after the poll interval", metadata: ["error": "\(String(reflecting: error))"])
                await wake.wait()
                continue
            }
            // The queue was empty: wait for NOTIFY, a free slot or the poll floor.
            if drained { await wake.wait() }
        }
    }

    /// Registers a claimed batch as held (one lock), then starts one task per job.
    private func start(_ jobs: [ClaimedJob], queue: String) {
        let now = ContinuousClock.now
        state.withLock { state in
            state.busy[queue, default: 0] += jobs.count
            for job in jobs {
                let timeout = registry.definitions[job.kind]?.timeoutSeconds ?? 60
                state.held[job.id] = Held(lease: .init(id: job.id, epoch: job.leaseEpoch), kind: job.kind, queue: job.queue,
                                          deadline: now + .seconds(timeout))
            }
        }
        var tasks: [(Int64, Task<Void, Never>)] = []
        tasks.reserveCapacity(jobs.count)
        for job in jobs {
            tasks.append((job.id, Task(executorPreference: taskExecutor) { await self.execute(job) }))
        }
        state.withLock { state in
            for (id, task) in tasks { state.held[id]?.task = task }
        }
    }

    // MARK: Running one job

    private func execute(_ job: ClaimedJob) async {
        // The job's metadata in one assignment: a handler may re-render its metadata on every
        // change (swift-log's StreamLogHandler does), so four subscript sets cost four renders.
        var jobLogger = self.logger
        var metadata = jobLogger.handler.metadata
        metadata["job.id"] = "\(job.id)"
        metadata["job.kind"] = .string(job.kind)
        metadata["job.attempt"] = "\(job.attempt)"
        metadata["job.epoch"] = "\(job.leaseEpoch)"
        jobLogger.handler.metadata = metadata
        let logger = jobLogger
        let lease = JobStore.Lease(id: job.id, epoch: job.leaseEpoch)
        var result: Result<JobOutcome, any Error>
        let started = ContinuousClock.now
        let definition = registry.definitions[job.kind]
        if let definition {
            let client = self.client
            let probeLogger = logger
            let context = JobContext(
                id: job.id, kind: job.kind, queue: job.queue, attempt: job.attempt, maxAttempts: job.maxAttempts,
                leaseEpoch: job.leaseEpoch, workerID: config.workerID, enqueuedAt: job.enqueuedAt, logger: logger,
                holdsLease: { try await client.withConnection { try await JobStore.holdsLease(lease, on: $0, logger: probeLogger) } })
            // The timeout is the watchdog's: it cancels the task once the deadline passes (no
            // timer and task group per job).
            do {
                result = .success(try await definition.run(job.payload, context))
            } catch {
                result = .failure(error)
            }
        } else {
            result = .failure(JobError.permanent("no handler for kind \(job.kind) in worker \(config.workerID)"))
        }
        JobMetrics.handlerDuration(job.kind, ContinuousClock.now - started)

        enum Next { case drop(lost: Bool), completing, record }
        let next = state.withLock { state -> Next in
            state.busy[job.queue, default: 1] -= 1
            guard let held = state.held[job.id], !held.lost else { return .drop(lost: true) }
            if held.released { return .drop(lost: false) }
            if held.timedOut {
                result = .failure(JobError.retryable("timed out after \(definition?.timeoutSeconds ?? 0)s"))
            }
            if case .success(.complete) = result {
                state.held[job.id]?.completing = true
                state.pendingCompletions.append(lease)
                return .completing
            }
            return .record
        }
        wakes[job.queue]?.signal()

        switch next {
        case .drop(let lost):
            if lost { logger.warning("job lease lost while running: another worker holds it now; outcome dropped") }
            forget(job.id)
            return
        case .completing:
            completionWake.signal()
            return
        case .record:
            break
        }
        switch result {
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
            let policy = definition?.retry ?? RetryPolicy()
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
    private func record(_ job: ClaimedJob, logger: Logger, _ write: @escaping @Sendable (PostgresConnection) async throws -> String?) async {
        // The watchdog cancels a handler that ran out of time by cancelling its task; the
        // timeout must still be written, so from a task of its own.
        if Task.isCancelled {
            await Task(executorPreference: taskExecutor) { await self.record(job, logger: logger, write) }.value
            return
        }
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
        state.withLock { _ = $0.held.removeValue(forKey: id) }
        drainWake.signal()
    }

    /// Handler timeouts: cancels each handler whose deadline has passed and marks it timed out
    /// (its outcome becomes a retryable "timed out" failure once it returns), checking a few
    /// times per shortest timeout instead of arming a timer per job.
    private func watchdog() async {
        let shortest = registry.definitions.values.map(\.timeoutSeconds).min() ?? 60
        let interval = min(0.25, max(0.01, shortest / 20))
        while !Task.isCancelled {
            try? await Task.sleep(for: .seconds(interval))
            let now = ContinuousClock.now
            let overdue = state.withLock { state -> [Task<Void, Never>] in
                var overdue: [Task<Void, Never>] = []
                for (id, job) in state.held where job.deadline <= now && !job.timedOut && !job.completing && !job.released {
                    state.held[id]?.timedOut = true
                    if let task = job.task { overdue.append(task) }
                }
                return overdue
            }
            for task in overdue { task.cancel() }
        }
    }

    // MARK: Completions, batched

    private func completionLoop() async {
        var failures = 0
        while true {
            if state.withLock({ $0.pendingCompletions.isEmpty }) {
                if Task.isCancelled { return }
                await completionWake.wait()
                // Let jobs finishing together join this batch.
                await Task.yield()
                continue
            }
            var inFlight: [JobStore.Lease] = []
            do {
                // Batch after batch on one connection while handlers keep finishing.
                try await client.withConnection { db in
                    let until = ContinuousClock.now + .seconds(Self.connectionHoldSeconds)
                    while true {
                        inFlight = state.withLock { state in
                            defer { state.pendingCompletions.removeAll(keepingCapacity: true) }
                            return state.pendingCompletions
                        }
                        if inFlight.isEmpty {
                            // Keep the connection across short gaps between batches.
                            if ContinuousClock.now >= until || Task.isCancelled { return }
                            await completionWake.wait()
                            await Task.yield()
                            continue
                        }
                        let done = try await JobStore.complete(inFlight, on: db, logger: logger)
                        finishCompleted(inFlight, done: done)
                        inFlight = []
                        failures = 0
                        if ContinuousClock.now >= until { return }
                    }
                }
            } catch {
                failures += 1
                logger.error("completing jobs failed", metadata: ["error": "\(String(reflecting: error))", "try": "\(failures)"])
                if failures >= 5 {
                    // Given up: the jobs stay `running`, their leases are no longer renewed, and
                    // the rescue makes them available again.
                    finishCompleted(inFlight, done: nil)
                    failures = 0
                } else {
                    // Back to the front of the queue, for the next try.
                    state.withLock { $0.pendingCompletions.insert(contentsOf: inFlight, at: 0) }
                }
                try? await Task.sleep(for: .milliseconds(100 * failures))
            }
        }
    }

    /// Forgets a completed batch (one lock; one counter update per kind). `done == nil`: the
    /// outcome is unknown (the statement kept failing).
    private func finishCompleted(_ batch: [JobStore.Lease], done: Set<Int64>?) {
        var completedByKind: [String: Int] = [:]
        var lostJobs: [(Int64, String)] = []
        state.withLock { state in
            for lease in batch {
                let kind = state.held.removeValue(forKey: lease.id)?.kind ?? "unknown"
                if done?.contains(lease.id) == true {
                    completedByKind[kind, default: 0] += 1
                } else if done != nil {
                    lostJobs.append((lease.id, kind))
                }
            }
        }
        drainWake.signal()
        for (kind, count) in completedByKind { JobMetrics.outcome(kind, "completed", count: count) }
        for (id, kind) in lostJobs {
            JobMetrics.leaseLost(kind)
            logger.warning("job lease lost before completion; another worker holds it", metadata: ["job.id": "\(id)", "job.kind": "\(kind)"])
        }
    }

    // MARK: Leases and liveness

    private func heartbeatLoop() async {
        while !Task.isCancelled {
            try? await Task.sleep(for: .seconds(config.heartbeatSeconds))
            let snapshot = state.withLock { $0.held.values.filter { !$0.released }.map { ($0.lease, $0.completing) } }
            do {
                let renewed = try await client.withConnection { db in
                    // An upsert: a row pruned while this process was paused comes back, and
                    // `stopping` tells the ops CLI a drain is under way.
                    try await db.query(registration(stopping: isStopping), logger: logger)
                    return try await JobStore.renew(snapshot.map(\.0), workerID: config.workerID,
                                                    leaseSeconds: config.leaseSeconds, on: db, logger: logger)
                }
                for (lease, completing) in snapshot where !renewed.contains(lease.id) && !completing {
                    let task = state.withLock { state -> Task<Void, Never>? in
                        guard state.held[lease.id]?.lease == lease, state.held[lease.id]?.completing == false else { return nil }
                        state.held[lease.id]?.lost = true
                        return state.held[lease.id]?.task
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
        while state.withLock({ !$0.held.isEmpty }) && ContinuousClock.now < deadline && !Task.isCancelled {
            await drainWake.wait()
        }
        let leftovers = state.withLock { state -> [(JobStore.Lease, Task<Void, Never>?)] in
            var leftovers: [(JobStore.Lease, Task<Void, Never>?)] = []
            for (id, job) in state.held where !job.completing {
                state.held[id]?.released = true
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
        while state.withLock({ !$0.held.isEmpty }) && ContinuousClock.now < flushDeadline {
            completionWake.signal()
            await drainWake.wait()
        }
    }

    private func register() async throws {
        _ = try await client.withConnection { db in try await db.query(registration(stopping: false), logger: logger) }
    }

    private func registration(stopping: Bool) -> PostgresQuery {
        let queues = config.queues.keys.sorted()
        let concurrency = config.queues.values.reduce(0, +)
        let host = ProcessInfo.processInfo.hostName
        let pid = Int(ProcessInfo.processInfo.processIdentifier)
        return """
            INSERT INTO job_workers (id, host, pid, queues, concurrency, stopping)
            VALUES (\(config.workerID), \(host), \(pid), \(queues), \(concurrency), \(stopping))
            ON CONFLICT (id) DO UPDATE SET heartbeat_at = now(), stopping = EXCLUDED.stopping
            """
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
