import Foundation
import HybridStore
import JobEngine
import Logging
import PostgresNIO
import TradingCore

/// The chain behind one order: rule evaluation → question(s) → answer(s) → trade order →
/// its jobs → fill. Questions are followed back through follow-ups (`answers.follow_up_question_id`).
public struct OrderTrace: Sendable {
    public struct Question: Sendable {
        public var id: UUID
        public var firebaseUID: String
        public var text: String
        public var status: String
        public var pipelineStep: String?
        public var metadata: JSONValue
        public var createdAt: Date
        public var deliveredAt: Date?
        public var answeredAt: Date?
        public var expiresAt: Date?
        public var answer: Answer?
    }

    public struct Answer: Sendable {
        public var value: Decimal
        public var decision: String
        public var outcome: String?
        public var detail: String?
        public var createdAt: Date
    }

    public var order: StoredOrder
    /// The first question (the rule's) first; the order's own question last.
    public var questions: [Question]
    /// The order's jobs (submit-order, poll-order-status), the questions' deliveries and the
    /// evaluation that asked the first question, oldest first.
    public var jobs: [JobDetail]
}

public enum TraceQueries {
    public static func trace(clientOrderID: String, on db: PostgresConnection, logger: Logger) async throws -> OrderTrace {
        guard let order = try await OrderStore.order(clientOrderID: clientOrderID, on: db, logger: logger) else {
            throw OpsError("no trade order with client_order_id '\(clientOrderID)' (it is the id the order carries at Alpaca; "
                           + "`SELECT client_order_id FROM trade_orders ORDER BY created_at DESC LIMIT 10` lists recent ones)")
        }
        var questions: [OrderTrace.Question] = []
        var next = order.questionID
        while let id = next, questions.count < 20, !questions.contains(where: { $0.id == id }) {
            guard let question = try await question(id, on: db, logger: logger) else { break }
            questions.insert(question, at: 0)
            next = nil
            for try await earlier in try await db.query("SELECT question_id FROM answers WHERE follow_up_question_id = \(id)", logger: logger).decode(UUID.self) {
                next = earlier
            }
        }
        var ids: [Int64] = []
        let questionIDs = questions.map { $0.id.uuidString.lowercased() }
        let rows = try await db.query("""
            SELECT id FROM jobs
            WHERE (kind IN ('submit-order', 'poll-order-status') AND payload->>'client_order_id' = \(clientOrderID))
               OR (kind = 'deliver-question' AND lower(payload->>'question_id') = ANY(\(questionIDs)::text[]))
            UNION
            SELECT id FROM jobs
            WHERE kind = 'evaluate-user' AND payload->>'firebase_uid' = \(order.firebaseUID)
              AND attempted_at <= \(questions.first?.createdAt ?? order.createdAt)
              AND coalesce(finalized_at, updated_at) >= \(questions.first?.createdAt ?? order.createdAt)
              AND \(questions.isEmpty == false)
            ORDER BY 1
            """, logger: logger)
        for try await id in rows.decode(Int64.self) { ids.append(id) }
        var jobs: [JobDetail] = []
        for id in ids {
            if let detail = try await JobQueries.detail(id, on: db, logger: logger) { jobs.append(detail) }
        }
        return OrderTrace(order: order, questions: questions, jobs: jobs)
    }

    static func question(_ id: UUID, on db: PostgresConnection, logger: Logger) async throws -> OrderTrace.Question? {
        let rows = try await db.query("""
            SELECT q.id, q.firebase_uid, q.question_text, q.status, q.pipeline_step, q.metadata::text, q.created_at,
                   q.delivered_at, q.answered_at, q.expires_at, a.value, a.decision, a.outcome, a.detail, a.created_at
            FROM questions q LEFT JOIN answers a ON a.question_id = q.id
            WHERE q.id = \(id)
            """, logger: logger)
        for try await row in rows {
            let c = row.makeRandomAccess()
            var answer: OrderTrace.Answer?
            if let value = try c[10].decode(Decimal?.self), let decision = try c[11].decode(String?.self), let at = try c[14].decode(Date?.self) {
                answer = OrderTrace.Answer(value: value, decision: decision, outcome: try c[12].decode(String?.self),
                                           detail: try c[13].decode(String?.self), createdAt: at)
            }
            let metadata = (try? JSONValue.parse(try c[5].decode(String.self))) ?? .object([:])
            return OrderTrace.Question(
                id: try c[0].decode(UUID.self), firebaseUID: try c[1].decode(String.self), text: try c[2].decode(String.self),
                status: try c[3].decode(String.self), pipelineStep: try c[4].decode(String?.self), metadata: metadata,
                createdAt: try c[6].decode(Date.self), deliveredAt: try c[7].decode(Date?.self), answeredAt: try c[8].decode(Date?.self),
                expiresAt: try c[9].decode(Date?.self), answer: answer)
        }
        return nil
    }
}

public struct TraceReport: OpsReport {
    public let trace: OrderTrace

    public init(trace: OrderTrace) { self.trace = trace }

    /// One step of the chain, in the chain's order. `at` is the database's clock; broker and
    /// replay (market) instants are named in the detail, since a replay runs on another clock.
    public struct Step: Sendable {
        public var at: Date?
        public var step: String
        public var detail: String
    }

    func text(_ value: JSONValue?) -> String {
        switch value {
        case .string(let s): s
        case .number(let n): "\(n)"
        case .bool(let b): "\(b)"
        default: ""
        }
    }

    func jobSteps(_ kinds: [String]) -> [Step] {
        trace.jobs.filter { kinds.contains($0.summary.kind) }.flatMap { job -> [Step] in
            let s = job.summary
            var steps = [Step(at: s.createdAt, step: "job \(s.kind)", detail: "job \(s.id) enqueued")]
            for error in job.errors {
                steps.append(Step(at: error.at, step: "  attempt \(error.attempt)", detail: "job \(s.id): \(error.message)"
                                  + (error.retryable ? " (retryable)" : "")))
            }
            steps.append(Step(at: s.finalizedAt ?? s.updatedAt, step: "  \(s.state.rawValue)",
                              detail: "job \(s.id) after \(s.attempt) attempt\(s.attempt == 1 ? "" : "s"), epoch \(s.leaseEpoch)"))
            return steps
        }
    }

    public var steps: [Step] {
        let order = trace.order
        var steps: [Step] = []
        if let first = trace.questions.first {
            let m = first.metadata
            let explanation = text(m["explanation"]).isEmpty
                ? "rule \(text(m["rule_id"])) on \(text(m["symbol"])): price \(text(m["price"])) vs \(text(m["reference"])) = \(text(m["pct"])) % (threshold \(text(m["threshold_pct"])) %)"
                : text(m["explanation"])
            steps.append(Step(at: first.createdAt, step: "rule evaluation",
                              detail: explanation + "; evaluated at \(text(m["evaluated_at"])) (market clock)"))
        }
        steps += jobSteps(["evaluate-user"])
        for question in trace.questions {
            steps.append(Step(at: question.createdAt, step: "question", detail: "\(question.id.uuidString.lowercased()) \"\(question.text)\" (\(question.status))"))
            steps.append(Step(at: question.deliveredAt, step: "delivered", detail: question.deliveredAt == nil ? "not delivered" : "NOTIFY hybridhub_questions"))
            steps += trace.jobs.filter { $0.summary.kind == "deliver-question" && text($0.payload["question_id"]).lowercased() == question.id.uuidString.lowercased() }
                .map { Step(at: $0.summary.finalizedAt ?? $0.summary.updatedAt, step: "  job deliver-question", detail: "job \($0.summary.id) \($0.summary.state.rawValue)") }
            if let answer = question.answer {
                steps.append(Step(at: answer.createdAt, step: "answer", detail: "value \(answer.value) → \(answer.decision), outcome \(answer.outcome ?? "-"): \(answer.detail ?? "")"))
            }
        }
        steps.append(Step(at: order.createdAt, step: "trade order", detail:
            "\(order.id.uuidString.lowercased()) \(order.side) \(order.symbol) \(order.qty.map { "qty \($0)" } ?? order.notionalUSD.map { "$\($0)" } ?? "") "
            + "decided at \(Output.time(order.decidedAt, millis: true)) (trading clock)"))
        steps += jobSteps(["submit-order"])
        if let submitted = order.submittedAt ?? (order.alpacaOrderID != nil ? order.updatedAt : nil) {
            steps.append(Step(at: nil, step: "submitted", detail: "alpaca order \(order.alpacaOrderID ?? "-") at \(Output.time(submitted, millis: true)) (broker clock)"))
        }
        steps += jobSteps(["poll-order-status"])
        if let filled = order.filledAt {
            steps.append(Step(at: nil, step: "filled", detail: "\(order.filledQty.map { "\($0)" } ?? "?") @ \(order.filledAvgPrice.map { "\($0)" } ?? "?") at \(Output.time(filled, millis: true)) (broker clock)"))
        }
        steps.append(Step(at: order.updatedAt, step: "status", detail: order.status + (order.statusReason.map { ": \($0)" } ?? "")))
        return steps
    }

    public var json: JSONValue {
        let o = trace.order
        let questions: [JSONValue] = trace.questions.map { q in
            .object([
                "id": .string(q.id.uuidString.lowercased()), "text": .string(q.text), "status": .string(q.status),
                "pipeline_step": J.str(q.pipelineStep), "created_at": J.date(q.createdAt), "delivered_at": J.date(q.deliveredAt),
                "answered_at": J.date(q.answeredAt), "expires_at": J.date(q.expiresAt), "metadata": q.metadata,
                "answer": q.answer.map { a in .object([
                    "value": .number(a.value), "decision": .string(a.decision), "outcome": J.str(a.outcome),
                    "detail": J.str(a.detail), "created_at": J.date(a.createdAt)]) } ?? .null,
            ])
        }
        let jobs: [JSONValue] = trace.jobs.map { JobShowReport(detail: $0).json["job"] ?? .null }
        return .object([
            "client_order_id": .string(o.clientOrderID),
            "evaluation": trace.questions.first?.metadata ?? .null,
            "questions": .array(questions),
            "order": .object([
                "id": .string(o.id.uuidString.lowercased()), "firebase_uid": .string(o.firebaseUID), "symbol": .string(o.symbol),
                "side": .string(o.side), "order_type": .string(o.orderType), "qty": J.dec(o.qty), "notional_usd": J.dec(o.notionalUSD),
                "status": .string(o.status), "status_reason": J.str(o.statusReason), "rule_id": J.str(o.ruleID),
                "alpaca_order_id": J.str(o.alpacaOrderID), "reference_price": J.dec(o.referencePrice),
                "decided_at": J.date(o.decidedAt), "created_at": J.date(o.createdAt), "submitted_at": J.date(o.submittedAt),
                "filled_at": J.date(o.filledAt), "filled_qty": J.dec(o.filledQty), "filled_avg_price": J.dec(o.filledAvgPrice),
                "updated_at": J.date(o.updatedAt),
            ]),
            "jobs": .array(jobs),
            "timeline": .array(steps.map { .object(["at": J.date($0.at), "step": .string($0.step.trimmingCharacters(in: .whitespaces)), "detail": .string($0.detail)]) }),
        ])
    }

    public var text: String {
        "trace of client_order_id \(trace.order.clientOrderID) (times: database clock; broker and market instants as noted)\n"
            + Output.table(["time", "step", "detail"], steps.map { [Output.time($0.at, millis: true), $0.step, $0.detail] }, maxWidth: 200)
    }
}
