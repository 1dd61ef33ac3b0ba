import AlpacaClient
import JobEngine
import Logging
import PostgresNIO
import TradingCore

/// The trading pipeline's parts, wired once: one handler per job kind, the answer service,
/// the tick, the order recorder and what the streams use. Each part holds only what it uses
/// (see each type); this struct only builds them from the process's clients and binds the
/// handlers into the engine's registry. `HybridHubApp.TradingComposition` is the one place
/// that builds it, for every process and for the tests.
public struct TradingPipeline: Sendable {
    public let ingest: IngestHandler
    public let evaluation: EvaluateUserHandler
    public let delivery: DeliverQuestionHandler
    public let submission: SubmitOrderHandler
    public let polling: PollOrderStatusHandler
    public let reconciliation: ReconcileOrdersHandler
    public let answers: AnswerService
    public let tick: TradingTick
    public let orders: OrderRecorder
    public let streams: StreamParts

    public init(client: PostgresClient, marketData: any MarketDataAPI, trading: any TradingAPI, clock: any MarketClock,
                settings: PipelineSettings, failpoints: Failpoints = Failpoints(), logger: Logger) {
        let configCache = ConfigCache()
        let orders = OrderRecorder(client: client, questionTTLSeconds: settings.questionTTLSeconds, logger: logger)
        let tick = TradingTick(settings: settings, configCache: configCache)
        self.orders = orders
        self.tick = tick
        ingest = IngestHandler(client: client, marketData: marketData, enabled: settings.ingestEnabled && settings.tradingEnabled)
        evaluation = EvaluateUserHandler(client: client, trading: trading, clock: clock, settings: settings, configCache: configCache,
                                         logger: logger)
        delivery = DeliverQuestionHandler(client: client)
        submission = SubmitOrderHandler(client: client, trading: trading, clock: clock, settings: settings, orders: orders,
                                        failpoints: failpoints)
        polling = PollOrderStatusHandler(trading: trading, orders: orders)
        reconciliation = ReconcileOrdersHandler(client: client, trading: trading, clock: clock, settings: settings, orders: orders)
        answers = AnswerService(client: client, clock: clock, settings: settings, logger: logger)
        streams = StreamParts(client: client, marketData: marketData, settings: settings, tick: tick, orders: orders)
    }

    /// The six kinds bound to their handlers (queue, priority, retries, timeout from
    /// `TradingJobCatalog`, which `jobs/` mirrors).
    public func registry() -> JobRegistry {
        JobRegistry([
            ingest.definition(), evaluation.definition(), delivery.definition(), submission.definition(), polling.definition(),
            reconciliation.definition(),
        ])
    }
}
