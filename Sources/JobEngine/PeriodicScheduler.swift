import Foundation
import Logging
import PostgresNIO
import ServiceLifecycle

/// A job (or jobs) enqueued once per time bucket of `intervalSeconds`, bucketed on database
/// time. Each bucket's jobs carry the unique key `periodic:<name>:<bucket>[:<n>]` unless the
/// maker sets its own, and a cursor row remembers the last bucket enqueued: a new leader after a
/// failover continues from the cursor, so no tick is skipped (up to `maxCatchUp` buckets) and
/// none is doubled.
public struct PeriodicSchedule: Sendable {
    public let name: String
    public let intervalSeconds: Int
    public let maxCatchUp: Int
    /// Runs inside the tick's transaction, so it may read the database (and its reads commit
    /// or vanish with the enqueue).
    public let makeJobs: @Sendable (_ bucket: Int64, _ db: PostgresConnection, _ logger: Logger) async throws -> [NewJob]

    public init(name: String, intervalSeconds: Int, maxCatchUp: Int = 10,
                makeJobs: @escaping @Sendable (_ bucket: Int64) throws -> [NewJob]) {
        self.init(name: name, intervalSeconds: intervalSeconds, maxCatchUp: maxCatchUp) { bucket, _, _ in try makeJobs(bucket) }
    }

    public init(name: String, intervalSeconds: Int, maxCatchUp: Int = 10,
                makeJobs: @escaping @Sendable (_ bucket: Int64, _ db: PostgresConnection, _ logger: Logger) async throws -> [NewJob]) {
        precondition(intervalSeconds >= 1 && maxCatchUp >= 1)
        self.name = name
        self.intervalSeconds = intervalSeconds
        self.maxCatchUp = maxCatchUp
        self.makeJobs = makeJobs
    }
}

public struct RetentionPolicy: Sendable {
    public var completedSeconds: Double = 24 * 3600
    public var discardedSeconds: Double = 14 * 24 * 3600
    public var batchSize: Int = 1000
    public var everySeconds: Double = 60

    public init(completedSeconds: Double = 24 * 3600, discardedSeconds: Double = 14 * 24 * 3600,
                batchSize: Int = 1000, everySeconds: Double = 60) {
        self.completedSeconds = completedSeconds
        self.discardedSeconds = discardedSeconds
        self.batchSize = batchSize
        self.everySeconds = everySeconds
    }
}

/// The scheduler singleton: every process runs it, one leads. The leader enqueues periodic
/// jobs, prunes finished jobs in small batches and publishes queue metrics; standbys only try
/// to acquire the lease.
public final class SchedulerService: Service, Sendable {
    let client: PostgresClient
    public let elector: LeaderElector
    let schedules: [PeriodicSchedule]
    let retention: RetentionPolicy
    let tickSeconds: Double
    let logger: Logger

    public init(client: PostgresClient, elector: LeaderElector, schedules: [PeriodicSchedule],
                retention: RetentionPolicy = RetentionPolicy(), tickSeconds: Double = 1, logger: Logger) {
        self.client = client
        self.elector = elector
        self.schedules = schedules
        self.retention = retention
        self.tickSeconds = tickSeconds
        var logger = logger
        logger[metadataKey: "scheduler.id"] = .string(elector.holderID)
        self.logger = logger
    }

    public func run() async throws {
        var lastPrune = ContinuousClock.now - .seconds(retention.everySeconds)
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            do {
                let leadership = try await client.withConnection { try await elector.refresh(on: $0, logger: logger) }
                if let leadership {
                    for schedule in schedules { try await tick(schedule, leadership: leadership) }
                    if ContinuousClock.now - lastPrune >= .seconds(retention.everySeconds) {
                        lastPrune = ContinuousClock.now
                        try await prune(leadership: leadership)
                        try await publishQueueMetrics()
                    }
                }
            } catch {
                logger.warning("scheduler tick failed", metadata: ["error": "\(String(reflecting: error))"])
            }
            try? await Task.sleep(for: .seconds(min(tickSeconds, elector.renewSeconds)))
        }
        if elector.leadership != nil {
            try? await client.withConnection { try await elector.resign(on: $0, logger: logger) }
            logger.notice("resigned leadership at shutdown")
        }
    }

    /// Enqueues the buckets since the cursor, in one transaction fenced by the leadership.
    @discardableResult
    public func tick(_ schedule: PeriodicSchedule, leadership: LeaderElector.Leadership) async throws -> [Int64] {
        try await client.withConnection { db in
            try await db.withTransaction(logger: logger) { db in
                guard try await elector.confirm(leadership, on: db, logger: logger) else { return [] }
                let interval = schedule.intervalSeconds
                try await db.query("""
                    INSERT INTO periodic_cursors (name, last_bucket)
                    VALUES (\(schedule.name), floor(extract(epoch FROM now()) / \(interval))::bigint - 1)
                    ON CONFLICT (name) DO NOTHING
                    """, logger: logger)
                let rows = try await db.query("""
                    SELECT last_bucket, floor(extract(epoch FROM now()) / \(interval))::bigint
                    FROM periodic_cursors WHERE name = \(schedule.name) FOR UPDATE
                    """, logger: logger)
                var last: Int64 = 0, current: Int64 = 0
                for try await (l, c) in rows.decode((Int64, Int64).self) { (last, current) = (l, c) }
                guard current > last else { return [] }
                let first = max(last + 1, current - Int64(schedule.maxCatchUp) + 1)
                if first > last + 1 {
                    logger.warning("periodic schedule fell behind; oldest buckets not enqueued",
                                   metadata: ["schedule": "\(schedule.name)", "buckets.skipped": "\(first - last - 1)"])
                }
                var jobs: [NewJob] = []
                for bucket in first...current {
                    for (n, var job) in try await schedule.makeJobs(bucket, db, logger).enumerated() {
                        if job.uniqueKey == nil { job.uniqueKey = "periodic:\(schedule.name):\(bucket)" + (n == 0 ? "" : ":\(n)") }
                        jobs.append(job)
                    }
                }
                _ = try await JobStore.enqueue(jobs, on: db, logger: logger)
                try await db.query("""
                    UPDATE periodic_cursors SET last_bucket = \(current), updated_at = now() WHERE name = \(schedule.name)
                    """, logger: logger)
                return Array(first...current)
            }
        }
    }

    /// Deletes finished jobs past retention in small batches (SKIP LOCKED, so it never waits on
    /// or deadlocks with workers), and forgets workers silent for an hour.
    @discardableResult
    public func prune(leadership: LeaderElector.Leadership) async throws -> Int {
        var total = 0
        for (states, age) in [("{completed,cancelled}", retention.completedSeconds), ("{discarded}", retention.discardedSeconds)] {
            while true {
                let deleted = try await client.withConnection { db in
                    try await db.withTransaction(logger: logger) { db -> Int in
                        guard try await elector.confirm(leadership, on: db, logger: logger) else { return 0 }
                        let rows = try await db.query("""
                            WITH old AS (
                                SELECT id FROM jobs
                                WHERE state = ANY(\(states)::text[]) AND finalized_at < now() - make_interval(secs => \(age))
                                ORDER BY finalized_at LIMIT \(retention.batchSize)
                                FOR UPDATE SKIP LOCKED
                            )
                            DELETE FROM jobs USING old WHERE jobs.id = old.id RETURNING jobs.id
                            """, logger: logger)
                        var n = 0
                        for try await _ in rows { n += 1 }
                        return n
                    }
                }
                total += deleted
                if deleted < retention.batchSize { break }
            }
        }
        _ = try await client.withConnection { db in
            try await db.query("DELETE FROM job_workers WHERE heartbeat_at < now() - interval '1 hour'", logger: logger)
        }
        if total > 0 { logger.info("pruned finished jobs", metadata: ["jobs.pruned": "\(total)"]) }
        return total
    }

    private func publishQueueMetrics() async throws {
        try await client.withConnection { db in
            let rows = try await db.query("""
                SELECT queue, state, count(*)::int, coalesce(extract(epoch FROM now() - min(run_at)), 0)::float8
                FROM jobs WHERE state IN \(unescaped: JobState.sqlList(JobState.live))
                GROUP BY queue, state
                """, logger: logger)
            for try await (queue, state, count, age) in rows.decode((String, String, Int, Double).self) {
                JobMetrics.queueDepth(queue, state: state, count)
                if state == "available" { JobMetrics.oldestAvailableAge(queue, age) }
            }
        }
    }
}
