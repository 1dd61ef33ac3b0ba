import Foundation
import HybridSettings
import HybridStore
import HybridTestSupport
import JobEngine
import PostgresNIO

let logger = TestDatabase.logger

/// A client on `db` for the duration of `body`.
func withClient<T: Sendable>(_ db: DatabaseSettings, poolSize: Int = 10,
                             _ body: @Sendable (PostgresClient) async throws -> T) async throws -> T {
    var settings = db
    settings.poolSize = poolSize
    return try await PostgresClientFactory.withClient(settings, logger: logger, body)
}

extension PostgresClient {
    /// One integer from a query (counts in assertions).
    func int(_ query: PostgresQuery) async throws -> Int {
        try await withConnection { db in
            var value = 0
            for try await n in try await db.query(query, logger: logger).decode(Int.self) { value = n }
            return value
        }
    }

    func exec(_ query: PostgresQuery) async throws {
        _ = try await withConnection { try await $0.query(query, logger: logger) }
    }

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
