import AlpacaClient
import AlpacaModels
import AsyncHTTPClient
import Foundation
import HybridSettings
import HybridStore
import HybridTestSupport
import JobEngine
import PostgresNIO
import ServiceLifecycle
import Testing
import TradingJobs
import TradingPipeline

/// Issue 9: the farm's streams against the simulator over real sockets.
@Suite(.serialized) struct StreamTests {
    /// 13:38:30 ET on 2011-03-16: a minute and a half before SPY's dip minute closes.
    static let beforeDip = Farm.dipInstant.addingTimeInterval(-80)

    /// Trades arrive by the stream, are written as rows, trigger the watchers' evaluation at
    /// once, and the dip asks its question; the stream's symbols are not polled by the tick.
    @Test func streamedTradesAreWrittenAndTriggerTheQuestion() async throws {
        try await Farm.run(start: Self.beforeDip) { farm in
            try await farm.seedUser()
            try await Self.withStreams(farm) { _ in
                try await Self.waitUntilStreaming(farm)
                #expect(try await farm.client.withConnection { try await MarketStreamStore.coveredSymbols(on: $0, logger: logger) } == ["iex": ["SPY"]])
                // The tick leaves streamed symbols to the stream.
                let configs = try await farm.client.withConnection { db in
                    try await UserConfigStore.userConfig(Farm.uid, on: db, logger: logger)
                }.map { try $0.effective.get() }
                let plan = TickPlanner.plan(configs: configs.map { [$0] } ?? [], bucket: 1, intervalSeconds: 1, batchSize: 100,
                                            streamed: ["iex": ["SPY"]])
                #expect(plan.ingest.isEmpty && plan.evaluate.count == 1)
                #expect(try await farm.openQuestions().isEmpty, "nothing fires before the dip")

                let moved = ContinuousClock.now
                try await farm.setClock(Farm.dipInstant.addingTimeInterval(15))   // 13:40:05: the 13:38 and 13:39 minutes trade
                let took = try await eventually(within: 15) { try await !farm.openQuestions().isEmpty }
                #expect(took != nil, "the dip asks its question from streamed data")
                #expect(try await farm.int("SELECT count(*)::int FROM market_data_snapshots WHERE raw->>'source' = 'alpaca stream trade'") >= 2)
                #expect(try await farm.int("SELECT count(*)::int FROM jobs WHERE kind = 'evaluate-user' AND unique_key LIKE '%:stream:%'") >= 1)
                let question = try #require(try await farm.openQuestions().first)
                #expect(question.text.contains("SPY"))
                print("stream: clock moved → question in \(ContinuousClock.now - moved)")
            }
        }
    }

    /// Off means off for the stream's path too: during a farm halt the dip's trades arrive, are
    /// written and trigger their evaluations, and nothing is asked; after the resume the tick's
    /// evaluation asks.
    @Test func aStreamedTradeDuringAHaltAsksNothing() async throws {
        try await Farm.run(start: Self.beforeDip) { farm in
            try await farm.seedUser()
            try await Self.withStreams(farm) { _ in
                try await Self.waitUntilStreaming(farm)
                try await farm.halt(reason: "stream test")
                try await farm.setClock(Farm.dipInstant.addingTimeInterval(15))
                let evaluated = try await eventually(within: 15) {
                    try await farm.int("SELECT count(*)::int FROM jobs WHERE kind = 'evaluate-user' AND unique_key LIKE '%:stream:%' AND state = 'completed'") >= 1
                }
                #expect(evaluated != nil, "the streamed dip triggered its evaluation")
                #expect(try await farm.int("SELECT count(*)::int FROM market_data_snapshots WHERE raw->>'source' = 'alpaca stream trade'") >= 2)
                try await farm.drain()
                #expect(try await farm.int("SELECT count(*)::int FROM questions") == 0, "a halt asks nothing")
                try await farm.halt(false)
                let now = try await farm.clock.now()
                #expect(try await farm.pipeline.evaluation.evaluate(firebaseUID: Farm.uid, now: now).asked.count == 1, "resumed: the tick asks")
            }
        }
    }

    /// A dropped connection reconnects, subscribes again and backfills by REST; what the
    /// backfill repeats is not news, so it triggers no evaluation.
    @Test func aDroppedStreamReconnectsResubscribesAndBackfills() async throws {
        try await Farm.run(start: Self.beforeDip) { farm in
            try await farm.seedUser()
            try await Self.withStreams(farm) { _ in
                try await Self.waitUntilStreaming(farm)
                try await Task.sleep(for: .milliseconds(600))   // the first backfill's evaluation is enqueued
                let firstConnection = try await Self.connectedAt(farm)
                let evaluations = try await Self.streamEvaluations(farm)
                let rows = try await farm.int("SELECT count(*)::int FROM market_data_snapshots")
                #expect(rows >= 3, "the connect backfill wrote last trade, daily bar and previous close")

                try await farm.fault(#"{"route": "WS /v2/iex", "kind": "disconnect_streams", "count": 1}"#)
                let back = try await eventually(within: 15) {
                    guard let now = try await Self.connectedAt(farm), let firstConnection else { return false }
                    return now > firstConnection
                }
                #expect(back != nil, "the stream came back")
                #expect(try await eventually(within: 10) { try await Self.simSubscriptions(farm) == ["SPY"] } != nil)
                try await Task.sleep(for: .milliseconds(800))
                #expect(try await farm.int("SELECT count(*)::int FROM market_data_snapshots") == rows, "the backfill repeated stored facts only")
                #expect(try await Self.streamEvaluations(farm) == evaluations, "repeated data triggers no evaluation")
            }
        }
    }

    /// A stream that goes silent is declared dead after MARKET_STREAM_SILENCE_SECONDS: the
    /// symbols go back to polling at once, and the stream reconnects.
    @Test func aSilentStreamIsDeclaredDeadAndPollingTakesOver() async throws {
        try await Farm.run(start: Self.beforeDip) { farm in
            try await farm.seedUser()
            // The replay's clock stands still: no trade comes, the stream is silent.
            try await Self.withStreams(farm, silence: 2) { _ in
                try await Self.waitUntilStreaming(farm)
                let first = try #require(try await Self.connectedAt(farm))
                let lapsed = try await eventually(within: 8, every: 0.02) {
                    try await farm.client.withConnection { try await MarketStreamStore.coveredSymbols(on: $0, logger: logger) }.isEmpty
                }
                #expect(lapsed != nil, "the silent stream stops vouching for its symbols")
                let again = try await eventually(within: 10) { (try await Self.connectedAt(farm)).map { $0 > first } ?? false }
                #expect(again != nil, "and reconnects")
            }
        }
    }

    /// Alpaca's connection limit (406: another connection holds the key's stream): the
    /// service backs off and retries, and connects once the slot is free.
    @Test func theConnectionLimitErrorIsRetriedUntilTheSlotIsFree() async throws {
        try await Farm.run(start: Self.beforeDip) { farm in
            try await farm.seedUser()
            let url = AlpacaStreamURLs.marketData(base: farm.sim.url, feed: "iex")
            let (released, release) = AsyncStream.makeStream(of: Void.self)
            let (held, holding) = AsyncStream.makeStream(of: Void.self)
            let squatter = Task {
                try await AlpacaStreamSocket.run(url: url, logger: logger) { channel in
                    try await channel.send(#"{"action":"auth","key":"\#(RunningSimulator.keyID)","secret":"\#(RunningSimulator.secret)"}"#)
                    for try await frame in channel.messages() where String(decoding: frame, as: UTF8.self).contains("authenticated") { break }
                    holding.yield()
                    for await _ in released { break }
                }
            }
            for await _ in held { break }
            try await Self.withStreams(farm) { _ in
                try await Task.sleep(for: .seconds(2))
                #expect(try await Self.connectedAt(farm) == nil, "refused while the slot is taken")
                release.yield()
                _ = try await squatter.value
                let took = try await eventually(within: 10) { try await Self.simSubscriptions(farm) == ["SPY"] }
                #expect(took != nil, "connected after the slot was freed")
            }
        }
    }

    /// Two `hybridhub streams` processes: one holds the streams; SIGKILL it and the standby
    /// connects, subscribes and reports within seconds.
    @Test func killingTheStreamHolderHandsTheStreamsToTheStandby() async throws {
        try await Farm.run(start: Self.beforeDip, worker: false) { farm in
            try await farm.seedUser()
            let executable = try ChildProcess.executable("hybridhub")
            let environment = farm.processEnvironment(["MARKET_STREAM_SILENCE_SECONDS": "120", "MARKET_STREAM_FOLLOW_SECONDS": "1",
                                                       "MARKET_STREAM_BACKOFF_MAX_SECONDS": "1"])
            let a = try RunningProcess.start(executable, ["streams", "--id", "streams-a", "--lease", "2", "--renew", "0.5"], environment: environment)
            let b = try RunningProcess.start(executable, ["streams", "--id", "streams-b", "--lease", "2", "--renew", "0.5"], environment: environment)
            defer { a.stop(); b.stop() }
            try await Self.waitUntilStreaming(farm, within: 30)
            let holder = try #require(try await farm.rows("SELECT holder FROM market_streams WHERE healthy_until > now()").first)
            let (leader, standby) = holder == "streams-a" ? (a, b) : (b, a)
            let standbyID = holder == "streams-a" ? "streams-b" : "streams-a"
            leader.signal(SIGKILL)
            let handover = try await eventually(within: 15) {
                let holds = try await farm.rows("SELECT holder FROM market_streams WHERE healthy_until > now()") == [standbyID]
                guard holds else { return false }
                return try await Self.simSubscriptions(farm) == ["SPY"]
            }
            #expect(handover != nil, "the standby holds the streams (output: \(standby.output.suffix(2000)))")
            if let handover { print("streams: SIGKILL → standby streaming in \(String(format: "%.2f", handover)) s") }
            #expect(handover.map { $0 < 10 } ?? false)
        }
    }

    /// A fill reported by the trade-update stream, with no poller running, updates the order.
    @Test func aFillArrivesByTheTradeUpdateStream() async throws {
        try await Farm.run(start: Self.beforeDip, worker: false) { farm in
            try await farm.seedUser()
            let order = try await Self.placedOrder(farm)
            try await Self.withStreams(farm) { _ in
                let listening = try await Self.waitForListener(farm)
                #expect(listening)
                _ = try await farm.trading.submit(OrderSubmission(symbol: "SPY", side: "buy", notional: 25, qty: nil,
                                                                           clientOrderID: order.clientOrderID))
                let filled = try await Self.waitForStatus(farm, order.id, "filled")
                #expect(filled, "the stream recorded the fill")
                let row = try #require(try await farm.order(order.id))
                #expect(row.filledQty.map { $0 > 0 } == true && row.filledAvgPrice != nil && row.alpacaOrderID != nil)
            }
        }
    }

    /// Fills by stream and by polling, in either order, leave the same row; a stale report
    /// (an earlier state of the order arriving late) never moves the row back.
    @Test func streamAndPollingAgreeInEitherOrder() async throws {
        try await Farm.run(start: Self.beforeDip, worker: false) { farm in
            try await farm.seedUser()
            let first = try await Self.placedOrder(farm)
            let second = try await Self.placedOrder(farm, notional: 30)
            for (order, streamFirst) in [(first, true), (second, false)] {
                _ = try await farm.trading.submit(OrderSubmission(symbol: "SPY", side: "buy", notional: order.notionalUSD, qty: nil,
                                                                           clientOrderID: order.clientOrderID))
                let filled = try await Self.brokerOrder(farm, order.clientOrderID, status: "filled")
                var accepted = filled
                accepted.status = "new"
                accepted.filledQty = "0"
                accepted.filledAvgPrice = nil
                accepted.filledAt = nil
                let poll = PollOrderStatus(tradeOrderID: order.id, clientOrderID: order.clientOrderID)
                if streamFirst {
                    try await farm.pipeline.orders.applyTradeUpdate(accepted)
                    try await farm.pipeline.orders.applyTradeUpdate(filled)
                    try await farm.enqueue(TradingJobCatalog.pollOrderStatus, poll)
                } else {
                    try await farm.enqueue(TradingJobCatalog.pollOrderStatus, poll)
                    try await Self.runJobs(farm)
                    try await farm.pipeline.orders.applyTradeUpdate(accepted)   // late and stale
                    try await farm.pipeline.orders.applyTradeUpdate(filled)
                }
                try await Self.runJobs(farm)
                // Either way the row is the broker's final word.
                let row = try #require(try await farm.order(order.id))
                #expect(row.status == "filled", "stream first: \(streamFirst)")
                #expect(row.alpacaOrderID == filled.id)
                #expect(row.filledQty == Decimal(string: filled.filledQty))
                #expect(row.filledAvgPrice == filled.filledAvgPrice.flatMap { Decimal(string: $0) })
                let brokerFilledAt = try #require(filled.filledAt.flatMap(AlpacaTime.parse))
                #expect(row.filledAt.map { abs($0.timeIntervalSince(brokerFilledAt)) < 0.001 } == true)
            }
            // A partial fill is not terminal: a stale report (nothing filled yet) arriving after
            // it must not move the row back.
            let third = try await Self.placedOrder(farm, notional: 20)
            _ = try await farm.trading.submit(OrderSubmission(symbol: "SPY", side: "buy", notional: 20, qty: nil,
                                                                       clientOrderID: third.clientOrderID))
            let filled = try await Self.brokerOrder(farm, third.clientOrderID, status: "filled")
            let full = try #require(Decimal(string: filled.filledQty))
            var partial = filled
            partial.status = "partially_filled"
            partial.filledQty = "\(full / 2)"
            partial.filledAt = nil
            var stale = filled
            stale.status = "new"
            stale.filledQty = "0"
            stale.filledAvgPrice = nil
            stale.filledAt = nil
            try await farm.pipeline.orders.applyTradeUpdate(partial)
            try await farm.pipeline.orders.applyTradeUpdate(stale)
            let afterStale = try #require(try await farm.order(third.id))
            #expect(afterStale.status == "partially_filled" && afterStale.filledQty == full / 2)
            try await farm.pipeline.orders.applyTradeUpdate(filled)
            #expect(try await farm.order(third.id)?.status == "filled")
            #expect(try await farm.order(third.id)?.filledQty == full)
        }
    }

    static func waitForListener(_ farm: Farm) async throws -> Bool {
        let deadline = ContinuousClock.now + .seconds(10)
        while ContinuousClock.now < deadline {
            if try await simListeners(farm) == 1 { return true }
            try await Task.sleep(for: .milliseconds(50))
        }
        return false
    }

    static func waitForStatus(_ farm: Farm, _ id: UUID, _ status: String) async throws -> Bool {
        let deadline = ContinuousClock.now + .seconds(10)
        while ContinuousClock.now < deadline {
            if try await farm.order(id)?.status == status { return true }
            try await Task.sleep(for: .milliseconds(50))
        }
        return false
    }

    /// The broker's view of the order once it reaches `status`.
    static func brokerOrder(_ farm: Farm, _ clientOrderID: String, status: String) async throws -> AlpacaOrder {
        let deadline = ContinuousClock.now + .seconds(10)
        while ContinuousClock.now < deadline {
            if let order = try await farm.trading.order(clientOrderID: clientOrderID), order.status == status { return order }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw FarmError("order \(clientOrderID) never reached \(status) at the simulator")
    }

    // MARK: - Helpers

    static func withStreams<T: Sendable>(_ farm: Farm, silence: Double = 120,
                                         _ body: @Sendable (StreamsService) async throws -> T) async throws -> T {
        let options = StreamOptions(
            feed: "iex", marketDataURL: AlpacaStreamURLs.marketData(base: farm.sim.url, feed: "iex"),
            tradeUpdatesURL: AlpacaStreamURLs.tradeUpdates(tradingBase: farm.sim.url),
            credentials: AlpacaCredentials(keyID: Secret(farm.keyID), secretKey: Secret(farm.secret)),
            silenceSeconds: silence, followSeconds: 1, refreshSeconds: 900, evaluateSeconds: 0.2, backoffMaxSeconds: 1,
            flushMilliseconds: 50)
        let service = StreamsService(parts: farm.pipeline.streams, options: options, holderID: "streams-test", leaseSeconds: 3,
                                     renewSeconds: 0.5, logger: logger)
        return try await withRunningServices([service], logger: logger) { try await body(service) }
    }

    static func waitUntilStreaming(_ farm: Farm, within seconds: Double = 15) async throws {
        let ready = try await eventually(within: seconds) {
            let reported = try await farm.int("SELECT count(*)::int FROM market_streams WHERE healthy_until > now() AND symbols = '{SPY}'") == 1
            guard reported else { return false }
            return try await simSubscriptions(farm) == ["SPY"]
        }
        try #require(ready != nil, "the stream connected and subscribed SPY")
    }

    static func connectedAt(_ farm: Farm) async throws -> Date? {
        try await farm.client.withConnection { db in
            try await MarketStreamStore.status(on: db, logger: logger).first { $0.healthy }?.connectedAt
        }
    }

    static func streamEvaluations(_ farm: Farm) async throws -> Int {
        try await farm.int("SELECT count(*)::int FROM jobs WHERE kind = 'evaluate-user' AND unique_key LIKE '%:stream:%'")
    }

    static func simState(_ farm: Farm) async throws -> [String: Any] {
        let response = try await HTTPClient.shared.execute(HTTPClientRequest(url: farm.sim.url.absoluteString + "/_sim/streams"), timeout: .seconds(5))
        let body = try await response.body.collect(upTo: 1 << 20)
        return (try JSONSerialization.jsonObject(with: Data(body.readableBytesView)) as? [String: Any]) ?? [:]
    }

    /// The trades the simulator's market-data session of our key is subscribed to.
    static func simSubscriptions(_ farm: Farm) async throws -> [String] {
        let market = try await simState(farm)["market_data"] as? [String: [String: [String]]] ?? [:]
        return market["/v2/iex|\(farm.keyID)"]?["trades"] ?? []
    }

    static func simListeners(_ farm: Farm) async throws -> Int {
        try await simState(farm)["trade_update_listeners"] as? Int ?? 0
    }

    /// An approved order row (`accepted` as if submit-order recorded it) for the §17 user.
    static func placedOrder(_ farm: Farm, notional: Decimal = 25) async throws -> StoredOrder {
        let question = try #require(try await farm.openDipQuestions(1).first)
        let order = NewOrder(firebaseUID: Farm.uid, clientOrderID: "hh1-stream-\(UUID().uuidString.lowercased().prefix(12))", symbol: "SPY",
                             side: "buy", notionalUSD: notional, qty: nil, questionID: question, ruleID: "dip_confirm",
                             referencePrice: 126.56, decidedAt: Farm.dipInstant)
        try await farm.client.withConnection { try await OrderStore.insert(order, on: $0, logger: logger) }
        return try #require(try await farm.order(order.id))
    }

    /// Runs the queued jobs with an in-process worker until none is left.
    static func runJobs(_ farm: Farm) async throws {
        let configuration = WorkerConfiguration(workerID: "stream-test-worker", queues: ["orders": 2, "delivery": 2],
                                                leaseSeconds: 5, heartbeatSeconds: 1, pollSeconds: 0.1, maintenanceSeconds: 0.5)
        let worker = JobWorker(client: farm.client, registry: farm.pipeline.registry(), configuration: configuration, logger: logger)
        let group = ServiceGroup(configuration: .init(services: [worker], logger: logger))
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            defer { tasks.cancelAll() }
            let drained = try await eventually(within: 20) {
                try await farm.int("SELECT count(*)::int FROM jobs WHERE state NOT IN ('completed', 'discarded', 'cancelled') AND queue IN ('orders', 'delivery')") == 0
            }
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
            try #require(drained != nil, "jobs drained")
        }
    }
}
