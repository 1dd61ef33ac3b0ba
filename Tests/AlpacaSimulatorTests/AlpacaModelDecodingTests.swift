import AlpacaModels
import Foundation
import Testing

/// What the trading client reads from Alpaca: every field Alpaca's OpenAPI document
/// (trading-api.json) lets it omit or send as `null` is optional or defaulted in the models, so
/// a real 2xx is never read as malformed; only what an answer cannot do without is required.
@Suite struct AlpacaModelDecodingTests {
    static func decode<T: Decodable>(_ type: T.Type, _ json: String) throws -> T {
        try JSONDecoder().decode(T.self, from: Data(json.utf8))
    }

    static let orderID = "61e69015-8549-4bfd-b9c3-01e75843f47d"

    /// A body as Alpaca's paper API answers `POST /v2/orders` for a notional market order
    /// outside market hours, with the fields the document lists beyond ours (`expires_at`,
    /// `ratio_qty`) and the ones real answers add (`source`, `subtag`).
    static let fullOrder = #"""
    {
      "id": "61e69015-8549-4bfd-b9c3-01e75843f47d",
      "client_order_id": "hh1-4d5e6f",
      "created_at": "2024-03-15T20:05:01.942282Z",
      "updated_at": "2024-03-15T20:05:01.945012Z",
      "submitted_at": "2024-03-15T20:05:01.937734Z",
      "filled_at": null,
      "expired_at": null,
      "expires_at": "2024-03-18T20:00:00Z",
      "canceled_at": null,
      "failed_at": null,
      "replaced_at": null,
      "replaced_by": null,
      "replaces": null,
      "asset_id": "b0b6dd9d-8b9b-48a9-ba46-b9d54906e415",
      "symbol": "SPY",
      "asset_class": "us_equity",
      "notional": "10.5",
      "qty": null,
      "filled_qty": "0",
      "filled_avg_price": null,
      "order_class": "",
      "order_type": "market",
      "type": "market",
      "side": "buy",
      "position_intent": "buy_to_open",
      "time_in_force": "day",
      "limit_price": null,
      "stop_price": null,
      "status": "accepted",
      "extended_hours": false,
      "legs": null,
      "trail_percent": null,
      "trail_price": null,
      "hwm": null,
      "ratio_qty": null,
      "source": "access_key",
      "subtag": null
    }
    """#

    @Test func aFullOrderBodyDecodesAndRoundTrips() throws {
        let order = try Self.decode(AlpacaOrder.self, Self.fullOrder)
        #expect(order.id == Self.orderID && order.clientOrderID == "hh1-4d5e6f" && order.status == "accepted")
        #expect(order.symbol == "SPY" && order.side == "buy" && order.type == "market" && order.timeInForce == "day")
        #expect(order.notional == "10.5" && order.qty == nil && order.filledQty == "0" && order.filledAvgPrice == nil)
        #expect(order.submittedAt == "2024-03-15T20:05:01.937734Z" && order.orderClass == "")
        #expect(!order.isTerminal && !order.extendedHours)
        let again = try JSONDecoder().decode(AlpacaOrder.self, from: try JSONEncoder().encode(order))
        #expect(again == order)
    }

    /// Only what we cannot do without: the id, our `client_order_id` and the status.
    @Test func aMinimalOrderBodyDecodesWithDefaults() throws {
        let order = try Self.decode(AlpacaOrder.self, #"{"id": "\#(Self.orderID)", "client_order_id": "hh1-x", "status": "new"}"#)
        #expect(order == AlpacaOrder(id: Self.orderID, clientOrderID: "hh1-x", status: "new"))
        #expect(order.filledQty == "0" && !order.extendedHours && order.legs == nil)
        #expect(order.createdAt == nil && order.updatedAt == nil && order.submittedAt == nil)
        #expect(order.symbol == nil && order.side == nil && order.type == nil && order.timeInForce == nil)
        #expect(AlpacaTime.parse(order.submittedAt) == nil)
        // With the document's own required fields as well (`notional` required and nullable).
        let spec = try Self.decode(AlpacaOrder.self, #"""
            {"id": "\#(Self.orderID)", "client_order_id": "hh1-x", "status": "new",
             "notional": null, "type": "market", "time_in_force": "day"}
            """#)
        #expect(spec.type == "market" && spec.timeInForce == "day" && spec.notional == nil)
    }

    /// Every field the document marks `nullable` (and every field we do not require) as `null`.
    @Test func anOrderWithEveryNullableFieldNullDecodes() throws {
        let nullable = ["canceled_at", "expired_at", "failed_at", "filled_at", "filled_avg_price", "hwm", "legs",
                        "limit_price", "notional", "qty", "ratio_qty", "replaced_at", "replaced_by", "replaces",
                        "stop_price", "submitted_at", "trail_percent", "trail_price", "updated_at"]
        var object = try #require(try JSONSerialization.jsonObject(with: Data(Self.fullOrder.utf8)) as? [String: Any])
        for key in nullable { object[key] = NSNull() }
        let order = try JSONDecoder().decode(AlpacaOrder.self, from: try JSONSerialization.data(withJSONObject: object))
        #expect(order.submittedAt == nil && order.updatedAt == nil && order.notional == nil && order.qty == nil)
        #expect(order.filledAvgPrice == nil && order.legs == nil && order.symbol == "SPY")

        let required: Set = ["id", "client_order_id", "status"]
        for key in object.keys where !required.contains(key) { object[key] = NSNull() }
        let bare = try JSONDecoder().decode(AlpacaOrder.self, from: try JSONSerialization.data(withJSONObject: object))
        #expect(bare == AlpacaOrder(id: Self.orderID, clientOrderID: "hh1-4d5e6f", status: "accepted"))
    }

    /// alpaca-py's own fixture (tests/trading/trading_client/test_order_routes.py) sends
    /// `"qty": 1`, a number, and an extra `commission`.
    @Test func decimalsSentAsNumbersAreKeptAsDecimalText() throws {
        let order = try Self.decode(AlpacaOrder.self, #"""
            {"id": "\#(Self.orderID)", "client_order_id": "eb9e2aaa", "status": "filled", "qty": 1, "filled_qty": 1,
             "filled_avg_price": 128.2381, "notional": null, "commission": 1.25, "legs": [
               {"id": "904837e3-3b76-47ec-b432-046db621571b", "client_order_id": "leg-1", "status": "new", "limit_price": "130"}]}
            """#)
        #expect(order.qty == "1" && order.filledQty == "1" && order.filledAvgPrice == "128.2381" && order.isTerminal)
        #expect(order.legs?.first?.limitPrice == "130" && order.legs?.first?.filledQty == "0")
    }

    @Test(arguments: [
        #"{"id": 42}"#,
        #"{"id": "a", "client_order_id": "b"}"#,
        #"{"id": "a", "status": "new"}"#,
        #"{"id": "a", "client_order_id": "b", "status": null}"#,
        #"{"id": "a", "client_order_id": "b", "status": "new", "qty": true}"#,
        #"{"id": "a", "client_order_id": "b", "status": "new", "extended_hours": "no"}"#,
        #"[]"#,
        #"{"id": "a", "client_order_id": "b", "sta"#,
    ])
    func bodiesThatAreNotOrdersStillFail(body: String) {
        #expect(throws: DecodingError.self) { try Self.decode(AlpacaOrder.self, body) }
    }

    @Test func anAccountNeedsOnlyItsIDAndStatus() throws {
        let bare = try Self.decode(AlpacaAccount.self, #"{"id": "e6fe16f3-64a4-4921-8928-cadf02f92f98", "status": "ACTIVE"}"#)
        #expect(bare == AlpacaAccount(id: "e6fe16f3-64a4-4921-8928-cadf02f92f98", status: "ACTIVE"))
        #expect(bare.buyingPower == nil && bare.tradingBlocked == nil)
        // The document's example (abridged), with fields we do not model and a number for a decimal.
        let example = try Self.decode(AlpacaAccount.self, #"""
            {"account_blocked": false, "account_number": "PALPACA_123", "accrued_fees": "0", "admin_configurations": {},
             "balance_asof": "2023-09-27", "bod_dtbp": 0, "buying_power": "245432.61", "cash": 122086.5,
             "created_at": "2023-01-01T18:20:20.272275Z", "crypto_status": "ACTIVE", "currency": "USD", "daytrade_count": 0,
             "equity": "123346.11", "id": "1d9eed04-be39-4e01-9b84-a48ac5bbafcf", "multiplier": "2",
             "non_marginable_buying_power": "122086.5", "pattern_day_trader": true, "status": "ACTIVE",
             "trading_blocked": false, "user_configurations": null, "shorting_enabled": null}
            """#)
        #expect(example.buyingPower == "245432.61" && example.cash == "122086.5" && example.nonMarginableBuyingPower == "122086.5")
        #expect(example.patternDayTrader == true && example.shortingEnabled == nil && example.maintenanceMargin == nil)
        #expect(throws: DecodingError.self) { try Self.decode(AlpacaAccount.self, #"{"id": "x"}"#) }
    }

    /// alpaca-py's positions fixture has no `qty_available` (optional in the document).
    @Test func aPositionWithoutQtyAvailableDecodes() throws {
        let positions = try Self.decode([AlpacaPosition].self, #"""
            [{"asset_id": "904837e3-3b76-47ec-b432-046db621571b", "symbol": "AAPL", "exchange": "NASDAQ",
              "asset_class": "us_equity", "avg_entry_price": "100.0", "qty": "5", "side": "long", "market_value": "600.0",
              "cost_basis": "500.0", "unrealized_pl": "100.0", "unrealized_plpc": "0.20", "unrealized_intraday_pl": "10.0",
              "unrealized_intraday_plpc": "0.0084", "current_price": "120.0", "lastday_price": "119.0", "change_today": "0.0084",
              "asset_marginable": true, "usd": {"avg_entry_price": "100.0"}}]
            """#)
        #expect(positions.first?.qty == "5" && positions.first?.qtyAvailable == nil && positions.first?.symbol == "AAPL")
        #expect(throws: DecodingError.self) {
            try Self.decode(AlpacaPosition.self, #"{"asset_id": "a", "symbol": "AAPL", "exchange": "NASDAQ", "asset_class": "us_equity"}"#)
        }
    }

    /// `attributes` is optional in the document and `easy_to_borrow` deprecated: an asset list
    /// where one asset lacks them is still a list.
    @Test func assetsWithoutAttributesOrEasyToBorrowDecode() throws {
        let assets = try Self.decode([AlpacaAsset].self, #"""
            [{"id": "904837e3-3b76-47ec-b432-046db621571b", "class": "us_equity", "exchange": "NASDAQ", "symbol": "AAPL",
              "name": "Apple Inc. Common Stock", "status": "active", "tradable": true, "marginable": true, "shortable": true,
              "easy_to_borrow": true, "fractionable": true, "attributes": ["has_options"], "cusip": null},
             {"id": "b0b6dd9d-8b9b-48a9-ba46-b9d54906e415", "class": "us_equity", "exchange": "ARCA", "symbol": "SPY",
              "name": "SPDR S&P 500 ETF Trust", "status": "active", "tradable": true, "marginable": true, "shortable": true,
              "fractionable": true, "borrow_status": "easy", "attributes": null},
             {"id": "c0b6dd9d-8b9b-48a9-ba46-b9d54906e415", "class": "us_equity", "exchange": "NYSE", "symbol": "NOFRAC",
              "name": "No Fractions", "status": "active", "tradable": true, "marginable": false, "shortable": false,
              "fractionable": false}]
            """#)
        #expect(assets.map(\.symbol) == ["AAPL", "SPY", "NOFRAC"])
        #expect(assets.map(\.attributes) == [["has_options"], [], []])
        #expect(assets.map(\.easyToBorrow) == [true, nil, nil])
    }
}
