import Foundation
import HybridSettings
import HybridTestSupport
import JobEngine
import PostgresNIO
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// The engine as it runs in production: separate worker and scheduler processes
/// (`hybridhub-jobs-lab`), each with its own connections, killed and stopped for real.
@Suite struct WorkerProcessTests {
    let lab: URL

    init() throws {
        lab = try ChildProcess.executable("hybridhub-jobs-lab")
    }

    func setUp(_ db: DatabaseSettings) async throws -> [String: String] {
        let environment = ChildProcess.environment(for: db)
        let setup = try await ChildProcess.run(lab, ["setup"], environment: environment)
        #expect(setup.status == 0, "\(setup.stderr)")
        return environment
    }

    func labJob(sleepMs: Int? = nil, record: Bool = true, maxAttempts: Int = 5, key: String? = nil) -> NewJob {
        var payload: [String] = []
        if let sleepMs { payload.append(#""sleepMs": \#(sleepMs)"#) }
        if record { payload.append(#""record": true"#) }
        return NewJob(kind: "lab.job", queue: "lab", payload: "{\(payload.joined(separator: ", "))}",
                      maxAttempts: maxAttempts, uniqueKey: key)
    }

    func worker(_ environment: [String: String], id: String, _ extra: [String] = []) throws -> RunningProcess {
        try RunningProcess.start(lab, ["worker", "--id", id] + extra, environment: environment)
    }

    @Test func threeWorkerProcessesRunTenThousandJobsExactlyOnce() async throws {
        try await TestDatabase.withMigrated { db in
            let environment = try await setUp(db)
            try await withClient(db) { client in
                for _ in 0..<10 { _ = try await client.enqueue((0..<1000).map { _ in labJob() }) }
                let workers = try (1...3).map { try worker(environment, id: "w\($0)", ["--concurrency", "8", "--batch", "10"]) }
                defer { workers.forEach { $0.stop() } }
                let drained = try await eventually(within: 120, every: 0.25) {
                    try await client.int("SELECT count(*)::int FROM jobs WHERE state <> 'completed'") == 0
                }
                let left = try await client.int("SELECT count(*)::int FROM jobs WHERE state <> 'completed'")
                #expect(drained != nil, "jobs left: \(left)")
                #expect(try await client.int("SELECT count(*)::int FROM jobs WHERE state = 'completed'") == 10_000)
                // Exactly once: one execution per job, none missing, none doubled.
                #expect(try await client.int("SELECT count(*)::int FROM lab_executions") == 10_000)
                #expect(try await client.int("SELECT count(DISTINCT job_id)::int FROM lab_executions") == 10_000)
                #expect(try await client.int("""
                    SELECT count(*)::int FROM jobs j WHERE NOT EXISTS (SELECT 1 FROM lab_executions e WHERE e.job_id = j.id)
                    """) == 0)
                // Every process did part of the work.
                #expect(try await client.int("SELECT count(DISTINCT worker_id)::int FROM lab_executions") == 3)
                for process in workers { process.signal(SIGTERM) }
                for process in workers { #expect(await process.wait(seconds: 30) == 0, "\(process.output.suffix(2000))") }
            }
        }
    }

    @Test func jobsOfAKilledWorkerAreRescuedWithinSeconds() async throws {
        try await TestDatabase.withMigrated { db in
            let environment = try await setUp(db)
            try await withClient(db) { client in
                let ids = try await client.enqueue((0..<4).map { _ in labJob(sleepMs: 3000) }).map(\.id)
                let victim = try worker(environment, id: "victim", ["--concurrency", "4", "--lease", "2", "--heartbeat", "0.5"])
                defer { victim.stop() }
                let claimed = try await eventually(within: 20) {
                    try await client.int("SELECT count(*)::int FROM jobs WHERE state = 'running' AND lease_owner = 'victim'") == 4
                }
                #expect(claimed != nil)
                victim.signal(SIGKILL)
                _ = await victim.wait(seconds: 5)
                let killedAt = ContinuousClock.now
                let rescuer = try worker(environment, id: "rescuer", ["--concurrency", "4", "--lease", "2", "--heartbeat", "0.5", "--maintenance", "0.5"])
                defer { rescuer.stop() }
                let rescued = try await eventually(within: 20) {
                    try await client.int("SELECT count(*)::int FROM jobs WHERE lease_epoch = 2") == 4
                }
                let rescueSeconds = (ContinuousClock.now - killedAt).components.seconds
                #expect(rescued != nil)
                #expect(rescueSeconds < 6, "rescue took \(rescueSeconds)s with a 2 s lease")
                let done = try await eventually(within: 20) {
                    try await client.int("SELECT count(*)::int FROM jobs WHERE state = 'completed'") == 4
                }
                #expect(done != nil)
                #expect(try await client.int("""
                    SELECT count(*)::int FROM jobs WHERE id = ANY(\(ids)) AND attempt = 2
                      AND errors->0->>'message' LIKE 'lease expired: worker victim%'
                    """) == 4)
                rescuer.signal(SIGTERM)
                #expect(await rescuer.wait(seconds: 30) == 0)
            }
        }
    }

    @Test func aStalledWorkerThatResumesCannotOverwriteTheOutcome() async throws {
        try await TestDatabase.withMigrated { db in
            let environment = try await setUp(db)
            try await withClient(db) { client in
                let id = try #require(try await client.enqueue([labJob(sleepMs: 1500, record: false)]).first?.id)
                let stalled = try worker(environment, id: "stalled", ["--concurrency", "1", "--lease", "2", "--heartbeat", "0.5"])
                defer { stalled.stop() }
                #expect(try await eventually(within: 60) { try await client.state(of: id).state == "running" } != nil)
                stalled.signal(SIGSTOP)   // paused mid-job: no heartbeats, no outcome
                let live = try worker(environment, id: "live", ["--concurrency", "1", "--lease", "2", "--heartbeat", "0.5", "--maintenance", "0.5"])
                defer { live.stop() }
                #expect(try await eventually(within: 20) { try await client.state(of: id).state == "completed" } != nil)
                let snapshot = try await client.withConnection { db in
                    var row = ""
                    for try await text in try await db.query("SELECT row(state, attempt, lease_epoch, errors, finalized_at)::text FROM jobs WHERE id = \(id)", logger: logger).decode(String.self) { row = text }
                    return row
                }
                stalled.signal(SIGCONT)   // it wakes up, finishes its handler and tries to complete epoch 1
                try await Task.sleep(for: .seconds(3))
                let after = try await client.withConnection { db in
                    var row = ""
                    for try await text in try await db.query("SELECT row(state, attempt, lease_epoch, errors, finalized_at)::text FROM jobs WHERE id = \(id)", logger: logger).decode(String.self) { row = text }
                    return row
                }
                #expect(after == snapshot, "the resumed worker changed a job it no longer held")
                #expect(try await client.state(of: id).epoch == 2)
                for process in [stalled, live] { process.signal(SIGTERM) }
                for process in [stalled, live] { _ = await process.wait(seconds: 30) }
                #expect(stalled.output.contains("lease lost"), "\(stalled.output.suffix(1500))")
            }
        }
    }

    @Test func aHandlerPastItsTimeoutIsCancelledAndItsAttemptFails() async throws {
        try await TestDatabase.withMigrated { db in
            let environment = try await setUp(db)
            try await withClient(db) { client in
                let id = try #require(try await client.enqueue([labJob(sleepMs: 30_000, record: false, maxAttempts: 1)]).first?.id)
                let process = try worker(environment, id: "timeouts", ["--concurrency", "2", "--timeout", "1"])
                defer { process.stop() }
                let started = ContinuousClock.now
                #expect(try await eventually(within: 20) { try await client.state(of: id).state == "discarded" } != nil)
                #expect(ContinuousClock.now - started < .seconds(10), "the 30 s handler was not stopped at its 1 s timeout")
                #expect(try await client.int("""
                    SELECT count(*)::int FROM jobs WHERE id = \(id) AND errors->0->>'message' = 'timed out after 1.0s'
                    """) == 1)
                process.signal(SIGTERM)
                #expect(await process.wait(seconds: 20) == 0, "\(process.output.suffix(2000))")
            }
        }
    }

    @Test func sigtermFinishesJobsInHandThenReleasesTheRestAndExitsZero() async throws {
        try await TestDatabase.withMigrated { db in
            let environment = try await setUp(db)
            try await withClient(db) { client in
                let quick = try await client.enqueue((0..<3).map { _ in labJob(sleepMs: 800) }).map(\.id)
                let slow = try #require(try await client.enqueue([labJob(sleepMs: 60_000)]).first?.id)
                let process = try worker(environment, id: "draining", ["--concurrency", "4", "--grace", "2"])
                defer { process.stop() }
                #expect(try await eventually(within: 20) {
                    try await client.int("SELECT count(*)::int FROM jobs WHERE state = 'running'") == 4
                } != nil)
                process.signal(SIGTERM)
                // While it drains, its row says so (what `hybridhub-ops workers` shows).
                #expect(try await eventually(within: 5) {
                    try await client.int("SELECT count(*)::int FROM job_workers WHERE id = 'draining' AND stopping") == 1
                } != nil)
                #expect(await process.wait(seconds: 20) == 0, "\(process.output.suffix(2000))")
                for id in quick { #expect(try await client.state(of: id).state == "completed") }
                let released = try await client.state(of: slow)
                #expect(released.state == "available" && released.attempt == 0, "released without using an attempt")
                #expect(try await client.int("SELECT count(*)::int FROM job_workers") == 0)
            }
        }
    }

    @Test func aStandbySchedulerTakesOverWithoutSkippingOrDoublingATick() async throws {
        try await TestDatabase.withMigrated { db in
            let environment = try await setUp(db)
            try await withClient(db) { client in
                let options = ["--interval", "1", "--lease", "2", "--renew", "0.3"]
                let first = try RunningProcess.start(lab, ["scheduler", "--id", "s1"] + options, environment: environment)
                defer { first.stop() }
                #expect(try await eventually(within: 20) {
                    try await client.int("SELECT count(*)::int FROM leader_leases WHERE holder = 's1' AND expires_at > now()") == 1
                } != nil)
                let second = try RunningProcess.start(lab, ["scheduler", "--id", "s2"] + options, environment: environment)
                defer { second.stop() }
                try await Task.sleep(for: .seconds(3))
                first.signal(SIGKILL)
                let killedAt = ContinuousClock.now
                let takeover = try await eventually(within: 15) {
                    try await client.int("SELECT count(*)::int FROM leader_leases WHERE holder = 's2' AND expires_at > now()") == 1
                }
                #expect(takeover != nil)
                #expect(ContinuousClock.now - killedAt < .seconds(4), "standby took over after \(ContinuousClock.now - killedAt)")
                try await Task.sleep(for: .seconds(3))
                second.signal(SIGTERM)
                #expect(await second.wait(seconds: 20) == 0)
                let buckets = try await client.withConnection { db in
                    var buckets: [Int64] = []
                    for try await b in try await db.query("""
                        SELECT split_part(unique_key, ':', 3)::bigint FROM jobs WHERE unique_key LIKE 'periodic:lab.tick:%' ORDER BY 1
                        """, logger: logger).decode(Int64.self) { buckets.append(b) }
                    return buckets
                }
                #expect(buckets.count >= 6)
                #expect(Set(buckets).count == buckets.count, "a tick was doubled")
                if let low = buckets.first, let high = buckets.last {
                    #expect(buckets == Array(low...high), "a tick was skipped: \(buckets)")
                }
            }
        }
    }
}
