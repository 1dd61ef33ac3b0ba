import Foundation
import JobEngine

/// What defines each job kind, in code. `jobs/<kind>.json` states the same for people, and a
/// test fails when the two disagree.
public struct JobSpec: Sendable {
    public let kind: String
    public let queue: String
    public let priority: Int
    public let retry: RetryPolicy
    public let timeoutSeconds: Double
    /// The unique key's shape.
    public let uniqueKey: String
    public let enqueuedBy: String
    public let idempotency: String
    /// Decodes a payload example (the catalog test round-trips `jobs/<kind>.json` through it).
    public let decodeExample: @Sendable (Data) throws -> Data

    init<P: JobPayload>(_ payload: P.Type, queue: String, priority: Int, retry: RetryPolicy, timeoutSeconds: Double,
                        uniqueKey: String, enqueuedBy: String, idempotency: String) {
        self.kind = P.kind
        self.queue = queue
        self.priority = priority
        self.retry = retry
        self.timeoutSeconds = timeoutSeconds
        self.uniqueKey = uniqueKey
        self.enqueuedBy = enqueuedBy
        self.idempotency = idempotency
        self.decodeExample = { data in
            let encoder = JSONEncoder()
            encoder.outputFormatting = .sortedKeys
            return try encoder.encode(try JSONDecoder().decode(P.self, from: data))
        }
    }

    /// A job of this kind with the spec's queue, priority and attempts, and the payload's unique key.
    public func job<P: TradingJobPayload>(_ payload: P, runAfterSeconds: Double = 0) throws -> NewJob {
        precondition(P.kind == kind, "payload \(P.kind) enqueued with the spec of \(kind)")
        var job = try NewJob(payload, runAfterSeconds: runAfterSeconds, uniqueKey: payload.uniqueKey)
        job.queue = queue
        job.priority = priority
        job.maxAttempts = retry.maxAttempts
        return job
    }

    /// The engine definition for a handler of this kind.
    public func definition<P: JobPayload>(
        _ payload: P.Type, execute: @escaping @Sendable (P, JobContext) async throws -> JobOutcome
    ) -> JobDefinition {
        precondition(P.kind == kind, "handler for \(P.kind) bound to the spec of \(kind)")
        return JobDefinition(payload, queue: queue, priority: priority, retry: retry, timeoutSeconds: timeoutSeconds,
                             execute: execute)
    }
}

public enum TradingJobCatalog {
    public static let ingestSymbolBatch = JobSpec(
        IngestSymbolBatch.self, queue: "market", priority: 1,
        // A rescue from a killed worker uses an attempt: six let a batch survive a few kills.
        retry: RetryPolicy(maxAttempts: 6, baseSeconds: 2, maxSeconds: 30), timeoutSeconds: 30,
        uniqueKey: "ingest-symbol-batch:<feed>:<sha256(sorted symbols)[0..16]>:<bucket>",
        enqueuedBy: "scheduler, per due data input per tick, symbols batched across users",
        idempotency: "snapshot rows are unique per (symbol, metric, feed, as_of); a repeat inserts nothing")

    public static let evaluateUser = JobSpec(
        EvaluateUser.self, queue: "evaluate", priority: 2,
        // A worker holds up to 4 × its concurrency of these (they wait together for a batch), so
        // one kill rescues many: six attempts, not three (the chaos run discarded some at three).
        retry: RetryPolicy(maxAttempts: 6, baseSeconds: 1, maxSeconds: 20), timeoutSeconds: 30,
        uniqueKey: "evaluate-user:<firebase_uid>:<bucket> (tick) or evaluate-user:<firebase_uid>:stream:<ms> (stream)",
        enqueuedBy: "scheduler, per enabled user per tick; the market-data stream, at priority 1, when a trade crosses one of the user's rules",
        idempotency: "runs under a row lock on user_trading_state; the cooldown in its context stops a second question")

    public static let deliverQuestion = JobSpec(
        DeliverQuestion.self, queue: "delivery", priority: 0,
        retry: RetryPolicy(maxAttempts: 10, baseSeconds: 1, maxSeconds: 60), timeoutSeconds: 10,
        uniqueKey: "deliver-question:<question_id>",
        enqueuedBy: "evaluate-user, in the same transaction as the question row",
        idempotency: "clients dedupe by question id; publishing again is harmless")

    public static let submitOrder = JobSpec(
        SubmitOrder.self, queue: "orders", priority: 0,
        retry: RetryPolicy(maxAttempts: 10, baseSeconds: 2, maxSeconds: 120), timeoutSeconds: 30,
        uniqueKey: "submit-order:<client_order_id>",
        enqueuedBy: "the answer handler, in the same transaction as the trade_orders row",
        idempotency: "client_order_id is UNIQUE; the order is looked up at Alpaca before every POST, never posted blindly after a timeout")

    public static let pollOrderStatus = JobSpec(
        PollOrderStatus.self, queue: "orders", priority: 1,
        retry: RetryPolicy(maxAttempts: 20, baseSeconds: 2, maxSeconds: 300), timeoutSeconds: 15,
        uniqueKey: "poll-order-status:<client_order_id>",
        enqueuedBy: "submit-order; the scheduler for open orders",
        idempotency: "a GET and an UPDATE to the broker's state; snoozes (no attempt used) until the order is terminal")

    /// Behind submit-order and poll-order-status in the orders queue (claims go by priority):
    /// a reconciliation never delays a submission.
    public static let reconcileOrders = JobSpec(
        ReconcileOrders.self, queue: "orders", priority: 5,
        retry: RetryPolicy(maxAttempts: 10, baseSeconds: 2, maxSeconds: 60), timeoutSeconds: 120,
        uniqueKey: "reconcile-orders:<bucket> (scheduler) or reconcile-orders:requested:<apply|dry-run>:<ms>:<requested_by> (ops CLI)",
        enqueuedBy: "scheduler, every TRADING_RECONCILE_INTERVAL_SECONDS (apply); hybridhub-ops reconcile [--apply]",
        idempotency: "repairs are compare-and-set on the row as read (a newer poll or stream update wins); the watermark only moves forward; a dry run changes no order")

    public static let all: [JobSpec] = [ingestSymbolBatch, evaluateUser, deliverQuestion, submitOrder, pollOrderStatus, reconcileOrders]
}
