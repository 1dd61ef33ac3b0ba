import AlpacaModels
import Foundation
import HybridStore
import HybridTestSupport
import Testing
import TradingCore
import TradingJobs
import TradingPipeline

/// Plan §17 through the engine, the real Alpaca clients and the simulator over a socket.
@Suite(.serialized) struct EndToEndTests {
    /// ingest → evaluate → question delivered → approve → one order at the broker, filled,
    /// traceable to the question and the rule; the next tick asks nothing (cooldown).
    @Test func planSeventeenApproveGivesExactlyOneTracedOrder() async throws {
        try await Farm.run { farm in
            try await farm.seedUser()
            try await farm.enqueue(TradingJobCatalog.ingestSymbolBatch,
                                   IngestSymbolBatch(feed: "iex", symbols: ["SPY"], metrics: ["daily_bar", "last_trade", "prev_close"], bucket: 1))
            try await farm.drain()
            #expect(try await farm.int("SELECT count(*)::int FROM market_data_snapshots WHERE symbol = 'SPY'") == 3)
            try await farm.enqueue(TradingJobCatalog.evaluateUser, EvaluateUser(firebaseUID: Farm.uid, bucket: 1))
            try await farm.drain()

            let questions = try await farm.openQuestions()
            try #require(questions.count == 1)
            let question = questions[0]
            #expect(question.pipelineStep == "dip_confirm:await_confirm")
            #expect(question.text.hasPrefix("SPY is down 1.56% vs yesterday."), "\(question.text)")
            #expect(question.metadata["symbol"] == .string("SPY"))
            #expect(question.metadata["price"] == .number(Decimal(string: "126.56")!))
            #expect(question.deliveredAt != nil, "deliver-question marks it delivered")
            #expect(try await farm.rows("SELECT source_tag FROM questions") == ["trading:rule:dip_confirm"])

            let answer = try await farm.pipeline.answers.answer(questionID: question.id, firebaseUID: Farm.uid, value: .number(10))
            guard case .ordered(let orderID, let clientOrderID) = answer.outcome else {
                Issue.record("approval did not order: \(answer)")
                return
            }
            #expect(clientOrderID == ClientOrderID.make(firebaseUID: Farm.uid, ruleID: "dip_confirm", questionID: question.id.uuidString.lowercased()))
            let order = try await farm.settled(orderID)
            try await farm.drain()
            #expect(order.status == "filled")
            #expect(order.questionID == question.id && order.ruleID == "dip_confirm")
            #expect(order.notionalUSD == 10 && order.filledAvgPrice != nil && order.filledAt != nil)
            #expect(farm.sim.orders(clientOrderID: clientOrderID) == 1)
            let ledger = farm.sim.simulator.exchange.ledger().orders
            #expect(ledger.count == 1 && ledger.first?.order.id == order.alpacaOrderID)

            // Answering again is idempotent: same order, nothing new.
            let again = try await farm.pipeline.answers.answer(questionID: question.id, firebaseUID: Farm.uid, value: .number(10))
            #expect(again.repeated && again.outcome == answer.outcome)
            // The next tick does not re-fire (cooldown after the answer).
            try await farm.enqueue(TradingJobCatalog.evaluateUser, EvaluateUser(firebaseUID: Farm.uid, bucket: 2))
            try await farm.drain()
            #expect(try await farm.openQuestions().isEmpty)
            #expect(try await farm.int("SELECT count(*)::int FROM trade_orders") == 1)
            #expect(farm.sim.simulator.exchange.ledger().orders.count == 1)
        }
    }

    @Test func skipRecordsTheAnswerAndOrdersNothing() async throws {
        try await Farm.run { farm in
            let question = try await farm.askedQuestion()
            let answer = try await farm.pipeline.answers.answer(questionID: question.id, firebaseUID: Farm.uid, value: .number(-10))
            #expect(answer.outcome == .skipped)
            try await farm.drain()
            #expect(try await farm.int("SELECT count(*)::int FROM trade_orders") == 0)
            #expect(farm.sim.simulator.exchange.ledger().orders.isEmpty)
            #expect(try await farm.rows("SELECT decision || ':' || outcome FROM answers") == ["skip:skipped"])
        }
    }

    @Test func anAmbiguousAnswerAsksAFollowUp() async throws {
        try await Farm.run { farm in
            let question = try await farm.askedQuestion()
            let answer = try await farm.pipeline.answers.answer(questionID: question.id, firebaseUID: Farm.uid, value: .string("3"))
            guard case .followUp(let next) = answer.outcome else {
                Issue.record("expected a follow-up, got \(answer)")
                return
            }
            let open = try await farm.openQuestions()
            #expect(open.map(\.id) == [next])
            #expect(open.first?.text.hasPrefix("Your answer was unclear.") == true)
            #expect(open.first?.metadata["follows_question_id"] == .string(question.id.uuidString.lowercased()))
            // Approving the follow-up orders.
            let approved = try await farm.pipeline.answers.answer(questionID: next, firebaseUID: Farm.uid, value: .number(9))
            guard case .ordered = approved.outcome else {
                Issue.record("expected an order, got \(approved)")
                return
            }
        }
    }

    @Test func staleSnapshotsNeverFireARule() async throws {
        try await Farm.run { farm in
            try await farm.seedUser()
            // The simulator answers with data an hour old: past the rule's 120 s.
            try await farm.fault(#"{"route": "GET /v2/stocks/*", "kind": "stale_data", "stale_seconds": 3600}"#)
            try await farm.enqueue(TradingJobCatalog.ingestSymbolBatch,
                                   IngestSymbolBatch(feed: "iex", symbols: ["SPY"], metrics: ["last_trade", "prev_close"], bucket: 1))
            try await farm.drain()
            try await farm.enqueue(TradingJobCatalog.evaluateUser, EvaluateUser(firebaseUID: Farm.uid, bucket: 1))
            try await farm.drain()
            #expect(try await farm.int("SELECT count(*)::int FROM market_data_snapshots") >= 2)
            #expect(try await farm.openQuestions().isEmpty)
        }
    }

    @Test func aPriceDriftAtApprovalAsksAgainInsteadOfTrading() async throws {
        try await Farm.run { farm in
            let question = try await farm.askedQuestion()
            // A newer trade 2 % lower than the question's price.
            let now = Farm.dipInstant.addingTimeInterval(20)
            try await farm.setClock(now.addingTimeInterval(1))
            _ = try await farm.client.withConnection { db in
                try await SnapshotStore.insertSnapshots([SnapshotInsert(symbol: "SPY", metric: .lastTrade, price: Decimal(string: "124.03"),
                                                                       volume: 100, asOf: now)], on: db, logger: logger)
            }
            let answer = try await farm.pipeline.answers.answer(questionID: question.id, firebaseUID: Farm.uid, value: .number(10))
            guard case .askedAgain(let next) = answer.outcome else {
                Issue.record("expected to be asked again, got \(answer)")
                return
            }
            #expect(answer.detail.contains("price moved"))
            #expect(try await farm.openQuestions().map(\.id) == [next])
            #expect(try await farm.int("SELECT count(*)::int FROM trade_orders") == 0)
        }
    }

    @Test func anExpiredQuestionTakesNoApproval() async throws {
        try await Farm.run { farm in
            let question = try await farm.askedQuestion()
            _ = try await farm.client.withConnection { db in
                try await db.query("UPDATE questions SET expires_at = now() - interval '1 second' WHERE id = \(question.id)", logger: logger)
            }
            let answer = try await farm.pipeline.answers.answer(questionID: question.id, firebaseUID: Farm.uid, value: .number(10))
            #expect(answer.outcome == .expired)
            #expect(try await farm.int("SELECT count(*)::int FROM trade_orders") == 0)
            #expect(try await farm.rows("SELECT status FROM questions") == ["expired"])
        }
    }

    @Test func anotherUsersQuestionIsNotFound() async throws {
        try await Farm.run(worker: false) { farm in
            let question = try await farm.askedQuestion(drain: false)
            try await farm.seedUser("someone-else")
            await #expect(throws: AnswerError.notFound) {
                try await farm.pipeline.answers.answer(questionID: question.id, firebaseUID: "someone-else", value: .number(10))
            }
            await #expect(throws: AnswerError.self) {
                try await farm.pipeline.answers.answer(questionID: question.id, firebaseUID: Farm.uid, value: .number(11))
            }
        }
    }
}

extension Farm {
    /// Seeds the §17 user, ingests and evaluates once: the dip question is open.
    func askedQuestion(drain: Bool = true) async throws -> StoredQuestion {
        try await seedUser()
        if drain {
            try await enqueue(TradingJobCatalog.ingestSymbolBatch,
                              IngestSymbolBatch(feed: "iex", symbols: ["SPY"], metrics: ["last_trade", "prev_close"], bucket: 1))
            try await self.drain()
            try await enqueue(TradingJobCatalog.evaluateUser, EvaluateUser(firebaseUID: Farm.uid, bucket: 1))
            try await self.drain()
        } else {
            let snapshots = try await marketData.snapshots(symbols: ["SPY"], feed: "iex")
            let rows = SnapshotMapping.rows(symbol: "SPY", snapshot: try #require(snapshots["SPY"]), feed: "iex", metrics: [.lastTrade, .prevClose])
            _ = try await client.withConnection { try await SnapshotStore.insertSnapshots(rows, on: $0, logger: logger) }
            _ = try await pipeline.evaluation.evaluate(firebaseUID: Farm.uid, now: Farm.dipInstant)
        }
        let open = try await openQuestions()
        guard open.count == 1 else { throw FarmError("expected one open question, found \(open.count)") }
        return open[0]
    }
}
