import Foundation
import HybridStore
import HybridTestSupport
import Testing
import TradingCore
import TradingPipeline

/// Guardrails under concurrency and one order per client_order_id under crashes and faults,
/// with real `hybridhub` processes where a process boundary is the point.
@Suite(.serialized) struct ExactlyOnceTests {
    /// Twenty approvals of one user, each in its own `hybridhub answer` process at once: the
    /// row lock on the user's trading state lets exactly `max_orders_per_day` through.
    @Test func twentyApprovalsRacingAcrossProcessesNeverExceedTheDailyCap() async throws {
        try await Farm.run(worker: false) { farm in
            try await farm.seedUser()
            let questions = try await farm.openDipQuestions(20)
            let binary = try ChildProcess.executable("hybridhub")
            let environment = farm.processEnvironment()
            let results = try await withThrowingTaskGroup(of: ChildProcess.Result.self) { group in
                for question in questions {
                    group.addTask {
                        try await ChildProcess.run(binary, ["answer", "--question", question.uuidString, "--user", Farm.uid, "--value", "10"],
                                                   environment: environment)
                    }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(results.allSatisfy { $0.status == 0 }, "\(results.filter { $0.status != 0 }.map(\.stderr))")
            let ordered = results.filter { $0.stdout.contains("answer: ordered") }.count
            let refused = results.filter { $0.stdout.contains("max_orders_per_day") }.count
            #expect(ordered == 3 && refused == 17)
            #expect(try await farm.int("SELECT count(*)::int FROM trade_orders WHERE firebase_uid = 'plan17-user-u'") == 3)
            #expect(try await farm.int("SELECT count(*)::int FROM answers") == 20)
            #expect(try await farm.int("SELECT count(*)::int FROM jobs WHERE kind = 'submit-order'") == 3)
        }
    }

    /// The 4-hour notional cap under the same race: $40 orders against $100 → two.
    @Test func racingApprovalsNeverExceedTheFourHourNotionalCap() async throws {
        try await Farm.run(worker: false) { farm in
            let override: JSONValue = .object([
                "data_inputs": .array([.object(["id": .string("primary_watchlist"), "symbols": .array([.string("SPY")])])]),
                "rules": .array([.object(["id": .string("dip_confirm"), "max_staleness_seconds": .number(120),
                                          "on_answer_match": .object(["action": .string("propose_order"), "side": .string("buy"), "notional_usd": .number(40)])])]),
                "guardrails": .object(["max_orders_per_day": .number(10)]),
            ])
            try await farm.seedUser(override: override)
            let questions = try await farm.openDipQuestions(12)
            let pipeline = farm.pipeline
            let outcomes = try await withThrowingTaskGroup(of: AnswerOutcome.self) { group in
                for question in questions {
                    group.addTask { try await pipeline.answers.answer(questionID: question, firebaseUID: Farm.uid, value: .number(10)).outcome }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(outcomes.filter { if case .ordered = $0 { true } else { false } }.count == 2)
            #expect(try await farm.int("SELECT coalesce(sum(notional_usd), 0)::int FROM trade_orders") == 80)
        }
    }

    /// A symbol blocklisted after the approval: submit-order's re-check under the row lock
    /// stops it; Alpaca never sees it; the user gets a question that says why.
    @Test func aSymbolBlockedAfterApprovalNeverTrades() async throws {
        try await Farm.run { farm in
            try await farm.seedUser()
            // Hold the orders queue while the config changes.
            try await farm.pauseOrders()
            let question = try #require(try await farm.openDipQuestions(1).first)
            let (orderID, _) = try await farm.approve(question)
            var override = Farm.override
            if case .object(var fields) = override {
                fields["guardrails"] = .object(["symbols_blocklist": .array([.string("SPY")])])
                override = .object(fields)
            }
            try await farm.seedUser(override: override)
            try await farm.resumeOrders()
            let order = try await farm.settled(orderID)
            #expect(order.status == "blocked")
            #expect(order.statusReason?.contains("symbols_blocklist") == true)
            #expect(farm.sim.simulator.exchange.ledger().orders.isEmpty)
            try await farm.drain()
            #expect(try await farm.openQuestions().contains { $0.pipelineStep == "dip_confirm:order_blocked" && $0.text.contains("blocklist") })
            // And a new approval for a blocked symbol is refused at once.
            let next = try #require(try await farm.openDipQuestions(1).first)
            let refused = try await farm.pipeline.answers.answer(questionID: next, firebaseUID: Farm.uid, value: .number(10))
            #expect(refused.outcome == .refused && refused.detail.contains("symbols_blocklist"))
        }
    }

    /// The worst instant: the worker dies after Alpaca accepted the POST and before the
    /// database heard of it. The rescued job looks the order up and records it: one order.
    @Test func aWorkerKilledBetweenThePostAndTheDatabaseUpdateStillGivesOneOrder() async throws {
        try await Farm.run(worker: false) { farm in
            try await farm.seedUser()
            let binary = try ChildProcess.executable("hybridhub")
            let doomed = try RunningProcess.start(binary, ["worker", "--id", "doomed", "--lease", "3", "--heartbeat", "1"],
                                                  environment: farm.processEnvironment(["HYBRIDHUB_FAILPOINTS": "submit-order.after-post=hang"]))
            defer { doomed.stop() }
            let question = try #require(try await farm.openDipQuestions(1).first)
            let (orderID, clientOrderID) = try await farm.approve(question)
            let posted = try await eventually(within: 20) { farm.sim.orders(clientOrderID: clientOrderID) == 1 }
            #expect(posted != nil, "the doomed worker never posted: \(doomed.output)")
            #expect(try await farm.order(orderID)?.status == "pending_submit", "the database must not know yet")
            doomed.signal(SIGKILL)
            _ = await doomed.wait(seconds: 5)

            let rescuer = try RunningProcess.start(binary, ["worker", "--id", "rescuer"], environment: farm.processEnvironment())
            defer { rescuer.stop() }
            let order = try await farm.settled(orderID, seconds: 30)
            #expect(order.status == "filled")
            #expect(farm.sim.orders(clientOrderID: clientOrderID) == 1)
            #expect(order.alpacaOrderID == farm.sim.simulator.exchange.ledger().orders.first?.order.id)
            #expect(try await farm.int("SELECT lease_epoch::int FROM jobs WHERE kind = 'submit-order'") == 2, "rescued once")
            rescuer.signal(SIGTERM)
            #expect(await rescuer.wait(seconds: 30) == 0)
        }
    }

    /// The simulator accepts the order and never answers; the client times out; the retry
    /// looks the order up instead of posting again.
    @Test func aTimeoutAfterAcceptGivesOneOrder() async throws {
        _ = try await exactlyOneOrder(fault: #"{"route": "POST /v2/orders", "kind": "timeout_after_accept", "latency_ms": 4000, "count": 1}"#)
    }

    @Test func aRateLimitHonoursRetryAfterAndGivesOneOrder() async throws {
        let errors = try await exactlyOneOrder(fault: #"{"route": "POST /v2/orders", "kind": "status", "status": 429, "retry_after_seconds": 1, "count": 2}"#)
        #expect(errors.count == 2 && errors.allSatisfy { $0.contains("HTTP 429") && $0.contains("retry after 1") })
    }

    @Test func serverErrorsAreRetriedAndGiveOneOrder() async throws {
        let errors = try await exactlyOneOrder(fault: #"{"route": "POST /v2/orders", "kind": "status", "status": 503, "count": 2}"#)
        #expect(errors.count == 2)
    }

    /// Approve under `fault`; the order ends filled with exactly one order at the simulator.
    /// Returns the submit job's recorded errors.
    func exactlyOneOrder(fault: String) async throws -> [String] {
        try await Farm.run { farm in
            try await farm.seedUser()
            try await farm.fault(fault)
            let question = try #require(try await farm.openDipQuestions(1).first)
            let answer = try await farm.pipeline.answers.answer(questionID: question, firebaseUID: Farm.uid, value: .number(10))
            guard case .ordered(let orderID, let clientOrderID) = answer.outcome else {
                Issue.record("expected an order, got \(answer)")
                return []
            }
            let order = try await farm.settled(orderID, seconds: 40)
            #expect(order.status == "filled")
            #expect(farm.sim.orders(clientOrderID: clientOrderID) == 1)
            #expect(farm.sim.simulator.exchange.ledger().orders.count == 1)
            return try await farm.rows("SELECT e->>'message' FROM jobs, jsonb_array_elements(errors) e WHERE kind = 'submit-order'")
        }
    }
}
