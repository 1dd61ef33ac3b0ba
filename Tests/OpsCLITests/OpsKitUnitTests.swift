import Foundation
import JobEngine
@testable import OpsKit
import Testing

/// The pure parts of OpsKit: durations, the action rules, the table layout.
@Suite struct OpsKitUnitTests {
    @Test func durationsParseWithUnitsAndNameTheBadValue() throws {
        #expect(try DurationText.seconds("90s", option: "--x") == 90)
        #expect(try DurationText.seconds("10m", option: "--x") == 600)
        #expect(try DurationText.seconds("1h30m", option: "--x") == 5400)
        #expect(try DurationText.seconds("14d", option: "--x") == 14 * 86400)
        #expect(try DurationText.seconds("2.5", option: "--x") == 2.5)
        for bad in ["", "10x", "m", "5m3", "-4"] {
            #expect(throws: OpsError.self) { try DurationText.seconds(bad, option: "--older-than") }
        }
        let error = try #require(throws: OpsError.self) { try DurationText.seconds("ten", option: "--newer-than") }
        #expect(error.description.hasPrefix("bad --newer-than 'ten'"))
        let state = try #require(throws: OpsError.self) {
            try JobFilter.parse(states: ["running,finished"], kinds: [], queues: [], olderThan: nil, newerThan: nil)
        }
        #expect(state.description.contains("bad --state 'finished'"))
    }

    func job(_ state: JobState, leaseLeft: Double? = nil, key: String? = nil) -> JobSummary {
        let now = Date()
        return JobSummary(id: 7, kind: "k", queue: "q", state: state, priority: 1, attempt: 1, maxAttempts: 3, runAt: now,
                          createdAt: now, updatedAt: now, attemptedAt: now, finalizedAt: nil,
                          leaseOwner: state == .running ? "w1" : nil, leaseExpiresAt: leaseLeft.map { now.addingTimeInterval($0) },
                          leaseEpoch: 2, uniqueKey: key, errorCount: 0, lastError: nil, ageSeconds: 1, leaseRemainingSeconds: leaseLeft)
    }

    @Test func actionsRefuseTerminalAndLiveJobsUnlessForced() {
        for state in [JobState.discarded, .cancelled, .retryable, .scheduled] {
            #expect(JobAction.requeue.refusal(job(state), force: false, keyHolder: nil) == nil)
        }
        #expect(JobAction.requeue.refusal(job(.completed), force: true, keyHolder: nil) != nil)
        #expect(JobAction.requeue.refusal(job(.available), force: false, keyHolder: nil) == "already available")
        #expect(JobAction.requeue.refusal(job(.discarded, key: "k1"), force: false, keyHolder: 9)?.contains("held by job 9") == true)
        for state in [JobState.completed, .discarded, .cancelled] {
            #expect(JobAction.cancel.refusal(job(state), force: true, keyHolder: nil)?.contains("terminal") == true)
        }
        for state in [JobState.available, .scheduled, .retryable] {
            #expect(JobAction.cancel.refusal(job(state), force: false, keyHolder: nil) == nil)
        }
        let live = job(.running, leaseLeft: 4)
        #expect(JobAction.cancel.refusal(live, force: false, keyHolder: nil)?.contains("--force") == true)
        #expect(JobAction.cancel.refusal(live, force: true, keyHolder: nil) == nil)
        #expect(JobAction.requeue.refusal(job(.running, leaseLeft: -3), force: false, keyHolder: nil) == nil, "a dead worker's job needs no --force")
    }

    @Test func tablesAlignAndAgesRead() {
        let table = Output.table(["id", "state"], [["1", "running"], ["1234", ""]])
        #expect(table == "ID    STATE\n1     running\n1234  -")
        #expect(Output.age(4.25) == "4.2s")
        #expect(Output.age(75) == "1m15s")
        #expect(Output.age(7300) == "2h01m")
        #expect(Output.age(90000) == "1d01h")
        #expect(Output.age(-3) == "in 3.0s")
        #expect(Output.time(Date(timeIntervalSince1970: 1_300_297_190)) == "2011-03-16 17:39:50Z")
    }
}
