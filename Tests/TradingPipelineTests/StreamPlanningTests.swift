import AlpacaClient
import Foundation
import Testing
import TradingCore
import TradingPipeline

/// The streams' pure parts: what to subscribe, whom to evaluate when, how long to wait
/// before reconnecting, and Alpaca's stream messages.
struct StreamPlanningTests {
    static func config(_ uid: String, symbols: [String], feed: String = "iex", enabled: Bool = true) throws -> EffectiveTradingConfig {
        let document: JSONValue = .object([
            "data_inputs": .array([.object(["id": .string("w"), "symbols": .array(symbols.map { .string($0) }),
                                            "feed": .string(feed)])]),
            "rules": .array([]),
        ])
        let decoded = try TradingConfigDecoder.decode(document).get()
        return EffectiveTradingConfig(firebaseUID: uid, templateName: nil, config: decoded, enabledColumn: enabled)
    }

    @Test func thePlanIsTheUnionOfEnabledUsersSymbolsOnTheFeed() throws {
        let plan = StreamPlan.make(configs: [
            try Self.config("a", symbols: ["SPY", "QQQ"]),
            try Self.config("b", symbols: ["SPY", "IWM"]),
            try Self.config("c", symbols: ["TLT"], enabled: false),
            try Self.config("d", symbols: ["GLD"], feed: "sip"),
        ], feed: "iex", maxSymbols: 30)
        #expect(plan.streamed == ["IWM", "QQQ", "SPY"])
        #expect(plan.usersBySymbol["SPY"] == ["a", "b"])
        #expect(plan.usersBySymbol["TLT"] == nil)
    }

    /// A trade evaluates the users whose rule on its symbol it moves across the threshold,
    /// once per crossing; rules on other symbols are not touched.
    @Test func aTradeTriggersTheRulesItCrossesOncePerCrossing() throws {
        func user(_ uid: String, symbol: String, watched: String, threshold: Decimal) throws -> EffectiveTradingConfig {
            let document: JSONValue = .object([
                "data_inputs": .array([.object(["id": .string("w"), "symbols": .array([.string(watched)])])]),
                "rules": .array([.object(["id": .string("dip"), "type": .string("price_below_pct_of_ref"), "symbol": .string(symbol),
                                          "threshold_pct": .number(threshold), "question_template": .string("{{symbol}} down {{pct}}%"),
                                          "on_answer_match": .object(["action": .string("propose_order"), "side": .string("buy"),
                                                                      "notional_usd": .number(10)])])]),
            ])
            let decoded = try TradingConfigDecoder.decode(document).get()
            return EffectiveTradingConfig(firebaseUID: uid, templateName: nil, config: decoded, enabledColumn: true)
        }
        let plan = StreamPlan.make(configs: [
            try user("one", symbol: "SPY", watched: "SPY", threshold: -1),
            try user("two", symbol: "SPY", watched: "SPY", threshold: -2),
            try user("elsewhere", symbol: "QQQ", watched: "QQQ", threshold: -1),
        ], feed: "iex", maxSymbols: 30)
        let refs: [Metric: Decimal] = [.prevClose: 100]
        #expect(plan.triggered(symbol: "SPY", price: 99.5, previous: 100, references: refs).isEmpty)
        #expect(plan.triggered(symbol: "SPY", price: 99, previous: 99.5, references: refs) == ["one"], "-1 % is reached, inclusive")
        #expect(plan.triggered(symbol: "SPY", price: 98.9, previous: 99, references: refs).isEmpty, "already below: no new crossing")
        #expect(plan.triggered(symbol: "SPY", price: 97, previous: 98.9, references: refs) == ["two"])
        #expect(plan.triggered(symbol: "SPY", price: 97, previous: nil, references: refs) == ["one", "two"],
                "the first price after a (re)connect evaluates every rule it satisfies")
        #expect(plan.triggered(symbol: "SPY", price: 97, previous: nil, references: [:]).isEmpty, "no reference, no trigger")
        #expect(plan.triggered(symbol: "QQQ", price: 1, previous: nil, references: refs) == ["elsewhere"])
    }

    @Test func beyondTheFeedLimitTheMostWatchedSymbolsAreStreamed() throws {
        let plan = StreamPlan.make(configs: [
            try Self.config("a", symbols: ["AAA", "BBB", "CCC"]),
            try Self.config("b", symbols: ["BBB", "CCC"]),
            try Self.config("c", symbols: ["CCC"]),
        ], feed: "iex", maxSymbols: 2)
        #expect(plan.streamed == ["BBB", "CCC"], "AAA (one watcher) stays on polling")
        #expect(plan.changes(from: ["AAA", "CCC"]) == (subscribe: ["BBB"], unsubscribe: ["AAA"]))
        #expect(plan.changes(from: ["BBB", "CCC"]) == (subscribe: [], unsubscribe: []))
    }

    @Test func theThrottleEvaluatesAtOnceThenOncePerInterval() {
        var throttle = EvaluationThrottle(intervalSeconds: 1)
        #expect(throttle.touched(["u1", "u2"], now: 10) == ["u1", "u2"], "leading edge")
        #expect(throttle.touched(["u1"], now: 10.2).isEmpty)
        #expect(throttle.touched(["u1"], now: 10.5).isEmpty)
        #expect(throttle.due(now: 10.9).isEmpty && !throttle.hasDue(now: 10.9))
        #expect(throttle.hasDue(now: 11.0))
        #expect(throttle.due(now: 11.0) == ["u1"], "trailing edge: once for both trades")
        #expect(!throttle.hasDue(now: 11.0))
        #expect(throttle.due(now: 12).isEmpty, "nothing new, nothing due")
        #expect(throttle.touched(["u2"], now: 12.5) == ["u2"])
        #expect(throttle.waitingCount == 0)
    }

    @Test func backoffGrowsWithJitterUpToTheCapAndResets() {
        var backoff = ReconnectBackoff(baseSeconds: 0.5, maxSeconds: 8)
        let low = (0..<6).map { _ in backoff.next(random: 0) }
        #expect(low == [0.25, 0.5, 1, 2, 4, 4])
        backoff.reset()
        let high = (0..<6).map { _ in backoff.next(random: 1) }
        #expect(high == [0.5, 1, 2, 4, 8, 8])
        for random in stride(from: 0.0, through: 1, by: 0.1) {
            var fresh = ReconnectBackoff(maxSeconds: 30)
            for _ in 0..<40 { #expect((0.25...30).contains(fresh.next(random: random))) }
        }
    }

    @Test func marketStreamMessagesDecode() throws {
        let frame = Data(#"""
            [{"T":"success","msg":"connected"},{"T":"error","code":406,"msg":"connection limit exceeded"},
             {"T":"subscription","trades":["SPY"],"quotes":[],"bars":["QQQ"]},
             {"T":"t","S":"SPY","i":52983525029461,"x":"V","p":126.56,"s":100,"c":["@"],"t":"2011-03-16T17:39:59.000000001Z","z":"B"},
             {"T":"b","S":"QQQ","o":1,"h":2,"l":0.5,"c":1.5,"v":300,"t":"2011-03-16T17:39:00Z","n":3,"vw":1.4},
             {"T":"q","S":"SPY"}, {"T":"t","S":"SPY"}]
            """#.utf8)
        let messages = MarketStreamMessage.decode(frame)
        #expect(messages.count == 7)
        #expect(messages[0] == .success("connected"))
        #expect(messages[1] == .error(code: 406, message: "connection limit exceeded"))
        #expect(messages[2] == .subscription(trades: ["SPY"], quotes: [], bars: ["QQQ"]))
        guard case .trade(let trade) = messages[3] else {
            Issue.record("not a trade: \(messages[3])")
            return
        }
        #expect(trade.symbol == "SPY" && trade.price == 126.56 && trade.size == 100 && trade.exchange == "V" && trade.id == 52_983_525_029_461)
        #expect(abs(trade.time.timeIntervalSince1970 - 1_300_297_199) < 0.001)
        #expect(messages[5] == .other("q"))
        #expect(messages[6] == .other("t"), "a trade without a price is not a trade")
        #expect(MarketStreamMessage.decode(Data("not json".utf8)).isEmpty)
        #expect(MarketStreamMessage.subscriptionRequest("subscribe", trades: ["SPY", "QQQ"]) == #"{"action":"subscribe","trades":["SPY","QQQ"]}"#)
    }

    @Test func tradeStreamMessagesDecode() {
        #expect(TradeStreamMessage.decode(Data(#"{"stream":"authorization","data":{"action":"authenticate","status":"authorized"}}"#.utf8))
                    == .authorization(authorized: true))
        #expect(TradeStreamMessage.decode(Data(#"{"stream":"authorization","data":{"action":"authenticate","status":"unauthorized"}}"#.utf8))
                    == .authorization(authorized: false))
        #expect(TradeStreamMessage.decode(Data(#"{"stream":"listening","data":{"streams":["trade_updates"]}}"#.utf8)) == .listening(["trade_updates"]))
        #expect(TradeStreamMessage.decode(Data(#"{"stream":"trade_updates","data":{"event":"fill"}}"#.utf8))
                    == .other("trade_updates without an order"))
        #expect(TradeStreamMessage.decode(Data("[]".utf8)) == .other("not JSON"))
    }

    @Test func streamURLsFollowTheHTTPBase() throws {
        #expect(AlpacaStreamURLs.marketData(base: try #require(URL(string: "https://stream.data.alpaca.markets")), feed: "iex")
                    == "wss://stream.data.alpaca.markets/v2/iex")
        #expect(AlpacaStreamURLs.marketData(base: try #require(URL(string: "wss://stream.data.alpaca.markets/")), feed: "sip")
                    == "wss://stream.data.alpaca.markets/v2/sip")
        #expect(AlpacaStreamURLs.tradeUpdates(tradingBase: try #require(URL(string: "https://paper-api.alpaca.markets")))
                    == "wss://paper-api.alpaca.markets/stream")
        #expect(AlpacaStreamURLs.tradeUpdates(tradingBase: try #require(URL(string: "http://127.0.0.1:8765"))) == "ws://127.0.0.1:8765/stream")
    }
}
