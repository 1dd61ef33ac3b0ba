import Foundation
import Synchronization

/// Group commit for `evaluate-user`: the runs of one process that overlap are evaluated
/// together. The first run starts a batch at once (no added wait when the queue is quiet);
/// runs that arrive while a batch is in flight wait for it and then go as the next batch.
/// A burst of crossings, hundreds of users at once, then costs a few statements per batch
/// instead of a dozen per user. Each run still gets its own outcome (its job retries, snoozes
/// or completes on its own).
final class EvaluationBatcher: Sendable {
    typealias Run = @Sendable (_ uids: [String]) async throws -> [String: EvaluationOutcome]

    private struct Waiter {
        let uid: String
        let continuation: CheckedContinuation<EvaluationOutcome, Never>
    }

    private struct State {
        var inFlight = false
        var waiting: [Waiter] = []
    }

    private let state = Mutex(State())
    /// Users per batch at most (the statements stay small; a larger burst makes more batches).
    let maxBatch: Int

    init(maxBatch: Int = 100) {
        precondition(maxBatch >= 1)
        self.maxBatch = maxBatch
    }

    /// The user's outcome from the batch they joined. A batch that fails as a whole (a
    /// database error) is every member's failure.
    func evaluate(_ uid: String, run: @escaping Run) async -> EvaluationOutcome {
        await withCheckedContinuation { continuation in
            let starts = state.withLock { state -> Bool in
                state.waiting.append(Waiter(uid: uid, continuation: continuation))
                guard !state.inFlight else { return false }
                state.inFlight = true
                return true
            }
            if starts { Task { await self.drain(run) } }
        }
    }

    private func drain(_ run: Run) async {
        while true {
            let batch = state.withLock { state -> [Waiter] in
                let batch = Array(state.waiting.prefix(maxBatch))
                state.waiting.removeFirst(batch.count)
                if batch.isEmpty { state.inFlight = false }
                return batch
            }
            guard !batch.isEmpty else { return }
            do {
                let outcomes = try await run(batch.map(\.uid))
                for waiter in batch {
                    waiter.continuation.resume(returning: outcomes[waiter.uid] ?? .failure(PipelineError.noConfig(waiter.uid)))
                }
            } catch {
                for waiter in batch { waiter.continuation.resume(returning: .failure(error)) }
            }
        }
    }
}
