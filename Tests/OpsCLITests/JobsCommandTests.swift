import Foundation
import HybridTestSupport
import JobEngine
import Testing
import TradingCore

/// `hybridhub-ops jobs …` as a real process against a farm seeded in every state.
@Suite struct JobsCommandTests {
    @Test func listFiltersPagesAndPrintsTablesAndJSON() async throws {
        try await TestDatabase.withMigrated { db in
            try await withClient(db, poolSize: 4) { client in
                let s = try await SeededJobs.seed(client)
                let ops = try OpsCLI(db)
                let table = try await ops.table("jobs", "list")
                #expect(table.hasPrefix("ID  "), "\(table)")
                for header in ["KIND", "QUEUE", "STATE", "ATTEMPT", "AGE", "LEASE (LEFT)", "LAST ERROR"] { #expect(table.contains(header)) }
                #expect(table.contains("HTTP 422: symbol not tradable"))
                #expect(table.contains("w-live ("))
                #expect(table.contains("10 jobs"))
                // Newest first, every job once.
                let all = try await ops.json("jobs", "list")
                #expect(all["jobs"]?.array.compactMap { $0["id"]?.int } == s.all.reversed().map { Int($0) })
                #expect(all["next_after_id"] == .null)
                let running = try #require(all["jobs"]?.array.first { $0["id"]?.int == Int(s.running) })
                #expect(running["lease_owner"]?.string == "w-live" && running["lease_live"]?.bool == true && running["lease_epoch"]?.int == 1)
                // Filters.
                func ids(_ args: String...) async throws -> [Int64] {
                    let result = try await ops.run(["jobs", "list"] + args + ["--json"])
                    #expect(result.status == 0, "\(args): \(result.stderr)")
                    return try JSONValue.parse(result.stdout)["jobs"]?.array.compactMap { $0["id"]?.int.map(Int64.init) } ?? []
                }
                #expect(try await ids("--state", "discarded") == [s.discarded, s.oldDiscarded])
                #expect(try await ids("--state", "running,scheduled") == [s.scheduled, s.running, s.expired])
                #expect(try await ids("--kind", "beta", "--queue", "q1") == [s.retryable])
                #expect(try await ids("--older-than", "1d") == [s.oldDiscarded, s.oldCompleted])
                #expect(try await ids("--newer-than", "1h", "--state", "completed") == [s.completed])
                // Pages of 4 with the cursor.
                let first = try await ops.json("jobs", "list", "--limit", "4")
                let cursor = try #require(first["next_after_id"]?.int)
                #expect(first["jobs"]?.array.count == 4 && cursor == Int(s.expired))
                let second = try await ops.json("jobs", "list", "--limit", "4", "--after-id", "\(cursor)")
                #expect(second["jobs"]?.array.compactMap { $0["id"]?.int } == [s.retryable, s.cancelled, s.discarded, s.completed].map { Int($0) })
                let pageText = try await ops.table("jobs", "list", "--limit", "4")
                #expect(pageText.contains("next page: --after-id \(cursor)"))
                // Bad filters say which value is bad.
                let badState = try await ops.run("jobs", "list", "--state", "done")
                #expect(badState.status != 0 && badState.stderr.contains("bad --state 'done'"), "\(badState.stderr)")
                let badAge = try await ops.run("jobs", "list", "--older-than", "10x", "--json")
                #expect(badAge.status != 0 && badAge.stderr.contains("bad --older-than '10x'"))
                #expect(try JSONValue.parse(badAge.stdout)["error"]?["message"]?.string?.contains("--older-than") == true)
            }
        }
    }

    @Test func showPrintsPayloadAttemptsErrorsAndLease() async throws {
        try await TestDatabase.withMigrated { db in
            try await withClient(db, poolSize: 4) { client in
                let s = try await SeededJobs.seed(client)
                let ops = try OpsCLI(db)
                let discarded = try await ops.json("jobs", "show", "\(s.discarded)")
                let job = try #require(discarded["job"])
                #expect(job["state"]?.string == "discarded" && job["attempt"]?.int == 1 && job["max_attempts"]?.int == 3)
                #expect(job["payload"]?["order"]?.string == "x-1")
                #expect(job["unique_key"]?.string == "beta:discarded")
                let error = try #require(job["errors"]?[0])
                #expect(error["attempt"]?.int == 1 && error["retryable"]?.bool == false && error["message"]?.string == "HTTP 422: symbol not tradable")
                #expect(error["at"]?.string?.hasSuffix("Z") == true)
                let text = try await ops.table("jobs", "show", "\(s.running)")
                #expect(text.contains("state:") && text.contains("running"))
                #expect(text.contains("w-live until") && text.contains("left)"), "\(text)")
                #expect(text.contains("lease epoch: 1"))
                #expect(text.contains("error history (0): none"))
                let errorsText = try await ops.table("jobs", "show", "\(s.retryable)")
                #expect(errorsText.contains("ATTEMPT") && errorsText.contains("timeout after 2 s") && errorsText.contains("yes"))
                let missing = try await ops.run("jobs", "show", "999999")
                #expect(missing.status == 1 && missing.stderr.contains("no job with id 999999"), "\(missing.stderr)")
            }
        }
    }

    @Test func bulkRequeueIsADryRunUntilApplyAndSparesLiveLeases() async throws {
        try await TestDatabase.withMigrated { db in
            try await withClient(db, poolSize: 4) { client in
                let s = try await SeededJobs.seed(client)
                let ops = try OpsCLI(db)
                let before = try await client.jobsSnapshot()
                let dry = try await ops.table("jobs", "requeue", "--queue", "q1")
                #expect(dry.contains("dry run: requeue would change 2 jobs; nothing changed. Add --apply"), "\(dry)")
                #expect(dry.contains("skipped job \(s.running) (running)") && dry.contains("--force"))
                let dryJSON = try await ops.json("jobs", "requeue", "--queue", "q1")
                #expect(dryJSON["applied"]?.bool == false)
                #expect(Set(dryJSON["jobs"]?.array.compactMap { $0["id"]?.int } ?? []) == [Int(s.retryable), Int(s.expired)])
                #expect(try await client.jobsSnapshot() == before, "a dry run changed the table")
                // Requires a selection.
                let bare = try await ops.run("jobs", "requeue")
                #expect(bare.status == 1 && bare.stderr.contains("name a job id"))
                let wrong = try await ops.run("jobs", "requeue", "--state", "completed")
                #expect(wrong.status == 1 && wrong.stderr.contains("--state completed selects none"), "\(wrong.stderr)")
                // Apply: the expired lease and the retryable job become available with attempts reset.
                let applied = try await ops.json("jobs", "requeue", "--queue", "q1", "--apply")
                #expect(applied["applied"]?.bool == true && applied["changed"]?.array.count == 2)
                for id in [s.retryable, s.expired] {
                    let state = try await client.state(id)
                    #expect(state.state == "available" && state.attempt == 0)
                }
                #expect(try await client.state(s.running).state == "running")
                #expect(try await client.int("SELECT count(*)::int FROM jobs WHERE id = \(s.retryable) AND errors->-1->>'message' LIKE 'requeued by an operator%'") == 1)
                // --force takes the live one too; the worker's late completion is then dropped.
                let forced = try await ops.table("jobs", "requeue", "--state", "running", "--force", "--apply")
                #expect(forced.contains("requeue: changed 1 job (\(s.running))"), "\(forced)")
                let late = try await client.withConnection { try await JobStore.complete([s.runningLease], on: $0, logger: logger) }
                #expect(late.isEmpty, "the old lease completed a requeued job")
                #expect(try await client.state(s.running).state == "available")
            }
        }
    }

    @Test func singleRequeueAndRetryDiscarded() async throws {
        try await TestDatabase.withMigrated { db in
            try await withClient(db, poolSize: 4) { client in
                let s = try await SeededJobs.seed(client)
                let ops = try OpsCLI(db)
                let one = try await ops.json("jobs", "requeue", "\(s.cancelled)")
                #expect(one["applied"]?.bool == true && one["changed"]?.array.first?.int == Int(s.cancelled))
                #expect(one["jobs"]?[0]?["state"]?.string == "cancelled" && one["after"]?[0]?["state"]?.string == "available")
                let requeued = try await client.state(s.cancelled)
                #expect(requeued.state == "available" && requeued.attempt == 0 && requeued.epoch == 1)
                let done = try await ops.run("jobs", "requeue", "\(s.completed)")
                #expect(done.status == 1 && done.stderr.contains("completed job is not run again"), "\(done.stderr)")
                // retry-discarded: dry run, then apply; a discarded job whose key is taken is skipped.
                _ = try await client.enqueue(NewJob(kind: "beta", queue: "q2", uniqueKey: "beta:discarded"))
                let before = try await client.jobsSnapshot()
                let dry = try await ops.json("jobs", "retry-discarded")
                #expect(dry["applied"]?.bool == false && dry["jobs"]?.array.compactMap { $0["id"]?.int } == [Int(s.oldDiscarded)])
                #expect(dry["skipped"]?[0]?["id"]?.int == Int(s.discarded))
                #expect(dry["skipped"]?[0]?["reason"]?.string?.contains("unique key beta:discarded is held by job") == true)
                #expect(try await client.jobsSnapshot() == before)
                let text = try await ops.table("jobs", "retry-discarded", "--kind", "beta")
                #expect(text.contains("dry run: requeue would change 1 job;"), "\(text)")
                let applied = try await ops.table("jobs", "retry-discarded", "--apply")
                #expect(applied.contains("requeue: changed 1 job (\(s.oldDiscarded))"), "\(applied)")
                #expect(try await client.state(s.oldDiscarded).state == "available")
                #expect(try await client.state(s.discarded).state == "discarded")
            }
        }
    }

    @Test func cancelOnlyNonTerminalJobsAndRunningOnesWithForce() async throws {
        try await TestDatabase.withMigrated { db in
            try await withClient(db, poolSize: 4) { client in
                let s = try await SeededJobs.seed(client)
                let ops = try OpsCLI(db)
                let one = try await ops.table("jobs", "cancel", "\(s.available)")
                #expect(one.contains("cancel: changed 1 job (\(s.available))"), "\(one)")
                #expect(try await client.state(s.available).state == "cancelled")
                let terminal = try await ops.run("jobs", "cancel", "\(s.completed)", "--json")
                #expect(terminal.status == 1 && terminal.stderr.contains("already completed (terminal)"))
                #expect(try JSONValue.parse(terminal.stdout)["skipped"]?[0]?["id"]?.int == Int(s.completed))
                let live = try await ops.run("jobs", "cancel", "\(s.running)")
                #expect(live.status == 1 && live.stderr.contains("running on worker w-live under a live lease"), "\(live.stderr)")
                #expect(try await client.state(s.running).state == "running")
                // A bulk cancel is a dry run without --apply.
                let before = try await client.jobsSnapshot()
                let dry = try await ops.json("jobs", "cancel", "--kind", "beta")
                #expect(Set(dry["jobs"]?.array.compactMap { $0["id"]?.int } ?? []) == [Int(s.scheduled), Int(s.retryable)])
                #expect(try await client.jobsSnapshot() == before)
                _ = try await ops.json("jobs", "cancel", "--kind", "beta", "--apply")
                #expect(try await client.state(s.scheduled).state == "cancelled")
                #expect(try await client.state(s.retryable).state == "cancelled")
                // Forced: non-claimable at once; the holder's outcome is fenced off.
                let forced = try await ops.table("jobs", "cancel", "\(s.running)", "--force")
                #expect(forced.contains("drops their outcome"), "\(forced)")
                let late = try await client.withConnection {
                    try await JobStore.fail(s.runningLease, message: "late", retryable: true, delaySeconds: 1, on: $0, logger: logger)
                }
                #expect(late == .leaseLost)
                let renewed = try await client.withConnection {
                    try await JobStore.renew([s.runningLease], workerID: "w-live", leaseSeconds: 5, on: $0, logger: logger)
                }
                #expect(renewed.isEmpty, "the worker would keep running a cancelled job")
                #expect(try await client.state(s.running).state == "cancelled")
            }
        }
    }
}
