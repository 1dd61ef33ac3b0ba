import Foundation
import HybridSettings
import HybridTestSupport
import JobEngine
import PostgresNIO
import Testing
import TradingCore

let logger = TestDatabase.logger

/// The built `hybridhub-ops`, run as a real process against one test database.
struct OpsCLI: Sendable {
    let executable: URL
    let environment: [String: String]

    init(_ db: DatabaseSettings, extra: [String: String] = [:]) throws {
        executable = try ChildProcess.executable("hybridhub-ops")
        environment = ChildProcess.environment(for: db, extra: extra)
    }

    func run(_ arguments: String...) async throws -> ChildProcess.Result {
        try await run(arguments)
    }

    func run(_ arguments: [String]) async throws -> ChildProcess.Result {
        try await ChildProcess.run(executable, arguments, environment: environment)
    }

    /// Runs with `--json`, expects exit 0 and returns the parsed document.
    func json(_ arguments: String...) async throws -> JSONValue {
        let result = try await run(arguments + ["--json"])
        #expect(result.status == 0, "hybridhub-ops \(arguments.joined(separator: " ")) --json: \(result.stderr)")
        return try JSONValue.parse(result.stdout)
    }

    /// Runs, expects exit 0 and returns stdout.
    func table(_ arguments: String...) async throws -> String {
        let result = try await run(arguments)
        #expect(result.status == 0, "hybridhub-ops \(arguments.joined(separator: " ")): \(result.stderr)")
        return result.stdout
    }
}

extension PostgresClient {
    /// Every job row as text, to prove that a dry run changed nothing.
    func jobsSnapshot() async throws -> [String] {
        try await withConnection { db in
            var rows: [String] = []
            for try await text in try await db.query("SELECT j::text FROM jobs j ORDER BY id", logger: logger).decode(String.self) { rows.append(text) }
            return rows
        }
    }

    func state(_ id: Int64) async throws -> (state: String, attempt: Int, epoch: Int64) {
        try await withConnection { db in
            for try await row in try await db.query("SELECT state, attempt, lease_epoch FROM jobs WHERE id = \(id)", logger: logger).decode((String, Int, Int64).self) {
                return row
            }
            return ("missing", 0, 0)
        }
    }

    func enqueue(_ job: NewJob) async throws -> Int64 {
        try await withConnection { try await JobStore.enqueue(job, on: $0, logger: logger).id }
    }

    /// Enqueues one job and claims it (alone in its queue) for `worker`.
    func claimed(_ kind: String, queue: String, worker: String = "w-live", lease: Double = 300, key: String? = nil,
                 maxAttempts: Int = 3, payload: String = "{}") async throws -> (id: Int64, lease: JobStore.Lease) {
        let id = try await enqueue(NewJob(kind: kind, queue: queue, payload: payload, maxAttempts: maxAttempts, uniqueKey: key))
        let claimed = try await withConnection {
            try await JobStore.claim(queue: queue, kinds: [kind], limit: 1, workerID: worker, leaseSeconds: lease, on: $0, logger: logger)
        }
        let job = try #require(claimed.first { $0.id == id })
        return (id, JobStore.Lease(id: id, epoch: job.leaseEpoch))
    }
}

/// A farm in every state. Kinds alpha/beta, queues q1/q2; `old*` jobs were created (and
/// finished) three days ago.
struct SeededJobs: Sendable {
    var available: Int64 = 0
    var scheduled: Int64 = 0
    var running: Int64 = 0
    var runningLease = JobStore.Lease(id: 0, epoch: 0)
    var expired: Int64 = 0
    var retryable: Int64 = 0
    var completed: Int64 = 0
    var discarded: Int64 = 0
    var cancelled: Int64 = 0
    var oldCompleted: Int64 = 0
    var oldDiscarded: Int64 = 0

    static func seed(_ client: PostgresClient) async throws -> SeededJobs {
        var s = SeededJobs()
        s.oldCompleted = try await client.claimed("alpha", queue: "q1").id
        _ = try await client.withConnection { try await JobStore.complete([JobStore.Lease(id: s.oldCompleted, epoch: 1)], on: $0, logger: logger) }
        s.oldDiscarded = try await client.claimed("beta", queue: "q2", payload: #"{"n": 1}"#).id
        _ = try await client.withConnection {
            try await JobStore.fail(JobStore.Lease(id: s.oldDiscarded, epoch: 1), message: "old failure", retryable: false, delaySeconds: 0, on: $0, logger: logger)
        }
        try await client.exec("""
            UPDATE jobs SET created_at = now() - interval '3 days', finalized_at = now() - interval '3 days'
            WHERE id IN (\(s.oldCompleted), \(s.oldDiscarded))
            """)
        s.completed = try await client.claimed("alpha", queue: "q1").id
        _ = try await client.withConnection { try await JobStore.complete([JobStore.Lease(id: s.completed, epoch: 1)], on: $0, logger: logger) }
        s.discarded = try await client.claimed("beta", queue: "q2", key: "beta:discarded", payload: #"{"order": "x-1"}"#).id
        _ = try await client.withConnection { db in
            _ = try await JobStore.fail(JobStore.Lease(id: s.discarded, epoch: 1), message: "HTTP 422: symbol not tradable", retryable: false,
                                        delaySeconds: 0, on: db, logger: logger)
        }
        s.cancelled = try await client.claimed("alpha", queue: "q2").id
        _ = try await client.withConnection { try await JobStore.cancel(JobStore.Lease(id: s.cancelled, epoch: 1), reason: "not needed", on: $0, logger: logger) }
        s.retryable = try await client.claimed("beta", queue: "q1").id
        _ = try await client.withConnection {
            try await JobStore.fail(JobStore.Lease(id: s.retryable, epoch: 1), message: "timeout after 2 s", retryable: true, delaySeconds: 3600, on: $0, logger: logger)
        }
        s.expired = try await client.claimed("alpha", queue: "q1", worker: "w-dead").id
        try await client.exec("UPDATE jobs SET lease_expires_at = now() - interval '30 seconds' WHERE id = \(s.expired)")
        let running = try await client.claimed("alpha", queue: "q1", worker: "w-live")
        (s.running, s.runningLease) = (running.id, running.lease)
        s.scheduled = try await client.enqueue(NewJob(kind: "beta", queue: "q2", runAfterSeconds: 3600))
        s.available = try await client.enqueue(NewJob(kind: "alpha", queue: "q1", payload: #"{"symbol": "SPY"}"#))
        try await client.exec("""
            INSERT INTO job_workers (id, host, pid, queues, concurrency) VALUES ('w-live', 'host-a', 4242, '{q1,q2}', 8)
            """)
        try await client.exec("""
            INSERT INTO job_workers (id, host, pid, queues, concurrency, heartbeat_at, stopping)
            VALUES ('w-dead', 'host-b', 4343, '{q1}', 4, now() - interval '5 minutes', false)
            """)
        return s
    }

    var all: [Int64] { [oldCompleted, oldDiscarded, completed, discarded, cancelled, retryable, expired, running, scheduled, available] }
}
