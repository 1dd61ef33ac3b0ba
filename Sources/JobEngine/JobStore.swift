import Foundation
import Logging
import PostgresNIO

/// A job to enqueue. `payload` is JSON text; build it from a typed payload with `init(_:)`.
public struct NewJob: Sendable {
    public var kind: String
    public var queue: String
    public var payload: String
    public var priority: Int
    public var maxAttempts: Int
    /// Seconds after the database's `now()`; 0 runs as soon as a worker is free.
    public var runAfterSeconds: Double
    /// A second enqueue with a live (or completed) key returns the first job.
    public var uniqueKey: String?

    public init(kind: String, queue: String = "default", payload: String = "{}", priority: Int = 1,
                maxAttempts: Int = 20, runAfterSeconds: Double = 0, uniqueKey: String? = nil) {
        self.kind = kind
        self.queue = queue
        self.payload = payload
        self.priority = priority
        self.maxAttempts = maxAttempts
        self.runAfterSeconds = runAfterSeconds
        self.uniqueKey = uniqueKey
    }

    /// A typed payload with its definition's queue, priority and attempts.
    public init<P: JobPayload>(_ payload: P, definition: JobDefinition? = nil, runAfterSeconds: Double = 0,
                               uniqueKey: String? = nil) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        self.init(kind: P.kind, queue: definition?.queue ?? "default",
                  payload: String(decoding: try encoder.encode(payload), as: UTF8.self),
                  priority: definition?.priority ?? 1, maxAttempts: definition?.retry.maxAttempts ?? 20,
                  runAfterSeconds: runAfterSeconds, uniqueKey: uniqueKey)
    }
}

public struct EnqueuedJob: Sendable, Equatable {
    public let id: Int64
    /// False when a job with the same unique key already existed (nothing was inserted).
    public let inserted: Bool

    public init(id: Int64, inserted: Bool) {
        self.id = id
        self.inserted = inserted
    }
}

/// A job this worker now holds, at `leaseEpoch`.
public struct ClaimedJob: Sendable {
    public let id: Int64
    public let kind: String
    public let queue: String
    public let payload: Data
    public let attempt: Int
    public let maxAttempts: Int
    public let leaseEpoch: Int64
    /// When the job was enqueued (database time), for queue-latency figures.
    public let enqueuedAt: Date
}

/// The job table's statements, one per state transition, values bound, database clock.
/// Every transition out of `running` names the lease epoch it expects.
public enum JobStore {
    public static let channel = "hybridhub_jobs"
    static let uniqueStates = JobState.sqlList(JobState.holdingUniqueKey)

    // MARK: Questions other modules ask

    /// The states of the jobs holding each of `keys` (a key never enqueued is absent): is
    /// there a live job for this key, was it cancelled.
    public static func states(ofUniqueKeys keys: [String], on db: PostgresConnection,
                              logger: Logger) async throws -> [String: Set<JobState>] {
        guard !keys.isEmpty else { return [:] }
        let rows = try await db.query("SELECT unique_key, state FROM jobs WHERE unique_key = ANY(\(keys))", logger: logger)
        var result: [String: Set<JobState>] = [:]
        for try await (key, state) in rows.decode((String, String).self) {
            if let state = JobState(rawValue: state) { result[key, default: []].insert(state) }
        }
        return result
    }

    // MARK: Enqueue

    /// Enqueues inside the caller's transaction when `db` is in one: the business row and its
    /// follow-up job commit or vanish together.
    public static func enqueue(_ job: NewJob, on db: PostgresConnection, logger: Logger) async throws -> EnqueuedJob {
        // One row: a plain INSERT is cheaper to plan than the batch's unnest.
        let rows = try await db.query("""
            INSERT INTO jobs (kind, queue, payload, priority, max_attempts, state, run_at, unique_key)
            VALUES (\(job.kind), \(job.queue), \(job.payload)::jsonb, \(job.priority), \(job.maxAttempts),
                    CASE WHEN \(job.runAfterSeconds) > 0 THEN 'scheduled' ELSE 'available' END,
                    now() + make_interval(secs => \(job.runAfterSeconds)), \(job.uniqueKey))
            ON CONFLICT (unique_key) WHERE unique_key IS NOT NULL AND state IN \(unescaped: uniqueStates) DO NOTHING
            RETURNING id
            """, logger: logger)
        for try await id in rows.decode(Int64.self) { return EnqueuedJob(id: id, inserted: true) }
        guard let key = job.uniqueKey else { throw JobStoreError.noRow("enqueue") }
        let existing = try await db.query("""
            SELECT id FROM jobs WHERE unique_key = \(key) AND state IN \(unescaped: uniqueStates)
            """, logger: logger)
        for try await id in existing.decode(Int64.self) { return EnqueuedJob(id: id, inserted: false) }
        throw JobStoreError.uniqueKeyRace(key)
    }

    /// One multi-row INSERT for the whole batch; results in input order.
    public static func enqueue(_ jobs: [NewJob], on db: PostgresConnection, logger: Logger) async throws -> [EnqueuedJob] {
        guard !jobs.isEmpty else { return [] }
        let rows = try await db.query("""
            INSERT INTO jobs (kind, queue, payload, priority, max_attempts, state, run_at, unique_key)
            SELECT k, q, p::jsonb, pr, ma,
                   CASE WHEN d > 0 THEN 'scheduled' ELSE 'available' END,
                   now() + make_interval(secs => d), NULLIF(u, '')
            FROM unnest(\(jobs.map(\.kind)), \(jobs.map(\.queue)), \(jobs.map(\.payload)),
                        \(jobs.map(\.priority)), \(jobs.map(\.maxAttempts)), \(jobs.map(\.runAfterSeconds)),
                        \(jobs.map { $0.uniqueKey ?? "" })) WITH ORDINALITY AS t(k, q, p, pr, ma, d, u, n)
            ORDER BY n
            ON CONFLICT (unique_key) WHERE unique_key IS NOT NULL AND state IN \(unescaped: uniqueStates) DO NOTHING
            RETURNING id, unique_key
            """, logger: logger)
        var keyed: [String: Int64] = [:]
        var plain: [Int64] = []
        for try await (id, key) in rows.decode((Int64, String?).self) {
            if let key { keyed[key] = id } else { plain.append(id) }
        }
        // Identity values follow insertion order, which follows the batch's order.
        plain.sort()
        let missing = Set(jobs.compactMap(\.uniqueKey)).subtracting(keyed.keys)
        var existing: [String: Int64] = [:]
        if !missing.isEmpty {
            let found = try await db.query("""
                SELECT unique_key, id FROM jobs
                WHERE unique_key = ANY(\(Array(missing))) AND state IN \(unescaped: uniqueStates)
                """, logger: logger)
            for try await (key, id) in found.decode((String, Int64).self) { existing[key] = id }
        }
        var results: [EnqueuedJob] = []
        var nextPlain = plain.makeIterator()
        var seen: Set<String> = []
        for job in jobs {
            if let key = job.uniqueKey {
                if let id = keyed[key] {
                    results.append(EnqueuedJob(id: id, inserted: seen.insert(key).inserted))
                } else if let id = existing[key] {
                    results.append(EnqueuedJob(id: id, inserted: false))
                } else {
                    // The holder of the key finished (discarded/cancelled) between our insert and
                    // our look-up; the caller may simply enqueue again.
                    throw JobStoreError.uniqueKeyRace(key)
                }
            } else if let id = nextPlain.next() {
                results.append(EnqueuedJob(id: id, inserted: true))
            } else {
                throw JobStoreError.noRow("enqueue batch")
            }
        }
        return results
    }

    // MARK: Claim

    /// Claims up to `limit` available jobs of `queue`: one statement, `FOR UPDATE SKIP LOCKED`,
    /// by priority then run-at; counts the attempt, sets the lease from `now()` and bumps the epoch.
    /// Only `kinds` are claimed: a worker never takes a job it has no handler for.
    public static func claim(queue: String, kinds: [String], limit: Int, workerID: String, leaseSeconds: Double,
                             on db: PostgresConnection, logger: Logger) async throws -> [ClaimedJob] {
        let rows = try await db.query(claimQuery(queue: queue, kinds: kinds, limit: limit, workerID: workerID,
                                                 leaseSeconds: leaseSeconds), logger: logger)
        var claimed: [ClaimedJob] = []
        for try await (id, kind, queue, payload, attempt, maxAttempts, epoch, created) in rows.decode((Int64, String, String, String, Int, Int, Int64, Date).self) {
            claimed.append(ClaimedJob(id: id, kind: kind, queue: queue, payload: Data(payload.utf8), attempt: attempt,
                                      maxAttempts: maxAttempts, leaseEpoch: epoch, enqueuedAt: created))
        }
        return claimed.sorted { $0.id < $1.id }
    }

    /// The claim statement itself (the tests EXPLAIN it to check that its cost does not grow
    /// with history).
    public static func claimQuery(queue: String, kinds: [String], limit: Int, workerID: String,
                                  leaseSeconds: Double) -> PostgresQuery {
        """
            WITH next AS (
                SELECT id FROM jobs
                WHERE state = 'available' AND queue = \(queue) AND run_at <= now() AND kind = ANY(\(kinds))
                  AND NOT EXISTS (SELECT 1 FROM job_queues WHERE name = \(queue) AND paused_at IS NOT NULL)
                ORDER BY priority, run_at, id
                LIMIT \(limit)
                FOR UPDATE SKIP LOCKED
            )
            UPDATE jobs AS j
               SET state = 'running', attempt = j.attempt + 1, attempted_at = now(),
                   lease_owner = \(workerID), lease_expires_at = now() + make_interval(secs => \(leaseSeconds)),
                   lease_epoch = j.lease_epoch + 1, updated_at = now()
              FROM next WHERE j.id = next.id
            RETURNING j.id, j.kind, j.queue, j.payload::text, j.attempt, j.max_attempts, j.lease_epoch, j.created_at
            """
    }

    // MARK: Outcomes (each checks state and epoch)

    public struct Lease: Sendable, Hashable {
        public let id: Int64
        public let epoch: Int64
        public init(id: Int64, epoch: Int64) {
            self.id = id
            self.epoch = epoch
        }
    }

    /// The leases' rows still running at their epochs, locked in id order (binds: `$1` ids,
    /// `$2` epochs). `renew`, `complete` and `release` run at once on one worker's connections
    /// over overlapping jobs (a finished job stays held until its completion commits); rows
    /// locked in any other order can deadlock.
    static let heldInIDOrder = """
        held AS (
            SELECT j.id FROM jobs AS j
            JOIN unnest($1::bigint[], $2::bigint[]) AS lease(id, epoch) ON j.id = lease.id AND j.lease_epoch = lease.epoch
            WHERE j.state = 'running'
            ORDER BY j.id
            FOR UPDATE OF j
        )
        """

    static func heldQuery(_ leases: [Lease], _ sql: String, extraBinds: (inout PostgresBindings) -> Void = { _ in }) -> PostgresQuery {
        var binds = PostgresBindings()
        binds.append(leases.map(\.id))
        binds.append(leases.map(\.epoch))
        extraBinds(&binds)
        return PostgresQuery(unsafeSQL: "WITH \(heldInIDOrder)" + sql, binds: binds)
    }

    /// Completes the jobs still held at their epochs; returns the ids it completed.
    public static func complete(_ leases: [Lease], on db: PostgresConnection, logger: Logger) async throws -> Set<Int64> {
        guard !leases.isEmpty else { return [] }
        let rows = try await db.query(heldQuery(leases, """
            UPDATE jobs AS j
               SET state = 'completed', finalized_at = now(), updated_at = now(),
                   lease_owner = NULL, lease_expires_at = NULL
              FROM held
             WHERE j.id = held.id
            RETURNING j.id
            """), logger: logger)
        return try await ids(rows)
    }

    public enum FailureResult: Sendable, Equatable {
        case retryScheduled(afterSeconds: Double)
        case discarded
        case leaseLost
    }

    /// Records a failed attempt: `retryable` with a backoff delay while attempts remain,
    /// otherwise (or for a permanent error) `discarded`. The error joins the job's history.
    public static func fail(_ lease: Lease, message: String, retryable: Bool, delaySeconds: Double,
                            on db: PostgresConnection, logger: Logger) async throws -> FailureResult {
        let rows = try await db.query("""
            UPDATE jobs
               SET state = CASE WHEN \(retryable) AND attempt < max_attempts THEN 'retryable' ELSE 'discarded' END,
                   run_at = CASE WHEN \(retryable) AND attempt < max_attempts
                                 THEN now() + make_interval(secs => \(delaySeconds)) ELSE run_at END,
                   finalized_at = CASE WHEN \(retryable) AND attempt < max_attempts THEN NULL ELSE now() END,
                   errors = errors || jsonb_build_array(jsonb_build_object(
                       'attempt', attempt, 'at', now(), 'message', \(String(message.prefix(2000))), 'retryable', \(retryable))),
                   lease_owner = NULL, lease_expires_at = NULL, updated_at = now()
             WHERE id = \(lease.id) AND lease_epoch = \(lease.epoch) AND state = 'running'
            RETURNING state
            """, logger: logger)
        for try await state in rows.decode(String.self) {
            return state == "retryable" ? .retryScheduled(afterSeconds: delaySeconds) : .discarded
        }
        return .leaseLost
    }

    /// Runs the job again after `seconds` without using an attempt.
    public static func snooze(_ lease: Lease, seconds: Double, on db: PostgresConnection, logger: Logger) async throws -> Bool {
        try await transition(lease, on: db, logger: logger, """
            state = 'scheduled', run_at = now() + make_interval(secs => \(seconds)), attempt = attempt - 1
            """)
    }

    public static func cancel(_ lease: Lease, reason: String, on db: PostgresConnection, logger: Logger) async throws -> Bool {
        try await transition(lease, on: db, logger: logger, """
            state = 'cancelled', finalized_at = now(),
            errors = errors || jsonb_build_array(jsonb_build_object(
                'attempt', attempt, 'at', now(), 'message', \("cancelled: " + reason.prefix(2000)), 'retryable', false))
            """)
    }

    /// Gives a held job back untouched (graceful shutdown): available now, attempt not used.
    public static func release(_ leases: [Lease], on db: PostgresConnection, logger: Logger) async throws -> Set<Int64> {
        guard !leases.isEmpty else { return [] }
        let rows = try await db.query(heldQuery(leases, """
            , released AS (
                UPDATE jobs AS j
                   SET state = 'available', run_at = now(), attempt = j.attempt - 1,
                       lease_owner = NULL, lease_expires_at = NULL, updated_at = now()
                  FROM held
                 WHERE j.id = held.id
                RETURNING j.id, j.queue
            ), woken AS (
                SELECT pg_notify($3, queue) FROM (SELECT DISTINCT queue FROM released) AS q
            )
            SELECT id FROM released, (SELECT count(*) FROM woken) AS w
            """, extraBinds: { $0.append(channel) }), logger: logger)
        return try await ids(rows)
    }

    private static func transition(_ lease: Lease, on db: PostgresConnection, logger: Logger,
                                   _ assignments: PostgresQuery) async throws -> Bool {
        var query = PostgresQuery(unsafeSQL: "UPDATE jobs SET ", binds: assignments.binds)
        query.sql += assignments.sql
        let n = assignments.binds.count
        query.sql += """
            , lease_owner = NULL, lease_expires_at = NULL, updated_at = now()
             WHERE id = $\(n + 1) AND lease_epoch = $\(n + 2) AND state = 'running' RETURNING id
            """
        query.binds.append(lease.id, context: .default)
        query.binds.append(lease.epoch, context: .default)
        return try await !ids(db.query(query, logger: logger)).isEmpty
    }

    // MARK: Leases

    /// Renews this worker's leases; returns the ids it still holds. A job missing from the
    /// answer was rescued by someone else: its handler must stop.
    public static func renew(_ leases: [Lease], workerID: String, leaseSeconds: Double,
                             on db: PostgresConnection, logger: Logger) async throws -> Set<Int64> {
        guard !leases.isEmpty else { return [] }
        let rows = try await db.query(heldQuery(leases, """
            UPDATE jobs AS j
               SET lease_expires_at = now() + make_interval(secs => $3)
              FROM held
             WHERE j.id = held.id AND j.lease_owner = $4
            RETURNING j.id
            """, extraBinds: { $0.append(leaseSeconds); $0.append(workerID) }), logger: logger)
        return try await ids(rows)
    }

    public static func holdsLease(_ lease: Lease, on db: PostgresConnection, logger: Logger) async throws -> Bool {
        let rows = try await db.query("""
            SELECT id FROM jobs WHERE id = \(lease.id) AND lease_epoch = \(lease.epoch)
               AND state = 'running' AND lease_expires_at > now()
            """, logger: logger)
        return try await !ids(rows).isEmpty
    }

    public struct Rescued: Sendable, Equatable {
        public let id: Int64
        public let kind: String
        public let state: JobState
        /// Seconds between the lease's expiry and the rescue.
        public let overdueSeconds: Double
    }

    /// Jobs whose lease expired (their worker died or stalled) become available again, or
    /// discarded when that was their last attempt. Any live process may run this: the
    /// `state = 'running' AND lease_expires_at < now()` test is part of the UPDATE, so a job
    /// that completed meanwhile is never touched.
    public static func rescueExpired(limit: Int = 1000, on db: PostgresConnection, logger: Logger) async throws -> [Rescued] {
        let rows = try await db.query("""
            WITH expired AS (
                SELECT id, lease_expires_at FROM jobs
                WHERE state = 'running' AND lease_expires_at < now()
                ORDER BY lease_expires_at LIMIT \(limit)
                FOR UPDATE SKIP LOCKED
            ), rescued AS (
                UPDATE jobs AS j
                   SET state = CASE WHEN j.attempt >= j.max_attempts THEN 'discarded' ELSE 'available' END,
                       finalized_at = CASE WHEN j.attempt >= j.max_attempts THEN now() END,
                       run_at = now(),
                       errors = j.errors || jsonb_build_array(jsonb_build_object(
                           'attempt', j.attempt, 'at', now(), 'retryable', true,
                           'message', 'lease expired: worker ' || j.lease_owner || ' stopped renewing it')),
                       lease_owner = NULL, lease_expires_at = NULL, updated_at = now()
                  FROM expired
                 WHERE j.id = expired.id AND j.state = 'running'
                RETURNING j.id, j.kind, j.state, j.queue,
                          extract(epoch FROM now() - expired.lease_expires_at)::float8 AS overdue
            ), woken AS (
                SELECT pg_notify(\(channel), queue) FROM (SELECT DISTINCT queue FROM rescued WHERE state = 'available') AS q
            )
            SELECT id, kind, state, overdue FROM rescued, (SELECT count(*) FROM woken) AS w
            """, logger: logger)
        var rescued: [Rescued] = []
        for try await (id, kind, state, overdue) in rows.decode((Int64, String, String, Double?).self) {
            rescued.append(Rescued(id: id, kind: kind, state: JobState(rawValue: state) ?? .available, overdueSeconds: overdue ?? 0))
        }
        return rescued
    }

    /// Due `scheduled` and `retryable` jobs become `available` (and wake the workers).
    @discardableResult
    public static func promoteDue(limit: Int = 5000, on db: PostgresConnection, logger: Logger) async throws -> Int {
        let rows = try await db.query("""
            WITH due AS (
                SELECT id FROM jobs
                WHERE state IN ('scheduled', 'retryable') AND run_at <= now()
                ORDER BY run_at LIMIT \(limit)
                FOR UPDATE SKIP LOCKED
            ), promoted AS (
                UPDATE jobs AS j SET state = 'available', updated_at = now()
                  FROM due WHERE j.id = due.id
                RETURNING j.queue
            ), woken AS (
                SELECT pg_notify(\(channel), queue) FROM (SELECT DISTINCT queue FROM promoted) AS q
            )
            SELECT count(*)::int FROM promoted, (SELECT count(*) FROM woken) AS w
            """, logger: logger)
        var count = 0
        for try await n in rows.decode(Int.self) { count = n }
        return count
    }

    private static func ids(_ rows: PostgresRowSequence) async throws -> Set<Int64> {
        var ids: Set<Int64> = []
        for try await id in rows.decode(Int64.self) { ids.insert(id) }
        return ids
    }
}

public enum JobStoreError: Error, CustomStringConvertible {
    case noRow(String)
    case uniqueKeyRace(String)

    public var description: String {
        switch self {
        case .noRow(let what): "\(what): the database returned no row"
        case .uniqueKeyRace(let key): "unique key \(key) was freed while enqueueing; enqueue again"
        }
    }
}
