import Foundation
import Testing
@testable import TradingCore

@Suite struct RuleEngineTests {
    let now = Fixture.utc("2011-03-16T17:39:00Z")

    func rows(price: Decimal?, priceAge: TimeInterval = 0, ref: Decimal? = 128.56, refAge: TimeInterval = 80_000) -> [SnapshotRow] {
        var rows = [SnapshotRow(symbol: "SPY", metric: .lastTrade, price: price, asOf: now.addingTimeInterval(-priceAge))]
        rows.append(SnapshotRow(symbol: "SPY", metric: .prevClose, price: ref, asOf: now.addingTimeInterval(-refAge)))
        return rows
    }

    @Test func firesAtOrBelowThreshold() {
        // 128.56 × 0.985 = 126.6316: 126.63 is below, 126.64 is not.
        #expect(RuleEngine.evaluate(rule: Fixture.rule(), snapshots: rows(price: 126.63), now: now).fired)
        #expect(!RuleEngine.evaluate(rule: Fixture.rule(), snapshots: rows(price: 126.64), now: now).fired)
        // Exactly on the trigger price fires ("at or below").
        #expect(RuleEngine.evaluate(rule: Fixture.rule(threshold: -1.5), snapshots: rows(price: 98.5, ref: 100), now: now).fired)
        #expect(!RuleEngine.evaluate(rule: Fixture.rule(threshold: -1.5), snapshots: rows(price: 98.51, ref: 100), now: now).fired)
    }

    @Test func aboveRuleIsTheMirror() {
        let rule = Fixture.rule(type: .priceAbovePctOfRef, threshold: 2)
        #expect(RuleEngine.evaluate(rule: rule, snapshots: rows(price: 102, ref: 100), now: now).fired)
        #expect(!RuleEngine.evaluate(rule: rule, snapshots: rows(price: 101.99, ref: 100), now: now).fired)
        #expect(!RuleEngine.evaluate(rule: rule, snapshots: rows(price: 90, ref: 100), now: now).fired)
    }

    @Test func explanationCarriesTheFigures() throws {
        let evaluation = RuleEngine.evaluate(rule: Fixture.rule(), snapshots: rows(price: 126.56, priceAge: 12, refAge: 77_940), now: now)
        #expect(evaluation.fired)
        #expect(evaluation.changePct == Decimal(string: "-1.5557"))
        #expect(evaluation.priceAgeSeconds == 12)
        #expect(evaluation.referenceAgeSeconds == 77_940)
        #expect(evaluation.explanation
            == "rule dip_confirm fired: SPY 126.56 vs ref 128.56 = -1.56% (threshold -1.5%); price age 12s, ref age 77940s")
        let values = try #require(evaluation.templateValues)
        #expect(QuestionTemplate.render("{{symbol}} down {{pct}}% to {{price}} from {{ref}}", values: values)
            == "SPY down 1.56% to 126.56 from 128.56")
    }

    @Test func stalePriceNeverFires() {
        let rule = Fixture.rule(staleness: 120)
        #expect(RuleEngine.evaluate(rule: rule, snapshots: rows(price: 100, priceAge: 120), now: now).fired)
        let stale = RuleEngine.evaluate(rule: rule, snapshots: rows(price: 100, priceAge: 121), now: now)
        #expect(stale.outcome == .stalePrice(ageSeconds: 121, maxSeconds: 120))
        #expect(stale.explanation.contains("price is stale (121s > 120s)"))
    }

    @Test func staleReferenceNeverFires() {
        let rule = Fixture.rule(refMaxAge: 86_400)
        let evaluation = RuleEngine.evaluate(rule: rule, snapshots: rows(price: 100, refAge: 86_401), now: now)
        #expect(evaluation.outcome == .staleReference(ageSeconds: 86_401, maxSeconds: 86_400))
    }

    @Test func newestRowWinsEvenIfAnOlderOneWouldFire() {
        var snapshots = rows(price: 130)
        snapshots.append(SnapshotRow(symbol: "SPY", metric: .lastTrade, price: 100, asOf: now.addingTimeInterval(-30)))
        #expect(!RuleEngine.evaluate(rule: Fixture.rule(), snapshots: snapshots, now: now).fired)
    }

    @Test func staleNewestRowIsNotReplacedByAnOlderOne() {
        // The newest row decides; an old firing row must not sneak in when the newest is stale.
        var snapshots = rows(price: 100, priceAge: 400)
        snapshots.append(SnapshotRow(symbol: "SPY", metric: .lastTrade, price: 100, asOf: now.addingTimeInterval(-500)))
        #expect(!RuleEngine.evaluate(rule: Fixture.rule(), snapshots: snapshots, now: now).fired)
    }

    @Test func rowsFromTheFutureAreIgnored() {
        var snapshots = rows(price: 130)
        snapshots.append(SnapshotRow(symbol: "SPY", metric: .lastTrade, price: 100, asOf: now.addingTimeInterval(3600)))
        let evaluation = RuleEngine.evaluate(rule: Fixture.rule(), snapshots: snapshots, now: now)
        #expect(!evaluation.fired)
        #expect(evaluation.price == 130)
    }

    @Test func otherSymbolsAndMetricsAreNotMixedIn() {
        let snapshots = [
            SnapshotRow(symbol: "QQQ", metric: .lastTrade, price: 1, asOf: now),
            SnapshotRow(symbol: "SPY", metric: .dailyBar, price: 1, asOf: now),
            SnapshotRow(symbol: "SPY", metric: .prevClose, price: 128.56, asOf: now.addingTimeInterval(-1000)),
        ]
        #expect(RuleEngine.evaluate(rule: Fixture.rule(), snapshots: snapshots, now: now).outcome == .missingPrice)
    }

    @Test func missingAndInvalidData() {
        #expect(RuleEngine.evaluate(rule: Fixture.rule(), snapshots: [], now: now).outcome == .missingPrice)
        #expect(RuleEngine.evaluate(rule: Fixture.rule(), snapshots: rows(price: nil), now: now).outcome == .missingPrice)
        let noRef = rows(price: 100).filter { $0.metric != .prevClose }
        #expect(RuleEngine.evaluate(rule: Fixture.rule(), snapshots: noRef, now: now).outcome == .missingReference)
        #expect(RuleEngine.evaluate(rule: Fixture.rule(), snapshots: rows(price: 100, ref: 0), now: now).outcome == .invalidReference)
        #expect(RuleEngine.evaluate(rule: Fixture.rule(), snapshots: rows(price: 100, ref: nil), now: now).outcome == .invalidReference)
    }

    @Test func disabledRuleDoesNotFire() {
        #expect(RuleEngine.evaluate(rule: Fixture.rule(enabled: false), snapshots: rows(price: 1), now: now).outcome == .ruleDisabled)
    }

    @Test func openQuestionAndCooldownHoldTheRuleBack() {
        let open = RuleCooldownState(openQuestionID: "q1")
        let held = RuleEngine.evaluate(rule: Fixture.rule(), snapshots: rows(price: 100), now: now, cooldown: open)
        #expect(held.outcome == .blockedByCooldown(.questionOpen(questionID: "q1")))
        let cooling = RuleCooldownState(cooldownUntil: now.addingTimeInterval(1))
        #expect(!RuleEngine.evaluate(rule: Fixture.rule(), snapshots: rows(price: 100), now: now, cooldown: cooling).fired)
        let over = RuleCooldownState(cooldownUntil: now)
        #expect(RuleEngine.evaluate(rule: Fixture.rule(), snapshots: rows(price: 100), now: now, cooldown: over).fired)
        // A threshold not crossed reports that, not the cooldown.
        #expect(RuleEngine.evaluate(rule: Fixture.rule(), snapshots: rows(price: 200), now: now, cooldown: open).outcome == .thresholdNotCrossed)
    }
}

@Suite struct CooldownTests {
    let t0 = Fixture.utc("2026-03-10T15:00:00Z")

    @Test func firedThenClosedThenCooledDown() {
        var state = Cooldown.fired(RuleCooldownState(), questionID: "q1", at: t0, cooldownSeconds: 600)
        #expect(Cooldown.block(state: state, now: t0.addingTimeInterval(10_000)) == .questionOpen(questionID: "q1"))
        state = Cooldown.questionClosed(state, questionID: "q1", at: t0.addingTimeInterval(100), cooldownSeconds: 600)
        #expect(state.openQuestionID == nil)
        #expect(Cooldown.block(state: state, now: t0.addingTimeInterval(699)) == .coolingDown(until: t0.addingTimeInterval(700)))
        #expect(Cooldown.block(state: state, now: t0.addingTimeInterval(700)) == nil)
    }

    @Test func closingAnotherQuestionChangesNothing() {
        let state = Cooldown.fired(RuleCooldownState(), questionID: "q1", at: t0, cooldownSeconds: 60)
        #expect(Cooldown.questionClosed(state, questionID: "q2", at: t0, cooldownSeconds: 60) == state)
    }

    @Test func contextRoundTripsThroughJSON() throws {
        var context = TradingContext()
        context[rule: "dip"] = Cooldown.fired(RuleCooldownState(), questionID: "q1", at: t0, cooldownSeconds: 60)
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        let text = String(decoding: try encoder.encode(context), as: UTF8.self)
        #expect(text.contains("\"open_question_id\":\"q1\""))
        #expect(try decoder.decode(TradingContext.self, from: Data(text.utf8)) == context)
        #expect(context[rule: "other"] == RuleCooldownState())
    }
}
