import Foundation
import HybridStore
import JobEngine
import Logging
import PostgresNIO
import TradingCore
import TradingJobs

/// What one scheduler tick enqueues: market data for the inputs that are due, symbols batched
/// across all users (calls depend on the symbols, not the users), and one evaluation per user.
public struct TickPlan: Sendable, Equatable {
    public var ingest: [IngestSymbolBatch]
    public var evaluate: [EvaluateUser]
}

public enum TickPlanner {
    /// A data input polled every `pollSeconds` is due in the tick bucket whose interval
    /// `((bucket - 1) × interval, bucket × interval]` contains a multiple of `pollSeconds`.
    public static func isDue(pollSeconds: Int, bucket: Int64, intervalSeconds: Int) -> Bool {
        let poll = Int64(max(1, pollSeconds)), interval = Int64(intervalSeconds)
        let end = bucket * interval, start = (bucket - 1) * interval
        return floorDiv(end, poll) != floorDiv(start, poll)
    }

    static func floorDiv(_ a: Int64, _ b: Int64) -> Int64 {
        a >= 0 ? a / b : -((-a + b - 1) / b)
    }

    /// Pure: the configs of enabled users → the tick's jobs. Symbols a healthy market-data
    /// stream covers (`streamed`, per feed) are not polled: the stream writes them.
    public static func plan(configs: [EffectiveTradingConfig], bucket: Int64, intervalSeconds: Int, batchSize: Int,
                            ingest: Bool = true, evaluate: Bool = true, streamed: [String: Set<String>] = [:]) -> TickPlan {
        var symbolsByFeed: [String: Set<String>] = [:]
        var metricsByFeed: [String: Set<String>] = [:]
        var users: [String] = []
        for effective in configs where effective.config.enabled {
            users.append(effective.firebaseUID)
            for input in effective.config.dataInputs
            where input.assetClass == .usEquity && isDue(pollSeconds: input.pollIntervalSeconds, bucket: bucket, intervalSeconds: intervalSeconds) {
                symbolsByFeed[input.feed.rawValue, default: []].formUnion(input.symbols)
                metricsByFeed[input.feed.rawValue, default: []].formUnion(input.metrics.map(\.rawValue))
            }
        }
        var batches: [IngestSymbolBatch] = []
        if ingest {
            for feed in symbolsByFeed.keys.sorted() {
                let symbols = (symbolsByFeed[feed] ?? []).subtracting(streamed[feed] ?? []).sorted()
                let metrics = (metricsByFeed[feed] ?? []).sorted()
                for start in stride(from: 0, to: symbols.count, by: max(1, batchSize)) {
                    let chunk = Array(symbols[start..<min(start + max(1, batchSize), symbols.count)])
                    batches.append(IngestSymbolBatch(feed: feed, symbols: chunk, metrics: metrics, bucket: bucket))
                }
            }
        }
        let evaluations = evaluate ? users.sorted().map { EvaluateUser(firebaseUID: $0, bucket: bucket) } : []
        return TickPlan(ingest: batches, evaluate: evaluations)
    }
}

/// The scheduler's trading tick: what each tick enqueues, planned from every enabled user's
/// config (`TickPlanner`), plus the safety nets for orders (polls of quiet open orders, a new
/// `submit-order` for an approval whose job was lost).
public struct TradingTick: Sendable {
    let settings: PipelineSettings
    let configCache: ConfigCache

    public init(settings: PipelineSettings, configCache: ConfigCache) {
        self.settings = settings
        self.configCache = configCache
    }

    /// Every `intervalSeconds`, the tick's jobs, in the scheduler's transaction (unique keys per
    /// tick bucket: a failover neither skips nor doubles a tick).
    public func schedule(intervalSeconds: Int) -> PeriodicSchedule {
        PeriodicSchedule(name: "trading-tick", intervalSeconds: intervalSeconds, maxCatchUp: 1) { bucket, db, logger in
            let configs = try await enabledConfigs(on: db, logger: logger)
            let streamed = try await MarketStreamStore.coveredSymbols(on: db, logger: logger)
            let plan = TickPlanner.plan(configs: configs, bucket: bucket, intervalSeconds: intervalSeconds,
                                        batchSize: settings.ingestBatchSymbols, ingest: settings.ingestEnabled,
                                        evaluate: settings.evaluateEnabled, streamed: streamed)
            var jobs = try plan.ingest.map { try TradingJobCatalog.ingestSymbolBatch.job($0) }
            let delay = plan.ingest.isEmpty ? 0 : settings.evaluateDelaySeconds
            jobs += try plan.evaluate.map { try TradingJobCatalog.evaluateUser.job($0, runAfterSeconds: delay) }
            jobs += try await staleOpenOrders(on: db, logger: logger).map { try TradingJobCatalog.pollOrderStatus.job($0) }
            jobs += try await strandedSubmissions(on: db, logger: logger).map { try TradingJobCatalog.submitOrder.job($0) }
            logger.info("trading tick planned", metadata: [
                "tick.bucket": "\(bucket)", "tick.users": "\(plan.evaluate.count)", "tick.ingest_batches": "\(plan.ingest.count)",
                "tick.symbols": "\(plan.ingest.reduce(0) { $0 + $1.symbols.count })",
                "tick.streamed_symbols": "\(streamed.values.reduce(0) { $0 + $1.count })",
            ])
            return jobs
        }
    }

    /// Every enabled user's effective config; invalid ones are logged and left out. Parsed
    /// documents are cached by their text (`ConfigCache`), so a steady tick re-parses only the
    /// documents that changed.
    public func enabledConfigs(on db: PostgresConnection, logger: Logger) async throws -> [EffectiveTradingConfig] {
        var result: [EffectiveTradingConfig] = []
        for (uid, documents) in try await UserConfigStore.enabledConfigDocuments(on: db, logger: logger) {
            switch try configCache.effective(uid: uid, documents: documents) {
            case .success(let config):
                result.append(EffectiveTradingConfig(firebaseUID: uid, templateName: documents.templateName, config: config,
                                                     enabledColumn: true))
            case .failure(let error):
                logger.warning("user config invalid; user skipped this tick", metadata: ["user.uid": "\(uid)", "error": "\(error)"])
            }
        }
        return result
    }

    /// Approved orders still `pending_submit` after two minutes with no live `submit-order`
    /// job (discarded, or lost): submit again. Safe: submission looks the order up by
    /// client_order_id before any POST, and its gate ends an approval that is too old. An order
    /// whose job an operator cancelled is not sent: it is marked cancel-requested, and the
    /// submit attempt enqueued for it asks Alpaca and ends it `canceled` (or records what Alpaca
    /// has), so nothing sends it again.
    func strandedSubmissions(on db: PostgresConnection, logger: Logger) async throws -> [SubmitOrder] {
        let quiet = try await OrderStore.quietPendingSubmissions(quietSeconds: 120, limit: 5000, on: db, logger: logger)
        let keys = quiet.map { SubmitOrder.uniqueKey(clientOrderID: $0.clientOrderID) }
        let jobs = try await JobStore.states(ofUniqueKeys: keys, on: db, logger: logger)
        var stranded: [(order: SubmitOrder, operatorCancelled: Bool)] = []
        for (order, key) in zip(quiet, keys) where stranded.count < 500 {
            let states = jobs[key] ?? []
            guard states.isDisjoint(with: JobState.live) else { continue }
            stranded.append((SubmitOrder(tradeOrderID: order.id, clientOrderID: order.clientOrderID), states.contains(.cancelled)))
        }
        try await OrderStore.requestCancel(stranded.filter(\.operatorCancelled).map(\.order.tradeOrderID),
                                           reason: "its submit-order job was cancelled by an operator", on: db, logger: logger)
        for (order, cancelled) in stranded {
            logger.warning(cancelled ? "order's submit-order job was cancelled; ending the order unsent" : "order stranded in pending_submit; submitting again",
                           metadata: ["order.client_order_id": "\(order.clientOrderID)"])
        }
        return stranded.map(\.order)
    }

    /// Orders left non-terminal at the broker for a minute: a `poll-order-status` as a safety net.
    func staleOpenOrders(on db: PostgresConnection, logger: Logger) async throws -> [PollOrderStatus] {
        try await OrderStore.quietOpenOrders(quietSeconds: 60, limit: 500, on: db, logger: logger)
            .map { PollOrderStatus(tradeOrderID: $0.id, clientOrderID: $0.clientOrderID) }
    }
}
