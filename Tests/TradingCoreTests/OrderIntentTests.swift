import Foundation
import Testing
@testable import TradingCore

/// The frozen intent and the gate every stage asks: pure, no IO.
@Suite struct OrderIntentTests {
    let now = Fixture.eastern(2011, 3, 16, 13, 40)

    func intent(_ rule: Rule = Fixture.rule(), price: Decimal? = Decimal(string: "126.56")) -> OrderIntent {
        let evaluation = RuleEvaluation(ruleID: rule.id, symbol: rule.symbol, outcome: .fired, price: price,
                                        reference: Decimal(string: "128.56"), changePct: Decimal(string: "-1.5557"),
                                        thresholdPct: rule.thresholdPct, priceAsOf: now.addingTimeInterval(-5), priceAgeSeconds: 5,
                                        referenceAgeSeconds: 80_000)
        return OrderIntent(rule: rule, evaluation: evaluation, proposal: OrderProposal(rule: rule, referencePrice: price, sellable: 0),
                           feed: "iex", now: now)
    }

    @Test func anIntentRoundTripsThroughItsJSON() throws {
        let original = intent()
        let decoded = try #require(OrderIntent(json: original.jsonValue))
        #expect(decoded == original)
        #expect(decoded.notionalUSD == 10 && decoded.qty == nil && decoded.side == .buy && decoded.symbol == "SPY")
        #expect(decoded.orderType == "market" && decoded.timeInForce == "day" && decoded.dataAgeSeconds == 5)
        // Survives the database's text form too.
        let reparsed = try JSONValue.parse(original.jsonValue.canonicalString())
        #expect(OrderIntent(json: reparsed) == original)
    }

    @Test(arguments: ["symbol", "side", "rule_id", "rule_digest", "judged_at", "order_type", "time_in_force", "notional_usd", "feed"])
    func anIntentMissingAnythingAnOrderNeedsProposesNothing(field: String) {
        guard case .object(var fields) = intent().jsonValue else {
            Issue.record("an object expected")
            return
        }
        fields[field] = nil
        #expect(OrderIntent(json: .object(fields)) == nil)
    }

    @Test func bothOrNeitherSizeOrANonPositiveSizeProposesNothing() {
        guard case .object(var fields) = intent().jsonValue else { return }
        fields["qty"] = .number(1)
        #expect(OrderIntent(json: .object(fields)) == nil, "notional and qty")
        fields["notional_usd"] = nil
        fields["qty"] = .number(0)
        #expect(OrderIntent(json: .object(fields)) == nil, "qty 0")
        fields["qty"] = .number(-1)
        #expect(OrderIntent(json: .object(fields)) == nil, "qty < 0")
        fields["side"] = .string("short")
        fields["qty"] = .number(1)
        #expect(OrderIntent(json: .object(fields)) == nil, "unknown side")
    }

    @Test func theSummarySaysExactlyWhatAnApprovalExecutes() {
        #expect(intent().summary == "Approving places a market order (day) to buy $10.00 of SPY, judged at $126.56 against $128.56.")
        var shares = Fixture.rule()
        shares.onAnswerMatch = OrderAction(action: "propose_order", side: .sell, notionalUSD: nil, qty: 2)
        #expect(intent(shares).summary == "Approving places a market order (day) to sell 2 shares of SPY, judged at $126.56 against $128.56.")
    }

    /// Any edit of the rule changes its digest; an identical rule keeps it.
    @Test func everyFieldOfTheRuleEntersItsDigest() {
        let base = Fixture.rule()
        #expect(base.digest == Fixture.rule().digest)
        var edits: [Rule] = []
        var r = base; r.onAnswerMatch.notionalUSD = 50; edits.append(r)
        r = base; r.onAnswerMatch.side = .sell; edits.append(r)
        r = base; r.symbol = "QQQ"; edits.append(r)
        r = base; r.thresholdPct = -2; edits.append(r)
        r = base; r.enabled = false; edits.append(r)
        r = base; r.questionTemplate = "other"; edits.append(r)
        r = base; r.cooldownSeconds = 60; edits.append(r)
        r = base; r.maxStalenessSeconds = 60; edits.append(r)
        r = base; r.priceMetric = .dailyBar; edits.append(r)
        let digests = Set(edits.map(\.digest) + [base.digest])
        #expect(digests.count == edits.count + 1)
    }

    // MARK: - The gate

    @Test func theGateLetsAnUnchangedIntentThrough() {
        #expect(OrderGate.switches(for: intent(), config: Fixture.config(), halt: .running, serverEnabled: true, requireUnchangedRule: true) == nil)
    }

    @Test func everySwitchStopsTheIntent() {
        let config = Fixture.config()
        let halted = TradingHalt(halted: true, reason: "incident", setBy: "ops")
        #expect(OrderGate.switches(for: intent(), config: config, halt: halted, serverEnabled: true, requireUnchangedRule: false)
                == .halted(reason: "incident", by: "ops"))
        #expect(OrderGate.switches(for: intent(), config: config, halt: .running, serverEnabled: false, requireUnchangedRule: false) == .serverOff)
        var off = config
        off.enabled = false
        #expect(OrderGate.switches(for: intent(), config: off, halt: .running, serverEnabled: true, requireUnchangedRule: false) == .userOff)
        var ruleOff = config
        ruleOff.rules[0].enabled = false
        #expect(OrderGate.switches(for: intent(), config: ruleOff, halt: .running, serverEnabled: true, requireUnchangedRule: false)
                == .ruleDisabled("dip_confirm"))
        var removed = config
        removed.rules = []
        #expect(OrderGate.switches(for: intent(), config: removed, halt: .running, serverEnabled: true, requireUnchangedRule: false)
                == .ruleRemoved("dip_confirm"))
        // The halt wins over everything else: it is what an operator needs to see.
        #expect(OrderGate.switches(for: intent(), config: removed, halt: halted, serverEnabled: false, requireUnchangedRule: true)?.code == "halted")
    }

    @Test func aChangedRuleStopsAnApprovalButNotAnApprovedOrder() {
        var changed = Fixture.config()
        changed.rules[0].onAnswerMatch.notionalUSD = 50
        #expect(OrderGate.switches(for: intent(), config: changed, halt: .running, serverEnabled: true, requireUnchangedRule: true)
                == .ruleChanged("dip_confirm"))
        #expect(OrderGate.switches(for: intent(), config: changed, halt: .running, serverEnabled: true, requireUnchangedRule: false) == nil)
    }

    @Test func anApprovalTooOldOrAPriceThatDriftedIsNotSent() {
        let decided = now
        func check(age: Double, approved: Decimal? = 100, latest: Decimal?) -> IntentStop? {
            OrderGate.freshness(decidedAt: decided, approvedPrice: approved, latestPrice: latest, now: decided.addingTimeInterval(age),
                                maxAgeSeconds: 120, maxDriftPct: 1)
        }
        #expect(check(age: 120, latest: 100) == nil, "exactly the maximum age still goes")
        #expect(check(age: 121, latest: 100) == .approvalTooOld(ageSeconds: 121, maxSeconds: 120))
        #expect(check(age: 5, latest: 101) == nil, "exactly 1% still goes")
        #expect(check(age: 5, latest: Decimal(string: "101.01"))?.code == "price_drifted")
        #expect(check(age: 5, latest: Decimal(string: "98.99"))?.code == "price_drifted", "down as well as up")
        #expect(check(age: 5, latest: nil) == nil, "no newer price: nothing drifted")
        #expect(check(age: 5, approved: nil, latest: 200) == nil, "no approved price to drift from")
        #expect(check(age: 5, latest: .nan)?.code == "price_drifted", "an incomputable drift fails closed")
        #expect(IntentStop.approvalTooOld(ageSeconds: 1, maxSeconds: 0).orderStatus == "expired")
        #expect(IntentStop.userOff.orderStatus == "canceled")
    }

    // MARK: - Arithmetic that fails closed

    @Test func aNotionalThatCannotBeComputedRefuses() {
        let config = Fixture.config()
        let nan = OrderProposal(symbol: "SPY", side: .buy, notionalUSD: .nan, qty: nil, referencePrice: nil)
        let decision = GuardrailPolicy.check(proposal: nan, config: config, gate: Fixture.paperGate, priorOrders: [], portfolio: .empty,
                                             questionApproved: true, now: now)
        #expect(decision.refusals.map(\.guardrail).contains(.unboundedNotional))
        let qtyAtNaN = OrderProposal(symbol: "SPY", side: .buy, notionalUSD: nil, qty: 1, referencePrice: .nan)
        #expect(!GuardrailPolicy.check(proposal: qtyAtNaN, config: config, gate: Fixture.paperGate, priorOrders: [], portfolio: .empty,
                                       questionApproved: true, now: now).allowed)
        let poisoned = [PlacedOrder(createdAt: now.addingTimeInterval(-60), notionalUSD: .nan)]
        let refused = GuardrailPolicy.check(proposal: Fixture.buy(10), config: config, gate: Fixture.paperGate, priorOrders: poisoned, portfolio: .empty,
                                            questionApproved: true, now: now)
        #expect(refused.refusals.map(\.guardrail).contains(.maxNotionalPer4h))
    }

    /// The hard cap applies to a qty order at the price it is priced at.
    @Test func theHardCapAppliesToAQtyOrderAtItsPrice() {
        let proposal = OrderProposal(symbol: "SPY", side: .buy, notionalUSD: nil, qty: 2, referencePrice: 124)
        let config = Fixture.config(per4h: 1000)
        #expect(GuardrailPolicy.check(proposal: proposal, config: config, gate: Fixture.paperGate, priorOrders: [], portfolio: .empty,
                                      questionApproved: true, now: now).allowed)
        var dearer = proposal
        dearer.referencePrice = 126
        #expect(GuardrailPolicy.check(proposal: dearer, config: config, gate: Fixture.paperGate, priorOrders: [], portfolio: .empty,
                                      questionApproved: true, now: now).refusals.map(\.guardrail) == [.hardNotionalCap])
    }
}
