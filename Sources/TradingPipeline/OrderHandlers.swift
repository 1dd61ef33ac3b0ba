import AlpacaClient
import AlpacaModels
import Foundation
import HybridStore
import JobEngine
import Logging
import PostgresNIO
import TradingCore
import TradingJobs

extension TradingPipeline {
    /// `submit-order`: guardrails and the live gate again, under the user's row lock; then
    /// look the order up by `client_order_id` and POST only if Alpaca has none. A timeout, a
    /// 5xx or a broken connection leaves the outcome unknown: the error is retryable and the
    /// next attempt starts with the lookup again, so Alpaca never gets a second order.
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
        let now = try await clock.now()
        if let refusal = try await recheckGuardrails(order, now: now, logger: logger) {
            try await finishUnsent(order, status: "blocked", reason: refusal, logger: logger)
            logger.warning("order blocked at submit", metadata: ["order.client_order_id": "\(order.clientOrderID)", "reason": "\(refusal)"])
            return .complete
        }
        // Fencing: a worker that lost this job (paused, partitioned) must not reach Alpaca.
        guard try await context.holdsLease() else { throw PipelineError.leaseLost("submitting \(order.clientOrderID)") }

        var placed = try await trading.order(clientOrderID: order.clientOrderID)
        if placed == nil {
            await failpoints.hit("submit-order.before-post")
            do {
                placed = try await trading.submit(OrderSubmission(
                    symbol: order.symbol, side: order.side, notional: order.notionalUSD, qty: order.qty, clientOrderID: order.clientOrderID))
            } catch let error as AlpacaError where error.isDuplicateClientOrderID {
                // An earlier POST of ours got through after all.
                placed = try await trading.order(clientOrderID: order.clientOrderID)
            } catch let error as AlpacaError where !error.isRetryable {
                try await finishUnsent(order, status: "failed", reason: "the broker refused the order: \(error)", logger: logger)
                logger.warning("order refused by the broker", metadata: ["order.client_order_id": "\(order.clientOrderID)", "error": "\(error)"])
                return .complete
            }
            await failpoints.hit("submit-order.after-post")
        } else {
            logger.notice("order already at the broker; recording it without a POST",
                          metadata: ["order.client_order_id": "\(order.clientOrderID)"])
        }
        guard let placed else {
            throw AlpacaError.malformedResponse(method: "GET", path: "/v2/orders:by_client_order_id",
                                                detail: "Alpaca refused a duplicate client_order_id but has no such order")
        }
        try await record(order, placed, logger: logger, enqueuePoll: true)
        return .complete
    }

    /// `poll-order-status`: GET the order until it is terminal, snoozing in between (no
    /// attempt used); each change is recorded and published; a rejected, cancelled or
    /// expired order becomes a question that tells the user why.
    func poll(_ job: PollOrderStatus, _ context: JobContext) async throws -> JobOutcome {
        let logger = context.logger
        guard let order = try await client.withConnection({ try await OrderStore.order(job.tradeOrderID, on: $0, logger: logger) }) else {
            return .cancel(reason: "trade order \(job.tradeOrderID) does not exist")
        }
        if order.isTerminal { return .complete }
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
        let raw = String(decoding: (try? JSONEncoder().encode(placed)) ?? Data("{}".utf8), as: UTF8.self)
        let update = BrokerOrderUpdate(
            alpacaOrderID: placed.id, status: placed.status, submittedAt: AlpacaTime.parse(placed.submittedAt),
            filledAt: placed.filledAt.flatMap(AlpacaTime.parse), filledQty: Decimal(string: placed.filledQty),
            filledAvgPrice: placed.filledAvgPrice.flatMap { Decimal(string: $0) }, raw: raw)
        try await client.transaction(logger: logger) { db in
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
    }

    /// The guardrails of plan §8.3 and the live gate, re-checked under the user's row lock
    /// with every other counted order; nil when the order may go.
    func recheckGuardrails(_ order: StoredOrder, now: Date, logger: Logger) async throws -> String? {
        try await client.transaction(logger: logger) { db -> String? in
            _ = try await TradingStore.lockTradingContext(order.firebaseUID, on: db, logger: logger)
            let config: TradingConfig
            do {
                config = try await effectiveConfig(order.firebaseUID, on: db).config
            } catch {
                return "the user's trading config cannot be read: \(error)"
            }
            let prior = try await OrderStore.countedOrders(of: order.firebaseUID, around: now, excluding: order.id, on: db, logger: logger)
            let proposal = OrderProposal(symbol: order.symbol, side: OrderSide(rawValue: order.side) ?? .buy,
                                         notionalUSD: order.notionalUSD, qty: order.qty, referencePrice: order.referencePrice)
            // The approval window counts from the approval, not from this (maybe late) attempt.
            let check = GuardrailPolicy.check(proposal: proposal, config: config, gate: settings.gate, priorOrders: prior,
                                              questionApproved: order.questionID != nil, now: order.decidedAt)
            return check.allowed ? nil : check.refusals.map(\.description).joined(separator: "; ")
        }
    }

    /// Ends an order Alpaca never took, tells the user, and explains it in a question.
    func finishUnsent(_ order: StoredOrder, status: String, reason: String, logger: Logger) async throws {
        try await client.transaction(logger: logger) { db in
            guard try await OrderStore.markNotSent(order.id, status: status, reason: reason, on: db, logger: logger),
                  let fresh = try await OrderStore.order(order.id, on: db, logger: logger) else { return }
            PipelineMetrics.order(status: status)
            try await publishTradeUpdate(fresh, on: db)
            try await explain(fresh, why: status == "blocked" ? "a guardrail stopped it: \(reason)" : reason, on: db, logger: logger)
        }
    }

    /// Plan phase 2: a failed order becomes a question that explains it (answer: acknowledge).
    func explain(_ order: StoredOrder, why: String, on db: PostgresConnection, logger: Logger) async throws {
        let size = order.notionalUSD.map { "$\(Money.format($0))" } ?? "\(order.qty ?? 0) shares"
        let text = "Your order to \(order.side) \(size) of \(order.symbol) did not go through: \(why). Swipe either way to dismiss."
        var metadata: [String: JSONValue] = [
            "trade_order_id": .string(order.id.uuidString.lowercased()), "client_order_id": .string(order.clientOrderID),
            "status": .string(order.status), "symbol": .string(order.symbol),
        ]
        if let ruleID = order.ruleID { metadata["rule_id"] = .string(ruleID) }
        if let questionID = order.questionID { metadata["order_question_id"] = .string(questionID.uuidString.lowercased()) }
        _ = try await askQuestion(NewQuestion(
            firebaseUID: order.firebaseUID, text: String(text.prefix(600)), sourceTag: "trading:order:\(order.status)", pipelineKey: "trading",
            pipelineStep: "\(order.ruleID ?? "order"):order_\(order.status)", correctAnswer: 10, metadata: .object(metadata),
            expiresInSeconds: settings.questionTTLSeconds), on: db, logger: logger)
    }
}
