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

extension TradingPipeline {
    /// `submit-order`. Alpaca is asked first (`by_client_order_id`): an order it has is recorded
    /// as it says, whatever the guardrails say now (it happened, and it counts). Otherwise, in
    /// one transaction that holds the halt row (shared), the user's state and the order row:
    /// every switch, the approval's age, the price's drift and the guardrails are checked, and
    /// the POST goes out under those locks, so a halt, a user's or a rule's switch or an
    /// operator's cancel that commits first stops it, and one that commits later waits for it.
    /// An outcome that is unknown (timeout, 5xx, cut connection, a 2xx that does not decode) is
    /// looked up at once, and otherwise retried, starting with the lookup again: Alpaca never
    /// gets a second order, and no order is marked unsent without asking Alpaca.
    func submit(_ job: SubmitOrder, _ context: JobContext) async throws -> JobOutcome {
        let logger = context.logger
        guard let order = try await client.withConnection({ try await OrderStore.order(job.tradeOrderID, on: $0, logger: logger) }) else {
            return .cancel(reason: "trade order \(job.tradeOrderID) does not exist")
        }
        if order.isTerminal { return .complete }
        if order.status != "pending_submit" {
            // A previous attempt recorded Alpaca's answer; make sure the poller runs.
            try await client.withConnection { db in
                _ = try await JobStore.enqueue(try TradingJobCatalog.pollOrderStatus.job(PollOrderStatus(tradeOrderID: order.id, clientOrderID: order.clientOrderID)),
                                               on: db, logger: logger)
            }
            return .complete
        }
        // Submission's calls go first under the farm's rate budget: polls leave them a reserve.
        let trading = self.trading.prioritized(.submission)
        if let placed = try await trading.order(clientOrderID: order.clientOrderID) {
            logger.notice("order already at the broker; recording it without a POST",
                          metadata: ["order.client_order_id": "\(order.clientOrderID)", "order.status": "\(placed.status)"])
            try await record(order, placed, logger: logger, enqueuePoll: true)
            return .complete
        }
        let step = try await client.transaction(logger: logger) { db -> SubmitStep in
            let halt = try await HaltStore.current(lock: true, on: db, logger: logger)
            _ = try await TradingStateStore.lockTradingContext(order.firebaseUID, on: db, logger: logger)
            guard let order = try await OrderStore.lock(order.id, on: db, logger: logger), order.status == "pending_submit" else {
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
                    try await record(order, placed, on: db, logger: logger, enqueuePoll: true)
                    return .sent(placed)
                }
                try await endUnsent(order, status: status, reason: reason, on: db, logger: logger)
                return .ended(status: status, reason: reason)
            }
            let placed: AlpacaOrder
            switch try await post(order, trading: trading) {
            case .placed(let found): placed = found
            case .refused(let error):
                let reason = "the broker refused the order: \(error)"
                try await endUnsent(order, status: "failed", reason: reason, on: db, logger: logger)
                return .ended(status: "failed", reason: reason)
            }
            try await record(order, placed, on: db, logger: logger, enqueuePoll: true)
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
            config = try await effectiveConfig(order.firebaseUID, on: db).config
        } catch {
            return ("blocked", "the user's trading config cannot be read: \(error)")
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
        // A qty order is priced at the freshest price again; the windows count from the approval.
        let proposal = OrderProposal(symbol: order.symbol, side: intent.side, notionalUSD: order.notionalUSD, qty: order.qty,
                                     referencePrice: latest ?? order.referencePrice)
        let check = GuardrailPolicy.check(proposal: proposal, config: config, gate: settings.gate, priorOrders: prior,
                                          questionApproved: order.questionID != nil, now: order.decidedAt)
        return check.allowed ? nil : ("blocked", check.refusals.map(\.description).joined(separator: "; "))
    }

    /// `poll-order-status`: GET the order until it is terminal, snoozing in between (no
    /// attempt used); each change is recorded and published; a rejected, cancelled or
    /// expired order becomes a question that tells the user why.
    func poll(_ job: PollOrderStatus, _ context: JobContext) async throws -> JobOutcome {
        let logger = context.logger
        guard let order = try await client.withConnection({ try await OrderStore.order(job.tradeOrderID, on: $0, logger: logger) }) else {
            return .cancel(reason: "trade order \(job.tradeOrderID) does not exist")
        }
        if order.isTerminal && !order.endedUnsent { return .complete }
        guard let placed = try await trading.order(clientOrderID: order.clientOrderID) else {
            if order.status == "pending_submit" { return .snooze(seconds: 2) }
            throw JobError.retryable("Alpaca has no order \(order.clientOrderID) although it was recorded as \(order.status)")
        }
        try await record(order, placed, logger: logger, enqueuePoll: false)
        if placed.isTerminal { return .complete }
        let age = Date().timeIntervalSince(order.createdAt)
        return .snooze(seconds: min(30, max(1, age / 10)))
    }

    /// Records Alpaca's view of the order (once per change), publishes it, and for a
    /// terminal failure asks the user an explaining question; all in one transaction.
    func record(_ order: StoredOrder, _ placed: AlpacaOrder, logger: Logger, enqueuePoll: Bool) async throws {
        try await client.transaction(logger: logger) { db in
            try await record(order, placed, on: db, logger: logger, enqueuePoll: enqueuePoll)
        }
    }

    /// `record` in the caller's transaction.
    func record(_ order: StoredOrder, _ placed: AlpacaOrder, on db: PostgresConnection, logger: Logger, enqueuePoll: Bool) async throws {
        let update = BrokerOrderUpdate(placed)
        let changed = order.status != placed.status || order.alpacaOrderID == nil || order.filledQty != update.filledQty
        if changed, try await OrderStore.recordBroker(order.id, update, on: db, logger: logger),
           let fresh = try await OrderStore.order(order.id, on: db, logger: logger) {
            try await publishTradeUpdate(fresh, on: db)
            PipelineMetrics.order(status: placed.status)
            logger.info("order updated", metadata: [
                "order.client_order_id": "\(order.clientOrderID)", "order.status": "\(placed.status)",
                "order.alpaca_id": "\(placed.id)",
            ])
            if ["rejected", "canceled", "expired"].contains(placed.status) {
                try await explain(fresh, why: "the broker reports it \(placed.status)", on: db, logger: logger)
            }
        }
        if enqueuePoll && !placed.isTerminal {
            _ = try await JobStore.enqueue(try TradingJobCatalog.pollOrderStatus.job(
                PollOrderStatus(tradeOrderID: order.id, clientOrderID: order.clientOrderID), runAfterSeconds: 1), on: db, logger: logger)
        }
    }

    /// Ends an order Alpaca does not have (the caller asked), tells the user, and explains it
    /// in a question; in the caller's transaction.
    func endUnsent(_ order: StoredOrder, status: String, reason: String, on db: PostgresConnection, logger: Logger) async throws {
        guard try await OrderStore.markNotSent(order.id, status: status, reason: reason, on: db, logger: logger),
              let fresh = try await OrderStore.order(order.id, on: db, logger: logger) else { return }
        PipelineMetrics.order(status: status)
        try await publishTradeUpdate(fresh, on: db)
        try await explain(fresh, why: status == "blocked" ? "a guardrail stopped it: \(reason)" : reason, on: db, logger: logger)
    }

    /// Plan phase 2: a failed order becomes a question that explains it (answer: acknowledge).
    func explain(_ order: StoredOrder, why: String, on db: PostgresConnection, logger: Logger) async throws {
        let size = order.notionalUSD.map { "$\(Money.format($0))" } ?? "\(order.qty ?? 0) shares"
        let filled = order.filledQty ?? 0
        let text: String
        if filled > 0 {
            // A partial fill then a cancel or expiry: part of it did happen, and says so.
            let price = order.filledAvgPrice.map { " at $\(Money.format($0))" } ?? ""
            text = "Your order to \(order.side) \(size) of \(order.symbol) was partly filled (\(NSDecimalNumber(decimal: filled).stringValue) shares\(price)); the rest did not go through: \(why). Swipe either way to dismiss."
        } else {
            text = "Your order to \(order.side) \(size) of \(order.symbol) did not go through: \(why). Swipe either way to dismiss."
        }
        var metadata: [String: JSONValue] = [
            "trade_order_id": .string(order.id.uuidString.lowercased()), "client_order_id": .string(order.clientOrderID),
            "status": .string(order.status), "symbol": .string(order.symbol), "filled_qty": .number(filled),
        ]
        if let ruleID = order.ruleID { metadata["rule_id"] = .string(ruleID) }
        if let questionID = order.questionID { metadata["order_question_id"] = .string(questionID.uuidString.lowercased()) }
        _ = try await askQuestion(NewQuestion(
            firebaseUID: order.firebaseUID, text: String(text.prefix(600)), sourceTag: "trading:order:\(order.status)", pipelineKey: "trading",
            pipelineStep: "\(order.ruleID ?? "order"):order_\(order.status)", correctAnswer: 10, metadata: .object(metadata),
            expiresInSeconds: settings.questionTTLSeconds), on: db, logger: logger)
    }
}

extension BrokerOrderUpdate {
    /// The broker's view of an order as a row update.
    init(_ placed: AlpacaOrder) {
        let raw = String(decoding: (try? JSONEncoder().encode(placed)) ?? Data("{}".utf8), as: UTF8.self)
        self.init(alpacaOrderID: placed.id, status: placed.status, submittedAt: AlpacaTime.parse(placed.submittedAt),
                  filledAt: placed.filledAt.flatMap(AlpacaTime.parse), filledQty: Decimal(string: placed.filledQty),
                  filledAvgPrice: placed.filledAvgPrice.flatMap { Decimal(string: $0) }, raw: raw)
    }
}
