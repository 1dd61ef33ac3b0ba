import Foundation
import HybridStore
import HybridTestSupport
import JobEngine
import PostgresNIO
import Testing
import TradingCore
import TradingJobs
import TradingPipeline

/// What happens after approval when the broker or the gate says no, and the scheduler tick.
@Suite(.serialized) struct OrderLifecycleTests {
    /// Accepted, then rejected by the broker: poll-order-status records it, publishes it and
    /// asks the user a question that explains it.
    @Test func aBrokerRejectionBecomesAnExplainingQuestion() async throws {
        try await Farm.run { farm in
            try await farm.seedUser()
            try await farm.fault(#"{"route": "POST /v2/orders", "kind": "reject_order", "count": 1}"#)
            let question = try #require(try await farm.openDipQuestions(1).first)
            let (orderID, _) = try await farm.approve(question)
            let order = try await farm.settled(orderID)
            #expect(order.status == "rejected")
            try await farm.drain()
            let explaining = try await farm.openQuestions().filter { $0.pipelineStep == "dip_confirm:order_rejected" }
            #expect(explaining.count == 1)
            #expect(explaining.first?.text.contains("did not go through") == true && explaining.first?.deliveredAt != nil)
            // Dismissing it is just noted.
            let dismissed = try await farm.pipeline.answers.answer(questionID: try #require(explaining.first?.id), firebaseUID: Farm.uid, value: .number(10))
            #expect(dismissed.outcome == .acknowledged)
        }
    }

    /// A 4xx on the POST: no order exists at Alpaca; the row ends `failed` with the reason.
    @Test func aBrokerRefusalEndsTheOrderFailedWithoutRetrying() async throws {
        try await Farm.run { farm in
            try await farm.seedUser()
            try await farm.fault(#"{"route": "POST /v2/orders", "kind": "status", "status": 403, "count": 5}"#)
            let question = try #require(try await farm.openDipQuestions(1).first)
            let (orderID, _) = try await farm.approve(question)
            let order = try await farm.settled(orderID)
            #expect(order.status == "failed" && order.statusReason?.contains("HTTP 403") == true)
            #expect(try await farm.int("SELECT attempt FROM jobs WHERE kind = 'submit-order'") == 1, "a 4xx is not retried")
            #expect(farm.sim.simulator.exchange.ledger().orders.isEmpty)
            // A failed order does not count against the caps.
            #expect(try await farm.client.withConnection { try await OrderStore.countedOrders(of: Farm.uid, around: Farm.dipInstant, on: $0, logger: logger) }.isEmpty)
        }
    }

    /// The live gate: a live trading URL without ALPACA_ALLOW_LIVE and mode "live" refuses
    /// at approval, and again at submit for an order approved before the gate changed.
    @Test func aLiveURLIsRefusedAtApprovalAndAtSubmit() async throws {
        var live = Farm.settings
        live.gate = LiveTradingGate(allowLive: false, tradingURLIsLive: true, hardMaxOrderNotionalUSD: 250)
        try await Farm.run(settings: live) { farm in
            try await farm.seedUser()
            let question = try #require(try await farm.openDipQuestions(1).first)
            let answer = try await farm.pipeline.answers.answer(questionID: question, firebaseUID: Farm.uid, value: .number(10))
            #expect(answer.outcome == .refused && answer.detail.contains("live_trading"))

            // An order approved earlier (inserted as the answer service would) is blocked at submit.
            let orderID = UUID()
            try await farm.client.transaction(logger: logger) { db in
                try await OrderStore.insert(NewOrder(id: orderID, firebaseUID: Farm.uid, clientOrderID: "hh1-live-check", symbol: "SPY", side: "buy",
                                                     notionalUSD: 10, qty: nil, questionID: question, ruleID: "dip_confirm",
                                                     referencePrice: 126, decidedAt: Farm.dipInstant), on: db, logger: logger)
                _ = try await JobStore.enqueue(try TradingJobCatalog.submitOrder.job(SubmitOrder(tradeOrderID: orderID, clientOrderID: "hh1-live-check")),
                                               on: db, logger: logger)
            }
            let order = try await farm.settled(orderID)
            #expect(order.status == "blocked" && order.statusReason?.contains("live_trading") == true)
            #expect(farm.sim.simulator.exchange.ledger().orders.isEmpty)
        }
    }

    /// A rule that fires while the user already has `max_open_questions` open asks nothing.
    @Test func theOpenQuestionCapHoldsARuleBack() async throws {
        try await Farm.run(worker: false) { farm in
            try await farm.seedUser()
            _ = try await farm.openDipQuestions(3)
            let result = try await farm.pipeline.evaluation.evaluate(firebaseUID: Farm.uid, now: Farm.dipInstant)
            #expect(result.asked.isEmpty && result.heldBack.first?.reason.contains("max_open_questions") == true)
            #expect(try await farm.openQuestions().count == 3)
        }
    }

    /// The scheduler's tick in its transaction: one ingest batch for all users' symbols, one
    /// evaluation per enabled user, each with a key per tick; the same bucket twice adds nothing.
    @Test func theTickEnqueuesPerSymbolBatchAndPerUserOnce() async throws {
        try await Farm.run(worker: false) { farm in
            for n in 0..<25 { try await farm.seedUser("user-\(n)") }
            try await farm.seedUser("disabled")
            _ = try await farm.client.withConnection { db in
                try await db.query("UPDATE user_trading_config SET enabled = false WHERE firebase_uid = 'disabled'", logger: logger)
            }
            let schedule = farm.pipeline.tick.schedule(intervalSeconds: 60)
            for _ in 0..<2 {
                try await farm.client.transaction(logger: logger) { db in
                    let jobs = try await schedule.makeJobs(100, db, logger)
                    _ = try await JobStore.enqueue(jobs, on: db, logger: logger)
                }
            }
            #expect(try await farm.int("SELECT count(*)::int FROM jobs WHERE kind = 'ingest-symbol-batch'") == 1)
            #expect(try await farm.int("SELECT count(*)::int FROM jobs WHERE kind = 'evaluate-user'") == 25)
            #expect(try await farm.rows("SELECT payload->>'symbols' FROM jobs WHERE kind = 'ingest-symbol-batch'") == [#"["SPY"]"#])
        }
    }

    /// An approved order whose submit-order job was cancelled by an operator is not sent by
    /// anything afterwards: the tick's safety net marks it cancel-requested and its submit
    /// attempt asks Alpaca and ends it `canceled`; later ticks enqueue nothing for it.
    @Test func anOperatorsCancelOfTheSubmitJobIsNeverUndoneByTheTick() async throws {
        try await Farm.run { farm in
            try await farm.seedUser()
            try await farm.pauseOrders()
            let question = try #require(try await farm.openDipQuestions(1).first)
            let (orderID, clientOrderID) = try await farm.approve(question)
            _ = try await farm.client.withConnection { db in
                try await db.query("UPDATE jobs SET state = 'cancelled', finalized_at = now() WHERE kind = 'submit-order'", logger: logger)
                try await db.query("UPDATE trade_orders SET updated_at = now() - interval '5 minutes'", logger: logger)
                try await db.query("UPDATE job_queues SET paused_at = NULL WHERE name = 'orders'", logger: logger)
            }
            let schedule = farm.pipeline.tick.schedule(intervalSeconds: 60)
            for bucket in [200, 201, 202] as [Int64] {
                try await farm.client.transaction(logger: logger) { db in
                    _ = try await JobStore.enqueue(try await schedule.makeJobs(bucket, db, logger), on: db, logger: logger)
                }
                try await farm.drain()
                _ = try await farm.client.withConnection { db in
                    try await db.query("UPDATE trade_orders SET updated_at = now() - interval '5 minutes'", logger: logger)
                }
            }
            let order = try await farm.settled(orderID)
            #expect(order.status == "canceled" && order.alpacaOrderID == nil)
            #expect(order.statusReason?.contains("cancelled by an operator") == true, "\(order.statusReason ?? "")")
            #expect(try await farm.int("SELECT count(*)::int FROM jobs WHERE kind = 'submit-order'") == 2, "the cancelled one, one that ended it")
            #expect(farm.sim.orders(clientOrderID: clientOrderID) == 0)
        }
    }

    /// A submit-order job that was discarded (attempts used up) is retried by the tick's safety
    /// net: the broker still gets exactly one order.
    @Test func aDiscardedSubmitJobIsRetriedByTheTick() async throws {
        try await Farm.run { farm in
            try await farm.seedUser()
            try await farm.pauseOrders()
            let question = try #require(try await farm.openDipQuestions(1).first)
            let (orderID, clientOrderID) = try await farm.approve(question)
            _ = try await farm.client.withConnection { db in
                try await db.query("UPDATE jobs SET state = 'discarded', finalized_at = now() WHERE kind = 'submit-order'", logger: logger)
                try await db.query("UPDATE trade_orders SET updated_at = now() - interval '5 minutes'", logger: logger)
                try await db.query("UPDATE job_queues SET paused_at = NULL WHERE name = 'orders'", logger: logger)
            }
            let schedule = farm.pipeline.tick.schedule(intervalSeconds: 60)
            for bucket in [200, 201] as [Int64] {
                try await farm.client.transaction(logger: logger) { db in
                    _ = try await JobStore.enqueue(try await schedule.makeJobs(bucket, db, logger), on: db, logger: logger)
                }
            }
            #expect(try await farm.settled(orderID).status == "filled")
            #expect(farm.sim.orders(clientOrderID: clientOrderID) == 1)
        }
    }
}
