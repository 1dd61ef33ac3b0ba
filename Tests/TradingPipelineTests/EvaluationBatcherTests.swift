import Foundation
import HybridTestSupport
import PostgresNIO
import Synchronization
import Testing
@testable import TradingPipeline

/// Group commit: runs that overlap share a batch, and each gets its own outcome.
@Suite struct EvaluationBatcherTests {
    /// An outcome that names its user (a held-back rule carries the uid).
    static func marked(_ uid: String) -> EvaluationOutcome {
        var result = UserEvaluationResult()
        result.heldBack = [.init(ruleID: uid, reason: "marker")]
        return .success(result)
    }

    @Test func overlappingRunsShareBatchesAndKeepTheirOwnOutcomes() async throws {
        let batcher = EvaluationBatcher(maxBatch: 16)
        let sizes = Mutex<[Int]>([])
        let run: EvaluationBatcher.Run = { uids in
            sizes.withLock { $0.append(uids.count) }
            try await Task.sleep(for: .milliseconds(20))
            return Dictionary(uniqueKeysWithValues: Set(uids).map { ($0, Self.marked($0)) })
        }
        let mismatches = await withTaskGroup(of: Bool.self) { group in
            for i in 0..<60 {
                group.addTask {
                    let uid = "user-\(i % 50)"
                    let outcome = await batcher.evaluate(uid, run: run)
                    return (try? outcome.get().heldBack.first?.ruleID) != uid
                }
            }
            return await group.reduce(0) { $0 + ($1 ? 1 : 0) }
        }
        #expect(mismatches == 0)
        let batches = sizes.withLock { $0 }
        #expect(batches.reduce(0, +) == 60)
        #expect(batches.allSatisfy { $0 <= 16 })
        #expect(batches.count < 60 / 2, "overlapping runs were not batched: \(batches)")
    }

    @Test func aFailedBatchFailsItsMembersAndTheNextBatchRuns() async throws {
        let batcher = EvaluationBatcher()
        struct Broken: Error {}
        let calls = Mutex(0)
        let run: EvaluationBatcher.Run = { uids in
            let call = calls.withLock { $0 += 1; return $0 }
            if call == 1 { throw Broken() }
            return Dictionary(uniqueKeysWithValues: uids.map { ($0, Self.marked($0)) })
        }
        let first = await batcher.evaluate("user-a", run: run)
        #expect(throws: Broken.self) { try first.get() }
        let second = await batcher.evaluate("user-b", run: run)
        #expect(try second.get().heldBack.first?.ruleID == "user-b")
    }

    /// A run whose job times out or is released while it waits for a batch leaves at once and
    /// is never evaluated.
    @Test func aCancelledWaiterLeavesAtOnceAndIsNotEvaluated() async throws {
        let batcher = EvaluationBatcher()
        let batches = Mutex<[[String]]>([])
        let run: EvaluationBatcher.Run = { uids in
            batches.withLock { $0.append(uids) }
            try? await Task.sleep(for: .seconds(2))
            return Dictionary(uniqueKeysWithValues: uids.map { ($0, Self.marked($0)) })
        }
        let first = Task { await batcher.evaluate("user-a", run: run) }
        try await Task.sleep(for: .milliseconds(50))
        let waiting = Task { await batcher.evaluate("user-b", run: run) }
        try await Task.sleep(for: .milliseconds(50))
        let cancelledAt = ContinuousClock.now
        waiting.cancel()
        let outcome = await waiting.value
        #expect(ContinuousClock.now - cancelledAt < .seconds(1), "the cancelled run waited for the batch in flight (2 s)")
        #expect(throws: CancellationError.self) { try outcome.get() }
        #expect(try await first.value.get().heldBack.first?.ruleID == "user-a")
        try await Task.sleep(for: .milliseconds(100))
        #expect(batches.withLock { $0 } == [["user-a"]])
    }

    /// One user whose stored state cannot be read fails the batch's read for everyone; the
    /// batch is then evaluated user by user, and only that user's job fails.
    @Test func aBatchThatFailsAsAWholeIsRetriedUserByUser() async throws {
        try await Farm.run(worker: false) { farm in
            do {
                let t0 = Date(timeIntervalSince1970: 1_300_293_540)
                let users = ["user-a", "user-x", "user-c"]
                for uid in users { try await seedFiringUser(farm.client, uid: uid, at: t0) }
                try await farm.client.withConnection { conn in
                    _ = try await conn.query("""
                        INSERT INTO user_trading_state (firebase_uid, context) VALUES ('user-x', '{"trading": "not a context"}')
                        """, logger: logger)
                }
                await #expect(throws: (any Error).self) {
                    _ = try await farm.pipeline.evaluation.evaluate(users: users, now: t0.addingTimeInterval(5), logger: logger)
                }
                let outcomes = try await farm.pipeline.evaluation.evaluateIsolatingFailures(users, now: t0.addingTimeInterval(5), logger: logger)
                #expect(try outcomes["user-a"]?.get().asked.count == 1)
                #expect(try outcomes["user-c"]?.get().asked.count == 1)
                if case .success = outcomes["user-x"] { Issue.record("user-x's unreadable state was evaluated") }
                #expect(outcomes["user-x"] != nil)
            }
        }
    }
}
