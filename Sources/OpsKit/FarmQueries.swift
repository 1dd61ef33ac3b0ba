import Foundation
import JobEngine
import Logging
import PostgresNIO
import TradingCore

// MARK: Queues

public struct QueueStatus: Sendable, Equatable {
    public var name: String
    public var depth: [JobState: Int]
    /// Seconds the oldest due `available` job has waited (since its run-at), nil when none.
    public var oldestAvailableSeconds: Double?
    public var pausedAt: Date?

    public var paused: Bool { pausedAt != nil }

    var json: JSONValue {
        .object([
            "name": .string(name), "paused": .bool(paused), "paused_at": J.date(pausedAt),
            "depth": .object(Dictionary(uniqueKeysWithValues: JobState.allCases.map { ($0.rawValue, J.int(depth[$0] ?? 0)) })),
            "oldest_available_age_seconds": J.seconds(oldestAvailableSeconds),
        ])
    }
}

public enum QueueQueries {
    /// Every queue that has jobs or a `job_queues` row.
    public static func status(on db: PostgresConnection, logger: Logger) async throws -> [QueueStatus] {
        var queues: [String: QueueStatus] = [:]
        let counts = try await db.query("""
            SELECT queue, state, count(*)::int,
                   extract(epoch FROM now() - min(run_at) FILTER (WHERE state = 'available' AND run_at <= now()))::float8
            FROM jobs GROUP BY queue, state
            """, logger: logger)
        for try await (queue, state, count, oldest) in counts.decode((String, String, Int, Double?).self) {
            var status = queues[queue] ?? QueueStatus(name: queue, depth: [:])
            if let state = JobState(rawValue: state) { status.depth[state] = count }
            if let oldest { status.oldestAvailableSeconds = oldest }
            queues[queue] = status
        }
        for try await (name, pausedAt) in try await db.query("SELECT name, paused_at FROM job_queues", logger: logger).decode((String, Date?).self) {
            var status = queues[name] ?? QueueStatus(name: name, depth: [:])
            status.pausedAt = pausedAt
            queues[name] = status
        }
        return queues.values.sorted { $0.name < $1.name }
    }

    /// Pauses (`paused = true`) or resumes a queue; returns its row. Workers skip a paused
    /// queue in their claim statement; a resume wakes them with the queue's NOTIFY.
    public static func setPaused(_ name: String, paused: Bool, on db: PostgresConnection, logger: Logger) async throws -> QueueStatus {
        let rows = try await db.query("""
            INSERT INTO job_queues AS q (name, paused_at, updated_at)
            VALUES (\(name), CASE WHEN \(paused) THEN now() END, now())
            ON CONFLICT (name) DO UPDATE
               SET paused_at = CASE WHEN \(paused) THEN coalesce(q.paused_at, now()) END, updated_at = now()
            RETURNING paused_at
            """, logger: logger)
        var status = QueueStatus(name: name, depth: [:])
        for try await pausedAt in rows.decode(Date?.self) { status.pausedAt = pausedAt }
        if !paused { try await db.query("SELECT pg_notify(\(JobStore.channel), \(name))", logger: logger) }
        return try await self.status(on: db, logger: logger).first { $0.name == name } ?? status
    }

    /// True if any job or worker ever named the queue (a pause of an unknown name is allowed,
    /// for a queue about to be used, but the CLI says so).
    public static func isKnown(_ name: String, on db: PostgresConnection, logger: Logger) async throws -> Bool {
        let rows = try await db.query("""
            SELECT EXISTS (SELECT 1 FROM jobs WHERE queue = \(name))
                OR EXISTS (SELECT 1 FROM job_workers WHERE \(name) = ANY(queues))
                OR EXISTS (SELECT 1 FROM job_queues WHERE name = \(name))
            """, logger: logger)
        for try await known in rows.decode(Bool.self) { return known }
        return false
    }
}

public struct QueuesReport: OpsReport {
    public let queues: [QueueStatus]

    public init(queues: [QueueStatus]) { self.queues = queues }

    public var json: JSONValue { .object(["queues": .array(queues.map(\.json))]) }

    public var text: String {
        guard !queues.isEmpty else { return "no queues (no jobs yet)" }
        let states = JobState.allCases
        return Output.table(["queue", "paused"] + states.map(\.rawValue) + ["oldest available"], queues.map { queue in
            [queue.name, queue.pausedAt.map { "since " + Output.time($0) } ?? "no"] + states.map { String(queue.depth[$0] ?? 0) }
                + [Output.age(queue.oldestAvailableSeconds)]
        })
    }
}

public struct QueuePauseReport: OpsReport {
    public let queue: QueueStatus
    public let known: Bool

    public init(queue: QueueStatus, known: Bool) {
        self.queue = queue
        self.known = known
    }

    public var json: JSONValue {
        guard case .object(var fields) = queue.json else { return .null }
        fields["known"] = .bool(known)
        return .object(["queue": .object(fields)])
    }

    public var text: String {
        var text = queue.paused
            ? "queue \(queue.name) paused since \(Output.time(queue.pausedAt)): workers claim nothing from it (jobs they hold run to the end)"
            : "queue \(queue.name) resumed: workers claim from it again"
        if !known { text += "\nnote: no job or worker has used queue \(queue.name) yet (check the name: `hybridhub-ops queues`)" }
        return text
    }
}

// MARK: Workers

public struct WorkerStatus: Sendable, Equatable {
    public var id: String
    public var host: String
    public var pid: Int
    public var queues: [String]
    public var concurrency: Int
    public var startedAt: Date
    public var heartbeatAgeSeconds: Double
    public var stopping: Bool
    /// Running jobs whose lease this worker holds.
    public var jobsInHand: [Int64]

    /// A worker heartbeats every second or so; one silent for 10 s is probably dead (a killed
    /// process leaves its row until the scheduler forgets it after an hour).
    public var isStale: Bool { heartbeatAgeSeconds > 10 }

    var json: JSONValue {
        .object([
            "id": .string(id), "host": .string(host), "pid": J.int(pid), "queues": .array(queues.map { .string($0) }),
            "concurrency": J.int(concurrency), "started_at": J.date(startedAt),
            "heartbeat_age_seconds": J.seconds(heartbeatAgeSeconds), "stale": .bool(isStale), "stopping": .bool(stopping),
            "jobs_in_hand": .array(jobsInHand.map { J.int($0) }), "jobs_in_hand_count": J.int(jobsInHand.count),
        ])
    }
}

public enum WorkerQueries {
    public static func workers(on db: PostgresConnection, logger: Logger) async throws -> [WorkerStatus] {
        let rows = try await db.query("""
            SELECT w.id, w.host, w.pid, w.queues, w.concurrency, w.started_at,
                   extract(epoch FROM now() - w.heartbeat_at)::float8, w.stopping,
                   coalesce((SELECT array_agg(j.id ORDER BY j.id) FROM jobs j WHERE j.state = 'running' AND j.lease_owner = w.id), '{}')
            FROM job_workers w ORDER BY w.started_at, w.id
            """, logger: logger)
        var result: [WorkerStatus] = []
        for try await row in rows {
            let c = row.makeRandomAccess()
            result.append(WorkerStatus(
                id: try c[0].decode(String.self), host: try c[1].decode(String.self), pid: try c[2].decode(Int.self),
                queues: try c[3].decode([String].self), concurrency: try c[4].decode(Int.self), startedAt: try c[5].decode(Date.self),
                heartbeatAgeSeconds: try c[6].decode(Double.self), stopping: try c[7].decode(Bool.self), jobsInHand: try c[8].decode([Int64].self)))
        }
        return result
    }
}

public struct WorkersReport: OpsReport {
    public let workers: [WorkerStatus]

    public init(workers: [WorkerStatus]) { self.workers = workers }

    public var json: JSONValue { .object(["workers": .array(workers.map(\.json))]) }

    public var text: String {
        guard !workers.isEmpty else { return "no worker processes registered (start one with `hybridhub worker`)" }
        return Output.table(["worker", "host", "pid", "queues", "heartbeat", "jobs in hand", "stopping"], workers.map { w in
            [w.id, w.host, String(w.pid), w.queues.joined(separator: ","),
             Output.age(w.heartbeatAgeSeconds) + " ago" + (w.isStale ? " (stale: probably dead)" : ""),
             w.jobsInHand.isEmpty ? "0" : "\(w.jobsInHand.count): " + w.jobsInHand.prefix(8).map(String.init).joined(separator: ",") + (w.jobsInHand.count > 8 ? ",…" : ""),
             w.stopping ? "yes" : "no"]
        }, maxWidth: 80)
    }
}

// MARK: Leaders

public struct LeaderStatus: Sendable, Equatable {
    public var name: String
    public var holder: String
    public var epoch: Int64
    public var since: Date
    public var expiresAt: Date
    /// Seconds until the lease expires (negative: expired, nobody leads until a standby renews).
    public var remainingSeconds: Double

    public var isLive: Bool { remainingSeconds > 0 }

    var json: JSONValue {
        .object([
            "name": .string(name), "holder": .string(holder), "epoch": J.int(epoch), "since": J.date(since),
            "expires_at": J.date(expiresAt), "expires_in_seconds": J.seconds(remainingSeconds), "live": .bool(isLive),
        ])
    }
}

public enum LeaderQueries {
    public static func leaders(on db: PostgresConnection, logger: Logger) async throws -> [LeaderStatus] {
        let rows = try await db.query("""
            SELECT name, holder, epoch, acquired_at, expires_at, extract(epoch FROM expires_at - now())::float8
            FROM leader_leases ORDER BY name
            """, logger: logger)
        var result: [LeaderStatus] = []
        for try await (name, holder, epoch, since, expires, remaining) in rows.decode((String, String, Int64, Date, Date, Double).self) {
            result.append(LeaderStatus(name: name, holder: holder, epoch: epoch, since: since, expiresAt: expires, remainingSeconds: remaining))
        }
        return result
    }
}

public struct LeaderReport: OpsReport {
    public let leaders: [LeaderStatus]

    public init(leaders: [LeaderStatus]) { self.leaders = leaders }

    public var json: JSONValue { .object(["leaders": .array(leaders.map(\.json))]) }

    public var text: String {
        guard !leaders.isEmpty else { return "no leader lease (no scheduler has run here; start one with `hybridhub scheduler`)" }
        return Output.table(["role", "leader", "epoch", "since", "lease"], leaders.map { l in
            [l.name, l.isLive ? l.holder : "\(l.holder) (lease expired: nobody leads until a standby renews)", String(l.epoch),
             Output.time(l.since), l.isLive ? "expires in \(Output.age(l.remainingSeconds))" : "expired \(Output.age(-l.remainingSeconds)) ago"]
        }, maxWidth: 90)
    }
}
