import AlpacaModels
import Foundation
import Testing

@Suite struct TradingTests {
    static let notional = #"{"symbol":"SPY","notional":10.5,"side":"buy","type":"market","time_in_force":"day","client_order_id":"cid-1"}"#

    @Test func keysAreCheckedWithAlpacasErrorShape() async throws {
        try await Sim.run { sim in
            for (key, secret) in [(nil, nil), ("sim-key", "wrong"), ("nobody", "sim-secret")] as [(String?, String?)] {
                let reply = try await sim.call(.GET, "/v2/account", key: key, secret: secret)
                #expect(reply.status == 401)
                #expect(try reply.json(AlpacaAPIError.self) == AlpacaAPIError(code: 40110000, message: "request is not authorized"))
            }
            let account = try await sim.call(.GET, "/v2/account").json(AlpacaAccount.self)
            #expect(account.status == "ACTIVE" && account.cash == "100000" && account.buyingPower == "100000")
        }
    }

    @Test func clockAndCalendarFollowTheData() async throws {
        try await Sim.run { sim in
            let clock = try await sim.call(.GET, "/v2/clock").json(AlpacaClock.self)
            #expect(clock.isOpen && clock.timestamp == "2011-03-16T09:31:00-04:00")
            #expect(clock.nextClose == "2011-03-16T16:00:00-04:00" && clock.nextOpen == "2011-03-17T09:30:00-04:00")
            _ = try await sim.control("/_sim/clock", #"{"now": "2011-03-12T15:00:00Z"}"#)   // a Saturday
            let weekend = try await sim.call(.GET, "/v2/clock").json(AlpacaClock.self)
            #expect(!weekend.isOpen && weekend.nextOpen == "2011-03-14T09:30:00-04:00")
            let days = try await sim.call(.GET, "/v2/calendar?start=2011-03-10&end=2011-03-15").json([AlpacaCalendarDay].self)
            #expect(days.map(\.date) == ["2011-03-10", "2011-03-11", "2011-03-14", "2011-03-15"])
            #expect(days.first?.open == "09:30" && days.first?.close == "16:00" && days.first?.settlementDate == "2011-03-11")
        }
    }

    @Test func assetsAndUnknownSymbols() async throws {
        try await Sim.run { sim in
            let spy = try await sim.call(.GET, "/v2/assets/SPY").json(AlpacaAsset.self)
            #expect(spy.symbol == "SPY" && spy.tradable && spy.fractionable && spy.assetClass == "us_equity")
            let missing = try await sim.call(.GET, "/v2/assets/NOPE")
            let missingError = try missing.json(AlpacaAPIError.self)
            #expect(missing.status == 404 && missingError.code == 40410000)
            let all = try await sim.call(.GET, "/v2/assets?status=active&asset_class=us_equity").json([AlpacaAsset].self)
            #expect(all.contains { $0.symbol == "NOFRAC" && !$0.fractionable })
        }
    }

    @Test func aNotionalMarketOrderFillsAtTheReplayedPriceAndMovesCashAndPosition() async throws {
        try await Sim.run(slippage: 10) { sim in
            let order = try await sim.call(.POST, "/v2/orders", json: Self.notional).json(AlpacaOrder.self)
            // 09:31 ET: the last closed bar (ending 09:31) closed at 128.11; 10 bps slippage → 128.2381.
            #expect(order.status == "filled" && order.filledAvgPrice == "128.2381")
            #expect(order.notional == "10.5" && order.qty == order.filledQty)
            let qty = try #require(Decimal(string: order.filledQty))
            #expect(qty == Decimal(string: "0.081878942"), "10.5 / 128.2381, rounded down to 9 places")
            let account = try await sim.call(.GET, "/v2/account").json(AlpacaAccount.self)
            let cash = try #require(account.cash.flatMap { Decimal(string: $0) })
            let expected = 100_000 - qty * (try #require(Decimal(string: "128.2381")))
            #expect(abs(cash - expected) < Decimal(string: "0.000000001") ?? 0, "cash \(cash) vs \(expected)")
            let positions = try await sim.call(.GET, "/v2/positions").json([AlpacaPosition].self)
            #expect(positions.map(\.symbol) == ["SPY"] && positions.first?.qty == order.filledQty)
            let byClient = try await sim.call(.GET, "/v2/orders:by_client_order_id?client_order_id=cid-1").json(AlpacaOrder.self)
            #expect(byClient.id == order.id)
            let byID = try await sim.call(.GET, "/v2/orders/\(order.id)").json(AlpacaOrder.self)
            #expect(byID == byClient)
        }
    }

    @Test func aDuplicateClientOrderIDIsRefusedAndNeverMakesASecondOrder() async throws {
        try await Sim.run { sim in
            #expect(try await sim.call(.POST, "/v2/orders", json: Self.notional).status == 200)
            let again = try await sim.call(.POST, "/v2/orders", json: Self.notional)
            #expect(again.status == 422)
            #expect(try again.json(AlpacaAPIError.self) == AlpacaAPIError(code: 40010001, message: "client_order_id must be unique"))
            let ledger = sim.simulator.exchange.ledger()
            #expect(ledger.orders.count == 1 && ledger.ordersPerClientOrderID["cid-1"] == 1 && ledger.duplicateSubmits == 1)
            // Another account may use the same client order id.
            let other = try await sim.call(.POST, "/v2/orders", json: Self.notional, key: "other-key", secret: "other-secret")
            #expect(other.status == 200)
        }
    }

    @Test func ordersOutsideMarketHoursQueueUntilTheOpen() async throws {
        try await Sim.run(start: Date(timeIntervalSince1970: 1_300_275_000)) { sim in   // 07:30 ET, pre-market
            let queued = try await sim.call(.POST, "/v2/orders", json: Self.notional).json(AlpacaOrder.self)
            #expect(queued.status == "accepted" && queued.filledQty == "0")
            _ = try await sim.control("/_sim/clock", #"{"now": "2011-03-16T13:35:00Z"}"#)
            let filled = try await sim.call(.GET, "/v2/orders/\(queued.id)").json(AlpacaOrder.self)
            #expect(filled.status == "filled")
            #expect(filled.filledAt == "2011-03-16T13:35:00Z")
        }
    }

    @Test func limitOrdersWaitUntilMarketableAndDayOrdersExpire() async throws {
        try await Sim.run { sim in
            let body = #"{"symbol":"SPY","qty":1,"side":"buy","type":"limit","limit_price":127.0,"time_in_force":"day","client_order_id":"lim"}"#
            let order = try await sim.call(.POST, "/v2/orders", json: body).json(AlpacaOrder.self)
            #expect(order.status == "new" && order.limitPrice == "127")
            _ = try await sim.control("/_sim/clock", #"{"now": "2011-03-16T16:00:00Z"}"#)   // 12:00 ET: 127.17
            #expect(try await sim.call(.GET, "/v2/orders/\(order.id)").json(AlpacaOrder.self).status == "new")
            _ = try await sim.control("/_sim/clock", #"{"now": "2011-03-16T17:39:00Z"}"#)   // 13:39 ET: 126.56 ≤ 127
            let filled = try await sim.call(.GET, "/v2/orders/\(order.id)").json(AlpacaOrder.self)
            #expect(filled.status == "filled" && filled.filledAvgPrice == "126.56")
            let body2 = #"{"symbol":"SPY","qty":1,"side":"buy","type":"limit","limit_price":100,"time_in_force":"day"}"#
            let never = try await sim.call(.POST, "/v2/orders", json: body2).json(AlpacaOrder.self)
            _ = try await sim.control("/_sim/clock", #"{"now": "2011-03-16T20:30:00Z"}"#)   // 16:30 ET
            #expect(try await sim.call(.GET, "/v2/orders/\(never.id)").json(AlpacaOrder.self).status == "expired")
        }
    }

    @Test func cancelOneAndCancelAll() async throws {
        try await Sim.run { sim in
            let limit = { (cid: String) in #"{"symbol":"SPY","qty":1,"side":"buy","type":"limit","limit_price":100,"time_in_force":"gtc","client_order_id":"\#(cid)"}"# }
            let a = try await sim.call(.POST, "/v2/orders", json: limit("a")).json(AlpacaOrder.self)
            _ = try await sim.call(.POST, "/v2/orders", json: limit("b"))
            _ = try await sim.call(.POST, "/v2/orders", json: limit("c"))
            #expect(try await sim.call(.DELETE, "/v2/orders/\(a.id)").status == 204)
            let again = try await sim.call(.DELETE, "/v2/orders/\(a.id)")
            #expect(again.status == 422)
            #expect(try await sim.call(.DELETE, "/v2/orders/\(UUID().uuidString)").status == 404)
            let open = try await sim.call(.GET, "/v2/orders?status=open").json([AlpacaOrder].self)
            #expect(Set(open.map(\.clientOrderID)) == ["b", "c"])
            let all = try await sim.call(.DELETE, "/v2/orders")
            #expect(all.status == 207)
            #expect((try JSONSerialization.jsonObject(with: all.body) as? [[String: Any]])?.count == 2)
            let closed = try await sim.call(.GET, "/v2/orders?status=closed&direction=asc").json([AlpacaOrder].self)
            #expect(closed.map(\.clientOrderID) == ["a", "b", "c"] && closed.allSatisfy { $0.status == "canceled" })
        }
    }

    @Test(arguments: [
        (#"{"symbol":"SPY","qty":1,"notional":5,"side":"buy","type":"market","time_in_force":"day"}"#, 422, "only one of qty or notional may be specified"),
        (#"{"symbol":"SPY","qty":-1,"side":"buy","type":"market","time_in_force":"day"}"#, 422, "qty must be > 0"),
        (#"{"symbol":"SPY","qty":0,"side":"buy","type":"market","time_in_force":"day"}"#, 422, "qty must be > 0"),
        (#"{"symbol":"SPY","side":"buy","type":"market","time_in_force":"day"}"#, 422, "qty or notional is required"),
        (#"{"symbol":"NOPE","qty":1,"side":"buy","type":"market","time_in_force":"day"}"#, 422, "asset \"NOPE\" not found"),
        (#"{"symbol":"SPY","notional":10,"side":"buy","type":"limit","limit_price":100,"time_in_force":"day"}"#, 422, "notional orders must be market orders with time_in_force day"),
        (#"{"symbol":"SPY","notional":10,"side":"buy","type":"market","time_in_force":"gtc"}"#, 422, "notional orders must be market orders with time_in_force day"),
        (#"{"symbol":"SPY","qty":0.5,"side":"buy","type":"market","time_in_force":"gtc"}"#, 422, "fractional orders must be DAY orders"),
        (#"{"symbol":"SPY","qty":1,"side":"hold","type":"market","time_in_force":"day"}"#, 422, "invalid side: hold"),
        (#"{"symbol":"SPY","qty":1,"side":"buy","type":"limit","time_in_force":"day"}"#, 422, "limit_price is required for limit orders"),
        (#"{"symbol":"NOFRAC","notional":10,"side":"buy","type":"market","time_in_force":"day"}"#, 403, "requested asset is not fractionable"),
        (#"{"symbol":"HALTED","qty":1,"side":"buy","type":"market","time_in_force":"day"}"#, 422, "asset HALTED is not tradable"),
        (#"{"symbol":"SPY","qty":10000,"side":"buy","type":"market","time_in_force":"day"}"#, 403, "insufficient buying power"),
        (#"{"symbol":"SPY","qty":1,"side":"sell","type":"market","time_in_force":"day"}"#, 403, "insufficient qty available for order (requested: 1, available: 0)"),
        (#"{"symbol":"SPY","qty":1,"#, 422, "request body is not valid JSON for this route"),
        ("", 422, "request body is not valid JSON for this route"),
        (#"[{"symbol":"SPY"}]"#, 422, "request body is not valid JSON for this route"),
        (#"{"symbol":"SPY","qty":"abc","side":"buy","type":"market","time_in_force":"day"}"#, 422, "request body is not valid JSON for this route"),
        (#"{"symbol":7,"qty":1,"side":"buy","type":"market","time_in_force":"day"}"#, 422, "request body is not valid JSON for this route"),
        (#"{"qty":1,"side":"buy","type":"market","time_in_force":"day"}"#, 422, "symbol is required"),
        (#"{"symbol":"SPY","qty":1,"type":"market","time_in_force":"day"}"#, 422, "invalid side: missing"),
        (#"{"symbol":"SPY","qty":1,"side":"buy","time_in_force":"day"}"#, 422, "invalid order type: missing"),
        (#"{"symbol":"SPY","qty":1,"side":"buy","type":"market"}"#, 422, "invalid time_in_force: missing"),
        (#"{"symbol":"SPY","notional":-5,"side":"buy","type":"market","time_in_force":"day"}"#, 422, "notional must be > 0"),
    ])
    func badOrdersGetAlpacaShapedErrors(body: String, status: Int, message: String) async throws {
        try await Sim.run { sim in
            let reply = try await sim.call(.POST, "/v2/orders", json: body)
            #expect(reply.status == status)
            let error = try reply.json(AlpacaAPIError.self)
            #expect(error.message == message)
            #expect(error.code == (status == 403 ? 40310000 : 40010001))
            #expect(sim.simulator.exchange.ledger().orders.isEmpty)
        }
    }

    @Test func unknownRoutesAreNotFoundNeverAServerError() async throws {
        try await Sim.run { sim in
            let calls: [(Sim.Method, String)] = [(.GET, "/v2/nothing"), (.GET, "/v2/orders/not-a-uuid"), (.GET, "/v3/account"),
                                                 (.PATCH, "/v2/account"), (.POST, "/v2/stocks/bars"), (.DELETE, "/v2/clock")]
            for (method, path) in calls {
                let reply = try await sim.call(method, path, json: method == .GET ? nil : "{}")
                #expect(reply.status == 404, "\(method) \(path) → \(reply.status)")
                let error = try reply.json(AlpacaAPIError.self)
                #expect(error.code == 40410000 && !error.message.isEmpty, "\(path): \(reply.text)")
            }
        }
    }

    @Test func handWrittenOrderJSONIsWhatTheEncoderWrites() async throws {
        try await Sim.run { sim in
            let cid = #"odd \"id\" with \\ and / and é and \t tab"#
            let body = #"{"symbol":"SPY","qty":1,"side":"buy","type":"limit","limit_price":100,"time_in_force":"gtc","client_order_id":"\#(cid)"}"#
            let posted = try await sim.call(.POST, "/v2/orders", json: body)
            let listed = try await sim.call(.GET, "/v2/orders?status=all")
            let order = try posted.json(AlpacaOrder.self)
            #expect(order.clientOrderID == "odd \"id\" with \\ and / and é and \t tab")
            let encoder = JSONEncoder()
            let pairs: [(Data, Data)] = [(posted.body, try encoder.encode(order)),
                                         (listed.body, try encoder.encode(try listed.json([AlpacaOrder].self)))]
            for (wire, encoded) in pairs {
                let sent = try JSONSerialization.jsonObject(with: wire) as? NSObject
                let expected = try JSONSerialization.jsonObject(with: encoded) as? NSObject
                #expect(sent != nil && sent == expected, "\(String(decoding: wire, as: UTF8.self))")
            }
        }
    }

    @Test func anOversizedBodyIsRefusedInAlpacasShape() async throws {
        try await Sim.run { sim in
            let huge = #"{"symbol":"SPY","pad":""# + String(repeating: "x", count: 100_000) + #""}"#
            let reply = try await sim.call(.POST, "/v2/orders", json: huge)
            #expect(reply.status == 413)
            #expect(try reply.json(AlpacaAPIError.self).code == 41300000)
            #expect(sim.simulator.exchange.ledger().orders.isEmpty)
        }
    }
}
