import AlpacaClient
import Foundation
import HybridStore
import JobEngine
import Logging
import TradingCore
import TradingJobs

/// `poll-order-status`: GET the order until it is terminal, snoozing in between (no
/// attempt used); each change is recorded and published; a rejected, cancelled or
/// expired order becomes a question that tells the user why.
public struct PollOrderStatusHandler: TradingJobHandler {
    public static let spec = TradingJobCatalog.pollOrderStatus
    let trading: any TradingAPI
    /// The books (it reads and records through the recorder).
    let orders: OrderRecorder

    public init(trading: any TradingAPI, orders: OrderRecorder) {
        self.trading = trading
        self.orders = orders
    }

    public func handle(_ job: PollOrderStatus, _ context: JobContext) async throws -> JobOutcome {
        let logger = context.logger
        guard let order = try await orders.order(of: job, logger: logger) else { return .orderMissing(job) }
        if order.isTerminal && !order.endedUnsent { return .complete }
        guard let placed = try await trading.order(clientOrderID: order.clientOrderID) else {
            if order.status == OrderStatus.pendingSubmit { return .snooze(seconds: 2) }
            throw JobError.retryable("Alpaca has no order \(order.clientOrderID) although it was recorded as \(order.status)")
        }
        try await orders.record(order, placed, logger: logger, enqueuePoll: false)
        if placed.isTerminal { return .complete }
        let age = Date().timeIntervalSince(order.createdAt)
        return .snooze(seconds: min(30, max(1, age / 10)))
    }
}
