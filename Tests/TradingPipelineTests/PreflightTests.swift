import AlpacaClient
import AlpacaModels
import Synchronization
import Foundation
import HybridHubApp
import HybridStore
import HybridTestSupport
import Testing
import TradingCore
import TradingPipeline

/// Issue 9: the broker's pre-flight before a question is asked, against the simulator (its
/// assets include HALTED, not tradable, and NOFRAC, not fractionable).
@Suite(.serialized) struct PreflightTests {
    /// The §17 dip rule moved to `symbol`, with the refusal policy and order size given.
    static func override(symbol: String, policy: String? = nil, order: JSONValue? = nil) -> JSONValue {
        var rule: [String: JSONValue] = [
            "id": .string("dip_confirm"), "symbol": .string(symbol), "max_staleness_seconds": .number(120),
            "question_template": .string("\(symbol) is down {{pct}}% vs yesterday. Swipe +10 to approve, -10 to skip."),
        ]
        if let order { rule["on_answer_match"] = order }
        var document: [String: JSONValue] = [
            "data_inputs": .array([.object(["id": .string("primary_watchlist"), "symbols": .array([.string(symbol)])])]),
            "rules": .array([.object(rule)]),
        ]
        if let policy { document["guardrails"] = .object(["on_broker_refusal": .string(policy)]) }
        return .object(document)
    }

    /// A fresh price 2 % under the previous close, at the simulator's instant.
    static func dip(_ farm: Farm, symbol: String) async throws -> Date {
        let now = try await farm.clock.now()
        _ = try await farm.client.withConnection { db in
            try await SnapshotStore.insertSnapshots([
                SnapshotInsert(symbol: symbol, metric: .lastTrade, price: 98, volume: 100, asOf: now.addingTimeInterval(-5)),
                SnapshotInsert(symbol: symbol, metric: .prevClose, price: 100, volume: 100, asOf: now.addingTimeInterval(-80_000)),
            ], on: db, logger: logger)
        }
        return now
    }

    static func preflight(_ question: StoredQuestion) -> [String: JSONValue] {
        guard case .object(let metadata) = question.metadata, case .object(let preflight)? = metadata["preflight"] else { return [:] }
        return preflight
    }

    static func refusalCodes(_ question: StoredQuestion) -> [String] {
        guard case .array(let items)? = preflight(question)["refusals"] else { return [] }
        return items.compactMap { item in
            guard case .object(let fields) = item, case .string(let code)? = fields["code"] else { return nil }
            return code
        }
    }

    @Test func anUntradableAssetIsExplainedInsteadOfProposed() async throws {
        try await Farm.run(worker: false) { farm in
            try await farm.seedUser(override: Self.override(symbol: "HALTED", order: .object(["side": .string("buy"), "qty": .number(1), "notional_usd": .null])))
            let now = try await Self.dip(farm, symbol: "HALTED")
            let result = try await farm.pipeline.evaluation.evaluate(firebaseUID: Farm.uid, now: now)
            #expect(result.asked.isEmpty && result.refused.count == 1)
            let question = try #require(try await farm.openQuestions().first)
            #expect(question.pipelineStep == "dip_confirm:preflight_refused")
            #expect(question.text.contains("HALTED is not tradable"), "\(question.text)")
            #expect(question.text.contains("none is proposed"))
            #expect(Self.refusalCodes(question) == ["not_tradable"])
            // Answering it places nothing: it is only acknowledged.
            let answer = try await farm.pipeline.answers.answer(questionID: question.id, firebaseUID: Farm.uid, value: .number(10))
            #expect(answer.outcome == .acknowledged)
            #expect(try await farm.int("SELECT count(*)::int FROM trade_orders") == 0)
            // The cooldown holds: the next evaluation asks nothing again.
            let again = try await farm.pipeline.evaluation.evaluate(firebaseUID: Farm.uid, now: now.addingTimeInterval(1))
            #expect(again.asked.isEmpty && again.refused.isEmpty)
        }
    }

    @Test func aNonFractionableAssetRefusesADollarAmountButTakesWholeShares() async throws {
        try await Farm.run(worker: false) { farm in
            try await farm.seedUser(override: Self.override(symbol: "NOFRAC"))   // the template's $10 notional buy
            let now = try await Self.dip(farm, symbol: "NOFRAC")
            let refused = try await farm.pipeline.evaluation.evaluate(firebaseUID: Farm.uid, now: now)
            #expect(refused.refused.first?.refusals == [.notFractionable("NOFRAC")])
            let question = try #require(try await farm.openQuestions().first)
            #expect(question.text.contains("cannot be bought in fractions"))
            #expect(Self.refusalCodes(question) == ["not_fractionable"])
        }
        try await Farm.run(worker: false) { farm in
            try await farm.seedUser(override: Self.override(symbol: "NOFRAC", order: .object(["side": .string("buy"), "qty": .number(1), "notional_usd": .null])))
            let now = try await Self.dip(farm, symbol: "NOFRAC")
            let asked = try await farm.pipeline.evaluation.evaluate(firebaseUID: Farm.uid, now: now)
            #expect(asked.asked.count == 1 && asked.refused.isEmpty, "one whole share is an order the broker takes")
            let question = try #require(try await farm.openQuestions().first)
            #expect(question.pipelineStep == "dip_confirm:await_confirm")
            #expect(Self.preflight(question)["market_open"] == .bool(true))
        }
    }

    /// No buying power: explained by default; with `on_broker_refusal: "wait"` nothing is
    /// asked and the rule fires again once the broker would accept.
    @Test func withoutBuyingPowerTheRuleExplainsOrWaitsAsConfigured() async throws {
        try await Farm.run(worker: false) { farm in
            try await farm.seedUser(override: Self.override(symbol: "SPY", policy: "wait"))
            // Spend the paper account's cash but $5 (the rule buys $10).
            let account = try await farm.trading.account()
            let cash = try #require(account.cash.flatMap { Decimal(string: $0) })
            _ = try await farm.trading.submit(OrderSubmission(symbol: "SPY", side: "buy", notional: cash - 5, qty: nil,
                                                                       clientOrderID: "drain-\(UUID().uuidString.prefix(8))"))
            let now = try await Self.dip(farm, symbol: "SPY")
            let waited = try await farm.pipeline.evaluation.evaluate(firebaseUID: Farm.uid, now: now)
            #expect(waited.asked.isEmpty && waited.refused.isEmpty)
            #expect(waited.heldBack.first?.reason.contains("buying power") == true, "\(waited.heldBack)")
            #expect(try await farm.openQuestions().isEmpty)
            // Once it would go through, the rule (no cooldown started) asks.
            _ = try await farm.trading.submit(OrderSubmission(symbol: "SPY", side: "sell", notional: 100, qty: nil,
                                                                       clientOrderID: "refill-\(UUID().uuidString.prefix(8))"))
            let asked = try await farm.pipeline.evaluation.evaluate(firebaseUID: Farm.uid, now: now.addingTimeInterval(1))
            #expect(asked.asked.count == 1)
        }
        try await Farm.run(worker: false) { farm in
            try await farm.seedUser(override: Self.override(symbol: "SPY"))
            let account = try await farm.trading.account()
            let cash = try #require(account.cash.flatMap { Decimal(string: $0) })
            _ = try await farm.trading.submit(OrderSubmission(symbol: "SPY", side: "buy", notional: cash - 5, qty: nil,
                                                                       clientOrderID: "drain-\(UUID().uuidString.prefix(8))"))
            let now = try await Self.dip(farm, symbol: "SPY")
            let explained = try await farm.pipeline.evaluation.evaluate(firebaseUID: Farm.uid, now: now)
            #expect(explained.refused.count == 1)
            let question = try #require(try await farm.openQuestions().first)
            #expect(Self.refusalCodes(question) == ["insufficient_buying_power"])
            #expect(question.text.contains("does not cover $10.00"), "\(question.text)")
        }
    }

    /// Asked outside market hours: the question says when the order would go in.
    @Test func outsideMarketHoursTheQuestionSaysWhenTheOrderWouldGoIn() async throws {
        // 2011-03-16 18:00 ET (after the close); the next open is Thursday 17 March, 09:30 ET.
        let evening = try #require(MarketTime.date(year: 2011, month: 3, day: 16, hour: 18))
        try await Farm.run(start: evening, worker: false) { farm in
            try await farm.seedUser()
            let now = try await Self.dip(farm, symbol: "SPY")
            let result = try await farm.pipeline.evaluation.evaluate(firebaseUID: Farm.uid, now: now)
            #expect(result.asked.count == 1)
            let question = try #require(try await farm.openQuestions().first)
            #expect(question.pipelineStep == "dip_confirm:await_confirm")
            #expect(question.text.contains("The market is closed; the order would go in at the open, Thu 17 Mar 09:30 ET."), "\(question.text)")
            let preflight = Self.preflight(question)
            #expect(preflight["market_open"] == .bool(false))
            let nextOpen = try #require(MarketTime.date(year: 2011, month: 3, day: 17, hour: 9, minute: 30))
            #expect(preflight["executes_at"] == .string(nextOpen.formatted(.iso8601)))
        }
    }
}

/// Counts the trading calls the pre-flight makes (the real client underneath, to the simulator).
final class CountingTrading: TradingAPI, Sendable {
    let inner: any TradingAPI
    let counts = Mutex<[String: Int]>([:])

    init(_ inner: any TradingAPI) { self.inner = inner }

    func count(_ call: String) { counts.withLock { $0[call, default: 0] += 1 } }
    var snapshot: [String: Int] { counts.withLock { $0 } }

    func account() async throws -> AlpacaAccount { count("account"); return try await inner.account() }
    func clock() async throws -> AlpacaClock { count("clock"); return try await inner.clock() }
    func order(clientOrderID: String) async throws -> AlpacaOrder? { count("order"); return try await inner.order(clientOrderID: clientOrderID) }
    func submit(_ order: OrderSubmission) async throws -> AlpacaOrder { count("submit"); return try await inner.submit(order) }
    func orders(after: Date, limit: Int) async throws -> [AlpacaOrder] { count("orders"); return try await inner.orders(after: after, limit: limit) }
    func asset(symbol: String) async throws -> AlpacaAsset? { count("asset"); return try await inner.asset(symbol: symbol) }
    func activeAssets() async throws -> [AlpacaAsset] { count("assets"); return try await inner.activeAssets() }
    func position(symbol: String) async throws -> AlpacaPosition? { count("position"); return try await inner.position(symbol: symbol) }
    func positions() async throws -> [AlpacaPosition] { count("positions"); return try await inner.positions() }
}

extension PreflightTests {
    /// Twenty users' rules fire at once: with the process's cache the pre-flights share one
    /// call each for the asset list, the account and the clock.
    @Test func aBurstOfFiredRulesCostsAFewBrokerCalls() async throws {
        try await Farm.run(worker: false) { farm in
            let users = (0..<20).map { "burst-user-\($0)" }
            for uid in users { try await farm.seedUser(uid, override: Self.override(symbol: "SPY")) }
            let now = try await Self.dip(farm, symbol: "SPY")
            let counting = CountingTrading(farm.trading)
            var settings = Farm.settings
            settings.preflightCacheSeconds = 5
            let pipeline = try farm.pipeline(settings: settings, overrides: Overrides(trading: counting))
            let asked = try await withThrowingTaskGroup(of: Int.self) { group in
                for uid in users { group.addTask { try await pipeline.evaluation.evaluate(firebaseUID: uid, now: now).asked.count } }
                return try await group.reduce(0, +)
            }
            #expect(asked == 20)
            #expect(counting.snapshot == ["assets": 1, "account": 1, "clock": 1], "\(counting.snapshot)")
        }
    }
}
