import Foundation
import HybridTestSupport
import JobEngine
import Testing
import TradingCore
#if canImport(Glibc)
import Glibc
#endif

/// queues, workers, leader, migrate, prune and the connection errors, as real processes.
@Suite struct FarmCommandTests {
    @Test func queuesShowDepthByStateAndTheOldestAvailableJob() async throws {
        try await TestDatabase.withMigrated { db in
            try await withClient(db, poolSize: 4) { client in
                _ = try await SeededJobs.seed(client)
                try await client.exec("UPDATE jobs SET run_at = now() - interval '90 seconds' WHERE state = 'available'")
                let ops = try OpsCLI(db)
                let document = try await ops.json("queues")
                let queues = document["queues"]?.array ?? []
                #expect(queues.compactMap { $0["name"]?.string } == ["q1", "q2"])
                let q1 = try #require(queues.first)
                #expect(q1["depth"]?["available"]?.int == 1 && q1["depth"]?["running"]?.int == 2 && q1["depth"]?["retryable"]?.int == 1)
                #expect(q1["depth"]?["completed"]?.int == 2 && q1["depth"]?["discarded"]?.int == 0)
                #expect(q1["paused"]?.bool == false)
                #expect((q1["oldest_available_age_seconds"]?.int ?? 0) >= 90)
                #expect(queues.last?["depth"]?["scheduled"]?.int == 1 && queues.last?["oldest_available_age_seconds"] == .null)
                let table = try await ops.table("queues")
                #expect(table.hasPrefix("QUEUE  PAUSED  AVAILABLE  SCHEDULED  RUNNING  RETRYABLE  COMPLETED  DISCARDED  CANCELLED  OLDEST AVAILABLE"), "\(table)")
                #expect(table.contains("1m3") && table.contains("q2"))
            }
        }
    }

    @Test func pauseStopsARealWorkerClaimingWithinSecondsAndResumeRestartsIt() async throws {
        try await TestDatabase.withMigrated { db in
            let environment = ChildProcess.environment(for: db)
            let lab = try ChildProcess.executable("hybridhub-jobs-lab")
            let setup = try await ChildProcess.run(lab, ["setup"], environment: environment)
            #expect(setup.status == 0, "\(setup.stderr)")
            try await withClient(db, poolSize: 4) { client in
                let ops = try OpsCLI(db)
                let worker = try RunningProcess.start(lab, ["worker", "--id", "lab-w1", "--concurrency", "2", "--poll", "0.2"], environment: environment)
                defer { worker.stop() }
                let labJob = NewJob(kind: "lab.job", queue: "lab", payload: #"{"record": true}"#)
                let first = try await client.enqueue(labJob)
                #expect(try await eventually(within: 20) { try await client.state(first).state == "completed" } != nil, "\(worker.output.suffix(1000))")
                // workers: the live process with its heartbeat; a job in hand while it runs one.
                let slow = try await client.enqueue(NewJob(kind: "lab.job", queue: "lab", payload: #"{"sleepMs": 3000}"#))
                #expect(try await eventually(within: 10) { try await client.state(slow).state == "running" } != nil)
                let workers = try await ops.json("workers")
                let row = try #require(workers["workers"]?.array.first { $0["id"]?.string == "lab-w1" })
                #expect(row["pid"]?.int == Int(worker.pid) && row["stale"]?.bool == false)
                #expect(row["jobs_in_hand"]?.array.compactMap(\.int) == [Int(slow)])
                #expect(try await ops.table("workers").contains("1: \(slow)"))
                // Pause: jobs enqueued now stay available while the worker keeps running.
                let paused = try await ops.table("queues", "pause", "lab")
                #expect(paused.contains("queue lab paused since"), "\(paused)")
                let held = try await (0..<3).asyncMap { _ in try await client.enqueue(labJob) }
                try await Task.sleep(for: .seconds(3))
                for id in held { #expect(try await client.state(id).state == "available", "a paused queue was claimed from") }
                #expect(worker.process.isRunning)
                #expect(try await ops.json("queues")["queues"]?.array.first { $0["name"]?.string == "lab" }?["paused"]?.bool == true)
                // Resume: the worker is woken and drains them.
                let resumed = try await ops.json("queues", "resume", "lab")
                #expect(resumed["queue"]?["paused"]?.bool == false)
                let drained = try await eventually(within: 10) {
                    try await client.int("SELECT count(*)::int FROM jobs WHERE id = ANY(\(held)) AND state = 'completed'") == 3
                }
                #expect(drained != nil && drained! < 5, "resume took \(drained ?? -1) s")
                worker.signal(SIGTERM)
                #expect(await worker.wait(seconds: 20) == 0)
                // An unknown name is paused (for a queue about to be used) with a note.
                let unknown = try await ops.table("queues", "pause", "no-such-queue")
                #expect(unknown.contains("note: no job or worker has used queue no-such-queue"))
            }
        }
    }

    @Test func workersListsHeartbeatsJobsInHandAndStaleRows() async throws {
        try await TestDatabase.withMigrated { db in
            try await withClient(db, poolSize: 4) { client in
                let s = try await SeededJobs.seed(client)
                let ops = try OpsCLI(db)
                let document = try await ops.json("workers")
                let rows = document["workers"]?.array ?? []
                #expect(rows.compactMap { $0["id"]?.string } == ["w-live", "w-dead"])
                #expect(rows.first?["jobs_in_hand"]?.array.compactMap(\.int) == [Int(s.running)])
                #expect(rows.first?["stale"]?.bool == false && rows.last?["stale"]?.bool == true)
                #expect(rows.last?["jobs_in_hand"]?.array.compactMap(\.int) == [Int(s.expired)])
                #expect(rows.first?["queues"]?.array.compactMap(\.string) == ["q1", "q2"])
                let table = try await ops.table("workers")
                #expect(table.hasPrefix("WORKER  "))
                #expect(table.contains("(stale: probably dead)") && table.contains("4242"))
            }
        }
    }

    @Test func leaderShowsEveryRoleEpochAndExpiry() async throws {
        try await TestDatabase.withMigrated { db in
            try await withClient(db, poolSize: 4) { client in
                let ops = try OpsCLI(db)
                #expect(try await ops.table("leader").contains("no leader lease"))
                let elector = LeaderElector(name: "trading-scheduler", holderID: "sched-a", leaseSeconds: 60, renewSeconds: 1)
                _ = try await client.withConnection { try await elector.refresh(on: $0, logger: logger) }
                try await client.exec("""
                    INSERT INTO leader_leases (name, holder, epoch, acquired_at, expires_at)
                    VALUES ('lab-scheduler', 'sched-old', 7, now() - interval '1 hour', now() - interval '10 seconds')
                    """)
                let document = try await ops.json("leader")
                let leaders = document["leaders"]?.array ?? []
                #expect(leaders.compactMap { $0["name"]?.string } == ["lab-scheduler", "trading-scheduler"])
                let trading = try #require(leaders.last)
                #expect(trading["holder"]?.string == "sched-a" && trading["epoch"]?.int == 1 && trading["live"]?.bool == true)
                #expect((trading["expires_in_seconds"]?.int ?? 0) > 30)
                #expect(leaders.first?["live"]?.bool == false && leaders.first?["epoch"]?.int == 7)
                let table = try await ops.table("leader")
                #expect(table.contains("trading-scheduler  sched-a") && table.contains("expires in"))
                #expect(table.contains("lease expired: nobody leads"))
            }
        }
    }

    @Test func migrateAppliesVerifiesAndReportsLikeHybridhubMigrate() async throws {
        try await TestDatabase.withEmpty { db in
            let ops = try OpsCLI(db)
            let pending = try await ops.run("migrate", "--verify")
            #expect(pending.status == 1 && pending.stderr.contains("missing migrations 0001"), "\(pending.stderr)")
            let applied = try await ops.table("migrate")
            #expect(applied.contains("migrate: applied 0003_jobs.sql"))
            let again = try await ops.json("migrate")
            #expect(again["applied"]?.array.isEmpty == true && (again["already_applied"]?.int ?? 0) >= 5)
            #expect(try await ops.json("migrate", "--verify")["verify"]?.bool == true)
        }
    }

    @Test func pruneCountsThenDeletesOnlyWhatIsPastRetention() async throws {
        try await TestDatabase.withMigrated { db in
            try await withClient(db, poolSize: 4) { client in
                let s = try await SeededJobs.seed(client)
                let ops = try OpsCLI(db)
                let before = try await client.jobsSnapshot()
                let dry = try await ops.json("prune")
                #expect(dry["applied"]?.bool == false && dry["completed_or_cancelled"]?.int == 1 && dry["discarded"]?.int == 0)
                #expect(try await client.jobsSnapshot() == before)
                let dryText = try await ops.table("prune", "--discarded-age", "2d")
                #expect(dryText.contains("dry run: prune would delete 2 jobs; nothing changed. Add --apply"), "\(dryText)")
                let bad = try await ops.run("prune", "--completed-age", "soon")
                #expect(bad.status == 1 && bad.stderr.contains("bad --completed-age 'soon'"))
                let applied = try await ops.json("prune", "--discarded-age", "2d", "--batch", "1", "--apply")
                #expect(applied["applied"]?.bool == true && applied["total"]?.int == 2)
                #expect(try await client.int("SELECT count(*)::int FROM jobs WHERE id IN (\(s.oldCompleted), \(s.oldDiscarded))") == 0)
                #expect(try await client.int("SELECT count(*)::int FROM jobs") == 8)
            }
        }
    }

    @Test func anUnreachableDatabaseSaysWhatToDoWithoutThePassword() async throws {
        let server = try TestDatabase.serverSettings()
        var environment = ChildProcess.environment(for: server)
        environment["DATABASE_URL"] = "postgres://hybridhub:sekrit-pw@127.0.0.1:1/hybridhub"
        let ops = try ChildProcess.executable("hybridhub-ops")
        for command in [["queues"], ["jobs", "list", "--json"], ["migrate"]] {
            let result = try await ChildProcess.run(ops, command, environment: environment)
            #expect(result.status == 1, "\(command): \(result.stderr)")
            #expect(result.stderr.contains("postgres://hybridhub@127.0.0.1:1/hybridhub"), "\(result.stderr)")
            #expect(result.stderr.contains("ops/postgres.sh start") && result.stderr.contains("eval \"$(ops/postgres.sh env)\""))
            #expect(!(result.stdout + result.stderr).contains("sekrit-pw"))
        }
        var empty = environment
        empty["DATABASE_URL"] = "mysql://nope"
        let bad = try await ChildProcess.run(ops, ["workers"], environment: empty)
        #expect(bad.status == 1 && bad.stderr.contains("DATABASE_URL"), "\(bad.stderr)")
    }
}

extension Sequence {
    func asyncMap<T>(_ transform: (Element) async throws -> T) async rethrows -> [T] {
        var result: [T] = []
        for element in self { result.append(try await transform(element)) }
        return result
    }
}
