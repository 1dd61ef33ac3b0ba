import AlpacaClient
import AlpacaModels
import Foundation
import HybridStore
import HybridTestSupport
import PostgresNIO
import Testing
import TradingCore
import TradingPipeline

/// Exit rules on real replayed prices (the committed SPY minutes of March 2011, through the
/// simulator and the real market-data client): a position is bought on the §17 dip
/// (2011-03-16 13:39 ET, about 126.56), then the replay is walked minute by minute, ingesting
/// what the simulator reports and evaluating; the exit asks exactly at the first minute its
/// condition holds, never before, and never for a user without the position.
@Suite(.serialized) struct ExitRuleReplayTests {
    static let holder = "exit-holder"
    static let bystander = "exit-bystander"

    static func override(exit: [String: JSONValue]) -> JSONValue {
        var rule: [String: JSONValue] = [
            "id": .string("exit"), "symbol": .string("SPY"), "max_staleness_seconds": .number(3600),
            "question_template": .string("{{symbol}} at {{price}} is {{change_pct}}% from {{ref}}: sell?"),
            "on_answer_match": .object(["action": .string("propose_order"), "side": .string("sell"), "position_pct": .number(100)]),
        ]
        rule.merge(exit) { $1 }
        return .object([
            "data_inputs": .array([.object(["id": .string("primary_watchlist"), "symbols": .array([.string("SPY")]),
                                             "poll_interval_seconds": .number(1)])]),
            // The dip buys once (a long cooldown keeps it from buying again during the walk).
            "rules": .array([.object(["id": .string("dip_confirm"), "max_staleness_seconds": .number(120),
                                      "cooldown_seconds": .number(1_000_000)]), .object(rule)]),
        ])
    }

    /// Take-profit +1 %: SPY gapped up before the open on 2011-03-17 (127.90 at 05:08 ET).
    @Test func takeProfitFiresAtTheFirstMinuteAboveTheEntry() async throws {
        try await walk(exit: ["type": .string("position_gain_pct"), "threshold_pct": .number(1)],
                       from: "2011-03-17T08:40:00Z", to: "2011-03-17T09:40:00Z") { price, average, _ in
            price >= average * Decimal(string: "1.01")!
        }
    }

    /// Stop-loss −0.75 %: after the dip the slide went on (125.35 at 14:20 ET on 2011-03-16).
    @Test func stopLossFiresAtTheFirstMinuteBelowTheEntry() async throws {
        try await walk(exit: ["type": .string("position_loss_pct"), "threshold_pct": .number(Decimal(string: "-0.75")!)],
                       from: "2011-03-16T17:41:00Z", to: "2011-03-16T18:40:00Z") { price, average, _ in
            price <= average * Decimal(string: "0.9925")!
        }
    }

    /// Trailing stop −0.5 %: 2011-03-17 rose to 128.38 (10:27 ET) and gave back half a percent
    /// from that high (127.71 at 11:51 ET).
    @Test func trailingStopFiresHalfAPercentUnderTheHighSinceOpening() async throws {
        try await walk(exit: ["type": .string("trailing_stop_pct"), "threshold_pct": .number(Decimal(string: "-0.5")!)],
                       from: "2011-03-17T13:30:00Z", to: "2011-03-17T16:10:00Z") { price, _, high in
            price <= high * Decimal(string: "0.995")!
        }
    }

    /// Buys on the dip for the holder, then walks the replay a minute at a time: the exit must
    /// ask exactly when `condition(price, averageCost, highSinceOpening)` first holds.
    func walk(exit: [String: JSONValue], from: String, to: String,
              condition: @escaping @Sendable (Decimal, Decimal, Decimal) -> Bool) async throws {
        try await Farm.run { farm in
            for uid in [Self.holder, Self.bystander] { try await farm.seedUser(uid, override: Self.override(exit: exit)) }
            let dip = try await farm.seedDipPrices()
            let asked = try await farm.pipeline.evaluation.evaluate(firebaseUID: Self.holder, now: dip)
            let buy = try await farm.settled(try await farm.approve(try #require(asked.asked.first?.questionID), uid: Self.holder).id)
            let average = try #require(buy.filledAvgPrice)
            var high = average
            guard let start = AlpacaTime.parse(from), let end = AlpacaTime.parse(to) else { throw FarmError("bad walk window") }
            var instant = start, firedAt: Date?, steps = 0
            while instant <= end, firedAt == nil {
                try await farm.setClock(instant)
                let price = try await farm.ingestSPY()
                high = max(high, price)
                let result = try await farm.pipeline.evaluation.evaluate(firebaseUID: Self.holder, now: instant)
                let exitAsked = result.asked.first { $0.evaluation.ruleID == "exit" }
                #expect((exitAsked != nil) == condition(price, average, high),
                        "at \(AlpacaTime.utc(instant)): price \(price), entry \(average), high \(high), asked \(exitAsked != nil)")
                if let exitAsked {
                    firedAt = instant
                    // The question carries the position: entry, P&L, and sells all of it.
                    #expect(exitAsked.questionText.contains("You hold \(Money.plain(try #require(buy.filledQty))) SPY at an average"))
                    let question = try #require(try await farm.openQuestions(Self.holder).first { $0.id == exitAsked.questionID })
                    #expect(question.metadata["position"]?["qty"] == .number(try #require(buy.filledQty)))
                    #expect(OrderIntent(json: question.metadata["order"])?.qty == buy.filledQty)
                    #expect(OrderIntent(json: question.metadata["order"])?.side == .sell)
                }
                // Never for a user without the position, though the same prices move.
                let bystander = try await farm.pipeline.evaluation.evaluate(firebaseUID: Self.bystander, now: instant)
                #expect(bystander.evaluations.first { $0.ruleID == "exit" }?.outcome == .noPosition)
                #expect(!bystander.asked.contains { $0.evaluation.ruleID == "exit" })
                instant = instant.addingTimeInterval(60)
                steps += 1
            }
            print("exit \(exit["type"].map { $0.canonicalString() } ?? "") fired at \(firedAt.map(AlpacaTime.utc) ?? "never") after \(steps) minutes; entry \(average), high \(high)")
            #expect(firedAt != nil, "the exit never fired between \(from) and \(to)")
            #expect(steps > 1, "the walk must see the condition not hold first")
            // The stored high-water mark moved forward with the walk (the next read starts there),
            // and it never exceeds the highest price seen.
            let marks = try await farm.rows(
                "SELECT (high_water_at > opened_at)::text || ' ' || high_water_price::text FROM user_positions WHERE firebase_uid = '\(Self.holder)'")
            #expect(marks.first?.hasPrefix("true ") == true, "\(marks)")
            let stored = marks.first.flatMap { Decimal(string: String($0.dropFirst(5))) } ?? 0
            #expect(stored <= high && stored >= average, "stored high \(stored), seen \(high)")
        }
    }
}

extension Farm {
    /// Stores what the simulator reports for SPY at its instant (last trade, previous close)
    /// and returns the last trade's price.
    func ingestSPY() async throws -> Decimal {
        let snapshots = try await marketData.snapshots(symbols: ["SPY"], feed: "iex")
        let snapshot = try #require(snapshots["SPY"])
        let rows = SnapshotMapping.rows(symbol: "SPY", snapshot: snapshot, feed: "iex", metrics: [.lastTrade, .prevClose])
        _ = try await client.withConnection { try await SnapshotStore.insertSnapshots(rows, on: $0, logger: logger) }
        return try #require(rows.first { $0.metric == .lastTrade }?.price)
    }
}
