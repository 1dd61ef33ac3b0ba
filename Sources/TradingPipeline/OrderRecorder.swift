import AlpacaClient
import AlpacaModels
import Foundation
import HybridStore
import JobEngine
import Logging
import PostgresNIO
import TradingCore
import TradingJobs

/// Writes the broker's view of our orders into the books: once per change, published to the
/// user's phones, and a failure explained in a question. Shared by `submit-order`,
/// `poll-order-status`, `reconcile-orders` and the trade-update stream, so the row ends the
/// same whichever reports first. Needs the database only: it never calls Alpaca.
public struct OrderRecorder: Sendable {
    let client: PostgresClient
    /// How long an explaining question stays open.
    let questionTTLSeconds: Int
    let logger: Logger

    public init(client: PostgresClient, questionTTLSeconds: Int, logger: Logger) {
        self.client = client
        self.questionTTLSeconds = questionTTLSeconds
        self.logger = logger
    }

    /// The order a job is about; nil when its row does not exist (the job is cancelled).
    func order(of job: some TradeOrderJob, logger: Logger) async throws -> StoredOrder? {
        try await client.withConnection { try await OrderStore.order(job.tradeOrderID, on: $0, logger: logger) }
    }

    /// A `trade_updates` event: the order as Alpaca sees it now → `trade_orders` (and the
    /// user's `ReceiveTradeUpdate`). False when the order is not one of ours (placed by hand on
    /// the account, say).
    @discardableResult
    public func applyTradeUpdate(_ placed: AlpacaOrder, logger: Logger? = nil) async throws -> Bool {
        let logger = logger ?? self.logger
        guard let stored = try await client.withConnection({
            try await OrderStore.order(clientOrderID: placed.clientOrderID, on: $0, logger: logger)
        }) else { return false }
        if stored.isTerminal && !stored.endedUnsent { return true }
        try await record(stored, placed, logger: logger, enqueuePoll: false)
        return true
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
            try await OrderStore.publishUpdate(fresh, on: db, logger: logger)
            PipelineMetrics.order(status: placed.status)
            logger.info("order updated", metadata: [
                "order.client_order_id": "\(order.clientOrderID)", "order.status": "\(placed.status)",
                "order.alpaca_id": "\(placed.id)",
            ])
            if OrderStatus.brokerFailures.contains(placed.status) {
                try await explain(fresh, why: "the broker reports it \(placed.status)", on: db, logger: logger)
            }
        }
        if enqueuePoll && !placed.isTerminal {
            try await followWithPoll(order, runAfterSeconds: 1, on: db, logger: logger)
        }
    }

    /// A `poll-order-status` for an order the broker has (unique per order: one poller at a time).
    func followWithPoll(_ order: StoredOrder, runAfterSeconds: Double = 0, on db: PostgresConnection, logger: Logger) async throws {
        _ = try await JobStore.enqueue(try TradingJobCatalog.pollOrderStatus.job(
            PollOrderStatus(tradeOrderID: order.id, clientOrderID: order.clientOrderID), runAfterSeconds: runAfterSeconds),
                                       on: db, logger: logger)
    }

    /// Ends an order Alpaca does not have (the caller asked), tells the user, and explains it
    /// in a question; in the caller's transaction.
    func endUnsent(_ order: StoredOrder, status: String, reason: String, on db: PostgresConnection, logger: Logger) async throws {
        guard try await OrderStore.markNotSent(order.id, status: status, reason: reason, on: db, logger: logger),
              let fresh = try await OrderStore.order(order.id, on: db, logger: logger) else { return }
        PipelineMetrics.order(status: status)
        try await OrderStore.publishUpdate(fresh, on: db, logger: logger)
        try await explain(fresh, why: status == OrderStatus.blocked ? "a guardrail stopped it: \(reason)" : reason, on: db, logger: logger)
    }

    /// Plan phase 2: a failed order becomes a question that explains it (answer: acknowledge).
    func explain(_ order: StoredOrder, why: String, on db: PostgresConnection, logger: Logger) async throws {
        let size = order.notionalUSD.map { "$\(Money.format($0))" } ?? "\(order.qty ?? 0) shares"
        let filled = order.filledQty ?? 0
        let text: String
        if filled > 0 {
            // A partial fill then a cancel or expiry: part of it did happen, and says so.
            let price = order.filledAvgPrice.map { " at $\(Money.format($0))" } ?? ""
            text = "Your order to \(order.side) \(size) of \(order.symbol) was partly filled (\(Money.plain(filled)) shares\(price)); the rest did not go through: \(why). Swipe either way to dismiss."
        } else {
            text = "Your order to \(order.side) \(size) of \(order.symbol) did not go through: \(why). Swipe either way to dismiss."
        }
        var metadata: [String: JSONValue] = [
            "trade_order_id": .string(order.id.uuidString.lowercased()), "client_order_id": .string(order.clientOrderID),
            "status": .string(order.status), "symbol": .string(order.symbol), "filled_qty": .number(filled),
        ]
        if let ruleID = order.ruleID { metadata["rule_id"] = .string(ruleID) }
        if let questionID = order.questionID { metadata["order_question_id"] = .string(questionID.uuidString.lowercased()) }
        _ = try await Questions.ask(NewQuestion(
            firebaseUID: order.firebaseUID, text: String(text.prefix(600)), sourceTag: "trading:order:\(order.status)", pipelineKey: "trading",
            pipelineStep: "\(order.ruleID ?? "order"):order_\(order.status)", correctAnswer: 10, metadata: .object(metadata),
            expiresInSeconds: questionTTLSeconds), on: db, logger: logger)
    }
}

extension BrokerOrderUpdate {
    /// The broker's view of an order as a row update.
    public init(_ placed: AlpacaOrder) {
        let raw = String(decoding: (try? JSONEncoder().encode(placed)) ?? Data("{}".utf8), as: UTF8.self)
        self.init(alpacaOrderID: placed.id, status: placed.status, submittedAt: AlpacaTime.parse(placed.submittedAt),
                  filledAt: placed.filledAt.flatMap(AlpacaTime.parse), filledQty: Decimal(string: placed.filledQty),
                  filledAvgPrice: placed.filledAvgPrice.flatMap { Decimal(string: $0) },
                  lastFillAt: AlpacaTime.parse(placed.filledAt) ?? AlpacaTime.parse(placed.updatedAt), raw: raw)
    }
}

extension JobOutcome {
    /// A job about an order whose row does not exist: nothing to do, ever.
    static func orderMissing(_ job: some TradeOrderJob) -> JobOutcome {
        .cancel(reason: "trade order \(job.tradeOrderID) does not exist")
    }
}
