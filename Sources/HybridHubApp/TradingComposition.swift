import AlpacaClient
import Foundation
import HybridMetrics
import HybridSettings
import HybridStore
import JobEngine
import Logging
import PostgresNIO
import ProcessKit
import ServiceLifecycle
import TradingCore
import TradingJobs
import TradingPipeline

/// The one place that turns settings into the pipeline's parts: Alpaca clients (or the
/// simulator in test mode), the trading clock, the live gate, the worker and the scheduler.
public enum TradingComposition {
    /// The Alpaca hosts actually used: the simulator's in test mode (plan §11).
    public static func endpoints(_ settings: Settings) -> (trading: URL, data: URL) {
        settings.worker.testMode ? (settings.alpaca.simulatorURL, settings.alpaca.simulatorURL)
            : (settings.alpaca.tradingBaseURL, settings.alpaca.dataBaseURL)
    }

    public static func gate(_ settings: Settings) -> LiveTradingGate {
        var alpaca = settings.alpaca
        alpaca.tradingBaseURL = endpoints(settings).trading
        return LiveTradingGate(allowLive: alpaca.allowLive, tradingURLIsLive: alpaca.tradingURLIsLive,
                               hardMaxOrderNotionalUSD: settings.trading.hardMaxOrderNotionalUSD)
    }

    /// The pipeline's knobs from the settings (`SettingsCatalog`).
    public static func pipelineSettings(_ settings: Settings) -> PipelineSettings {
        PipelineSettings(
            gate: gate(settings), questionTTLSeconds: settings.trading.questionTTLSeconds,
            approvalMaxDriftPct: settings.trading.approvalMaxDriftPct, ingestBatchSymbols: settings.trading.ingestBatchSymbols,
            evaluateDelaySeconds: Double(settings.trading.evaluateDelaySeconds),
            ingestEnabled: settings.trading.ingestEnabled, evaluateEnabled: settings.trading.evalEnabled,
            preflightCacheSeconds: Double(settings.trading.preflightCacheSeconds), tradingEnabled: settings.trading.enabled,
            approvalMaxAgeSeconds: settings.trading.approvalMaxAgeSeconds,
            reconcileGraceSeconds: Double(settings.trading.reconcileGraceSeconds))
    }

    /// The trading clock: the simulator's replayed instant in test mode, the system's otherwise.
    public static func clock(_ settings: Settings) -> any MarketClock {
        settings.worker.testMode ? SimulatorMarketClock(simulatorURL: settings.alpaca.simulatorURL) : SystemMarketClock()
    }

    /// The pipeline of every process and of the tests' `Farm`: Alpaca's clients (or the
    /// simulator in test mode, or the doubles in `overrides`) behind the farm's rate budget,
    /// the trading clock, the settings' knobs, failpoints from the environment.
    public static func pipeline(settings: Settings, client: PostgresClient, logger: Logger, overrides: Overrides = Overrides(),
                                environment: [String: String] = ProcessInfo.processInfo.environment) -> TradingPipeline {
        let marketData = overrides.marketData ?? marketDataClient(settings, logger: logger)
        let trading = overrides.trading ?? tradingClient(settings, logger: logger)
        let budget = RateBudget(client: client, shape: RateBudgetShape(perMinute: Double(settings.alpaca.ratePerMinute),
                                                                       burst: Double(settings.alpaca.rateBurst)), logger: logger)
        let keyID = settings.alpaca.keyID.reveal()
        return TradingPipeline(
            client: client, marketData: BudgetedMarketData(marketData, budget: budget, keyID: keyID),
            trading: BudgetedTrading(trading, budget: budget, keyID: keyID), clock: overrides.clock ?? clock(settings),
            settings: overrides.pipelineSettings ?? pipelineSettings(settings),
            failpoints: overrides.failpoints ?? Failpoints(environment: environment), logger: logger)
    }

    /// What the API role needs of the pipeline: the answer service (the database and the
    /// trading clock; no Alpaca client is built).
    public static func answers(settings: Settings, client: PostgresClient, logger: Logger,
                               overrides: Overrides = Overrides()) -> AnswerService {
        AnswerService(client: client, clock: overrides.clock ?? clock(settings),
                      settings: overrides.pipelineSettings ?? pipelineSettings(settings), logger: logger)
    }

    /// The market-data client without the farm's budget.
    public static func marketDataClient(_ settings: Settings, logger: Logger) -> AlpacaMarketDataClient {
        AlpacaMarketDataClient(baseURL: endpoints(settings).data,
                               credentials: AlpacaCredentials(keyID: settings.alpaca.keyID, secretKey: settings.alpaca.secretKey),
                               timeoutSeconds: Double(settings.alpaca.timeoutSeconds), logger: logger)
    }

    /// The trading client without the farm's budget (the start-up check runs before the
    /// database client does).
    public static func tradingClient(_ settings: Settings, logger: Logger) -> AlpacaTradingClient {
        AlpacaTradingClient(baseURL: endpoints(settings).trading,
                            credentials: AlpacaCredentials(keyID: settings.alpaca.keyID, secretKey: settings.alpaca.secretKey),
                            timeoutSeconds: Double(settings.alpaca.timeoutSeconds), logger: logger)
    }

    /// Start-up check of the trading keys: they must open an ACTIVE account at the trading
    /// URL in use (paper keys do not open the live host, and the reverse). Transient failures
    /// are retried a few times; a refusal is final. The message never contains a key.
    public static func verifyTradingAccount(settings: Settings, logger: Logger) async throws {
        let url = endpoints(settings).trading
        let trading = tradingClient(settings, logger: logger)
        var attempt = 0
        while true {
            attempt += 1
            do {
                let account = try await trading.account()
                // A flag Alpaca leaves out is not a block (the document lets it omit them).
                let tradingBlocked = account.tradingBlocked == true, accountBlocked = account.accountBlocked == true
                guard account.status == "ACTIVE", !tradingBlocked, !accountBlocked else {
                    throw StartupCheckError("the Alpaca account at \(url) is \(account.status)\(tradingBlocked ? ", trading blocked" : "")\(accountBlocked ? ", account blocked" : ""); fix it in Alpaca's dashboard")
                }
                logger.notice("Alpaca trading account verified", metadata: ["alpaca.trading": "\(url)", "alpaca.account_status": "\(account.status)"])
                return
            } catch let error as AlpacaError where !error.isRetryable || attempt >= 4 {
                let hint = error.httpStatus == 401 || error.httpStatus == 403
                    ? "the keys in ALPACA_API_KEY_ID / ALPACA_API_SECRET_KEY do not open an account there (paper keys work only with https://paper-api.alpaca.markets, live keys only with https://api.alpaca.markets)"
                    : "Alpaca cannot be reached"
                throw StartupCheckError("refusing to start: \(hint): \(error)")
            } catch let error as AlpacaError {
                logger.warning("Alpaca account check failed; retrying", metadata: ["error": "\(error)", "attempt": "\(attempt)"])
                try await Task.sleep(for: .seconds(Double(attempt)))
            }
        }
    }

    /// The streams' endpoints and knobs: Alpaca's stream hosts, or the simulator in test mode.
    public static func streamOptions(_ settings: Settings) -> StreamOptions {
        let stream = settings.stream
        let dataBase = settings.worker.testMode ? settings.alpaca.simulatorURL : stream.dataURL
        return StreamOptions(
            feed: settings.alpaca.dataFeed,
            marketDataURL: AlpacaStreamURLs.marketData(base: dataBase, feed: settings.alpaca.dataFeed),
            tradeUpdatesURL: AlpacaStreamURLs.tradeUpdates(tradingBase: endpoints(settings).trading),
            credentials: AlpacaCredentials(keyID: settings.alpaca.keyID, secretKey: settings.alpaca.secretKey),
            maxSymbols: stream.maxSymbols, silenceSeconds: Double(stream.silenceSeconds), followSeconds: Double(stream.followSeconds),
            refreshSeconds: Double(stream.refreshSeconds), evaluateSeconds: Double(stream.evaluateSeconds),
            backoffMaxSeconds: Double(stream.backoffMaxSeconds))
    }

    public static func streams(settings: Settings, pipeline: TradingPipeline, holderID: String,
                               leaseSeconds: Double = 5, renewSeconds: Double = 1, logger: Logger) -> StreamsService {
        StreamsService(parts: pipeline.streams, options: streamOptions(settings), holderID: holderID,
                       leaseSeconds: leaseSeconds, renewSeconds: renewSeconds, logger: logger)
    }

    /// Queues of the job kinds and how many jobs of each run at once in one worker. The evaluate
    /// queue holds more: its runs wait together for a batch (`EvaluationBatcher`), so a held job
    /// costs a task, not a connection.
    public static func workerQueues(concurrency: Int, evaluateConcurrency: Int? = nil) -> [String: Int] {
        var queues = Dictionary(TradingJobCatalog.all.map { ($0.queue, concurrency) }, uniquingKeysWith: { a, _ in a })
        queues[TradingJobCatalog.evaluateUser.queue] = evaluateConcurrency ?? concurrency * 4
        return queues
    }

    public static func scheduler(settings: Settings, pipeline: TradingPipeline, client: PostgresClient, holderID: String,
                                 leaseSeconds: Double = 5, renewSeconds: Double = 1, logger: Logger) -> SchedulerService {
        let elector = LeaderElector(name: "trading-scheduler", holderID: holderID, leaseSeconds: leaseSeconds, renewSeconds: renewSeconds)
        var schedules: [PeriodicSchedule] = []
        if settings.trading.enabled && settings.worker.enabled {
            schedules.append(pipeline.tick.schedule(intervalSeconds: settings.worker.intervalSeconds))
        } else {
            logger.notice("trading tick off: TRADING_ENABLED and QUESTION_WORKER_ENABLED must both be true",
                          metadata: ["trading.enabled": "\(settings.trading.enabled)", "worker.enabled": "\(settings.worker.enabled)"])
        }
        // The books against the broker, always (orders already placed still settle, and a
        // halt or TRADING_ENABLED=false is exactly when the books must keep following).
        if settings.trading.reconcileIntervalSeconds > 0 {
            schedules.append(ReconcileOrdersHandler.schedule(intervalSeconds: settings.trading.reconcileIntervalSeconds))
        } else {
            logger.notice("order reconciliation not scheduled: TRADING_RECONCILE_INTERVAL_SECONDS is 0",
                          metadata: ["reconcile.interval_seconds": "\(settings.trading.reconcileIntervalSeconds)"])
        }
        return SchedulerService(client: client, elector: elector, schedules: schedules, tickSeconds: min(1, renewSeconds), logger: logger)
    }

    /// The `/metrics` endpoint of a worker or scheduler process.
    public static func metricsEndpoint(_ settings: Settings, logger: Logger) -> some Service {
        MetricsEndpoint(host: settings.api.metricsHost, port: settings.api.metricsPort, logger: logger).application()
    }

}

/// Doubles and adjustments a test or a benchmark passes to the composition root; nil keeps
/// the real wiring. The budget wrappers wrap whatever is passed, as in production.
public struct Overrides: Sendable {
    public var marketData: (any MarketDataAPI)?
    public var trading: (any TradingAPI)?
    public var clock: (any MarketClock)?
    public var pipelineSettings: PipelineSettings?
    public var failpoints: Failpoints?

    public init(marketData: (any MarketDataAPI)? = nil, trading: (any TradingAPI)? = nil, clock: (any MarketClock)? = nil,
                pipelineSettings: PipelineSettings? = nil, failpoints: Failpoints? = nil) {
        self.marketData = marketData
        self.trading = trading
        self.clock = clock
        self.pipelineSettings = pipelineSettings
        self.failpoints = failpoints
    }
}
