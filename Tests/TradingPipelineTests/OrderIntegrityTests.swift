import AlpacaClient
import Foundation
import HybridStore
import HybridTestSupport
import PostgresNIO
import Testing
import TradingCore
import TradingJobs
import TradingPipeline


/// "You approve exactly this, it happens exactly once, and the app shows what the broker did":
/// the frozen intent, every switch at every stage, and the books against the simulator's ledger.
@Suite(.serialized) struct OrderIntegrityTests {
    /// What a user changes between the question and the approval.
    enum Change: String, CaseIterable, Sendable {
        case nothing, size, side, symbol, ruleDisabled, ruleRemoved, userDisabled, symbolBlocklisted

        /// The user's new override (the §17 override plus the change).
        var override: JSONValue {
            var rule: [String: JSONValue] = ["id": .string("dip_confirm"), "max_staleness_seconds": .number(120)]
            var input: [String: JSONValue] = ["id": .string("primary_watchlist"), "symbols": .array([.string("SPY")]),
                                              "poll_interval_seconds": .number(1)]
            var document: [String: JSONValue] = [:]
            switch self {
            case .nothing: break
            case .size: rule["on_answer_match"] = .object(["notional_usd": .number(50)])
            case .side: rule["on_answer_match"] = .object(["side": .string("sell")])
            case .symbol:
                rule["symbol"] = .string("QQQ")
                input["symbols"] = .array([.string("SPY"), .string("QQQ")])
            case .ruleDisabled: rule["enabled"] = .bool(false)
            case .ruleRemoved: document["rules"] = .null
            case .userDisabled: document["enabled"] = .bool(false)
            case .symbolBlocklisted: document["guardrails"] = .object(["symbols_blocklist": .array([.string("SPY")])])
            }
            document["data_inputs"] = .array([.object(input)])
            if document["rules"] == nil { document["rules"] = .array([.object(rule)]) }
            return .object(document)
        }

        /// Does the change take the question off the user's screen at once?
        var withdraws: Bool { ![.nothing, .symbolBlocklisted].contains(self) }
    }

    /// For each change after a question, an approval places exactly the intent the question
    /// showed ($10 buy of SPY at market) or nothing; never anything else.
    @Test(arguments: Change.allCases)
    func anApprovalPlacesTheQuestionsIntentOrNothing(change: Change) async throws {
        try await Farm.run { farm in
            try await farm.seedUser()
            let question = try #require(try await farm.openDipQuestions(1).first)
            let shown = try #require(try await farm.openQuestions().first)
            #expect(shown.text.contains("Approving places a market order (day) to buy $10.00 of SPY"), "\(shown.text)")
            let withdrawn = try await farm.reconfigure(override: change.override)
            #expect(withdrawn == (change.withdraws ? [question] : []), "\(change)")
            let answer = try await farm.pipeline.answers.answer(questionID: question, firebaseUID: Farm.uid, value: .number(10))
            try await farm.drain()
            let ledger = farm.sim.simulator.exchange.ledger().orders.map(\.order)
            switch change {
            case .nothing:
                guard case .ordered(let orderID, _) = answer.outcome else {
                    Issue.record("expected an order, got \(answer)")
                    return
                }
                #expect(ledger.count == 1)
                let placed = try #require(ledger.first)
                #expect(placed.symbol == "SPY" && placed.side == "buy" && placed.notional.flatMap { Decimal(string: $0) } == 10)
                #expect(placed.type == "market" && placed.timeInForce == "day")
                let order = try #require(try await farm.order(orderID))
                #expect(order.intent?.ruleDigest.isEmpty == false && order.intent?.notionalUSD == 10)
            case .symbolBlocklisted:
                #expect(answer.outcome == .refused && answer.detail.contains("symbols_blocklist"), "\(answer)")
                #expect(ledger.isEmpty)
            default:
                #expect(answer.outcome == .withdrawn, "\(change): \(answer)")
                #expect(ledger.isEmpty, "\(change) placed \(ledger)")
                #expect(try await farm.int("SELECT count(*)::int FROM trade_orders") == 0)
            }
        }
    }

    /// A change made behind the API's back (no withdrawal ran): the approval itself notices the
    /// rule no longer proposes what the question showed, places nothing, and lifts the cooldown
    /// so that the changed rule asks again with its new order if it still fires.
    @Test func aRuleChangedBehindTheAPIIsCaughtAtApproval() async throws {
        try await Farm.run { farm in
            try await farm.seedUser()
            let question = try #require(try await farm.openDipQuestions(1).first)
            _ = try await farm.client.withConnection { db in
                try await db.query("""
                    UPDATE user_trading_config
                       SET config = jsonb_set(config, '{rules,0,on_answer_match}', '{"notional_usd": 50}')
                    """, logger: logger)
            }
            let answer = try await farm.pipeline.answers.answer(questionID: question, firebaseUID: Farm.uid, value: .number(10))
            #expect(answer.outcome == .withdrawn && answer.detail.contains("changed"), "\(answer)")
            try await farm.drain()
            #expect(farm.sim.simulator.exchange.ledger().orders.isEmpty)
            // The new proposal is asked for at the next evaluation (the dip still holds).
            let now = try await farm.clock.now()
            let result = try await farm.pipeline.evaluation.evaluate(firebaseUID: Farm.uid, now: now)
            let asked = try #require(result.asked.first)
            #expect(asked.questionText.contains("buy $50.00 of SPY"), "\(asked.questionText)")
        }
    }

    // MARK: - Off means off, at every stage

    /// The farm-wide halt: evaluation asks nothing, an approval orders nothing, an approved
    /// order not yet sent is not sent (it ends `canceled`, the user told); resume lifts it.
    @Test func aHaltStopsEvaluationApprovalAndSubmission() async throws {
        try await Farm.run { farm in
            try await farm.seedUser()
            try await farm.pauseOrders()
            let questions = try await farm.openDipQuestions(2)
            let (pendingID, clientOrderID) = try await farm.approve(questions[0])
            try await farm.halt(reason: "incident 42")
            // Evaluation: the dip fires, nothing is asked.
            _ = try await farm.client.withConnection { try await $0.query("UPDATE questions SET status = 'expired' WHERE id = \(questions[1])", logger: logger) }
            let now = try await farm.clock.now()
            let evaluated = try await farm.pipeline.evaluation.evaluate(firebaseUID: Farm.uid, now: now)
            #expect(evaluated.asked.isEmpty && evaluated.heldBack.contains { $0.reason.contains("halted") }, "\(evaluated.heldBack)")
            // Approval.
            let next = try #require(try await farm.openDipQuestions(1).first)
            let refused = try await farm.pipeline.answers.answer(questionID: next, firebaseUID: Farm.uid, value: .number(10))
            #expect(refused.outcome == .withdrawn && refused.detail.contains("incident 42"), "\(refused)")
            // Submission.
            try await farm.resumeOrders()
            let order = try await farm.settled(pendingID)
            #expect(order.status == "canceled" && order.alpacaOrderID == nil && order.statusReason?.contains("halted") == true)
            #expect(farm.sim.orders(clientOrderID: clientOrderID) == 0)
            #expect(try await farm.int("SELECT count(*)::int FROM questions WHERE pipeline_step = 'dip_confirm:order_canceled'") == 1,
                    "the user is told")
            // Resume: trading goes on.
            try await farm.halt(false)
            let after = try #require(try await farm.openDipQuestions(1).first)
            let (id, _) = try await farm.approve(after)
            #expect(try await farm.settled(id).status == "filled")
        }
    }

    /// The halt's UPDATE waits for an order POST in flight (the submit holds the halt row), so
    /// once `halt` returns no POST is running and none starts: the order in flight is at the
    /// broker and recorded, the next one is never sent.
    @Test func aHaltWaitsForThePostInFlightAndNoneStartsAfter() async throws {
        try await Farm.run { farm in
            try await farm.seedUser()
            try await farm.fault(#"{"route": "POST /v2/orders", "kind": "latency", "latency_ms": 1500, "count": 1}"#)
            let questions = try await farm.openDipQuestions(2)
            let (firstID, firstClientID) = try await farm.approve(questions[0])
            // Wait until the submit is inside its transaction (the POST is being delayed). This
            // database's locks only: the parallel tests' databases are clones with the same OIDs.
            let inFlight = try await eventually(within: 10) {
                try await farm.int("""
                    SELECT count(*)::int FROM pg_locks l JOIN pg_class c ON c.oid = l.relation
                    WHERE l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
                      AND c.relname = 'trading_halt' AND l.mode = 'RowShareLock'
                    """) > 0
            }
            #expect(inFlight != nil, "the submit never took the halt row")
            let started = ContinuousClock.now
            try await farm.halt(reason: "stop now")
            let waited = ContinuousClock.now - started
            #expect(waited > .milliseconds(300), "the halt did not wait for the POST in flight (\(waited))")
            #expect(farm.sim.orders(clientOrderID: firstClientID) == 1)
            #expect(try await farm.order(firstID)?.status != "pending_submit", "recorded in the same transaction as the POST")
            let second = try await farm.pipeline.answers.answer(questionID: questions[1], firebaseUID: Farm.uid, value: .number(10))
            #expect(second.outcome == .withdrawn)
            #expect(farm.sim.simulator.exchange.ledger().orders.count == 1)
        }
    }

    /// The user's switch and the rule's (off, or removed) stop an approved order that has not
    /// been sent; the rule's open questions were withdrawn by the same change.
    @Test(arguments: [Change.userDisabled, .ruleDisabled, .ruleRemoved])
    func aUsersOrRulesSwitchStopsAnUnsentOrder(change: Change) async throws {
        try await Farm.run { farm in
            try await farm.seedUser()
            try await farm.pauseOrders()
            let questions = try await farm.openDipQuestions(2)
            let (orderID, clientOrderID) = try await farm.approve(questions[0])
            let withdrawn = try await farm.reconfigure(override: change.override)
            #expect(withdrawn == [questions[1]])
            let late = try await farm.pipeline.answers.answer(questionID: questions[1], firebaseUID: Farm.uid, value: .number(10))
            #expect(late.outcome == .withdrawn, "\(late)")
            try await farm.resumeOrders()
            let order = try await farm.settled(orderID)
            #expect(order.status == "canceled" && order.alpacaOrderID == nil, "\(change): \(order.status) \(order.statusReason ?? "")")
            #expect(farm.sim.orders(clientOrderID: clientOrderID) == 0)
            // Nothing is asked while it is off.
            let now = try await farm.clock.now()
            #expect(try await farm.pipeline.evaluation.evaluate(firebaseUID: Farm.uid, now: now).asked.isEmpty)
        }
    }

    /// A rule switched off withdraws the question it asked, and switched on again it asks
    /// again at its next firing (the withdrawn question does not hold its turn forever).
    @Test func aRuleSwitchedOffAndOnAsksAgain() async throws {
        try await Farm.run(worker: false) { farm in
            try await farm.seedUser()
            _ = try await farm.openDipQuestions(0)   // fresh SPY rows at the simulator's instant
            let now = try await farm.clock.now()
            let first = try await farm.pipeline.evaluation.evaluate(firebaseUID: Farm.uid, now: now)
            let asked = try #require(first.asked.first)
            #expect(try await farm.reconfigure(override: Change.ruleDisabled.override) == [asked.questionID])
            #expect(try await farm.pipeline.evaluation.evaluate(firebaseUID: Farm.uid, now: now.addingTimeInterval(1)).asked.isEmpty)
            try await farm.reconfigure(override: Change.nothing.override)
            let again = try await farm.pipeline.evaluation.evaluate(firebaseUID: Farm.uid, now: now.addingTimeInterval(2))
            #expect(again.asked.count == 1, "\(again.evaluations.map(\.outcome))")
        }
    }

    /// `TRADING_ENABLED=false` in a process: its evaluations ask nothing, its approvals order
    /// nothing and its submits send nothing.
    @Test func thisServersSwitchStopsEveryStage() async throws {
        var settings = Farm.settings
        settings.tradingEnabled = false
        try await Farm.run(settings: settings) { farm in
            try await farm.seedUser()
            let question = try #require(try await farm.openDipQuestions(1).first)
            try await farm.enqueue(TradingJobCatalog.evaluateUser, EvaluateUser(firebaseUID: Farm.uid, bucket: 1))
            try await farm.drain()
            #expect(try await farm.openQuestions().count == 1, "the evaluation asked nothing")
            let answer = try await farm.pipeline.answers.answer(questionID: question, firebaseUID: Farm.uid, value: .number(10))
            #expect(answer.outcome == .withdrawn && answer.detail.contains("TRADING_ENABLED"), "\(answer)")
            // An order approved elsewhere reaches this process's submit: not sent.
            let id = try await insertApprovedOrder(farm)
            try await farm.enqueue(TradingJobCatalog.submitOrder, SubmitOrder(tradeOrderID: id.0, clientOrderID: id.1))
            let order = try await farm.settled(id.0)
            #expect(order.status == "canceled" && order.statusReason?.contains("TRADING_ENABLED") == true)
            #expect(farm.sim.simulator.exchange.ledger().orders.isEmpty)
        }
    }

    /// An operator's cancel of an unsent order really cancels it.
    @Test func anOperatorsCancelEndsAnUnsentOrder() async throws {
        try await Farm.run { farm in
            try await farm.seedUser()
            try await farm.pauseOrders()
            let question = try #require(try await farm.openDipQuestions(1).first)
            let (orderID, clientOrderID) = try await farm.approve(question)
            let marked = try await farm.client.withConnection {
                try await OrderStore.requestCancel(orderID, reason: "customer called", on: $0, logger: logger)
            }
            #expect(marked?.cancelRequestedAt != nil)
            try await farm.resumeOrders()
            let order = try await farm.settled(orderID)
            #expect(order.status == "canceled" && order.statusReason?.contains("customer called") == true)
            #expect(farm.sim.orders(clientOrderID: clientOrderID) == 0)
        }
    }

    // MARK: - Time and price before the POST

    /// An Alpaca outage holds the approval past TRADING_APPROVAL_MAX_AGE_SECONDS: when Alpaca
    /// answers again the order is not sent (`expired`), and the user is told.
    @Test func anApprovalHeldPastTheMaxAgeByAnOutageIsNeverSent() async throws {
        try await Farm.run { farm in
            try await farm.seedUser()
            try await farm.fault(#"{"route": "POST /v2/orders", "kind": "status", "status": 503, "count": 2}"#)
            let question = try #require(try await farm.openDipQuestions(1).first)
            let (orderID, clientOrderID) = try await farm.approve(question)
            // Two refused attempts, then the replayed clock moves past the maximum age.
            let failedTwice = try await eventually(within: 20) {
                try await farm.int("SELECT coalesce(jsonb_array_length(errors), 0)::int FROM jobs WHERE kind = 'submit-order'") >= 2
            }
            #expect(failedTwice != nil)
            let now = try await farm.clock.now()
            try await farm.setClock(now.addingTimeInterval(Double(Farm.settings.approvalMaxAgeSeconds) + 30))
            let order = try await farm.settled(orderID, seconds: 60)
            #expect(order.status == "expired" && order.alpacaOrderID == nil && order.statusReason?.contains("approval is") == true,
                    "\(order.status): \(order.statusReason ?? "")")
            #expect(farm.sim.orders(clientOrderID: clientOrderID) == 0)
            #expect(try await farm.int("SELECT count(*)::int FROM questions WHERE pipeline_step = 'dip_confirm:order_expired'") == 1)
        }
    }

    /// The price moved beyond TRADING_APPROVAL_MAX_DRIFT_PCT between the approval and the POST.
    @Test func aPriceThatDriftedBeforeThePostExpiresTheOrder() async throws {
        try await Farm.run { farm in
            try await farm.seedUser()
            try await farm.pauseOrders()
            let question = try #require(try await farm.openDipQuestions(1).first)
            let (orderID, clientOrderID) = try await farm.approve(question)
            let now = try await farm.clock.now()
            _ = try await farm.client.withConnection { db in
                try await SnapshotStore.insertSnapshots([
                    SnapshotInsert(symbol: "SPY", metric: .lastTrade, price: Decimal(string: "122.00"), volume: 100, asOf: now.addingTimeInterval(-1)),
                ], on: db, logger: logger)
            }
            try await farm.resumeOrders()
            let order = try await farm.settled(orderID)
            #expect(order.status == "expired" && order.statusReason?.contains("price moved") == true, "\(order.statusReason ?? "")")
            #expect(farm.sim.orders(clientOrderID: clientOrderID) == 0)
        }
    }

    // MARK: - The books equal the broker

    /// A 403 answering a second POST whose first attempt did get through (the lookup lagged):
    /// the order is looked up, found and recorded, never marked failed.
    @Test func aRefusalAfterAnUnknownFirstAttemptIsLookedUpNotFailed() async throws {
        try await Farm.run { farm in
            try await farm.seedUser()
            try await farm.fault(#"{"route": "POST /v2/orders", "kind": "timeout_after_accept", "latency_ms": 3000, "count": 1}"#)
            try await farm.fault(#"{"route": "GET /v2/orders:by_client_order_id", "kind": "status", "status": 404, "count": 3}"#)
            let question = try #require(try await farm.openDipQuestions(1).first)
            let (orderID, clientOrderID) = try await farm.approve(question)
            let firstFailed = try await eventually(within: 20) {
                try await farm.int("SELECT coalesce(jsonb_array_length(errors), 0)::int FROM jobs WHERE kind = 'submit-order'") >= 1
            }
            #expect(firstFailed != nil)
            try await farm.fault(#"{"route": "POST /v2/orders", "kind": "status", "status": 403, "count": 1}"#)
            let order = try await farm.settled(orderID, seconds: 40)
            #expect(order.status == "filled" && order.alpacaOrderID != nil, "\(order.status): \(order.statusReason ?? "")")
            #expect(farm.sim.orders(clientOrderID: clientOrderID) == 1)
            #expect(order.alpacaOrderID == farm.sim.simulator.exchange.ledger().orders.first?.order.id)
        }
    }

    /// A 2xx whose body does not decode: the outcome is unknown, so Alpaca is asked at once; the
    /// order is recorded as Alpaca has it, never marked failed.
    @Test func aTwoHundredThatDoesNotDecodeIsLookedUpAndRecorded() async throws {
        try await Farm.run { farm in
            try await farm.seedUser()
            try await farm.fault(#"{"route": "POST /v2/orders", "kind": "garbled_after_accept", "count": 1}"#)
            let question = try #require(try await farm.openDipQuestions(1).first)
            let (orderID, clientOrderID) = try await farm.approve(question)
            let order = try await farm.settled(orderID)
            #expect(order.status == "filled" && order.alpacaOrderID == farm.sim.simulator.exchange.ledger().orders.first?.order.id)
            #expect(farm.sim.orders(clientOrderID: clientOrderID) == 1)
            #expect(try await farm.rows("SELECT e->>'message' FROM jobs, jsonb_array_elements(errors) e WHERE kind = 'submit-order'").isEmpty,
                    "looked up in the same attempt")
        }
    }

    /// A worker dies right after Alpaca accepted the order; before the job is rescued the user
    /// blocklists the symbol. The rescued attempt asks Alpaca first and records the order as
    /// Alpaca has it (filled), whatever the guardrails say now; it counts toward the caps.
    @Test func aWorkerKilledAfterThePostThenAConfigChangeStillRecordsTheOrder() async throws {
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
            doomed.signal(SIGKILL)
            _ = await doomed.wait(seconds: 5)
            try await farm.reconfigure(override: Change.symbolBlocklisted.override)
            let rescuer = try RunningProcess.start(binary, ["worker", "--id", "rescuer"], environment: farm.processEnvironment())
            defer { rescuer.stop() }
            let order = try await farm.settled(orderID, seconds: 30)
            #expect(order.status == "filled" && order.alpacaOrderID == farm.sim.simulator.exchange.ledger().orders.first?.order.id,
                    "\(order.status): \(order.statusReason ?? "")")
            #expect(farm.sim.orders(clientOrderID: clientOrderID) == 1)
            let now = try await farm.clock.now()
            let counted = try await farm.client.withConnection { try await OrderStore.countedOrders(of: Farm.uid, around: now, on: $0, logger: logger) }
            #expect(counted.count == 1, "it happened, so it counts")
            rescuer.signal(SIGTERM)
            #expect(await rescuer.wait(seconds: 30) == 0)
        }
    }

    /// A partial fill, then a cancel at the broker (reported by the trade-update stream, as
    /// Alpaca sends them): recorded as it is (canceled, the filled part kept), told as "partly
    /// filled", and the filled part counts toward the caps.
    @Test func aPartialFillThenACancelIsToldAsWhatItIs() async throws {
        try await Farm.run(worker: false) { farm in
            try await farm.seedUser()
            let question = try #require(try await farm.openDipQuestions(1).first)
            let (orderID, clientOrderID) = try await farm.approve(question)
            let placed = try await farm.trading.submit(OrderSubmission(symbol: "SPY", side: "buy", notional: 10, qty: nil,
                                                                                clientOrderID: clientOrderID))
            var partial = placed
            partial.status = "partially_filled"
            partial.filledQty = "0.04"
            partial.filledAvgPrice = "126.5"
            partial.filledAt = nil
            var cancelled = partial
            cancelled.status = "canceled"
            try await farm.pipeline.orders.applyTradeUpdate(partial)
            try await farm.pipeline.orders.applyTradeUpdate(cancelled)
            let order = try #require(try await farm.order(orderID))
            #expect(order.status == "canceled" && order.filledQty == Decimal(string: "0.04") && order.alpacaOrderID == placed.id)
            let told = try await farm.rows("SELECT question_text FROM questions WHERE pipeline_step = 'dip_confirm:order_canceled'")
            #expect(told.count == 1 && told.first?.contains("was partly filled (0.04 shares at $126.50)") == true, "\(told)")
            let now = try await farm.clock.now()
            let counted = try await farm.client.withConnection { try await OrderStore.countedOrders(of: Farm.uid, around: now, on: $0, logger: logger) }
            #expect(counted.count == 1 && counted.first?.notionalUSD == Decimal(string: "5.06"), "0.04 × 126.50: \(counted)")
        }
    }

    /// An order the books ended unsent whose earlier POST did land after all (a timeout, then
    /// a rescue that saw nothing yet): the broker's report, by stream or poller, is recorded
    /// over the unsent end. Alpaca is the truth.
    @Test func aLateLandingOrderOverridesAnUnsentEnd() async throws {
        try await Farm.run(worker: false) { farm in
            try await farm.seedUser()
            let question = try #require(try await farm.openDipQuestions(1).first)
            let (orderID, clientOrderID) = try await farm.approve(question)
            _ = try await farm.client.withConnection {
                try await OrderStore.markNotSent(orderID, status: "expired", reason: "the approval is too old", on: $0, logger: logger)
            }
            let placed = try await farm.trading.submit(OrderSubmission(symbol: "SPY", side: "buy", notional: 10, qty: nil,
                                                                                clientOrderID: clientOrderID))
            var filled = placed
            filled.status = "filled"
            filled.filledQty = "0.079"
            filled.filledAvgPrice = "126.5"
            #expect(try await farm.pipeline.orders.applyTradeUpdate(filled))
            let order = try #require(try await farm.order(orderID))
            #expect(order.status == "filled" && order.alpacaOrderID == placed.id && order.filledQty == Decimal(string: "0.079"))
        }
    }

    /// A busy farm cannot starve the halt: stages keep taking the halt row (FOR SHARE) in
    /// overlapping transactions, and the halt still commits within a second or two, after which
    /// they wait behind it.
    @Test func aHaltIsNotStarvedByOverlappingStages() async throws {
        try await Farm.run(worker: false) { farm in
            let stop = ContinuousClock.now + .seconds(6)
            let client = farm.client
            let holders = Task {
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for lane in 0..<4 {
                        group.addTask {
                            try await Task.sleep(for: .milliseconds(100 * lane))
                            while ContinuousClock.now < stop {
                                _ = try await client.transaction(logger: logger) { db in
                                    _ = try await HaltStore.current(lock: true, on: db, logger: logger)
                                    try await Task.sleep(for: .milliseconds(400))
                                }
                            }
                        }
                    }
                    try await group.waitForAll()
                }
            }
            try await Task.sleep(for: .milliseconds(800))
            let started = ContinuousClock.now
            try await farm.halt(reason: "starvation test")
            let took = ContinuousClock.now - started
            #expect(took < .seconds(2), "the halt waited \(took) behind stages that kept coming")
            try await holders.value
        }
    }

    /// An evaluation that waited on the user's lock while the user switched trading off decides
    /// on the new config (read after the lock), so it asks nothing.
    @Test func anEvaluationThatWaitedForASwitchDecidesOnTheNewConfig() async throws {
        try await Farm.run(worker: false) { farm in
            try await farm.seedUser()
            _ = try await farm.openDipQuestions(0)
            let now = try await farm.clock.now()
            let pipeline = farm.pipeline
            // The state row exists (so the evaluation's only wait is the row lock).
            _ = try await farm.client.transaction(logger: logger) { try await TradingStateStore.lockTradingContext(Farm.uid, on: $0, logger: logger) }
            try await farm.client.withConnection { db in
                try await db.query("BEGIN", logger: logger)
                _ = try await TradingStateStore.lockTradingContext(Farm.uid, on: db, logger: logger)
                let evaluation = Task { try await pipeline.evaluation.evaluate(firebaseUID: Farm.uid, now: now) }
                let waiting = try await eventually(within: 10) {
                    try await farm.int("SELECT count(*)::int FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE '%FOR UPDATE%'") > 0
                }
                #expect(waiting != nil, "the evaluation never waited for the user's lock")
                try await db.query("UPDATE user_trading_config SET enabled = false WHERE firebase_uid = \(Farm.uid)", logger: logger)
                try await db.query("COMMIT", logger: logger)
                let result = try await evaluation.value
                #expect(result.asked.isEmpty, "asked \(result.asked.map(\.questionText)) after trading was switched off")
            }
            #expect(try await farm.openQuestions().isEmpty)
        }
    }

    /// The caps count what happened: open orders at their size, ended ones by what filled
    /// (a rejection or a cancel with nothing filled and an unsent order count nothing).
    @Test func theCapsCountWhatHappened() async throws {
        try await Farm.run(worker: false) { farm in
            try await farm.seedUser()
            let now = try await farm.clock.now()
            let rows: [(status: String, notional: String?, qty: String?, filled: String?, avg: String?, alpaca: Bool)] = [
                ("pending_submit", "10", nil, nil, nil, false),     // counts 10
                ("new", nil, "2", nil, nil, true),                  // counts 2 × 100 (reference)
                ("filled", "10", nil, "0.08", "125", true),         // counts 10 (filled part)
                ("canceled", "40", nil, "0.1", "120", true),        // partial then cancel: counts 12
                ("rejected", "10", nil, "0", nil, true),            // nothing
                ("canceled", "10", nil, nil, nil, true),            // nothing
                ("expired", "10", nil, nil, nil, false),            // unsent: nothing
                ("blocked", "10", nil, nil, nil, false),            // nothing
            ]
            try await farm.client.withConnection { db in
                for (index, row) in rows.enumerated() {
                    try await db.query("""
                        INSERT INTO trade_orders (id, firebase_uid, client_order_id, symbol, side, order_type, notional_usd, qty, status,
                                                  reference_price, decided_at, filled_qty, filled_avg_price, alpaca_order_id)
                        VALUES (gen_random_uuid(), \(Farm.uid), \("cap-\(index)"), 'SPY', 'buy', 'market', \(row.notional)::numeric,
                                \(row.qty)::numeric, \(row.status), 100, \(now), \(row.filled)::numeric, \(row.avg)::numeric,
                                \(row.alpaca ? "a-\(index)" : nil))
                        """, logger: logger)
                }
            }
            let counted = try await farm.client.withConnection {
                try await OrderStore.countedOrders(of: Farm.uid, around: now, on: $0, logger: logger)
            }
            #expect(counted.count == 4)
            let total = counted.map(\.notionalUSD).reduce(Decimal(0), +)
            #expect(total == Decimal(232), "10 pending + 2 × 100 open + 10 filled + 12 partly filled")
        }
    }

    // MARK: - Helpers

    /// A `pending_submit` order as an approval in another process would have left it.
    func insertApprovedOrder(_ farm: Farm) async throws -> (UUID, String) {
        let now = try await farm.clock.now()
        let question = try #require(try await farm.openDipQuestions(1).first)
        let id = UUID()
        let clientOrderID = ClientOrderID.make(firebaseUID: Farm.uid, ruleID: "dip_confirm", questionID: question.uuidString.lowercased())
        try await farm.client.withConnection { db in
            var order = NewOrder(id: id, firebaseUID: Farm.uid, clientOrderID: clientOrderID, symbol: "SPY", side: "buy", notionalUSD: 10,
                                 qty: nil, questionID: question, ruleID: "dip_confirm", referencePrice: Decimal(string: "126.56"), decidedAt: now)
            order.intent = try await QuestionStore.question(question, on: db, logger: logger)?.metadata["order"]
            try await OrderStore.insert(order, on: db, logger: logger)
        }
        return (id, clientOrderID)
    }
}
