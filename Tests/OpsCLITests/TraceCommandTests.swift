import Foundation
import HybridStore
import HybridTestSupport
import JobEngine
import PostgresNIO
import Testing
import TradingCore
import TradingJobs

/// `hybridhub-ops trace` on an order whose rows and jobs are laid down as the pipeline lays
/// them (the catalog's payloads and keys): a dip question, an ambiguous swipe and its
/// follow-up, the approval, the order, a submit that failed once, the poll, the fill.
@Suite struct TraceCommandTests {
    static let clientOrderID = "hh-dip_confirm-0a1b2c3d4e5f"

    func seedOrder(_ client: PostgresClient) async throws -> (first: UUID, followUp: UUID, order: UUID, submit: Int64, poll: Int64) {
        let uid = "trace-user"
        let orderID = UUID()
        let metadata: JSONValue = .object([
            "rule_id": .string("dip_confirm"), "symbol": .string("SPY"), "price": .number(Decimal(string: "126.56")!),
            "reference": .number(Decimal(string: "128.56")!), "pct": .number(Decimal(string: "-1.56")!),
            "threshold_pct": .number(Decimal(string: "-1.5")!), "explanation": .string("SPY -1.56 % vs previous close"),
            "evaluated_at": .string("2011-03-16T17:39:50Z"), "data_age_seconds": .number(3),
        ])
        let (first, followUp) = try await client.transaction(logger: logger) { db -> (UUID, UUID) in
            try await UserConfigStore.upsertUser(uid, displayName: "trace", on: db, logger: logger)
            // The evaluation that asked: claimed before the question, finished after it.
            _ = try await JobStore.enqueue(try TradingJobCatalog.evaluateUser.job(EvaluateUser(firebaseUID: uid, bucket: 42)), on: db, logger: logger)
            var ids: [UUID] = []
            for (text, step) in [("SPY is down 1.56 %. Buy $100?", "dip_confirm:await_confirm"), ("Was that a yes?", "dip_confirm:follow_up")] {
                let id = try await QuestionStore.insertQuestion(NewQuestion(
                    firebaseUID: uid, text: text, sourceTag: "trading:rule:dip_confirm", pipelineKey: "trading", pipelineStep: step,
                    correctAnswer: 10, metadata: metadata, expiresInSeconds: 900), on: db, logger: logger)
                _ = try await JobStore.enqueue(try TradingJobCatalog.deliverQuestion.job(DeliverQuestion(questionID: id)), on: db, logger: logger)
                ids.append(id)
            }
            return (ids[0], ids[1])
        }
        try await client.exec("""
            UPDATE jobs SET state = 'completed', attempt = 1, lease_epoch = 1, attempted_at = now() - interval '1 minute',
                            finalized_at = now() + interval '1 second'
            WHERE kind IN ('evaluate-user', 'deliver-question')
            """)
        try await client.exec("UPDATE questions SET delivered_at = now() + interval '2 seconds'")
        try await client.transaction(logger: logger) { db in
            try await QuestionStore.insertAnswer(StoredAnswer(questionID: first, value: 3, decision: "ambiguous", outcome: "follow_up",
                                                              detail: "asked again", followUpQuestionID: followUp), firebaseUID: uid, on: db, logger: logger)
            try await OrderStore.insert(NewOrder(id: orderID, firebaseUID: uid, clientOrderID: Self.clientOrderID, symbol: "SPY", side: "buy",
                                                 notionalUSD: 100, qty: nil, questionID: followUp, ruleID: "dip_confirm",
                                                 referencePrice: Decimal(string: "126.56"), decidedAt: Date(timeIntervalSince1970: 1_300_297_200)),
                                        on: db, logger: logger)
            try await QuestionStore.insertAnswer(StoredAnswer(questionID: followUp, value: 10, decision: "approve", outcome: "ordered",
                                                              detail: "ordered $100 of SPY", tradeOrderID: orderID), firebaseUID: uid, on: db, logger: logger)
        }
        // submit-order: attempt 1 times out, attempt 2 posts; then the poll finds the fill.
        let submit = try await client.enqueue(try TradingJobCatalog.submitOrder.job(SubmitOrder(tradeOrderID: orderID, clientOrderID: Self.clientOrderID)))
        _ = try await client.withConnection {
            try await JobStore.claim(queue: TradingJobCatalog.submitOrder.queue, kinds: ["submit-order"], limit: 1, workerID: "w1",
                                     leaseSeconds: 30, on: $0, logger: logger)
        }
        _ = try await client.withConnection {
            try await JobStore.fail(JobStore.Lease(id: submit, epoch: 1), message: "alpaca POST /v2/orders timed out after 2 s",
                                    retryable: true, delaySeconds: 0, on: $0, logger: logger)
        }
        try await client.exec("UPDATE jobs SET state = 'available' WHERE id = \(submit)")
        _ = try await client.withConnection {
            try await JobStore.claim(queue: TradingJobCatalog.submitOrder.queue, kinds: ["submit-order"], limit: 1, workerID: "w2",
                                     leaseSeconds: 30, on: $0, logger: logger)
        }
        _ = try await client.withConnection { db in
            _ = try await OrderStore.recordBroker(orderID, BrokerOrderUpdate(alpacaOrderID: "sim-order-1", status: "accepted",
                                                                            submittedAt: Date(timeIntervalSince1970: 1_300_297_201), filledAt: nil,
                                                                            filledQty: nil, filledAvgPrice: nil, raw: "{}"), on: db, logger: logger)
            _ = try await JobStore.complete([JobStore.Lease(id: submit, epoch: 2)], on: db, logger: logger)
        }
        let poll = try await client.enqueue(try TradingJobCatalog.pollOrderStatus.job(PollOrderStatus(tradeOrderID: orderID, clientOrderID: Self.clientOrderID)))
        _ = try await client.withConnection {
            try await JobStore.claim(queue: TradingJobCatalog.pollOrderStatus.queue, kinds: ["poll-order-status"], limit: 1, workerID: "w1",
                                     leaseSeconds: 30, on: $0, logger: logger)
        }
        _ = try await client.withConnection { db in
            _ = try await OrderStore.recordBroker(orderID, BrokerOrderUpdate(alpacaOrderID: "sim-order-1", status: "filled",
                                                                            submittedAt: nil, filledAt: Date(timeIntervalSince1970: 1_300_297_202),
                                                                            filledQty: Decimal(string: "0.79"), filledAvgPrice: Decimal(string: "126.57"),
                                                                            raw: "{}"), on: db, logger: logger)
            _ = try await JobStore.complete([JobStore.Lease(id: poll, epoch: 1)], on: db, logger: logger)
        }
        // Unrelated jobs of another order stay out of the trace.
        _ = try await client.enqueue(try TradingJobCatalog.submitOrder.job(SubmitOrder(tradeOrderID: UUID(), clientOrderID: "hh-other")))
        return (first, followUp, orderID, submit, poll)
    }

    @Test func traceFollowsTheOrderFromRuleToFill() async throws {
        try await TestDatabase.withMigrated { db in
            try await withClient(db, poolSize: 4) { client in
                let seeded = try await seedOrder(client)
                let ops = try OpsCLI(db)
                let document = try await ops.json("trace", Self.clientOrderID)
                #expect(document["client_order_id"]?.string == Self.clientOrderID)
                #expect(document["evaluation"]?["rule_id"]?.string == "dip_confirm")
                let questions = document["questions"]?.array ?? []
                #expect(questions.compactMap { $0["id"]?.string } == [seeded.first, seeded.followUp].map { $0.uuidString.lowercased() })
                #expect(questions.first?["answer"]?["decision"]?.string == "ambiguous")
                #expect(questions.last?["answer"]?["outcome"]?.string == "ordered" && questions.last?["answer"]?["value"]?.int == 10)
                #expect(questions.first?["delivered_at"]?.string != nil)
                let order = try #require(document["order"])
                #expect(order["status"]?.string == "filled" && order["alpaca_order_id"]?.string == "sim-order-1")
                #expect(order["filled_avg_price"] == .number(Decimal(string: "126.57")!) && order["filled_qty"] == .number(Decimal(string: "0.79")!))
                let jobs = document["jobs"]?.array ?? []
                #expect(jobs.compactMap { $0["kind"]?.string } == ["evaluate-user", "deliver-question", "deliver-question", "submit-order", "poll-order-status"])
                let submit = try #require(jobs.first { $0["id"]?.int == Int(seeded.submit) })
                #expect(submit["attempt"]?.int == 2 && submit["errors"]?[0]?["message"]?.string == "alpaca POST /v2/orders timed out after 2 s")
                let steps = document["timeline"]?.array.compactMap { $0["step"]?.string } ?? []
                #expect(steps == ["rule evaluation", "job evaluate-user", "completed", "question", "delivered", "job deliver-question", "answer",
                                  "question", "delivered", "job deliver-question", "answer", "trade order", "job submit-order", "attempt 1",
                                  "completed", "submitted", "job poll-order-status", "completed", "filled", "status"], "\(steps)")
                let table = try await ops.table("trace", Self.clientOrderID)
                #expect(table.contains("TIME") && table.contains("STEP") && table.contains("DETAIL"))
                #expect(table.contains("SPY -1.56 % vs previous close; evaluated at 2011-03-16T17:39:50Z (market clock)"), "\(table)")
                #expect(table.contains("value 10 → approve, outcome ordered"))
                #expect(table.contains("alpaca order sim-order-1 at 2011-03-16 17:40:01.000Z (broker clock)"))
                #expect(table.contains("0.79 @ 126.57 at 2011-03-16 17:40:02.000Z"))
                #expect(table.contains("job \(seeded.submit): alpaca POST /v2/orders timed out after 2 s (retryable)"))
                #expect(!table.contains("hh-other"))
                let missing = try await ops.run("trace", "hh-nope")
                #expect(missing.status == 1 && missing.stderr.contains("no trade order with client_order_id 'hh-nope'"))
            }
        }
    }
}
