import AlpacaClient
import AlpacaModels
import Foundation
import HybridStore
import JobEngine
import Logging
import PostgresNIO
import TradingCore
import TradingJobs

/// How one `submit-order` attempt ended, decided in its locking transaction.
enum SubmitStep: Sendable {
    /// Another attempt (or the reconciler) already moved the order on.
    case settled
    /// Not sent, and ended: a switch, a guardrail, the approval's age or drift, or Alpaca's refusal.
    case ended(status: String, reason: String)
    /// Alpaca has the order; recorded.
    case sent(AlpacaOrder)
}

/// `submit-order`. Alpaca is asked first (`by_client_order_id`): an order it has is recorded
/// as it says, whatever the guardrails say now (it happened, and it counts). Otherwise, in
/// one transaction that holds the halt row (shared), the user's state and the order row:
/// every switch, the approval's age, the price's drift and the guardrails are checked, and
/// the POST goes out under those locks, so a halt, a user's or a rule's switch or an
/// operator's cancel that commits first stops it, and one that commits later waits for it.
/// An outcome that is unknown (timeout, 5xx, cut connection, a 2xx that does not decode) is
/// looked up at once, and otherwise retried, starting with the lookup again: Alpaca never
/// gets a second order, and no order is marked unsent without asking Alpaca.
public struct SubmitOrderHandler: TradingJobHandler {
    public static let spec = TradingJobCatalog.submitOrder
    let client: PostgresClient
    let trading: any TradingAPI
    let clock: any MarketClock
    let settings: PipelineSettings
    let orders: OrderRecorder
    let failpoints: Failpoints

    public init(client: PostgresClient, trading: any TradingAPI, clock: any MarketClock, settings: PipelineSettings,
                orders: OrderRecorder, failpoints: Failpoints = Failpoints()) {
        self.client = client
        self.trading = trading
        self.clock = clock
        self.settings = settings
        self.orders = orders
        self.failpoints = failpoints
    }

    public func handle(_ job: SubmitOrder, _ context: JobContext) async throws -> JobOutcome {
        let logger = context.logger
        guard let order = try await orders.order(of: job, logger: logger) else { return .orderMissing(job) }
        if order.isTerminal { return .complete }
        if order.status != OrderStatus.pendingSubmit {
            // A previous attempt recorded Alpaca's answer; make sure the poller runs.
            try await client.withConnection { try await orders.followWithPoll(order, on: $0, logger: logger) }
            return .complete
        }
        // Submission's calls go first under the farm's rate budget: polls leave them a reserve.
        let trading = self.trading.prioritized(.submission)
        if let placed = try await trading.order(clientOrderID: order.clientOrderID) {
            logger.notice("order already at the broker; recording it without a POST",
                          metadata: ["order.client_order_id": "\(order.clientOrderID)", "order.status": "\(placed.status)"])
            try await orders.record(order, placed, logger: logger, enqueuePoll: true)
            return .complete
        }
        let step = try await client.transaction(logger: logger) { db -> SubmitStep in
            let halt = try await HaltStore.current(lock: true, on: db, logger: logger)
            _ = try await TradingStateStore.lockTradingContext(order.firebaseUID, on: db, logger: logger)
            guard let order = try await OrderStore.lock(order.id, on: db, logger: logger), order.status == OrderStatus.pendingSubmit else {
                return .settled
            }
            // After the lock waits: the clock for the approval's age and the price's drift, and
            // the fencing check (a worker that lost this job must not reach Alpaca).
            guard try await context.holdsLease() else { throw PipelineError.leaseLost("submitting \(order.clientOrderID)") }
            let now = try await clock.now()
            if let (status, reason) = try await submitGate(order, halt: halt, now: now, on: db, logger: logger) {
                // Asked again under the locks: an earlier attempt's POST may have landed since
                // the first lookup (a timeout, then a rescue); what Alpaca has is recorded.
                if let placed = try await trading.order(clientOrderID: order.clientOrderID) {
                    try await orders.record(order, placed, on: db, logger: logger, enqueuePoll: true)
                    return .sent(placed)
                }
                try await orders.endUnsent(order, status: status, reason: reason, on: db, logger: logger)
                return .ended(status: status, reason: reason)
            }
            let placed: AlpacaOrder
            switch try await post(order, trading: trading) {
            case .placed(let found): placed = found
            case .refused(let error):
                let reason = "the broker refused the order: \(error)"
                try await orders.endUnsent(order, status: OrderStatus.failed, reason: reason, on: db, logger: logger)
                return .ended(status: OrderStatus.failed, reason: reason)
            }
            try await orders.record(order, placed, on: db, logger: logger, enqueuePoll: true)
            return .sent(placed)
        }
        switch step {
        case .settled, .sent: break
        case .ended(let status, let reason):
            logger.warning("order not sent", metadata: ["order.client_order_id": "\(order.clientOrderID)", "order.status": "\(status)",
                                                         "reason": "\(reason)"])
        }
        return .complete
    }

    enum PostResult: Sendable {
        case placed(AlpacaOrder)
        /// Alpaca refused this very order (a 4xx about it) and has no order by its id.
        case refused(AlpacaError)
    }

    /// The POST, with every way it can end resolved by asking Alpaca: a duplicate id, a refusal
    /// after an earlier attempt that did get through, and any unknown outcome.
    func post(_ order: StoredOrder, trading: any TradingAPI) async throws -> PostResult {
        await failpoints.hit("submit-order.before-post")
        let placed: AlpacaOrder
        do {
            placed = try await trading.submit(OrderSubmission(
                symbol: order.symbol, side: order.side, type: order.orderType, timeInForce: order.timeInForce,
                notional: order.notionalUSD, qty: order.qty, clientOrderID: order.clientOrderID))
        } catch let error as AlpacaError where error.httpStatus == 429 || error.httpStatus == 401 {
            // Refused before it was acted on (the rate, our keys): nothing to look up.
            throw error
        } catch let error as AlpacaError where error.isExplicitRefusal {
            // A 403 or 422 may answer a second attempt whose first got through: ask before ending it.
            if let found = try await trading.order(clientOrderID: order.clientOrderID) { return .placed(found) }
            if error.isDuplicateClientOrderID {
                throw PipelineError.outcomeUnknown("Alpaca refused a duplicate client_order_id \(order.clientOrderID) but has no such order")
            }
            return .refused(error)
        } catch {
            if let found = try await trading.order(clientOrderID: order.clientOrderID) { return .placed(found) }
            throw PipelineError.outcomeUnknown("the POST of \(order.clientOrderID) ended unknown (\(error)) and Alpaca has no such order yet",
                                               retryAfterSeconds: (error as? AlpacaError)?.retryAfterSeconds)
        }
        await failpoints.hit("submit-order.after-post")
        return .placed(placed)
    }

    /// Why the order must not be sent now, as (status, reason); nil when it may go. Read under
    /// the submit's locks.
    func submitGate(_ order: StoredOrder, halt: TradingHalt, now: Date, on db: PostgresConnection,
                    logger: Logger) async throws -> (String, String)? {
        func stopped(_ stop: IntentStop) -> (String, String) {
            PipelineMetrics.intentStopped(stage: "submit", stop)
            return (stop.orderStatus, stop.description)
        }
        if order.cancelRequestedAt != nil { return stopped(.operatorCancelled(order.cancelReason ?? "no reason given")) }
        let config: TradingConfig
        do {
            config = try await UserConfigs.effective(order.firebaseUID, on: db, logger: logger).config
        } catch {
            return (OrderStatus.blocked, "the user's trading config cannot be read: \(error)")
        }
        let intent = order.intent ?? OrderIntent(
            symbol: order.symbol, side: OrderSide(rawValue: order.side) ?? .buy, notionalUSD: order.notionalUSD, qty: order.qty,
            price: order.referencePrice, reference: nil, priceMetric: .lastTrade, refMetric: .prevClose, feed: "iex",
            priceAsOf: nil, dataAgeSeconds: nil, ruleID: order.ruleID ?? "", ruleDigest: "", judgedAt: order.decidedAt)
        // The rule's size may have been edited since the approval: the approved intent still
        // goes (it is what the user approved); a rule switched off or removed stops it.
        if let stop = OrderGate.switches(for: intent, config: config, halt: halt, serverEnabled: settings.tradingEnabled,
                                         requireUnchangedRule: false) {
            return stopped(stop)
        }
        let rows = try await SnapshotStore.latestSnapshots(symbols: [order.symbol], feed: intent.feed, asOf: now, on: db, logger: logger)
        let latest = rows.first { $0.metric == intent.priceMetric }?.price
        if let stop = OrderGate.freshness(decidedAt: order.decidedAt, approvedPrice: order.referencePrice, latestPrice: latest, now: now,
                                          maxAgeSeconds: settings.approvalMaxAgeSeconds, maxDriftPct: settings.approvalMaxDriftPct) {
            return stopped(stop)
        }
        let prior = try await OrderStore.countedOrders(of: order.firebaseUID, around: now, excluding: order.id, on: db, logger: logger)
        // The user's own book just before the POST, without this order among the open ones: a
        // sell must still be covered by what they hold (never a short, never another user's shares).
        let book = try await PortfolioReader.book(of: order.firebaseUID, now: now, excludingOrder: order.id, highs: false, on: db,
                                                   logger: logger)
        // A qty order is priced at the freshest price again; the windows count from the approval.
        let proposal = OrderProposal(symbol: order.symbol, side: intent.side, notionalUSD: order.notionalUSD, qty: order.qty,
                                     referencePrice: latest ?? order.referencePrice)
        let check = GuardrailPolicy.check(proposal: proposal, config: config, gate: settings.gate, priorOrders: prior,
                                          portfolio: book.state, questionApproved: order.questionID != nil, now: order.decidedAt)
        return check.allowed ? nil : (OrderStatus.blocked, check.refusals.map(\.description).joined(separator: "; "))
    }
}
