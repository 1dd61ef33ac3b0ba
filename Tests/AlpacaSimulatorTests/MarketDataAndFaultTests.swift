import AlpacaModels
import Foundation
import Testing

@Suite struct MarketDataTests {
    @Test func latestTradesQuotesAndBarsAnswerForTheSimulatedNow() async throws {
        try await Sim.run(start: Date(timeIntervalSince1970: 1_300_297_140)) { sim in   // 13:39 ET
            let trades = try await sim.call(.GET, "/v2/stocks/trades/latest?feed=iex&symbols=SPY%2CNODATA").object
            let spy = try #require((trades["trades"] as? [String: Any])?["SPY"] as? [String: Any])
            #expect(spy["p"] as? Double == 126.56 && spy["t"] as? String == "2011-03-16T17:38:59Z")
            #expect((trades["trades"] as? [String: Any])?["NODATA"] == nil, "unknown symbols are left out")
            let quotes = try await sim.call(.GET, "/v2/stocks/quotes/latest?symbols=SPY").object
            let quote = try #require((quotes["quotes"] as? [String: Any])?["SPY"] as? [String: Any])
            #expect(quote["bp"] as? Double == 126.55 && quote["ap"] as? Double == 126.57)
            let bars = try await sim.call(.GET, "/v2/stocks/bars/latest?symbols=SPY").object
            let bar = try #require((bars["bars"] as? [String: Any])?["SPY"] as? [String: Any])
            #expect(bar["t"] as? String == "2011-03-16T17:38:00Z" && bar["c"] as? Double == 126.56)
            #expect(bar.keys.contains("n") && bar.keys.contains("vw"), "alpaca-py needs both keys")
            #expect(bar["n"] is Int && bar["vw"] is Double, "the OpenAPI document requires both, not null")
            let vw = try #require(bar["vw"] as? Double), low = try #require(bar["l"] as? Double), high = try #require(bar["h"] as? Double)
            #expect(low <= vw && vw <= high)
            let empty = try await sim.call(.GET, "/v2/stocks/trades/latest?symbols=NODATA").text
            #expect(empty == #"{"trades":{}}"#)
        }
    }

    @Test func snapshotsHaveNoWrapperAndCarryTodayAndYesterday() async throws {
        try await Sim.run(start: Date(timeIntervalSince1970: 1_300_297_140)) { sim in
            let snapshots = try await sim.call(.GET, "/v2/stocks/snapshots?feed=iex&symbols=SPY,NODATA").object
            #expect(Set(snapshots.keys) == ["SPY"])
            let spy = try #require(snapshots["SPY"] as? [String: Any])
            #expect(Set(spy.keys) == ["latestTrade", "latestQuote", "minuteBar", "dailyBar", "prevDailyBar"])
            #expect((spy["prevDailyBar"] as? [String: Any])?["c"] as? Double == 128.56)
            #expect((spy["dailyBar"] as? [String: Any])?["o"] as? Double == 128.15)
            #expect((spy["dailyBar"] as? [String: Any])?["t"] as? String == "2011-03-16T04:00:00Z", "midnight New York, in UTC")
        }
    }

    @Test func aSnapshotBeforeTodaysFirstBarHasNoDailyBarAndYesterdayAsPrevious() async throws {
        try await Sim.run(start: Date(timeIntervalSince1970: 1_299_945_600)) { sim in   // Saturday 2011-03-12 11:00 ET
            let snapshots = try await sim.call(.GET, "/v2/stocks/snapshots?symbols=SPY").object
            let spy = try #require(snapshots["SPY"] as? [String: Any])
            #expect(Set(spy.keys) == ["latestTrade", "latestQuote", "minuteBar", "prevDailyBar"])
            #expect((spy["prevDailyBar"] as? [String: Any])?["t"] as? String == "2011-03-11T05:00:00Z")
            #expect(((spy["minuteBar"] as? [String: Any])?["t"] as? String)?.hasPrefix("2011-03-11") == true)
            let single = try await sim.call(.GET, "/v2/stocks/SPY/snapshot").object
            #expect(single["symbol"] as? String == "SPY" && single["prevDailyBar"] != nil)
        }
    }

    @Test func historicalBarsPageAcrossTheLimit() async throws {
        try await Sim.run(start: Date(timeIntervalSince1970: 1_300_320_000)) { sim in   // after the 16 March close
            var token: String?
            var collected: [[String: Any]] = []
            var pages = 0
            repeat {
                var path = "/v2/stocks/bars?symbols=SPY&timeframe=1Min&start=2011-03-16T13%3A30%3A00%2B00%3A00&end=2011-03-16T20%3A00%3A00Z&limit=100&feed=iex"
                if let token { path += "&page_token=\(token)" }
                let page = try await sim.call(.GET, path).object
                collected += ((page["bars"] as? [String: Any])?["SPY"] as? [[String: Any]]) ?? []
                token = page["next_page_token"] as? String
                pages += 1
            } while token != nil && pages < 10
            #expect(pages == 4)
            #expect(collected.count == 391, "09:30 … 16:00 bar starts in the range, inclusive")
            #expect(collected.first?["t"] as? String == "2011-03-16T13:30:00Z")
            let daily = try await sim.call(.GET, "/v2/stocks/bars?symbols=SPY&timeframe=1Day&start=2011-03-14&end=2011-03-16&feed=iex").object
            let days = ((daily["bars"] as? [String: Any])?["SPY"] as? [[String: Any]]) ?? []
            #expect(days.compactMap { $0["c"] as? Double } == [130.05, 128.56, 126.21])
            let five = try await sim.call(.GET, "/v2/stocks/bars?symbols=SPY&timeframe=5Min&start=2011-03-16T13:30:00Z&end=2011-03-16T13:34:00Z").object
            #expect(((five["bars"] as? [String: Any])?["SPY"] as? [[String: Any]])?.count == 1)
            let desc = try await sim.call(.GET, "/v2/stocks/bars?symbols=SPY&timeframe=1Min&start=2011-03-16T13:30:00Z&end=2011-03-16T20:00:00Z&limit=2&sort=desc").object
            let newest = ((desc["bars"] as? [String: Any])?["SPY"] as? [[String: Any]])?.compactMap { $0["t"] as? String }
            #expect(newest == ["2011-03-16T20:00:00Z", "2011-03-16T19:59:00Z"] && desc["next_page_token"] is String)
            let none = try await sim.call(.GET, "/v2/stocks/bars?symbols=NODATA&timeframe=1Day").object
            #expect((none["bars"] as? [String: Any])?.isEmpty == true, "no data is {}, never null")
            #expect(none["next_page_token"] is NSNull)
        }
    }

    @Test(arguments: [
        "/v2/stocks/bars?symbols=SPY&timeframe=7Weeks",
        "/v2/stocks/bars?symbols=SPY",
        "/v2/stocks/bars?symbols=SPY&timeframe=1Min&limit=0",
        "/v2/stocks/bars?symbols=SPY&timeframe=1Min&start=yesterday",
        "/v2/stocks/bars?symbols=SPY&timeframe=1Min&page_token=garbage",
        "/v2/stocks/trades/latest",
        "/v2/stocks/trades/latest?symbols=SPY&feed=nasdaq",
        "/v2/stocks/bars?symbols=SPY&timeframe=1Min&sort=sideways",
        "/v2/stocks/NODATA/trades/latest",
        "/v2/stocks/NODATA/snapshot",
    ])
    func badQueriesAre400WithCodeAndMessage(path: String) async throws {
        try await Sim.run { sim in
            let reply = try await sim.call(.GET, path)
            #expect(reply.status == 400, "\(path): \(reply.status) \(reply.text)")
            let error = try reply.json(AlpacaAPIError.self)
            #expect(error.code == 40010001 && !error.message.isEmpty)
        }
    }
}

@Suite struct FaultTests {
    static let order = #"{"symbol":"SPY","notional":10,"side":"buy","type":"market","time_in_force":"day","client_order_id":"f-1"}"#

    @Test func rateLimitAnswersCarryRetryAfterAndDoNothing() async throws {
        try await Sim.run { sim in
            _ = try await sim.control("/_sim/faults", #"{"route": "POST /v2/orders", "kind": "status", "status": 429, "retry_after_seconds": 7, "count": 1}"#)
            let limited = try await sim.call(.POST, "/v2/orders", json: Self.order)
            #expect(limited.status == 429 && limited.header("Retry-After") == "7")
            #expect(sim.simulator.exchange.ledger().orders.isEmpty)
            #expect(try await sim.call(.POST, "/v2/orders", json: Self.order).status == 200, "the fault was used up")
        }
    }

    @Test(arguments: [500, 503])
    func serverErrorsOnDemand(status: Int) async throws {
        try await Sim.run { sim in
            _ = try await sim.control("/_sim/faults", #"{"route": "GET /v2/stocks/*", "kind": "status", "status": \#(status), "count": 2}"#)
            #expect(try await sim.call(.GET, "/v2/stocks/trades/latest?symbols=SPY").status == status)
            #expect(try await sim.call(.GET, "/v2/stocks/quotes/latest?symbols=SPY").status == status)
            #expect(try await sim.call(.GET, "/v2/stocks/quotes/latest?symbols=SPY").status == 200)
            #expect(try await sim.call(.GET, "/v2/account").status == 200, "other routes are untouched")
        }
    }

    @Test func aDroppedConnectionGivesTheClientNoAnswer() async throws {
        try await Sim.run { sim in
            _ = try await sim.control("/_sim/faults", #"{"route": "GET /v2/clock", "kind": "drop", "count": 1}"#)
            await #expect(throws: (any Error).self) { _ = try await sim.call(.GET, "/v2/clock") }
            #expect(try await sim.call(.GET, "/v2/clock").status == 200)
        }
    }

    @Test func aTimeoutAfterAcceptLeavesTheOrderInPlaceAndARetryIsADuplicate() async throws {
        try await Sim.run { sim in
            _ = try await sim.control("/_sim/faults", #"{"route": "POST /v2/orders", "kind": "timeout_after_accept", "latency_ms": 3000, "count": 1}"#)
            await #expect(throws: (any Error).self) {
                _ = try await sim.call(.POST, "/v2/orders", json: Self.order, timeout: .milliseconds(500))
            }
            // The order exists although its reply never came; looking it up finds it, posting again is refused.
            let found = try await sim.call(.GET, "/v2/orders:by_client_order_id?client_order_id=f-1")
            #expect(found.status == 200)
            #expect(try await sim.call(.POST, "/v2/orders", json: Self.order).status == 422)
            #expect(sim.simulator.exchange.ledger().ordersPerClientOrderID == ["f-1": 1])
        }
    }

    @Test func aGarbledAnswerAfterAcceptLeavesTheOrderInPlace() async throws {
        try await Sim.run { sim in
            _ = try await sim.control("/_sim/faults", #"{"route": "POST /v2/orders", "kind": "garbled_after_accept", "count": 1}"#)
            let garbled = try await sim.call(.POST, "/v2/orders", json: Self.order)
            #expect(garbled.status == 200 && garbled.text == #"{"id":42}"#)
            #expect(throws: DecodingError.self) { try garbled.json(AlpacaOrder.self) }
            // The order exists: found by client_order_id, and a second POST is a duplicate.
            let found = try await sim.call(.GET, "/v2/orders:by_client_order_id?client_order_id=f-1")
            #expect(found.status == 200)
            #expect(try found.json(AlpacaOrder.self).clientOrderID == "f-1")
            #expect(try await sim.call(.POST, "/v2/orders", json: Self.order).status == 422)
            #expect(sim.simulator.exchange.ledger().ordersPerClientOrderID == ["f-1": 1])
            #expect(sim.simulator.faults.all.isEmpty, "the fault was used up")
        }
    }

    @Test func aGarbledAnswerCarriesTheGivenBodyAndSparesErrors() async throws {
        try await Sim.run { sim in
            _ = try await sim.control("/_sim/faults", #"{"route": "POST /v2/orders", "kind": "garbled_after_accept", "body": "{\"id\": \"", "count": 1}"#)
            // A refused order is answered as it is, and the fault waits for a 2xx.
            let refused = try await sim.call(.POST, "/v2/orders", json: #"{"symbol":"SPY","side":"buy","type":"market","time_in_force":"day"}"#)
            #expect(refused.status == 422)
            let garbled = try await sim.call(.POST, "/v2/orders", json: Self.order)
            #expect(garbled.status == 200 && garbled.text == #"{"id": ""#)
            #expect(try await sim.call(.GET, "/v2/orders:by_client_order_id?client_order_id=f-1").status == 200)
            #expect(try await sim.call(.GET, "/v2/account").status == 200)
        }
    }

    @Test func anOrderCanBeRejectedAfterItWasAccepted() async throws {
        try await Sim.run { sim in
            _ = try await sim.control("/_sim/faults", #"{"route": "POST /v2/orders", "kind": "reject_order", "count": 1}"#)
            let events = EventLog()
            let subscription = sim.simulator.exchange.subscribe { events.append($0.event) }
            defer { sim.simulator.exchange.unsubscribe(subscription) }
            let accepted = try await sim.call(.POST, "/v2/orders", json: Self.order).json(AlpacaOrder.self)
            #expect(accepted.status == "new")
            #expect(try await sim.call(.GET, "/v2/orders/\(accepted.id)").json(AlpacaOrder.self).status == "rejected")
            #expect(events.all == ["new", "rejected"])
            let account = try await sim.call(.GET, "/v2/account").json(AlpacaAccount.self)
            #expect(account.cash == "100000", "a rejected order moves no money")
        }
    }

    @Test func latencyAndStaleData() async throws {
        try await Sim.run(start: Date(timeIntervalSince1970: 1_300_297_140)) { sim in
            _ = try await sim.control("/_sim/faults", #"{"route": "GET /v2/clock", "kind": "latency", "latency_ms": 400, "count": 1}"#)
            let started = ContinuousClock.now
            #expect(try await sim.call(.GET, "/v2/clock").status == 200)
            #expect(ContinuousClock.now - started >= .milliseconds(400))
            _ = try await sim.control("/_sim/faults", #"{"route": "GET /v2/stocks/*", "kind": "stale_data", "stale_seconds": 3600, "count": 1}"#)
            let stale = try await sim.call(.GET, "/v2/stocks/trades/latest?symbols=SPY").object
            let trade = try #require((stale["trades"] as? [String: Any])?["SPY"] as? [String: Any])
            #expect(trade["t"] as? String == "2011-03-16T16:38:59Z", "an hour behind the simulated now")
        }
    }

    @Test func theClockCanBeSteppedAndRunAtASpeed() async throws {
        try await Sim.run { sim in
            let stepped = try await sim.control("/_sim/clock", #"{"advance_seconds": 3600}"#).object
            #expect(stepped["now"] as? String == "2011-03-16T14:31:00Z")
            let running = try await sim.control("/_sim/clock", #"{"speed": 600}"#).object
            #expect(running["speed"] as? Double == 600)
            try await Task.sleep(for: .milliseconds(200))
            let later = try await sim.call(.GET, "/_sim/clock", key: nil, secret: nil).object
            let now = try #require((later["now"] as? String).flatMap(AlpacaTime.parse))
            #expect(now.timeIntervalSince(Date(timeIntervalSince1970: 1_300_285_860)) >= 100, "600× for 0.2 s is at least 100 s")
            #expect(try await sim.control("/_sim/clock", #"{"speed": -1}"#).status == 422)
        }
    }
}

final class EventLog: @unchecked Sendable {
    private let lock = NSLock()
    private var events: [String] = []
    func append(_ event: String) { lock.withLock { events.append(event) } }
    var all: [String] { lock.withLock { events } }
}
