import Foundation
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
}
