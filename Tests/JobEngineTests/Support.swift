import Foundation
import HybridTestSupport
import JobEngine
import PostgresNIO

let logger = TestDatabase.logger

extension PostgresClient {
    func enqueue(_ jobs: [NewJob]) async throws -> [EnqueuedJob] {
        try await withConnection { try await JobStore.enqueue(jobs, on: $0, logger: logger) }
    }

    func claim(_ queue: String = "q", kinds: [String] = ["t"], limit: Int = 10, worker: String = "w1",
               lease: Double = 30) async throws -> [ClaimedJob] {
        try await withConnection {
            try await JobStore.claim(queue: queue, kinds: kinds, limit: limit, workerID: worker, leaseSeconds: lease, on: $0, logger: logger)
        }
    }

    func state(of id: Int64) async throws -> (state: String, attempt: Int, epoch: Int64, errors: Int) {
        try await withConnection { db in
            let rows = try await db.query("SELECT state, attempt, lease_epoch, jsonb_array_length(errors) FROM jobs WHERE id = \(id)", logger: logger)
            for try await row in rows.decode((String, Int, Int64, Int).self) { return row }
            return ("missing", 0, 0, 0)
        }
    }
}

func job(_ kind: String = "t", queue: String = "q", priority: Int = 1, maxAttempts: Int = 20,
         after: Double = 0, key: String? = nil, payload: String = "{}") -> NewJob {
    NewJob(kind: kind, queue: queue, payload: payload, priority: priority, maxAttempts: maxAttempts,
           runAfterSeconds: after, uniqueKey: key)
}
