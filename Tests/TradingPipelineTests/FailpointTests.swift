import SeededRandom
import Testing
import TradingPipeline

/// `HYBRIDHUB_FAILPOINTS` parsing and the probabilistic `exit@p` the chaos runner uses.
@Suite struct FailpointTests {
    @Test func parsesActionsAndProbabilities() {
        let points = Failpoints(environment: ["HYBRIDHUB_FAILPOINTS":
            "submit-order.after-post=exit@0.2, submit-order.before-post=hang,a=exit@1.5,b=crash,c=exit@x,d=exit@0"])
        #expect(points.trigger("submit-order.after-post") == .init(.exit, probability: 0.2))
        #expect(points.trigger("submit-order.before-post") == .init(.hang, probability: 1))
        #expect(points.trigger("d") == .init(.exit, probability: 0))
        // Out of range, unknown action, not a number: ignored rather than guessed.
        #expect(points.trigger("a") == nil && points.trigger("b") == nil && points.trigger("c") == nil)
        #expect(Failpoints(environment: [:]).trigger("submit-order.after-post") == nil)
    }

    @Test func aProbabilityFiresAboutThatOften() {
        let points = Failpoints(triggers: ["p": .init(.exit, probability: 0.2), "never": .init(.exit, probability: 0),
                                           "always": .init(.hang)])
        var generator = SplitMix64(seed: 42)
        let hits = (0..<10_000).filter { _ in points.fires("p", using: &generator) == .exit }.count
        #expect((1_800...2_200).contains(hits), "\(hits) of 10,000 at p = 0.2")
        #expect((0..<1_000).allSatisfy { _ in points.fires("never", using: &generator) == nil })
        #expect((0..<1_000).allSatisfy { _ in points.fires("always", using: &generator) == .hang })
        #expect(points.fires("unnamed", using: &generator) == nil)
    }
}
