import JobEngine
import TradingJobs

/// One job kind's handler: its payload, its spec in `TradingJobCatalog` (queue, priority,
/// retries, timeout; `jobs/` states the same), and the run. Each handler holds only what it
/// uses; the composition root builds them and `TradingPipeline.registry()` binds them.
public protocol TradingJobHandler: Sendable {
    associatedtype Payload: TradingJobPayload
    static var spec: JobSpec { get }
    func handle(_ job: Payload, _ context: JobContext) async throws -> JobOutcome
}

extension TradingJobHandler {
    /// The engine's definition of this kind. A job that finds the farm's Alpaca budget empty
    /// snoozes until a token is due: no attempt used, no error recorded. (submit-order re-runs
    /// from its start, which looks the order up before any POST, so a snooze between its calls
    /// is safe.)
    public func definition() -> JobDefinition {
        Self.spec.definition(Payload.self) { job, context in
            do {
                return try await self.handle(job, context)
            } catch let exhausted as RateBudgetExhausted {
                context.logger.debug("no Alpaca token; snoozing",
                                     metadata: ["budget": "\(exhausted.budget)", "seconds": "\(exhausted.waitSeconds)"])
                return .snooze(seconds: exhausted.waitSeconds + Double.random(in: 0...0.2))
            }
        }
    }
}
