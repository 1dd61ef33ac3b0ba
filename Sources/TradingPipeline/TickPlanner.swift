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

extension TradingPipeline {
    /// The scheduler's schedule: every `intervalSeconds`, the tick's jobs, in the scheduler's
    /// transaction (unique keys per tick bucket: a failover neither skips nor doubles a tick).
    /// Orders left non-terminal for a minute get a `poll-order-status` as a safety net.
    public func tickSchedule(intervalSeconds: Int) -> PeriodicSchedule {
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
    func enabledConfigs(on db: PostgresConnection, logger: Logger) async throws -> [EffectiveTradingConfig] {
        let rows = try await db.query("""
            SELECT c.firebase_uid, c.template_name, t.config::text, c.config::text
            FROM user_trading_config c LEFT JOIN trading_config_templates t ON t.name = c.template_name
            WHERE c.enabled ORDER BY c.firebase_uid
            """, logger: logger)
        var result: [EffectiveTradingConfig] = []
        for try await (uid, templateName, templateText, overrideText) in rows.decode((String, String?, String?, String).self) {
            let view = TradingStateStore.EvaluationView(templateName: templateName, templateText: templateText, overrideText: overrideText,
                                                   enabled: true, context: TradingContext(), questionsDueToExpire: 0)
            switch try configCache.effective(uid: uid, view: view) {
            case .success(let config):
                result.append(EffectiveTradingConfig(firebaseUID: uid, templateName: templateName, config: config, enabledColumn: true))
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
        let rows = try await db.query("""
            WITH stranded AS (
                SELECT o.id, o.client_order_id,
                       EXISTS (SELECT 1 FROM jobs j WHERE j.unique_key = 'submit-order:' || o.client_order_id
                                  AND j.state = 'cancelled') AS operator_cancelled
                FROM trade_orders o
                WHERE o.status = 'pending_submit' AND o.updated_at < now() - interval '120 seconds'
                  AND NOT EXISTS (SELECT 1 FROM jobs j WHERE j.unique_key = 'submit-order:' || o.client_order_id
                                     AND j.state IN ('available', 'scheduled', 'running', 'retryable'))
                ORDER BY o.updated_at LIMIT 500),
            marked AS (
                UPDATE trade_orders o
                   SET cancel_requested_at = coalesce(o.cancel_requested_at, now()),
                       cancel_reason = coalesce(o.cancel_reason, 'its submit-order job was cancelled by an operator'),
                       updated_at = now()
                  FROM stranded s WHERE o.id = s.id AND s.operator_cancelled AND o.status = 'pending_submit'
                RETURNING o.id)
            SELECT id, client_order_id, operator_cancelled FROM stranded
            """, logger: logger)
        var result: [SubmitOrder] = []
        for try await (id, clientOrderID, cancelled) in rows.decode((UUID, String, Bool).self) {
            result.append(SubmitOrder(tradeOrderID: id, clientOrderID: clientOrderID))
            logger.warning(cancelled ? "order's submit-order job was cancelled; ending the order unsent" : "order stranded in pending_submit; submitting again",
                           metadata: ["order.client_order_id": "\(clientOrderID)"])
        }
        return result
    }

    func staleOpenOrders(on db: PostgresConnection, logger: Logger) async throws -> [PollOrderStatus] {
        let rows = try await db.query("""
            SELECT id, client_order_id FROM trade_orders
            WHERE status NOT IN ('filled', 'canceled', 'expired', 'rejected', 'replaced', 'blocked', 'failed', 'pending_submit')
              AND updated_at < now() - interval '60 seconds'
            ORDER BY updated_at LIMIT 500
            """, logger: logger)
        var result: [PollOrderStatus] = []
        for try await (id, clientOrderID) in rows.decode((UUID, String).self) {
            result.append(PollOrderStatus(tradeOrderID: id, clientOrderID: clientOrderID))
        }
        return result
    }
}
