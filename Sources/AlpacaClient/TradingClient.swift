import AlpacaModels
import AsyncHTTPClient
import Foundation
import Logging
import NIOCore

/// An order as we send it (plan §10.1): exactly one of notional and qty, decimals as strings.
public struct OrderSubmission: Encodable, Sendable, Equatable {
    public var symbol: String
    public var side: String
    public var type: String
    public var timeInForce: String
    public var notional: String?
    public var qty: String?
    public var clientOrderID: String

    public init(symbol: String, side: String, type: String = "market", timeInForce: String = "day",
                notional: Decimal?, qty: Decimal?, clientOrderID: String) {
        self.symbol = symbol
        self.side = side
        self.type = type
        self.timeInForce = timeInForce
        self.notional = notional.map { "\($0)" }
        self.qty = qty.map { "\($0)" }
        self.clientOrderID = clientOrderID
    }

    enum CodingKeys: String, CodingKey {
        case symbol, side, type, notional, qty
        case timeInForce = "time_in_force"
        case clientOrderID = "client_order_id"
    }
}

/// How much of a shared rate budget a trading call may use (see `BudgetedTrading`). A client
/// without a budget makes every call the same way.
public enum TradingCallPriority: Sendable, Hashable {
    /// submit-order's calls, the lookup by `client_order_id` and the POST: may take the last
    /// token, so an approved order is never starved by routine traffic.
    case submission
    /// Everything else (poll-order-status's polls, the pre-flight's account, asset, position
    /// and clock reads): leaves the budget's submission reserve untouched.
    case routine
}

/// What the pipeline asks of Alpaca's trading API.
public protocol TradingAPI: Sendable {
    func account() async throws -> AlpacaAccount
    func clock() async throws -> AlpacaClock
    /// `GET /v2/orders:by_client_order_id`; nil when Alpaca has no such order (404).
    func order(clientOrderID: String) async throws -> AlpacaOrder?
    /// `POST /v2/orders`. A timeout or a 5xx leaves the outcome unknown: look the order up.
    func submit(_ order: OrderSubmission) async throws -> AlpacaOrder
    /// `GET /v2/orders?status=all&after=…&direction=asc&limit=…`: one page of every order
    /// (open and closed) submitted after `after` (exclusive), oldest first; `limit` 1…500.
    func orders(after: Date, limit: Int) async throws -> [AlpacaOrder]
    /// `GET /v2/assets/{symbol}`; nil when Alpaca does not know the symbol (404).
    func asset(symbol: String) async throws -> AlpacaAsset?
    /// `GET /v2/assets?status=active&asset_class=us_equity`: every active US equity in one call.
    func activeAssets() async throws -> [AlpacaAsset]
    /// `GET /v2/positions/{symbol}`; nil when the account holds none (404).
    func position(symbol: String) async throws -> AlpacaPosition?
    /// `GET /v2/positions`: every open position of the account.
    func positions() async throws -> [AlpacaPosition]
    /// The same API with its calls made at `priority`. Unbudgeted clients return themselves.
    func prioritized(_ priority: TradingCallPriority) -> any TradingAPI
}

extension TradingAPI {
    public func prioritized(_ priority: TradingCallPriority) -> any TradingAPI { self }
}

public struct AlpacaTradingClient: TradingAPI {
    let transport: AlpacaHTTP

    public init(baseURL: URL, credentials: AlpacaCredentials, timeoutSeconds: Double = 10,
                http: HTTPClient = .shared, logger: Logger) {
        transport = AlpacaHTTP(baseURL: baseURL, credentials: credentials,
                               timeout: .milliseconds(Int64(timeoutSeconds * 1000)), http: http, logger: logger)
    }

    public func account() async throws -> AlpacaAccount {
        let reply = try await transport.send(.GET, "/v2/account")
        return try transport.decode(AlpacaAccount.self, reply, .GET, "/v2/account")
    }

    public func clock() async throws -> AlpacaClock {
        let reply = try await transport.send(.GET, "/v2/clock")
        return try transport.decode(AlpacaClock.self, reply, .GET, "/v2/clock")
    }

    public func order(clientOrderID: String) async throws -> AlpacaOrder? {
        let path = "/v2/orders:by_client_order_id"
        do {
            let reply = try await transport.send(.GET, path, query: [("client_order_id", clientOrderID)])
            return try transport.decode(AlpacaOrder.self, reply, .GET, path)
        } catch let error as AlpacaError where error.httpStatus == 404 {
            return nil
        }
    }

    public func orders(after: Date, limit: Int) async throws -> [AlpacaOrder] {
        guard (1...500).contains(limit) else { throw AlpacaError.invalidRequest("limit \(limit) is outside 1…500") }
        let path = "/v2/orders"
        let reply = try await transport.send(.GET, path, query: [
            ("status", "all"), ("after", AlpacaTime.utc(after)), ("direction", "asc"), ("limit", "\(limit)"),
        ])
        return try transport.decode([AlpacaOrder].self, reply, .GET, path)
    }

    public func asset(symbol: String) async throws -> AlpacaAsset? {
        try await optional(AlpacaAsset.self, symbol: symbol, path: "/v2/assets/")
    }

    public func activeAssets() async throws -> [AlpacaAsset] {
        let path = "/v2/assets"
        let reply = try await transport.send(.GET, path, query: [("status", "active"), ("asset_class", "us_equity")])
        return try transport.decode([AlpacaAsset].self, reply, .GET, path)
    }

    public func position(symbol: String) async throws -> AlpacaPosition? {
        try await optional(AlpacaPosition.self, symbol: symbol, path: "/v2/positions/")
    }

    public func positions() async throws -> [AlpacaPosition] {
        let path = "/v2/positions"
        return try transport.decode([AlpacaPosition].self, try await transport.send(.GET, path), .GET, path)
    }

    func optional<T: Decodable>(_ type: T.Type, symbol: String, path prefix: String) async throws -> T? {
        guard SymbolFormat.isValid(symbol) else { throw AlpacaError.invalidRequest("'\(symbol)' is not a symbol") }
        let path = prefix + AlpacaHTTP.encode(symbol)
        do {
            let reply = try await transport.send(.GET, path)
            return try transport.decode(T.self, reply, .GET, path)
        } catch let error as AlpacaError where error.httpStatus == 404 {
            return nil
        }
    }

    public func submit(_ order: OrderSubmission) async throws -> AlpacaOrder {
        let body: Data
        do {
            body = try JSONEncoder().encode(order)
        } catch {
            throw AlpacaError.invalidRequest("order does not encode: \(error)")
        }
        let reply = try await transport.send(.POST, "/v2/orders", json: body)
        return try transport.decode(AlpacaOrder.self, reply, .POST, "/v2/orders")
    }
}
