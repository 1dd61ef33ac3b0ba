import Foundation
import Testing
@testable import TradingCore

/// The broker's acceptance rules, checked before a question is asked.
struct BrokerPreflightTests {
    static let spy = BrokerFacts.Asset(symbol: "SPY", active: true, tradable: true, fractionable: true)
    static let whole = BrokerFacts.Asset(symbol: "BRK", active: true, tradable: true, fractionable: false)
    static let nextOpen = Fixture.eastern(2011, 3, 17, 9, 30)

    static func facts(_ asset: BrokerFacts.Asset? = spy, power: Decimal = 1_000, held: Decimal = 0, open: Bool = true) -> BrokerFacts {
        BrokerFacts(asset: asset, buyingPower: power, positionQty: held, marketOpen: open, nextOpen: nextOpen)
    }

    static func buy(_ symbol: String = "SPY", notional: Decimal? = 10, qty: Decimal? = nil, price: Decimal? = 100) -> OrderProposal {
        OrderProposal(symbol: symbol, side: .buy, notionalUSD: notional, qty: qty, referencePrice: price)
    }

    static func sell(notional: Decimal? = nil, qty: Decimal? = nil, price: Decimal? = 100) -> OrderProposal {
        OrderProposal(symbol: "SPY", side: .sell, notionalUSD: notional, qty: qty, referencePrice: price)
    }

    @Test func anOrderTheBrokerTakesPasses() {
        let result = BrokerPreflight.check(Self.buy(), facts: Self.facts())
        #expect(result.allowed && result.marketOpen && result.executesAt == nil && result.closedMarketNote == nil)
    }

    @Test(arguments: [
        (BrokerFacts.Asset?.none, PreflightRefusal.unknownAsset("SPY")),
        (BrokerFacts.Asset(symbol: "SPY", active: true, tradable: false, fractionable: true), .notTradable("SPY")),
        (BrokerFacts.Asset(symbol: "SPY", active: false, tradable: true, fractionable: true), .notTradable("SPY")),
        (BrokerFacts.Asset(symbol: "SPY", active: true, tradable: true, fractionable: false), .notFractionable("SPY")),
    ])
    func theAssetMustBeKnownActiveTradableAndFractionableForDollars(asset: BrokerFacts.Asset?, refusal: PreflightRefusal) {
        #expect(BrokerPreflight.check(Self.buy(), facts: Self.facts(asset)).refusals == [refusal])
    }

    @Test func wholeSharesNeedNoFractions() {
        #expect(BrokerPreflight.check(Self.buy("BRK", notional: nil, qty: 2), facts: Self.facts(Self.whole)).allowed)
        #expect(BrokerPreflight.check(Self.buy("BRK", notional: nil, qty: 1.5), facts: Self.facts(Self.whole)).refusals
                    == [.notFractionable("BRK")])
    }

    @Test func theShapeIsOneAlpacaAccepts() {
        let both = BrokerPreflight.check(Self.buy(notional: 10, qty: 1), facts: Self.facts())
        #expect(both.refusals.map(\.code) == ["invalid_order_shape"])
        let neither = BrokerPreflight.check(Self.buy(notional: nil, qty: nil), facts: Self.facts())
        #expect(neither.refusals.map(\.code) == ["invalid_order_shape"])
        let tiny = BrokerPreflight.check(Self.buy(notional: 0.5), facts: Self.facts())
        #expect(tiny.refusals == [.invalidShape("a notional order needs at least $1.00")])
        #expect(BrokerPreflight.check(Self.buy(notional: 1), facts: Self.facts()).allowed, "$1 is the minimum, inclusive")
        #expect(BrokerPreflight.check(Self.buy(notional: nil, qty: 0), facts: Self.facts()).refusals.map(\.code) == ["invalid_order_shape"])
    }

    @Test func aBuyNeedsBuyingPowerForItsNotionalOrQtyTimesPrice() {
        #expect(BrokerPreflight.check(Self.buy(notional: 10), facts: Self.facts(power: 10)).allowed, "exactly enough")
        #expect(BrokerPreflight.check(Self.buy(notional: 10), facts: Self.facts(power: 9.99)).refusals
                    == [.insufficientBuyingPower(needed: 10, available: 9.99)])
        #expect(BrokerPreflight.check(Self.buy(notional: nil, qty: 3, price: 100), facts: Self.facts(power: 299)).refusals
                    == [.insufficientBuyingPower(needed: 300, available: 299)])
        #expect(BrokerPreflight.check(Self.buy(notional: nil, qty: 3, price: nil), facts: Self.facts(power: 0)).allowed,
                "an unknowable notional is left to the broker (the guardrails refuse it first)")
    }

    @Test func aSellNeedsTheShares() {
        #expect(BrokerPreflight.check(Self.sell(qty: 2), facts: Self.facts(held: 2)).allowed)
        #expect(BrokerPreflight.check(Self.sell(qty: 2), facts: Self.facts(held: 1)).refusals == [.insufficientPosition(needed: 2, held: 1)])
        #expect(BrokerPreflight.check(Self.sell(notional: 50, price: 100), facts: Self.facts(held: 0.5)).allowed, "$50 at $100 is half a share")
        #expect(BrokerPreflight.check(Self.sell(notional: 51, price: 100), facts: Self.facts(held: 0.5)).refusals.map(\.code)
                    == ["insufficient_position"])
        #expect(BrokerPreflight.check(Self.sell(notional: 50, price: nil), facts: Self.facts(held: 0)).refusals.map(\.code)
                    == ["insufficient_position"], "nothing held, nothing to sell")
        #expect(BrokerPreflight.check(Self.sell(qty: 1), facts: Self.facts(power: 0, held: 1)).allowed, "a sell needs no buying power")
    }

    @Test func everyRefusalIsReportedTogether() {
        let result = BrokerPreflight.check(Self.buy(notional: 0.5), facts: Self.facts(
            BrokerFacts.Asset(symbol: "SPY", active: true, tradable: false, fractionable: false), power: 0))
        #expect(result.refusals.map(\.code) == ["not_tradable", "not_fractionable", "invalid_order_shape", "insufficient_buying_power"])
    }

    @Test func aClosedMarketQueuesTheOrderForTheNextOpen() {
        let result = BrokerPreflight.check(Self.buy(), facts: Self.facts(open: false))
        #expect(result.allowed && !result.marketOpen && result.executesAt == Self.nextOpen)
        #expect(result.closedMarketNote == "The market is closed; the order would go in at the open, Thu 17 Mar 09:30 ET.")
        var unknown = Self.facts(open: false)
        unknown.nextOpen = nil
        #expect(BrokerPreflight.check(Self.buy(), facts: unknown).closedMarketNote
                    == "The market is closed; the order would go in when it next opens.")
    }

    @Test func easternTimesReadAsInNewYorkAcrossDaylightSaving() {
        // 2011-03-13 was the spring-forward Sunday: 09:30 EST before, 09:30 EDT after.
        #expect(MarketTime.describe(Fixture.eastern(2011, 3, 11, 9, 30)) == "Fri 11 Mar 09:30 ET")
        #expect(MarketTime.describe(Fixture.eastern(2011, 3, 14, 9, 30)) == "Mon 14 Mar 09:30 ET")
        #expect(MarketTime.describe(Fixture.utc("2011-03-14T13:30:00Z")) == "Mon 14 Mar 09:30 ET")
        #expect(MarketTime.describe(Fixture.utc("2011-03-11T14:30:00Z")) == "Fri 11 Mar 09:30 ET")
    }

    @Test func theExplanationNamesTheOrderAndEveryReason() {
        let result = BrokerPreflight.check(Self.buy(notional: 10), facts: Self.facts(power: 5))
        #expect(result.refusalText(explanation: "SPY last_trade 98.00 is -2.00% vs prev_close 100.00", proposal: Self.buy(notional: 10))
                    == "SPY last_trade 98.00 is -2.00% vs prev_close 100.00. The rule would buy $10.00 of SPY, but the broker would refuse "
                    + "the order (buying power $5.00 does not cover $10.00), so none is proposed. Swipe either way to dismiss.")
    }
}

/// `guardrails.on_broker_refusal`: explain (the default) or wait.
struct BrokerRefusalPolicyTests {
    static func decode(_ guardrails: JSONValue?) throws -> Guardrails {
        var document: [String: JSONValue] = [
            "data_inputs": .array([.object(["id": .string("w"), "symbols": .array([.string("SPY")])])]),
            "rules": .array([]),
        ]
        if let guardrails { document["guardrails"] = guardrails }
        return try TradingConfigDecoder.decode(.object(document)).get().guardrails
    }

    @Test func explainIsTheDefaultAndWaitCanBeChosen() throws {
        #expect(try Self.decode(nil).onBrokerRefusal == .explain)
        #expect(try Self.decode(.object([:])).onBrokerRefusal == .explain)
        #expect(try Self.decode(.object(["on_broker_refusal": .string("wait")])).onBrokerRefusal == .wait)
        #expect(try Self.decode(.object(["on_broker_refusal": .string("wait")])).jsonValue["on_broker_refusal"] == .string("wait"))
    }
}
