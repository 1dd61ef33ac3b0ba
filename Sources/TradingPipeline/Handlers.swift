import JobEngine
import TradingJobs

extension TradingPipeline {
    /// The five kinds and reconcile-orders, bound to their specs (queue, priority, retries, timeout from
    /// `TradingJobCatalog`, which `jobs/` mirrors).
    public func jobDefinitions() -> [JobDefinition] {
        [
            TradingJobCatalog.ingestSymbolBatch.definition(IngestSymbolBatch.self) { job, context in
                try await Self.withinBudget(context) { try await self.ingest(job, context) }
            },
            TradingJobCatalog.evaluateUser.definition(EvaluateUser.self) { job, context in
                try await Self.withinBudget(context) { try await self.evaluate(job, context) }
            },
            TradingJobCatalog.deliverQuestion.definition(DeliverQuestion.self) { try await self.deliver($0, $1) },
            TradingJobCatalog.submitOrder.definition(SubmitOrder.self) { job, context in
                try await Self.withinBudget(context) { try await self.submit(job, context) }
            },
            TradingJobCatalog.pollOrderStatus.definition(PollOrderStatus.self) { job, context in
                try await Self.withinBudget(context) { try await self.poll(job, context) }
            },
            TradingJobCatalog.reconcileOrders.definition(ReconcileOrders.self) { job, context in
                try await Self.withinBudget(context) { try await self.reconcile(job, context) }
            },
        ]
    }

    /// A job that finds the farm's Alpaca budget empty snoozes until a token is due: no
    /// attempt used, no error recorded. (submit-order re-runs from its start, which looks the
    /// order up before any POST, so a snooze between its calls is safe.)
    static func withinBudget(_ context: JobContext, _ body: () async throws -> JobOutcome) async throws -> JobOutcome {
        do {
            return try await body()
        } catch let exhausted as RateBudgetExhausted {
            context.logger.debug("no Alpaca token; snoozing", metadata: ["budget": "\(exhausted.budget)", "seconds": "\(exhausted.waitSeconds)"])
            return .snooze(seconds: exhausted.waitSeconds + Double.random(in: 0...0.2))
        }
    }

    public func registry() -> JobRegistry { JobRegistry(jobDefinitions()) }
}
