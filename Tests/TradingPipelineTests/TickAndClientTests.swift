import AlpacaClient
import AlpacaModels
import AlpacaSimulator
import Foundation
import HybridSettings
import HybridStore
import HybridTestSupport
import Testing
import TradingCore
import TradingJobs
import TradingPipeline

@Suite struct TickPlannerTests {
    func config(_ uid: String, symbols: [String], poll: Int = 60, enabled: Bool = true) throws -> EffectiveTradingConfig {
        let document: JSONValue = .object([
            "data_inputs": .array([.object(["id": .string("w"), "symbols": .array(symbols.map { .string($0) }),
                                            "poll_interval_seconds": .number(Decimal(poll))])]),
            "rules": .array([]),
        ])
        let decoded = try TradingConfigDecoder.decode(document).get()
        return EffectiveTradingConfig(firebaseUID: uid, templateName: nil, config: decoded, enabledColumn: enabled)
    }

    @Test func callsDependOnTheSymbolsNotTheUsers() throws {
        let symbols = (0..<30).map { "S\($0)" }
        let few = try (0..<3).map { try config("u\($0)", symbols: Array(symbols.prefix(20))) }
        let many = try (0..<3000).map { try config("u\($0)", symbols: Array(symbols.shuffled().prefix(10))) }
            + [try config("all", symbols: symbols)]
        let planFew = TickPlanner.plan(configs: few, bucket: 10, intervalSeconds: 60, batchSize: 12)
        let planMany = TickPlanner.plan(configs: many, bucket: 10, intervalSeconds: 60, batchSize: 12)
        #expect(planMany.ingest.count == 3, "ceil(30 / 12)")
        #expect(Set(planMany.ingest.flatMap(\.symbols)) == Set(symbols))
        #expect(planMany.ingest.flatMap(\.symbols).count == 30, "each symbol fetched once")
        #expect(planFew.ingest.count == 2, "ceil(20 / 12)")
        #expect(planMany.evaluate.count == 3001)
        #expect(Set(planMany.evaluate.map(\.uniqueKey)).count == 3001)
    }

    @Test func disabledUsersAndOffSwitchesEnqueueNothing() throws {
        let configs = [try config("on", symbols: ["SPY"]), try config("off", symbols: ["AAPL"], enabled: false)]
        let plan = TickPlanner.plan(configs: configs, bucket: 1, intervalSeconds: 60, batchSize: 100)
        #expect(plan.evaluate.map(\.firebaseUID) == ["on"] && plan.ingest.flatMap(\.symbols) == ["SPY"])
        #expect(TickPlanner.plan(configs: configs, bucket: 1, intervalSeconds: 60, batchSize: 100, ingest: false).ingest.isEmpty)
        #expect(TickPlanner.plan(configs: configs, bucket: 1, intervalSeconds: 60, batchSize: 100, evaluate: false).evaluate.isEmpty)
    }

    @Test func inputsAreDueOncePerPollInterval() {
        // Polled every 300 s, ticking every 60 s: due in one bucket of five.
        let due = (1...20).filter { TickPlanner.isDue(pollSeconds: 300, bucket: Int64($0), intervalSeconds: 60) }
        #expect(due == [5, 10, 15, 20])
        // Polled faster than the tick: due every tick.
        #expect((1...5).allSatisfy { TickPlanner.isDue(pollSeconds: 1, bucket: Int64($0), intervalSeconds: 60) })
        #expect((1...5).allSatisfy { TickPlanner.isDue(pollSeconds: 60, bucket: Int64($0), intervalSeconds: 60) })
    }

    @Test func aTicksKeysAreStableSoAFailoverCannotDoubleIt() {
        let a = IngestSymbolBatch(feed: "iex", symbols: ["B", "A"], metrics: [], bucket: 7)
        let b = IngestSymbolBatch(feed: "iex", symbols: ["A", "B"], metrics: [], bucket: 7)
        #expect(a.uniqueKey == b.uniqueKey)
        #expect(a.uniqueKey != IngestSymbolBatch(feed: "iex", symbols: ["A", "B"], metrics: [], bucket: 8).uniqueKey)
        #expect(EvaluateUser(firebaseUID: "u", bucket: 7).uniqueKey != EvaluateUser(firebaseUID: "u", bucket: 8).uniqueKey)
    }
}

@Suite struct SnapshotMappingTests {
    let snapshot = AlpacaSnapshot(
        latestTrade: AlpacaTrade(t: "2011-03-16T17:39:00Z", x: "V", p: 126.56, s: 100, c: ["@"], i: 42, z: "B"),
        latestQuote: nil, minuteBar: nil,
        dailyBar: AlpacaBar(t: "2011-03-16T04:00:00Z", o: 127, h: 128, l: 126, c: 126.56, v: 1000, n: nil, vw: nil),
        prevDailyBar: AlpacaBar(t: "2011-03-15T04:00:00Z", o: 126.59, h: 129.33, l: 126.5, c: 128.56, v: 359_585_400, n: nil, vw: nil))

    @Test func eachMetricTakesAlpacasTimestampAndExactDecimals() throws {
        let rows = SnapshotMapping.rows(symbol: "SPY", snapshot: snapshot, feed: "iex", metrics: Set(Metric.allCases))
        #expect(rows.map(\.metric) == [.lastTrade, .dailyBar, .prevClose])
        #expect(rows[0].price == Decimal(string: "126.56") && rows[0].asOf == AlpacaTime.parse("2011-03-16T17:39:00Z"))
        #expect(rows[1].asOf == rows[0].asOf, "the growing daily bar is stamped when observed")
        #expect(rows[2].price == Decimal(string: "128.56") && rows[2].asOf == AlpacaTime.parse("2011-03-15T04:00:00Z"))
        #expect(rows.allSatisfy { $0.raw != nil && $0.feed == "iex" })
        #expect(SnapshotMapping.rows(symbol: "SPY", snapshot: snapshot, feed: "iex", metrics: [.prevClose]).count == 1)
    }
}

@Suite struct AlpacaErrorTests {
    @Test func classification() {
        func http(_ status: Int, _ message: String = "x", after: Double? = nil) -> AlpacaError {
            .http(status: status, code: nil, message: message, retryAfterSeconds: after, method: "POST", path: "/v2/orders")
        }
        #expect(http(429, after: 3).isRetryable && http(429, after: 3).retryAfterSeconds == 3)
        #expect(http(500).isRetryable && http(503).isRetryable && http(500).outcomeUnknown)
        #expect(!http(400).isRetryable && !http(401).isRetryable && !http(403).isRetryable && !http(404).isRetryable)
        #expect(!http(422).outcomeUnknown && !http(429).outcomeUnknown)
        #expect(http(422, "client_order_id must be unique").isDuplicateClientOrderID && !http(422, "qty is required").isDuplicateClientOrderID)
        #expect(AlpacaError.timeout(method: "POST", path: "/v2/orders").isRetryable)
        #expect(AlpacaError.timeout(method: "POST", path: "/v2/orders").outcomeUnknown)
        #expect(AlpacaError.transport(method: "GET", path: "/", detail: "reset").isRetryable)
        #expect(!AlpacaError.malformedResponse(method: "GET", path: "/", detail: "").isRetryable)
    }

    /// The real clients against the simulator: Alpaca's error shapes become these errors.
    @Test func theClientsClassifyTheSimulatorsAnswers() async throws {
        try await RunningSimulator.run(start: Date(timeIntervalSince1970: 1_300_297_190)) { sim in
            let good = AlpacaCredentials(keyID: Secret(RunningSimulator.keyID), secretKey: Secret(RunningSimulator.secret))
            let trading = AlpacaTradingClient(baseURL: sim.url, credentials: good, timeoutSeconds: 2, logger: TestDatabase.logger)
            #expect(try await trading.order(clientOrderID: "hh1-none") == nil, "404 → nil")
            let account = try await trading.account()
            #expect(account.status == "ACTIVE")
            let order = OrderSubmission(symbol: "SPY", side: "buy", notional: 10, qty: nil, clientOrderID: "hh1-dup")
            _ = try await trading.submit(order)
            await #expect { try await trading.submit(order) } throws: { ($0 as? AlpacaError)?.isDuplicateClientOrderID == true }
            await #expect { try await trading.submit(OrderSubmission(symbol: "SPY", side: "buy", notional: nil, qty: -1, clientOrderID: "hh1-neg")) }
                throws: { ($0 as? AlpacaError).map { !$0.isRetryable && $0.httpStatus == 422 } == true }

            let bad = AlpacaTradingClient(baseURL: sim.url, credentials: AlpacaCredentials(keyID: Secret("nope-key"), secretKey: Secret("nope-secret")),
                                          logger: TestDatabase.logger)
            await #expect { try await bad.account() } throws: { error in
                guard let error = error as? AlpacaError else { return false }
                return error.httpStatus == 401 && !error.isRetryable && !"\(error)".contains("nope-secret")
            }
            let data = AlpacaMarketDataClient(baseURL: sim.url, credentials: good, timeoutSeconds: 2, logger: TestDatabase.logger)
            let snapshots = try await data.snapshots(symbols: ["SPY", "AAPL"], feed: "iex")
            #expect(snapshots["SPY"]?.latestTrade != nil)
            await #expect(throws: AlpacaError.self) { try await data.snapshots(symbols: ["not a symbol"], feed: "iex") }
            // A port nobody listens on: a transport error, retryable.
            let closed = AlpacaTradingClient(baseURL: URL(string: "http://127.0.0.1:9")!, credentials: good, timeoutSeconds: 2, logger: TestDatabase.logger)
            await #expect { try await closed.clock() } throws: { ($0 as? AlpacaError)?.isRetryable == true }
        }
    }

    /// A 2xx whose body is not an order: the client reports it as malformed (not retryable, the
    /// outcome not unknown), and the order Alpaca did create is found by its client_order_id.
    @Test(arguments: [nil, #"{"id": "61e69015-8549-4bfd-b9c3-01e75843f47d", "client_order_id": "hh1-garbled", "sta"#, "<html>OK</html>"])
    func aGarbledSubmitAnswerIsMalformedAndTheOrderIsFoundAfterwards(body: String?) async throws {
        try await RunningSimulator.run(start: Date(timeIntervalSince1970: 1_300_297_190)) { sim in
            let credentials = AlpacaCredentials(keyID: Secret(RunningSimulator.keyID), secretKey: Secret(RunningSimulator.secret))
            let trading = AlpacaTradingClient(baseURL: sim.url, credentials: credentials, timeoutSeconds: 2, logger: TestDatabase.logger)
            sim.simulator.faults.add(FaultRule(route: "POST /v2/orders", kind: .garbledAfterAccept, body: body, count: 1))
            let order = OrderSubmission(symbol: "SPY", side: "buy", notional: 10, qty: nil, clientOrderID: "hh1-garbled")
            await #expect { try await trading.submit(order) } throws: { error in
                guard let error = error as? AlpacaError, case .malformedResponse(let method, let path, _) = error else { return false }
                return method == "POST" && path == "/v2/orders" && !error.isRetryable && !error.outcomeUnknown
            }
            let found = try #require(try await trading.order(clientOrderID: "hh1-garbled"))
            #expect(found.clientOrderID == "hh1-garbled" && found.symbol == "SPY" && found.notional == "10")
            #expect(sim.orders(clientOrderID: "hh1-garbled") == 1)
            await #expect { try await trading.submit(order) } throws: { ($0 as? AlpacaError)?.isDuplicateClientOrderID == true }
        }
    }
}
