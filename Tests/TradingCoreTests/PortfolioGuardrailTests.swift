import Foundation
import Testing
@testable import TradingCore

/// Sells only of what the user's own book holds; the portfolio caps; exit rules; their
/// validation. Pure.
@Suite struct PortfolioGuardrailTests {
    let now = Fixture.eastern(2026, 3, 10, 11, 0)

    func holding(_ qty: Decimal, cost: Decimal? = nil, _ symbol: String = "SPY", open: [OpenOrderExposure] = [],
                 dayPnL: Decimal? = 0) -> PortfolioState {
        PortfolioState(positions: [symbol: BookPosition(symbol: symbol, qty: qty, costBasis: cost ?? qty * 100, realizedPnL: 0,
                                                        openedAt: now, highestFillPrice: 100)],
                       openOrders: open, dayPnL: dayPnL)
    }

    func sell(qty: Decimal? = nil, notional: Decimal? = nil, price: Decimal = 100) -> OrderProposal {
        OrderProposal(symbol: "SPY", side: .sell, notionalUSD: notional, qty: qty, referencePrice: price)
    }

    func check(_ proposal: OrderProposal, _ portfolio: PortfolioState, config: TradingConfig = Fixture.config(),
               prior: [PlacedOrder] = []) -> [GuardrailKind] {
        GuardrailPolicy.check(proposal: proposal, config: config, gate: Fixture.paperGate, priorOrders: prior, portfolio: portfolio,
                              questionApproved: true, now: now).refusals.map(\.guardrail)
    }

    func rails(position: Decimal? = nil, exposure: Decimal? = nil, dailyLoss: Decimal? = nil) -> TradingConfig {
        var config = Fixture.config(per4h: 10_000)
        config.guardrails.maxPositionUSD = position
        config.guardrails.maxExposureUSD = exposure
        config.guardrails.dailyLossLimitUSD = dailyLoss
        return config
    }

    @Test func aSellNeedsTheSharesInTheUsersOwnBook() {
        // Another user's shares on the shared account are not in this book: nothing to sell.
        #expect(check(sell(qty: 1), .empty) == [.sellBeyondPosition])
        #expect(check(sell(qty: 1), holding(1)) == [])
        #expect(check(sell(qty: Decimal(string: "1.000000001")!), holding(1)) == [.sellBeyondPosition])
        // A notional sell is shares at the question's price.
        #expect(check(sell(notional: 100), holding(1)) == [])
        #expect(check(sell(notional: Decimal(string: "100.01")!), holding(1)) == [.sellBeyondPosition])
        // An open sell reserves its unfilled shares: a second sell cannot sell them again.
        let pending = [OpenOrderExposure(symbol: "SPY", side: .sell, remainingQty: Decimal(string: "0.6")!, remainingNotional: 60)]
        #expect(check(sell(qty: Decimal(string: "0.4")!), holding(1, open: pending)) == [])
        #expect(check(sell(qty: Decimal(string: "0.41")!), holding(1, open: pending)) == [.sellBeyondPosition])
        // An open sell whose size cannot be valued reserves everything (fails closed).
        let unknown = [OpenOrderExposure(symbol: "SPY", side: .sell, remainingQty: .nan, remainingNotional: .nan)]
        #expect(check(sell(qty: Decimal(string: "0.1")!), holding(1, open: unknown)) == [.sellBeyondPosition])
        let reason = GuardrailPolicy.check(proposal: sell(qty: 2), config: Fixture.config(), gate: Fixture.paperGate, priorOrders: [],
                                           portfolio: holding(1, open: pending), questionApproved: true, now: now).refusals.first?.description
        #expect(reason == "position: selling 2 SPY needs them in your own book; you hold 1 (0.6 of them already being sold)")
    }

    @Test func sellsCountAgainstNeitherBuyCap() {
        let threeBuys = (1...3).map { PlacedOrder(createdAt: now.addingTimeInterval(Double(-$0 * 60)), notionalUSD: 30) }
        let config = Fixture.config(perDay: 3, per4h: 100)
        #expect(check(Fixture.buy(5), .empty, config: config, prior: threeBuys) == [.maxOrdersPerDay])
        #expect(check(sell(qty: 1), holding(1), config: config, prior: threeBuys) == [], "an exit is never stopped by the buy caps")
        // Sells already made today do not use up the buys either.
        let sells = (1...3).map { PlacedOrder(createdAt: now.addingTimeInterval(Double(-$0 * 60)), notionalUSD: 90, side: .sell) }
        #expect(check(Fixture.buy(10), .empty, config: config, prior: sells) == [])
    }

    @Test func maxPositionAtItsEdge() {
        let config = rails(position: 100)
        #expect(check(Fixture.buy(10), holding(Decimal(string: "0.9")!), config: config) == [], "90 held + 10 = 100: at the cap")
        #expect(check(Fixture.buy(Decimal(string: "10.01")!), holding(Decimal(string: "0.9")!), config: config) == [.maxPositionUSD])
        // Open buys count toward it; other symbols do not.
        let openBuy = [OpenOrderExposure(symbol: "SPY", side: .buy, remainingQty: 0, remainingNotional: 5)]
        #expect(check(Fixture.buy(6), holding(Decimal(string: "0.9")!, open: openBuy), config: config) == [.maxPositionUSD])
        #expect(check(Fixture.buy(10, "AAPL"), holding(Decimal(string: "0.9")!), config: config) == [])
        // Sells are never held to it.
        #expect(check(sell(qty: Decimal(string: "0.5")!), holding(2), config: config) == [])
    }

    @Test func maxExposureAtItsEdge() {
        let config = rails(exposure: 150)
        var book = holding(1)
        book.positions["AAPL"] = BookPosition(symbol: "AAPL", qty: 1, costBasis: 40, realizedPnL: 0, openedAt: now, highestFillPrice: 40)
        #expect(check(Fixture.buy(10, "AAPL"), book, config: config) == [], "100 + 40 + 10 = 150")
        #expect(check(Fixture.buy(Decimal(string: "10.01")!, "AAPL"), book, config: config) == [.maxExposureUSD])
        book.openOrders = [OpenOrderExposure(symbol: "AAPL", side: .buy, remainingQty: 0, remainingNotional: 1)]
        #expect(check(Fixture.buy(10, "AAPL"), book, config: config) == [.maxExposureUSD])
    }

    @Test func theDailyLossLimitStopsBuysNotExits() {
        let config = rails(dailyLoss: 50)
        #expect(check(Fixture.buy(10), holding(1, dayPnL: Decimal(string: "-49.99")!), config: config) == [])
        #expect(check(Fixture.buy(10), holding(1, dayPnL: -50), config: config) == [.dailyLossLimit])
        #expect(check(sell(qty: 1), holding(1, dayPnL: -500), config: config) == [], "exits still go")
        // An unknown P&L fails closed for buys.
        #expect(check(Fixture.buy(10), holding(1, dayPnL: nil), config: config) == [.dailyLossLimit])
        #expect(check(Fixture.buy(10), holding(1, dayPnL: nil), config: Fixture.config()) == [], "no limit set: nothing to judge")
    }

    @Test func theBooksMustAddUpToTheAccount() {
        let books: [String: Decimal] = ["SPY": Decimal(string: "0.158")!, "QQQ": 0, "AAPL": 2]
        let account: [String: Decimal] = ["SPY": Decimal(string: "0.158")!, "AAPL": 3, "TSLA": 5]
        let drift = OrderReconciliation.positionDrift(books: books, account: account, settling: [])
        // AAPL differs; QQQ (flat everywhere) agrees; TSLA was never in a book: not the farm's.
        #expect(drift.map(\.detail) == ["AAPL: the users' books hold 2 in sum; the account holds 3"])
        #expect(OrderReconciliation.positionDrift(books: books, account: account, settling: ["AAPL"]).isEmpty, "settling: judged next run")
        let short = OrderReconciliation.positionDrift(books: ["SPY": 1], account: ["SPY": 1], settling: [], short: [("u1", "SPY", -1)])
        #expect(short.map(\.detail) == ["SPY: user u1's book is short -1"])
    }

    // MARK: exit rules

    func exitRule(_ type: RuleType, _ threshold: Decimal) -> Rule {
        var rule = Fixture.rule(type: type, threshold: threshold)
        rule.onAnswerMatch = OrderAction(action: "propose_order", side: .sell, notionalUSD: nil, qty: nil, positionPct: 100)
        return rule
    }

    func rows(price: Decimal, age: TimeInterval = 5) -> [SnapshotRow] {
        [SnapshotRow(symbol: "SPY", metric: .lastTrade, price: price, asOf: now.addingTimeInterval(-age))]
    }

    @Test func takeProfitAndStopLossMeasureFromTheAverageCost() {
        let held = HeldPosition(qty: 2, averageCost: 100, highWater: 130)
        let gain = exitRule(.positionGainPct, 5)
        #expect(RuleEngine.evaluate(rule: gain, snapshots: rows(price: 105), now: now, position: held).fired)
        #expect(!RuleEngine.evaluate(rule: gain, snapshots: rows(price: Decimal(string: "104.99")!), now: now, position: held).fired)
        let loss = exitRule(.positionLossPct, -3)
        let fired = RuleEngine.evaluate(rule: loss, snapshots: rows(price: 97), now: now, position: held)
        #expect(fired.fired && fired.reference == 100 && fired.changePct == -3)
        #expect(!RuleEngine.evaluate(rule: loss, snapshots: rows(price: Decimal(string: "97.01")!), now: now, position: held).fired)
        // A stale price never fires an exit.
        #expect(RuleEngine.evaluate(rule: loss, snapshots: rows(price: 90, age: 301), now: now, position: held).outcome
                == .stalePrice(ageSeconds: 301, maxSeconds: 300))
    }

    @Test func theTrailingStopMeasuresFromTheHighSinceOpening() {
        let trailing = exitRule(.trailingStopPct, -2)
        let held = HeldPosition(qty: 1, averageCost: 100, highWater: 120)
        let fired = RuleEngine.evaluate(rule: trailing, snapshots: rows(price: Decimal(string: "117.6")!), now: now, position: held)
        #expect(fired.fired && fired.reference == 120)
        #expect(!RuleEngine.evaluate(rule: trailing, snapshots: rows(price: Decimal(string: "117.61")!), now: now, position: held).fired)
        // The price now above the stored high is the new high: no fire.
        #expect(RuleEngine.evaluate(rule: trailing, snapshots: rows(price: 125), now: now, position: held).reference == 125)
    }

    @Test(arguments: [RuleType.positionGainPct, .positionLossPct, .trailingStopPct])
    func anExitNeverFiresWithoutAPosition(type: RuleType) {
        let rule = exitRule(type, type == .positionGainPct ? 1 : -1)
        for position in [nil, HeldPosition(qty: 0, averageCost: 100, highWater: 100)] {
            #expect(RuleEngine.evaluate(rule: rule, snapshots: rows(price: 50), now: now, position: position).outcome == .noPosition)
            #expect(RuleEngine.evaluate(rule: rule, snapshots: rows(price: 500), now: now, position: position).outcome == .noPosition)
        }
    }

    // MARK: validation

    static let base = """
        {"data_inputs": [{"id": "w", "symbols": ["SPY"]}], "rules": [RULE], "guardrails": GUARDRAILS}
        """

    func issues(rule: String = #"{"id": "tp", "type": "position_gain_pct", "symbol": "SPY", "threshold_pct": 5, "question_template": "{{symbol}} up", "on_answer_match": {"action": "propose_order", "side": "sell", "position_pct": 100}}"#,
                guardrails: String = "{}") -> [String] {
        let text = Self.base.replacingOccurrences(of: "RULE", with: rule).replacingOccurrences(of: "GUARDRAILS", with: guardrails)
        switch TradingConfigDecoder.decode(Data(text.utf8)) {
        case .success: return []
        case .failure(let error): return error.issues.map { "\($0.path): \($0.message)" }
        }
    }

    @Test func exitRulesAndPortfolioCapsValidateWithTheirPaths() throws {
        #expect(issues() == [])
        #expect(issues(rule: #"{"id": "tp", "type": "position_gain_pct", "symbol": "SPY", "threshold_pct": -5, "question_template": "x", "on_answer_match": {"action": "propose_order", "side": "sell", "qty": 1}}"#)
                == ["rules[0].threshold_pct: must be positive (at most 1000) for position_gain_pct, got -5"])
        #expect(issues(rule: #"{"id": "sl", "type": "position_loss_pct", "symbol": "SPY", "threshold_pct": 3, "question_template": "x", "on_answer_match": {"action": "propose_order", "side": "sell", "qty": 1}}"#)
                == ["rules[0].threshold_pct: must be negative (and above -100) for position_loss_pct, got 3"])
        #expect(issues(rule: #"{"id": "ts", "type": "trailing_stop_pct", "symbol": "SPY", "threshold_pct": -2, "question_template": "x", "on_answer_match": {"action": "propose_order", "side": "buy", "notional_usd": 10}}"#)
                == ["rules[0].on_answer_match.side: trailing_stop_pct is an exit: it must sell, got 'buy'"])
        #expect(issues(rule: #"{"id": "ts", "type": "trailing_stop_pct", "symbol": "SPY", "ref_metric": "prev_close", "threshold_pct": -2, "question_template": "x", "on_answer_match": {"action": "propose_order", "side": "sell", "qty": 1}}"#)
                == ["rules[0].ref_metric: trailing_stop_pct measures from your position (its average cost or its high since it opened), not from a reference; remove ref_metric"])
        #expect(issues(rule: #"{"id": "d", "type": "price_below_pct_of_ref", "symbol": "SPY", "threshold_pct": -2, "question_template": "x", "on_answer_match": {"action": "propose_order", "side": "buy", "position_pct": 50}}"#)
                == ["rules[0].on_answer_match.position_pct: sizes a sell by the position held; a buy is sized by notional_usd or qty"])
        #expect(issues(rule: #"{"id": "d", "type": "price_above_pct_of_ref", "symbol": "SPY", "threshold_pct": 2, "question_template": "x", "on_answer_match": {"action": "propose_order", "side": "sell", "position_pct": 100.5}}"#)
                == ["rules[0].on_answer_match.position_pct: must be at most 100 (all you hold), got 100.5"])
        #expect(issues(guardrails: #"{"max_position_usd": 0, "max_exposure_usd": -1, "daily_loss_limit_usd": "10"}"#) == [
            "guardrails.max_position_usd: must be greater than 0, got 0 (leave it out for no limit)",
            "guardrails.max_exposure_usd: must be greater than 0, got -1 (leave it out for no limit)",
            "guardrails.daily_loss_limit_usd: expected a number, got a string",
        ])
    }

    @Test func aDocumentWithExitsAndCapsRoundTrips() throws {
        let text = Self.base
            .replacingOccurrences(of: "RULE", with: #"{"id": "tp", "type": "trailing_stop_pct", "symbol": "SPY", "threshold_pct": -2.5, "question_template": "{{symbol}} fell from its high", "on_answer_match": {"action": "propose_order", "side": "sell", "position_pct": 50}}"#)
            .replacingOccurrences(of: "GUARDRAILS", with: #"{"max_position_usd": 500, "max_exposure_usd": 1000, "daily_loss_limit_usd": 25}"#)
        let config = try TradingConfigDecoder.decode(Data(text.utf8)).get()
        #expect(config.guardrails.maxPositionUSD == 500 && config.guardrails.dailyLossLimitUSD == 25)
        #expect(config.rules.first?.onAnswerMatch.positionPct == 50 && config.rules.first?.type.isExit == true)
        #expect(try TradingConfigDecoder.decode(config.jsonValue).get() == config)
        #expect(config.jsonValue["rules"].flatMap { if case .array(let items) = $0 { items.first } else { nil } }?["ref_metric"] == nil)
    }
}
