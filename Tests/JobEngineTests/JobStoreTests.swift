import Foundation
import HybridTestSupport
import JobEngine
import PostgresNIO
import PropertyBased
import Testing

@Suite struct RetryPolicyTests {
    @Test func exponentialAndCapped() {
        let policy = RetryPolicy(maxAttempts: 10, baseSeconds: 1, maxSeconds: 30, jitter: 0)
        #expect((1...7).map { policy.delay(afterAttempt: $0, unit: 0.5) } == [1, 2, 4, 8, 16, 30, 30])
    }

    @Test func jitterStaysInBounds() async {
        await propertyCheck(input: Gen.int(in: 1...40), Gen.int(in: 0...999)) { attempt, thousandths in
            let policy = RetryPolicy(maxAttempts: 50, baseSeconds: 0.5, maxSeconds: 600, jitter: 0.2)
            let raw = min(600, 0.5 * pow(2, Double(attempt - 1)))
            let delay = policy.delay(afterAttempt: attempt, unit: Double(thousandths) / 1000)
            #expect(delay >= raw * 0.8 - 1e-9 && delay <= min(600, raw * 1.2) + 1e-9)
        }
    }
}

@Suite struct JobStoreTests {
    @Test func batchEnqueueKeepsOrder() async throws {
        try await TestDatabase.withMigrated { db in
            try await withClient(db) { client in
                let results = try await client.enqueue((0..<5).map { job(payload: #"{"n": \#($0)}"#) })
                let allInserted = results.allSatisfy { $0.inserted }
                #expect(allInserted)
                #expect(results.map(\.id) == results.map(\.id).sorted())
                for (n, result) in results.enumerated() {
                    #expect(try await client.int("SELECT (payload->>'n')::int FROM jobs WHERE id = \(result.id)") == n)
                }
                #expect(try await client.int("SELECT count(*)::int FROM jobs WHERE state = 'available'") == 5)
            }
        }
    }

    @Test func enqueueJoinsTheCallersTransaction() async throws {
        struct Rollback: Error {}
        try await TestDatabase.withMigrated { db in
            try await withClient(db) { client in
                await #expect(throws: Rollback.self) {
                    try await client.transaction(logger: logger) { tx in
                        _ = try await JobStore.enqueue(job(), on: tx, logger: logger)
                        throw Rollback()
                    }
                }
                #expect(try await client.int("SELECT count(*)::int FROM jobs") == 0)
                _ = try await client.transaction(logger: logger) { tx in try await JobStore.enqueue(job(), on: tx, logger: logger) }
                #expect(try await client.int("SELECT count(*)::int FROM jobs") == 1)
            }
        }
    }

    @Test func futureJobsWaitUntilDueOnDatabaseTime() async throws {
        try await TestDatabase.withMigrated { db in
            try await withClient(db) { client in
                // Due in an hour, then made due by moving run_at on database time: no race with
                // a slow machine between the enqueue and the first promotion.
                let id = try #require(try await client.enqueue([job(after: 3600)]).first?.id)
                #expect(try await client.int("SELECT round(extract(epoch FROM run_at - created_at))::int FROM jobs WHERE id = \(id)") == 3600)
                #expect(try await client.state(of: id).state == "scheduled")
                #expect(try await client.claim().isEmpty)
                _ = try await client.withConnection { try await JobStore.promoteDue(on: $0, logger: logger) }
                #expect(try await client.state(of: id).state == "scheduled", "not promoted before it is due")
                try await client.exec("UPDATE jobs SET run_at = now() - interval '1 second' WHERE id = \(id)")
                let promoted = try await eventually(within: 5) {
                    _ = try await client.withConnection { try await JobStore.promoteDue(on: $0, logger: logger) }
                    return try await client.state(of: id).state == "available"
                }
                #expect(promoted != nil)
                #expect(try await client.claim().map(\.id) == [id])
            }
        }
    }

    @Test func uniqueKeyReturnsTheExistingJob() async throws {
        try await TestDatabase.withMigrated { db in
            try await withClient(db) { client in
                let first = try #require(try await client.enqueue([job(key: "k1")]).first)
                let again = try await client.enqueue([job(key: "k1"), job(key: "k2"), job(key: "k2")])
                #expect(first.inserted)
                #expect(again[0] == EnqueuedJob(id: first.id, inserted: false))
                #expect(again[1].inserted && again[2] == EnqueuedJob(id: again[1].id, inserted: false))
                #expect(try await client.int("SELECT count(*)::int FROM jobs") == 2)
                // The single-job path behaves the same.
                let single = try await client.withConnection { try await JobStore.enqueue(job(key: "k1"), on: $0, logger: logger) }
                #expect(single == EnqueuedJob(id: first.id, inserted: false))
                let fresh = try await client.withConnection { try await JobStore.enqueue(job(key: "k3"), on: $0, logger: logger) }
                #expect(fresh.inserted && fresh.id != first.id)
                try await client.exec("DELETE FROM jobs WHERE id = \(fresh.id)")
                // A completed job keeps its key (a periodic tick is not redone); a discarded one frees it.
                let claimed = try await client.claim()
                let k1 = try #require(claimed.first { $0.id == first.id })
                _ = try await client.withConnection { try await JobStore.complete([.init(id: k1.id, epoch: k1.leaseEpoch)], on: $0, logger: logger) }
                #expect(try await client.enqueue([job(key: "k1")]).first == EnqueuedJob(id: first.id, inserted: false))
                let k2 = try #require(claimed.first { $0.id == again[1].id })
                _ = try await client.withConnection {
                    try await JobStore.fail(.init(id: k2.id, epoch: k2.leaseEpoch), message: "no", retryable: false, delaySeconds: 0, on: $0, logger: logger)
                }
                #expect(try await client.enqueue([job(key: "k2")]).first?.inserted == true)
            }
        }
    }

    @Test func fiftyConcurrentEnqueuersOfOneKeyMakeOneJob() async throws {
        try await TestDatabase.withMigrated { db in
            try await withClient(db, poolSize: 50) { client in
                let results = try await withThrowingTaskGroup(of: EnqueuedJob.self) { group in
                    for _ in 0..<50 {
                        group.addTask { try #require(try await client.enqueue([job(key: "the-one")]).first) }
                    }
                    return try await group.reduce(into: []) { $0.append($1) }
                }
                #expect(results.count == 50)
                #expect(Set(results.map(\.id)).count == 1)
                #expect(results.filter(\.inserted).count == 1)
                #expect(try await client.int("SELECT count(*)::int FROM jobs") == 1)
            }
        }
    }

    @Test func claimTakesPriorityThenAgeCountsTheAttemptAndLeasesOnDatabaseTime() async throws {
        try await TestDatabase.withMigrated { db in
            try await withClient(db) { client in
                let ids = try await client.enqueue([job(priority: 2), job(priority: 0), job(priority: 1), job(priority: 0)]).map(\.id)
                let claimed = try await client.claim(limit: 3, lease: 30)
                #expect(Set(claimed.map(\.id)) == [ids[1], ids[3], ids[2]])
                let firstAttempts = claimed.allSatisfy { $0.attempt == 1 && $0.leaseEpoch == 1 }
                #expect(firstAttempts)
                let leaseLeft = try await client.int("SELECT round(extract(epoch FROM lease_expires_at - now()))::int FROM jobs WHERE id = \(ids[1])")
                #expect((29...30).contains(leaseLeft))
                #expect(try await client.int("SELECT count(*)::int FROM jobs WHERE state = 'running' AND lease_owner = 'w1'") == 3)
                #expect(try await client.claim(kinds: ["other"]).isEmpty, "kinds the worker cannot run are not claimed")
            }
        }
    }

    @Test func concurrentClaimsNeverOverlap() async throws {
        try await TestDatabase.withMigrated { db in
            try await withClient(db, poolSize: 8) { client in
                _ = try await client.enqueue((0..<400).map { _ in job() })
                let batches = try await withThrowingTaskGroup(of: [Int64].self) { group in
                    for worker in 0..<8 {
                        group.addTask {
                            var mine: [Int64] = []
                            while true {
                                let got = try await client.claim(limit: 7, worker: "w\(worker)")
                                if got.isEmpty { return mine }
                                mine += got.map(\.id)
                            }
                        }
                    }
                    return try await group.reduce(into: []) { $0.append($1) }
                }
                let all = batches.flatMap { $0 }
                #expect(all.count == 400)
                #expect(Set(all).count == 400, "a job claimed twice would show up here")
            }
        }
    }

    /// A worker renews its leases and completes finished jobs at the same moment, on two
    /// connections, over overlapping jobs (a finished job stays held until its completion
    /// commits). Taken in different orders, such row locks deadlock; both statements lock in id
    /// order.
    @Test func renewalsAndCompletionsOfOverlappingJobsNeverDeadlock() async throws {
        try await TestDatabase.withMigrated { db in
            try await withClient(db, poolSize: 4) { client in
                _ = try await client.enqueue((0..<600).map { _ in job() })
                var leases: [JobStore.Lease] = []
                while true {
                    let got = try await client.claim(limit: 100, worker: "w")
                    if got.isEmpty { break }
                    leases += got.map { JobStore.Lease(id: $0.id, epoch: $0.leaseEpoch) }
                }
                #expect(leases.count == 600)
                let held = leases
                for round in 0..<6 {
                    let finished = Array(held.shuffled().prefix(100))
                    try await withThrowingTaskGroup(of: Void.self) { group in
                        group.addTask {
                            _ = try await client.withConnection {
                                try await JobStore.renew(held.reversed(), workerID: "w", leaseSeconds: 30, on: $0, logger: logger)
                            }
                        }
                        group.addTask {
                            _ = try await client.withConnection {
                                try await JobStore.renew(held.shuffled(), workerID: "w", leaseSeconds: 30, on: $0, logger: logger)
                            }
                        }
                        group.addTask {
                            _ = try await client.withConnection { try await JobStore.complete(finished, on: $0, logger: logger) }
                        }
                        try await group.waitForAll()
                    }
                    _ = round
                }
            }
        }
    }

    @Test func aWorkerThatLostItsLeaseCannotTouchTheJob() async throws {
        try await TestDatabase.withMigrated { db in
            try await withClient(db) { client in
                let id = try #require(try await client.enqueue([job()]).first?.id)
                let stale = try #require(try await client.claim(worker: "paused").first)
                // The paused worker's lease runs out; a live process rescues the job.
                try await client.exec("UPDATE jobs SET lease_expires_at = now() - interval '1 second' WHERE id = \(id)")
                let rescued = try await client.withConnection { try await JobStore.rescueExpired(on: $0, logger: logger) }
                #expect(rescued.map(\.id) == [id] && rescued.first?.state == .available)
                let fresh = try #require(try await client.claim(worker: "live").first)
                #expect(fresh.attempt == 2 && fresh.leaseEpoch == 2)
                let staleLease = JobStore.Lease(id: id, epoch: stale.leaseEpoch)
                try await client.withConnection { (db: PostgresConnection) async throws in
                    #expect(try await JobStore.complete([staleLease], on: db, logger: logger).isEmpty)
                    #expect(try await JobStore.fail(staleLease, message: "x", retryable: true, delaySeconds: 0, on: db, logger: logger) == .leaseLost)
                    #expect(try await !JobStore.snooze(staleLease, seconds: 1, on: db, logger: logger))
                    #expect(try await !JobStore.cancel(staleLease, reason: "x", on: db, logger: logger))
                    #expect(try await JobStore.renew([staleLease], workerID: "paused", leaseSeconds: 30, on: db, logger: logger).isEmpty)
                    #expect(try await !JobStore.holdsLease(staleLease, on: db, logger: logger))
                    #expect(try await JobStore.holdsLease(.init(id: id, epoch: fresh.leaseEpoch), on: db, logger: logger))
                    #expect(try await JobStore.complete([.init(id: id, epoch: fresh.leaseEpoch)], on: db, logger: logger) == [id])
                }
                // The rescuer never overwrites a finished job, even with an expired timestamp around.
                #expect(try await client.withConnection { try await JobStore.rescueExpired(on: $0, logger: logger) }.isEmpty)
                let final = try await client.state(of: id)
                #expect(final.state == "completed" && final.epoch == 2 && final.errors == 1)
            }
        }
    }

    @Test func retriesBackOffThenDiscardWithTheErrorHistory() async throws {
        try await TestDatabase.withMigrated { db in
            try await withClient(db) { client in
                let id = try #require(try await client.enqueue([job(maxAttempts: 3)]).first?.id)
                var states: [String] = []
                for attempt in 1...3 {
                    try await client.exec("UPDATE jobs SET state = 'available', run_at = now() WHERE id = \(id) AND state = 'retryable'")
                    let claimed = try #require(try await client.claim().first)
                    #expect(claimed.attempt == attempt)
                    let result = try await client.withConnection {
                        try await JobStore.fail(.init(id: id, epoch: claimed.leaseEpoch), message: "boom \(attempt)", retryable: true,
                                                delaySeconds: 60, on: $0, logger: logger)
                    }
                    states.append(try await client.state(of: id).state)
                    if attempt < 3 {
                        #expect(result == .retryScheduled(afterSeconds: 60))
                        // run_at = the failure's now() + 60 s; read a moment later (a loaded machine: allow 2 s).
                        let due = try await client.int("SELECT round(extract(epoch FROM run_at - now()))::int FROM jobs WHERE id = \(id)")
                        #expect((58...60).contains(due), "retry due in \(due) s")
                    } else {
                        #expect(result == .discarded)
                    }
                }
                #expect(states == ["retryable", "retryable", "discarded"])
                #expect(try await client.int("""
                    SELECT count(*)::int FROM jobs, jsonb_array_elements(errors) WITH ORDINALITY e(err, n)
                    WHERE id = \(id) AND (err->>'attempt')::int = n AND err->>'message' = 'boom ' || n AND (err->>'retryable')::bool
                    """) == 3)
                #expect(try await client.int("SELECT count(*)::int FROM jobs WHERE id = \(id) AND finalized_at IS NOT NULL") == 1)
            }
        }
    }

    @Test func permanentErrorsDiscardAtOnceAndSnoozeKeepsTheAttempt() async throws {
        try await TestDatabase.withMigrated { db in
            try await withClient(db) { client in
                let ids = try await client.enqueue([job(), job(), job(), job()]).map(\.id)
                let claimed = try await client.claim(limit: 4)
                let lease = { (id: Int64) in JobStore.Lease(id: id, epoch: claimed.first { $0.id == id }?.leaseEpoch ?? -1) }
                try await client.withConnection { (db: PostgresConnection) async throws in
                    #expect(try await JobStore.fail(lease(ids[0]), message: "bad payload", retryable: false, delaySeconds: 0, on: db, logger: logger) == .discarded)
                    #expect(try await JobStore.snooze(lease(ids[1]), seconds: 30, on: db, logger: logger))
                    #expect(try await JobStore.cancel(lease(ids[2]), reason: "user", on: db, logger: logger))
                    #expect(try await JobStore.release([lease(ids[3])], on: db, logger: logger) == [ids[3]])
                }
                #expect(try await client.state(of: ids[0]).state == "discarded")
                let snoozed = try await client.state(of: ids[1])
                #expect(snoozed.state == "scheduled" && snoozed.attempt == 0)
                #expect(try await client.state(of: ids[2]).state == "cancelled")
                let released = try await client.state(of: ids[3])
                #expect(released.state == "available" && released.attempt == 0)
            }
        }
    }

    @Test func pausedQueuesAreNotClaimed() async throws {
        try await TestDatabase.withMigrated { db in
            try await withClient(db) { client in
                _ = try await client.enqueue([job()])
                try await client.exec("INSERT INTO job_queues (name, paused_at) VALUES ('q', now())")
                #expect(try await client.claim().isEmpty)
                try await client.exec("UPDATE job_queues SET paused_at = NULL WHERE name = 'q'")
                #expect(try await client.claim().count == 1)
            }
        }
    }

    @Test func oneNotificationPerTransactionAndQueue() async throws {
        try await TestDatabase.withMigrated { db in
            try await withClient(db, poolSize: 4) { client in
                let received = try await withThrowingTaskGroup(of: [String].self) { group in
                    let listening = AsyncStream.makeStream(of: Void.self)
                    group.addTask {
                        try await client.withConnection { conn in
                            try await conn.listen(on: JobStore.channel) { notifications in
                                listening.continuation.yield()
                                var payloads: [String] = []
                                for try await notification in notifications {
                                    payloads.append(notification.payload)
                                    if notification.payload == "done" { break }
                                }
                                return payloads
                            }
                        }
                    }
                    for await _ in listening.stream { break }
                    try await client.transaction(logger: logger) { tx in
                        _ = try await JobStore.enqueue((0..<100).map { _ in job(queue: "a") }, on: tx, logger: logger)
                        _ = try await JobStore.enqueue((0..<100).map { _ in job(queue: "a") }, on: tx, logger: logger)
                        _ = try await JobStore.enqueue((0..<10).map { _ in job(queue: "b") } + [job(queue: "c", after: 60)], on: tx, logger: logger)
                    }
                    _ = try await client.enqueue([job(queue: "done")])
                    return try await group.next() ?? []
                }
                #expect(received.sorted() == ["a", "b", "done"], "one per queue and transaction, none for scheduled jobs")
            }
        }
    }
}

@Suite struct ClaimCostTests {
    /// EXPLAIN ANALYZE of the real claim statement: plan text and shared buffers touched.
    func explainClaim(_ client: PostgresClient) async throws -> (plan: String, buffers: Int) {
        var query = JobStore.claimQuery(queue: "q", kinds: ["t"], limit: 10, workerID: "w", leaseSeconds: 30)
        query.sql = "EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + query.sql
        let text = try await client.withConnection { db in
            var text = ""
            for try await row in try await db.query(query, logger: logger).decode(String.self) { text += row }
            return text
        }
        let json = try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [[String: Any]]
        let plan = json?.first?["Plan"] as? [String: Any]
        let buffers = ((plan?["Shared Hit Blocks"] as? Int) ?? 0) + ((plan?["Shared Read Blocks"] as? Int) ?? 0)
        return (text, buffers)
    }

    @Test func claimCostDoesNotGrowWithCompletedHistory() async throws {
        try await TestDatabase.withMigrated { db in
            try await withClient(db) { client in
                _ = try await client.enqueue((0..<50).map { _ in job() })
                try await client.exec("ANALYZE jobs")
                let fresh = try await explainClaim(client)
                try await client.exec("""
                    INSERT INTO jobs (kind, queue, state, attempt, finalized_at, created_at)
                    SELECT 't', 'q', 'completed', 1, now() - interval '1 minute', now() - interval '2 minutes'
                    FROM generate_series(1, 300000)
                    """)
                _ = try await client.enqueue((0..<50).map { _ in job() })
                try await client.exec("ANALYZE jobs")
                let loaded = try await explainClaim(client)
                #expect(!loaded.plan.contains("Seq Scan"), "\(loaded.plan)")
                #expect(loaded.plan.contains("jobs_claim"), "the claim reads the partial index of available jobs")
                #expect(loaded.buffers <= fresh.buffers * 2 + 50,
                        "claim touched \(loaded.buffers) buffers with 300k completed rows vs \(fresh.buffers) without")
            }
        }
    }
}
