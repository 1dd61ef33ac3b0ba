import Foundation
import JobEngine
import Logging
import PostgresNIO
import TradingCore

/// Which jobs a listing or a bulk action covers. Empty lists mean "any".
public struct JobFilter: Sendable, Equatable {
    public var states: [JobState] = []
    public var kinds: [String] = []
    public var queues: [String] = []
    /// Created at least this many seconds ago.
    public var olderThanSeconds: Double?
    /// Created at most this many seconds ago.
    public var newerThanSeconds: Double?

    public init(states: [JobState] = [], kinds: [String] = [], queues: [String] = [],
                olderThanSeconds: Double? = nil, newerThanSeconds: Double? = nil) {
        self.states = states
        self.kinds = kinds
        self.queues = queues
        self.olderThanSeconds = olderThanSeconds
        self.newerThanSeconds = newerThanSeconds
    }

    /// Parses the command-line values; a bad one is named in the error.
    public static func parse(states: [String], kinds: [String], queues: [String], olderThan: String?,
                             newerThan: String?) throws -> JobFilter {
        let split = { (values: [String]) in values.flatMap { $0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } }.filter { !$0.isEmpty } }
        var filter = JobFilter(kinds: split(kinds), queues: split(queues))
        for name in split(states) {
            guard let state = JobState(rawValue: name.lowercased()) else {
                throw OpsError("bad --state '\(name)': use one of \(JobState.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            filter.states.append(state)
        }
        filter.olderThanSeconds = try olderThan.map { try DurationText.seconds($0, option: "--older-than") }
        filter.newerThanSeconds = try newerThan.map { try DurationText.seconds($0, option: "--newer-than") }
        return filter
    }

    public var isEmpty: Bool { self == JobFilter() }
}

/// One job as the listings show it (ages computed on database time).
public struct JobSummary: Sendable, Equatable {
    public var id: Int64
    public var kind: String
    public var queue: String
    public var state: JobState
    public var priority: Int
    public var attempt: Int
    public var maxAttempts: Int
    public var runAt: Date
    public var createdAt: Date
    public var updatedAt: Date
    public var attemptedAt: Date?
    public var finalizedAt: Date?
    public var leaseOwner: String?
    public var leaseExpiresAt: Date?
    public var leaseEpoch: Int64
    public var uniqueKey: String?
    public var errorCount: Int
    public var lastError: String?
    /// Seconds since creation.
    public var ageSeconds: Double
    /// Seconds until the lease expires (negative: expired); nil when not running.
    public var leaseRemainingSeconds: Double?

    /// Running under a lease that has not expired: a live worker holds it.
    public var heldByLiveLease: Bool { state == .running && (leaseRemainingSeconds ?? 0) > 0 }

    static let columns = """
        id, kind, queue, state, priority::int, attempt, max_attempts, run_at, created_at, updated_at, attempted_at,
        finalized_at, lease_owner, lease_expires_at, lease_epoch, unique_key, jsonb_array_length(errors),
        errors->-1->>'message', extract(epoch FROM now() - created_at)::float8,
        extract(epoch FROM lease_expires_at - now())::float8
        """

    static func decode(_ rows: PostgresRowSequence) async throws -> [JobSummary] {
        var result: [JobSummary] = []
        for try await row in rows {
            let c = row.makeRandomAccess()
            result.append(JobSummary(
                id: try c[0].decode(Int64.self), kind: try c[1].decode(String.self), queue: try c[2].decode(String.self),
                state: JobState(rawValue: try c[3].decode(String.self)) ?? .available, priority: try c[4].decode(Int.self),
                attempt: try c[5].decode(Int.self), maxAttempts: try c[6].decode(Int.self), runAt: try c[7].decode(Date.self),
                createdAt: try c[8].decode(Date.self), updatedAt: try c[9].decode(Date.self),
                attemptedAt: try c[10].decode(Date?.self), finalizedAt: try c[11].decode(Date?.self),
                leaseOwner: try c[12].decode(String?.self), leaseExpiresAt: try c[13].decode(Date?.self),
                leaseEpoch: try c[14].decode(Int64.self), uniqueKey: try c[15].decode(String?.self),
                errorCount: try c[16].decode(Int.self), lastError: try c[17].decode(String?.self),
                ageSeconds: try c[18].decode(Double.self), leaseRemainingSeconds: try c[19].decode(Double?.self)))
        }
        return result
    }

    var json: JSONValue {
        .object([
            "id": J.int(id), "kind": .string(kind), "queue": .string(queue), "state": .string(state.rawValue),
            "priority": J.int(priority), "attempt": J.int(attempt), "max_attempts": J.int(maxAttempts),
            "run_at": J.date(runAt), "created_at": J.date(createdAt), "updated_at": J.date(updatedAt),
            "attempted_at": J.date(attemptedAt), "finalized_at": J.date(finalizedAt),
            "lease_owner": J.str(leaseOwner), "lease_expires_at": J.date(leaseExpiresAt), "lease_epoch": J.int(leaseEpoch),
            "lease_live": .bool(heldByLiveLease), "unique_key": J.str(uniqueKey), "error_count": J.int(errorCount),
            "last_error": J.str(lastError), "age_seconds": J.seconds(ageSeconds),
        ])
    }

    var row: [String] {
        [String(id), kind, queue, state.rawValue, "\(attempt)/\(maxAttempts)", Output.age(ageSeconds),
         state == .running ? "\(leaseOwner ?? "?") (\(Output.age(leaseRemainingSeconds)))" : "", lastError ?? ""]
    }

    static let headers = ["id", "kind", "queue", "state", "attempt", "age", "lease (left)", "last error"]
}

/// One entry of a job's error history (the engine appends one per failed attempt).
public struct JobErrorEntry: Sendable, Equatable {
    public var attempt: Int
    public var at: Date?
    public var message: String
    public var retryable: Bool

    var json: JSONValue {
        .object(["attempt": J.int(attempt), "at": J.date(at), "message": .string(message), "retryable": .bool(retryable)])
    }
}

public struct JobDetail: Sendable {
    public var summary: JobSummary
    public var payload: JSONValue
    public var errors: [JobErrorEntry]
}

public enum JobQueries {
    /// Newest first; `afterID` is the cursor (the last id of the previous page).
    public static func list(_ filter: JobFilter, limit: Int, afterID: Int64?, on db: PostgresConnection,
                            logger: Logger) async throws -> [JobSummary] {
        try await JobSummary.decode(db.query(matching(filter, afterID: afterID, limit: limit), logger: logger))
    }

    /// The filtered selection, newest first, shared by the listing and the bulk actions.
    static func matching(_ filter: JobFilter, afterID: Int64?, limit: Int?) -> PostgresQuery {
        let states = filter.states.map(\.rawValue)
        return """
            SELECT \(unescaped: JobSummary.columns) FROM jobs
            WHERE (cardinality(\(states)::text[]) = 0 OR state = ANY(\(states)::text[]))
              AND (cardinality(\(filter.kinds)::text[]) = 0 OR kind = ANY(\(filter.kinds)::text[]))
              AND (cardinality(\(filter.queues)::text[]) = 0 OR queue = ANY(\(filter.queues)::text[]))
              AND (\(filter.olderThanSeconds)::float8 IS NULL OR created_at <= now() - make_interval(secs => \(filter.olderThanSeconds)::float8))
              AND (\(filter.newerThanSeconds)::float8 IS NULL OR created_at >= now() - make_interval(secs => \(filter.newerThanSeconds)::float8))
              AND (\(afterID)::bigint IS NULL OR id < \(afterID)::bigint)
            ORDER BY id DESC
            LIMIT \(limit)
            """
    }

    public static func summary(_ id: Int64, on db: PostgresConnection, logger: Logger) async throws -> JobSummary? {
        try await JobSummary.decode(db.query("SELECT \(unescaped: JobSummary.columns) FROM jobs WHERE id = \(id)", logger: logger)).first
    }

    public static func detail(_ id: Int64, on db: PostgresConnection, logger: Logger) async throws -> JobDetail? {
        guard let summary = try await summary(id, on: db, logger: logger) else { return nil }
        var payload = JSONValue.null
        for try await text in try await db.query("SELECT payload::text FROM jobs WHERE id = \(id)", logger: logger).decode(String.self) {
            payload = (try? JSONValue.parse(text)) ?? .string(text)
        }
        let rows = try await db.query("""
            SELECT coalesce((e->>'attempt')::int, 0), (e->>'at')::timestamptz, coalesce(e->>'message', ''),
                   coalesce((e->>'retryable')::bool, false)
            FROM jobs, jsonb_array_elements(errors) WITH ORDINALITY AS x(e, n)
            WHERE id = \(id) ORDER BY n
            """, logger: logger)
        var errors: [JobErrorEntry] = []
        for try await (attempt, at, message, retryable) in rows.decode((Int, Date?, String, Bool).self) {
            errors.append(JobErrorEntry(attempt: attempt, at: at, message: message, retryable: retryable))
        }
        return JobDetail(summary: summary, payload: payload, errors: errors)
    }

    /// The error for an id that is not there.
    public static func notFound(_ id: Int64) -> OpsError {
        OpsError("no job with id \(id) (finished jobs are pruned after their retention; `hybridhub-ops jobs list` shows the jobs there are)")
    }
}

// MARK: Reports

public struct JobListReport: OpsReport {
    public let jobs: [JobSummary]
    public let limit: Int

    public init(jobs: [JobSummary], limit: Int) {
        self.jobs = jobs
        self.limit = limit
    }

    /// The cursor of the next page, when this page was full.
    public var nextAfterID: Int64? { jobs.count == limit ? jobs.last?.id : nil }

    public var json: JSONValue {
        .object(["jobs": .array(jobs.map(\.json)), "count": J.int(jobs.count), "next_after_id": J.int(nextAfterID)])
    }

    public var text: String {
        guard !jobs.isEmpty else { return "no jobs match" }
        var text = Output.table(JobSummary.headers, jobs.map(\.row))
        text += "\n\(jobs.count) job\(jobs.count == 1 ? "" : "s")"
        if let next = nextAfterID { text += "; next page: --after-id \(next)" }
        return text
    }
}

public struct JobShowReport: OpsReport {
    public let detail: JobDetail

    public init(detail: JobDetail) { self.detail = detail }

    public var json: JSONValue {
        guard case .object(var fields) = detail.summary.json else { return .null }
        fields["payload"] = detail.payload
        fields["errors"] = .array(detail.errors.map(\.json))
        return .object(["job": .object(fields)])
    }

    public var text: String {
        let s = detail.summary
        var lease = "none"
        if s.state == .running {
            let left = s.leaseRemainingSeconds ?? 0
            lease = "\(s.leaseOwner ?? "?") until \(Output.time(s.leaseExpiresAt)) (" + (left > 0 ? "\(Output.age(left)) left" : "expired \(Output.age(-left)) ago; a worker's sweep rescues it") + ")"
        }
        var text = Output.fields([
            ("job", String(s.id)), ("kind", s.kind), ("queue", s.queue), ("state", s.state.rawValue),
            ("priority", String(s.priority)), ("attempts", "\(s.attempt) of \(s.maxAttempts)"),
            ("lease", lease), ("lease epoch", String(s.leaseEpoch)), ("unique key", s.uniqueKey ?? ""),
            ("created", Output.time(s.createdAt) + " (\(Output.age(s.ageSeconds)) ago)"), ("run at", Output.time(s.runAt)),
            ("attempted", Output.time(s.attemptedAt)), ("finalized", Output.time(s.finalizedAt)), ("updated", Output.time(s.updatedAt)),
            ("payload", detail.payload.canonicalString()),
        ])
        text += "\n\nerror history (\(detail.errors.count)):"
        if detail.errors.isEmpty { return text + " none" }
        text += "\n" + Output.table(["attempt", "at", "retryable", "message"], detail.errors.map {
            [String($0.attempt), Output.time($0.at), $0.retryable ? "yes" : "no", $0.message]
        }, maxWidth: 200)
        return text
    }
}
