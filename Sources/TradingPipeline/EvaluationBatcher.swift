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
        let ticket: UInt64
        let uid: String
        let continuation: CheckedContinuation<EvaluationOutcome, Never>
    }

    private struct State {
        var inFlight = false
        var waiting: [Waiter] = []
        var nextTicket: UInt64 = 0
    }

    private let state = Mutex(State())
    /// Users per batch at most (the statements stay small; a larger burst makes more batches).
    let maxBatch: Int

    init(maxBatch: Int = 100) {
        precondition(maxBatch >= 1)
        self.maxBatch = maxBatch
    }

    /// The user's outcome from the batch they joined. A batch that fails as a whole (a
    /// database error) is every member's failure. A run cancelled while it still waits for a
    /// batch (the job's timeout, shutdown) leaves at once with `CancellationError`; one whose
    /// batch is running gets that batch's outcome.
    func evaluate(_ uid: String, run: @escaping Run) async -> EvaluationOutcome {
        let ticket = state.withLock { state -> UInt64 in
            defer { state.nextTicket &+= 1 }
            return state.nextTicket
        }
        return await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                enum Next { case cancelled, wait, startBatch }
                let next = state.withLock { state -> Next in
                    // Checked under the lock `onCancel` takes: a cancellation is seen here or there.
                    if Task.isCancelled { return .cancelled }
                    state.waiting.append(Waiter(ticket: ticket, uid: uid, continuation: continuation))
                    guard !state.inFlight else { return .wait }
                    state.inFlight = true
                    return .startBatch
                }
                switch next {
                case .cancelled: continuation.resume(returning: .failure(CancellationError()))
                case .wait: break
                case .startBatch: Task { await self.drain(run) }
                }
            }
        } onCancel: {
            // Resumed here only if no batch took it: each waiter is resumed exactly once.
            let waiter = state.withLock { state -> Waiter? in
                guard let index = state.waiting.firstIndex(where: { $0.ticket == ticket }) else { return nil }
                return state.waiting.remove(at: index)
            }
            waiter?.continuation.resume(returning: .failure(CancellationError()))
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
