import JobEngine
import TradingJobs

extension TradingPipeline {
    /// The five kinds, bound to their specs (queue, priority, retries, timeout from
    /// `TradingJobCatalog`, which `jobs/` mirrors).
    public func jobDefinitions() -> [JobDefinition] {
        [
            TradingJobCatalog.ingestSymbolBatch.definition(IngestSymbolBatch.self) { try await self.ingest($0, $1) },
            TradingJobCatalog.evaluateUser.definition(EvaluateUser.self) { try await self.evaluate($0, $1) },
            TradingJobCatalog.deliverQuestion.definition(DeliverQuestion.self) { try await self.deliver($0, $1) },
            TradingJobCatalog.submitOrder.definition(SubmitOrder.self) { try await self.submit($0, $1) },
            TradingJobCatalog.pollOrderStatus.definition(PollOrderStatus.self) { try await self.poll($0, $1) },
        ]
    }

    public func registry() -> JobRegistry { JobRegistry(jobDefinitions()) }
}
