import Foundation
import JobEngine
import Logging
import PostgresNIO
import TradingCore

/// The operator's transitions, with the engine's own fencing.
///
/// Every change names the state and lease epoch it saw (`UPDATE … WHERE id = c.id AND state =
/// c.state AND lease_epoch = c.epoch`), as the engine's transitions out of `running` do, so a
/// job a worker claimed, finished or failed in between is left alone and reported as changed.
///
/// - requeue: `discarded`, `cancelled`, `retryable` or `scheduled` → `available` now, attempts
///   reset to 0 (the job gets its full `max_attempts` again), `finalized_at` cleared, a note
///   appended to the error history, workers woken. A job whose unique key another live or
///   completed job holds now is skipped (requeueing it would run the same work twice).
/// - cancel: `available`, `scheduled` or `retryable` → `cancelled` (terminal, frees its unique
///   key), with a note in the error history.
/// - A `running` job under a live lease is touched only with `force`. It is then made
///   non-claimable (`cancelled`) or given back (`available`) with its lease cleared; the worker
///   that holds it learns at its next lease renewal (every heartbeat, 1 s) that the job is gone,
///   cancels its handler and drops its outcome (complete/fail name the old epoch and match
///   nothing). What the handler already did outside the database is not undone. A running job
///   whose lease has expired (its worker died) needs no `force`.
public enum JobAction: String, Sendable {
    case requeue, cancel

    /// What the action can change (running: only with a dead lease or `force`).
    public var actionableStates: [JobState] {
        switch self {
        case .requeue: [.discarded, .cancelled, .retryable, .scheduled, .running]
        case .cancel: [.available, .scheduled, .retryable, .running]
        }
    }

    /// Why `job` is left alone, or nil if the action applies. Pure: tested without a database.
    public func refusal(_ job: JobSummary, force: Bool, keyHolder: Int64?) -> String? {
        switch (self, job.state) {
        case (.requeue, .available): return "already available"
        case (.requeue, .completed): return "completed; a completed job is not run again (enqueue a new one)"
        case (.cancel, .completed), (.cancel, .discarded), (.cancel, .cancelled):
            return "already \(job.state.rawValue) (terminal); only available, scheduled, retryable and running jobs can be cancelled"
        default: break
        }
        if job.heldByLiveLease && !force {
            return "running on worker \(job.leaseOwner ?? "?") under a live lease (epoch \(job.leaseEpoch), \(Output.age(job.leaseRemainingSeconds)) left); "
                + "add --force to \(rawValue) it: the worker drops its outcome at its next lease renewal, but what its handler already did is not undone"
        }
        if self == .requeue, let holder = keyHolder {
            return "its unique key \(job.uniqueKey ?? "") is held by job \(holder) now; requeueing would run that work twice"
        }
        return nil
    }
}

public struct JobActionResult: Sendable {
    public struct Skipped: Sendable, Equatable {
        public let id: Int64
        public let state: JobState
        public let reason: String
    }

    public var action: JobAction
    /// False for a dry run (a bulk action without `--apply`).
    public var applied: Bool
    public var bulk: Bool
    /// The jobs the action applies (or would apply) to, as they were before.
    public var targets: [JobSummary]
    /// Ids actually changed (empty for a dry run).
    public var changed: [Int64]
    /// The changed jobs as they are now (empty for a dry run).
    public var after: [JobSummary] = []
    public var skipped: [Skipped]
}

public enum JobActions {
    /// Plans (and with `apply`, performs) `action` on `id` or on every job `filter` matches.
    public static func run(_ action: JobAction, id: Int64?, filter: JobFilter, force: Bool, apply: Bool,
                           on db: PostgresConnection, logger: Logger) async throws -> JobActionResult {
        var candidates: [JobSummary]
        if let id {
            guard let job = try await JobQueries.summary(id, on: db, logger: logger) else { throw JobQueries.notFound(id) }
            candidates = [job]
        } else {
            var scoped = filter
            let allowed = action.actionableStates
            scoped.states = filter.states.isEmpty ? allowed : filter.states.filter(allowed.contains)
            if scoped.states.isEmpty {
                throw OpsError("\(action.rawValue) acts on \(allowed.map(\.rawValue).joined(separator: ", ")) jobs; "
                               + "--state \(filter.states.map(\.rawValue).joined(separator: ",")) selects none of them")
            }
            candidates = try await JobSummary.decode(db.query(JobQueries.matching(scoped, afterID: nil, limit: nil), logger: logger))
        }
        let holders = action == .requeue ? try await keyHolders(candidates, on: db, logger: logger) : [:]
        var targets: [JobSummary] = []
        var skipped: [JobActionResult.Skipped] = []
        for job in candidates {
            if let reason = action.refusal(job, force: force, keyHolder: holders[job.id]) {
                skipped.append(.init(id: job.id, state: job.state, reason: reason))
            } else {
                targets.append(job)
            }
        }
        var result = JobActionResult(action: action, applied: false, bulk: id == nil, targets: targets, changed: [], skipped: skipped)
        guard apply || id != nil, !targets.isEmpty else { return result }
        let changed = try await perform(action, targets, force: force, on: db, logger: logger)
        result.applied = true
        result.changed = targets.map(\.id).filter(changed.contains)
        result.after = try await JobSummary.decode(db.query(
            "SELECT \(unescaped: JobSummary.columns) FROM jobs WHERE id = ANY(\(result.changed)) ORDER BY id DESC", logger: logger))
        for job in targets where !changed.contains(job.id) {
            let now = try await JobQueries.summary(job.id, on: db, logger: logger)
            result.skipped.append(.init(id: job.id, state: job.state, reason:
                "changed meanwhile (now \(now?.state.rawValue ?? "gone"), epoch \(now.map { String($0.leaseEpoch) } ?? "-")); nothing done, look again"))
        }
        return result
    }

    /// For each candidate with a unique key: the other job that holds the key now (a live or
    /// completed one), which a requeue must not duplicate.
    static func keyHolders(_ jobs: [JobSummary], on db: PostgresConnection, logger: Logger) async throws -> [Int64: Int64] {
        let keyed = jobs.filter { $0.uniqueKey != nil && !JobState.live.contains($0.state) }
        guard !keyed.isEmpty else { return [:] }
        let rows = try await db.query("""
            SELECT c.id, h.id FROM unnest(\(keyed.map(\.id)), \(keyed.map { $0.uniqueKey ?? "" })) AS c(id, key)
            JOIN jobs h ON h.unique_key = c.key AND h.id <> c.id
             AND h.state IN \(unescaped: JobState.sqlList(JobState.holdingUniqueKey))
            """, logger: logger)
        var holders: [Int64: Int64] = [:]
        for try await (id, holder) in rows.decode((Int64, Int64).self) { holders[id] = holder }
        return holders
    }

    /// One UPDATE for all targets, each fenced by the state and epoch it was seen at.
    static func perform(_ action: JobAction, _ jobs: [JobSummary], force: Bool, on db: PostgresConnection,
                        logger: Logger) async throws -> Set<Int64> {
        let ids = jobs.map(\.id), epochs = jobs.map(\.leaseEpoch), states = jobs.map(\.state.rawValue)
        let query: PostgresQuery
        switch action {
        case .requeue:
            query = """
                WITH changed AS (
                    UPDATE jobs AS j
                       SET state = 'available', run_at = now(), attempt = 0, finalized_at = NULL,
                           lease_owner = NULL, lease_expires_at = NULL, updated_at = now(),
                           errors = j.errors || jsonb_build_array(jsonb_build_object(
                               'attempt', j.attempt, 'at', now(), 'retryable', true,
                               'message', 'requeued by an operator (hybridhub-ops) from ' || j.state || '; attempts reset'))
                      FROM unnest(\(ids), \(epochs), \(states)) AS c(id, epoch, state)
                     WHERE j.id = c.id AND j.lease_epoch = c.epoch AND j.state = c.state
                       AND (j.state <> 'running' OR \(force) OR j.lease_expires_at <= now())
                       AND (j.unique_key IS NULL OR j.state IN ('scheduled', 'retryable', 'running') OR NOT EXISTS (
                           SELECT 1 FROM jobs h WHERE h.unique_key = j.unique_key AND h.id <> j.id
                              AND h.state IN \(unescaped: JobState.sqlList(JobState.holdingUniqueKey))))
                    RETURNING j.id, j.queue
                ), woken AS (
                    SELECT pg_notify(\(JobStore.channel), queue) FROM (SELECT DISTINCT queue FROM changed) AS q
                )
                SELECT id FROM changed, (SELECT count(*) FROM woken) AS w
                """
        case .cancel:
            query = """
                UPDATE jobs AS j
                   SET state = 'cancelled', finalized_at = now(), lease_owner = NULL, lease_expires_at = NULL, updated_at = now(),
                       errors = j.errors || jsonb_build_array(jsonb_build_object(
                           'attempt', j.attempt, 'at', now(), 'retryable', false,
                           'message', 'cancelled by an operator (hybridhub-ops) while ' || j.state))
                  FROM unnest(\(ids), \(epochs), \(states)) AS c(id, epoch, state)
                 WHERE j.id = c.id AND j.lease_epoch = c.epoch AND j.state = c.state
                   AND (j.state <> 'running' OR \(force) OR j.lease_expires_at <= now())
                RETURNING j.id
                """
        }
        var changed: Set<Int64> = []
        for try await id in try await db.query(query, logger: logger).decode(Int64.self) { changed.insert(id) }
        return changed
    }
}

public struct JobActionReport: OpsReport {
    public let result: JobActionResult

    public init(result: JobActionResult) { self.result = result }

    public var json: JSONValue {
        .object([
            "action": .string(result.action.rawValue), "applied": .bool(result.applied), "bulk": .bool(result.bulk),
            "jobs": .array(result.targets.map(\.json)), "count": J.int(result.targets.count),
            "changed": .array(result.changed.map { J.int($0) }), "after": .array(result.after.map(\.json)),
            "skipped": .array(result.skipped.map { .object(["id": J.int($0.id), "state": .string($0.state.rawValue), "reason": .string($0.reason)]) }),
        ])
    }

    public var text: String {
        let verb = result.action.rawValue
        var parts: [String] = []
        let rows = result.applied ? result.after : result.targets
        if !rows.isEmpty {
            let shown = rows.prefix(50)
            parts.append(Output.table(JobSummary.headers, shown.map(\.row)))
            if rows.count > shown.count { parts.append("… and \(rows.count - shown.count) more (--json lists them all)") }
        }
        if result.applied {
            parts.append("\(verb): changed \(result.changed.count) job\(result.changed.count == 1 ? "" : "s")"
                         + (result.changed.count <= 20 && !result.changed.isEmpty ? " (\(result.changed.map(String.init).joined(separator: ", ")))" : ""))
            if result.action == .cancel, result.targets.contains(where: { $0.state == .running }) {
                parts.append("running jobs were cancelled under their worker: it drops their outcome at its next lease renewal (about 1 s)")
            }
        } else if result.targets.isEmpty {
            parts.append("\(verb): nothing to do")
        } else {
            parts.append("dry run: \(verb) would change \(result.targets.count) job\(result.targets.count == 1 ? "" : "s"); nothing changed. Add --apply to do it.")
        }
        if result.action == .cancel, result.targets.contains(where: { $0.kind == "submit-order" }) {
            parts.append("warning: a cancelled submit-order leaves its trade order pending_submit, which the tick's safety net does not poll, "
                         + "and an earlier attempt may already have placed it at Alpaca; prefer requeue (each run looks the order up first)")
        }
        for skip in result.skipped.prefix(50) { parts.append("skipped job \(skip.id) (\(skip.state.rawValue)): \(skip.reason)") }
        if result.skipped.count > 50 { parts.append("… and \(result.skipped.count - 50) more skipped") }
        return parts.joined(separator: "\n")
    }
}
