import Foundation
import JobEngine
import PostgresNIO
import Synchronization

/// Job kinds for the engine's own tests, chaos runs and benchmarks (never trading work).
struct LabPayload: JobPayload {
    static let kind = "lab.job"
    var tag: String?
    /// Sleep this long (cancellable) before finishing.
    var sleepMs: Int?
    /// Fail (retryably) while `attempt < failUntilAttempt`.
    var failUntilAttempt: Int?
    /// Fail permanently.
    var permanent: Bool?
    /// Record each execution in `lab_executions` (what the exactly-once tests count).
    var record: Bool?
}

enum LabJobs {
    static let setupSQL: [String] = [
        """
        CREATE TABLE IF NOT EXISTS lab_executions (
            job_id BIGINT NOT NULL, epoch BIGINT NOT NULL, attempt INT NOT NULL,
            worker_id TEXT NOT NULL, tag TEXT, finished_at TIMESTAMPTZ NOT NULL DEFAULT now()
        )
        """,
        "CREATE INDEX IF NOT EXISTS lab_executions_job ON lab_executions (job_id)",
    ]

    static func registry(client: PostgresClient, queue: String, timeoutSeconds: Double, maxAttempts: Int,
                         latencies: LatencyLog?) -> JobRegistry {
        let retry = RetryPolicy(maxAttempts: maxAttempts, baseSeconds: 0.2, maxSeconds: 2, jitter: 0.2)
        return JobRegistry([
            JobDefinition(LabPayload.self, queue: queue, retry: retry, timeoutSeconds: timeoutSeconds) { payload, context in
                latencies?.add(Date().timeIntervalSince(context.enqueuedAt))
                if let ms = payload.sleepMs, ms > 0 { try await Task.sleep(for: .milliseconds(ms)) }
                if payload.permanent == true { throw JobError.permanent("lab: permanent failure asked for") }
                if let until = payload.failUntilAttempt, context.attempt < until {
                    throw JobError.retryable("lab: failing attempt \(context.attempt) of \(until - 1) on purpose")
                }
                if payload.record == true {
                    _ = try await client.withConnection { db in
                        try await db.query("""
                            INSERT INTO lab_executions (job_id, epoch, attempt, worker_id, tag)
                            VALUES (\(context.id), \(context.leaseEpoch), \(context.attempt), \(context.workerID), \(payload.tag))
                            """, logger: context.logger)
                    }
                }
                return .complete
            },
        ])
    }
}

/// Enqueue-to-start latencies seen by this worker, written out at exit (benchmarks).
final class LatencyLog: Sendable {
    private let samples = Mutex<[Double]>([])

    func add(_ seconds: Double) { samples.withLock { $0.append(seconds) } }

    func write(to path: String) throws {
        let text = samples.withLock { $0.map { String(format: "%.6f", $0) }.joined(separator: "\n") }
        try (text + "\n").write(toFile: path, atomically: true, encoding: .utf8)
    }
}
