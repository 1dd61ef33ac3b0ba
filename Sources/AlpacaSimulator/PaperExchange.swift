import AlpacaModels
import Foundation
import MarketReplay
import Synchronization
import TradingCore

/// An error the simulator answers with, in Alpaca's shape.
public struct SimulatorError: Error, Sendable, Equatable {
    public var status: Int
    public var code: Int
    public var message: String

    public static func validation(_ message: String) -> SimulatorError { .init(status: 422, code: 40010001, message: message) }
    public static func forbidden(_ message: String) -> SimulatorError { .init(status: 403, code: 40310000, message: message) }
    public static func notFound(_ message: String) -> SimulatorError { .init(status: 404, code: 40410000, message: message) }
    /// A single-symbol market-data route for a symbol without data: 400, because the Market Data
    /// OpenAPI document declares no 404 for these routes (the multi-symbol forms leave it out).
    public static func noData(_ what: String, _ symbol: String) -> SimulatorError {
        .init(status: 400, code: 40010001, message: "no \(what) found for \(symbol)")
    }
    public static let unauthorized = SimulatorError(status: 401, code: 40110000, message: "request is not authorized")
}

/// One trade update, as the `/stream` WebSocket will carry it.
public struct TradeUpdate: Sendable {
    public var accountKey: String
    public var event: String
    public var order: AlpacaOrder
    public var timestamp: Date
    public var price: Decimal?
    public var qty: Decimal?
    public var positionQty: Decimal?
}

/// The paper exchange: accounts (one per key), orders, fills at the replayed price, positions,
/// and a ledger tests read. All state sits behind one lock; every call passes the simulated now.
public final class PaperExchange: Sendable {
    struct Order {
        var id: UUID
        var accountKey: String
        var clientOrderID: String
        var symbol: String
        var side: String
        var type: String
        var timeInForce: String
        var qty: Decimal?
        var notional: Decimal?
        var limitPrice: Decimal?
        var extendedHours: Bool
        var status: String
        var createdAt: Date
        var updatedAt: Date
        var filledAt: Date?
        var canceledAt: Date?
        var expiredAt: Date?
        var filledQty: Decimal = 0
        var filledAvgPrice: Decimal?
        /// The wall-clock instant the order arrived (the replayed `createdAt` may run faster):
        /// what the chaos checks compare with the instants switches committed.
        var receivedAt = Date()
    }

    struct Position {
        var qty: Decimal = 0
        var costBasis: Decimal = 0
        /// The trading day it was opened (from flat): its intraday P/L counts from the entry that day.
        var openedDay = ""
    }

    struct Account {
        var id = UUID()
        var number: String
        var cash: Decimal
        var positions: [String: Position] = [:]
        var createdAt: Date
    }

    struct State {
        var accounts: [String: Account] = [:]
        var orders: [UUID: Order] = [:]
        var orderSequence: [UUID] = []
        /// Orders not yet terminal, in submission order: what fills, expiries and buying-power
        /// checks look at (so a long session with many finished orders stays fast).
        var openOrders: [UUID] = []
        var byClientOrderID: [String: [String: UUID]] = [:]
        var duplicateSubmits = 0
        var rejectedSubmits = 0
        var partialFillsPending = 0
    }

    let configuration: SimulatorConfiguration
    let market: ReplayMarket
    let state: Mutex<State>
    private let listeners = Mutex<[UUID: @Sendable (TradeUpdate) -> Void]>([:])
    let assetIDs: [String: UUID]

    public init(configuration: SimulatorConfiguration, market: ReplayMarket) {
        self.configuration = configuration
        self.market = market
        var state = State()
        for (n, key) in configuration.keys.enumerated() {
            state.accounts[key.keyID] = Account(number: String(format: "PA%08d", n + 1), cash: configuration.startingCash,
                                                createdAt: configuration.start)
        }
        self.state = Mutex(state)
        // Stable ids: derived from the symbol, so restarts and tests see the same asset ids.
        assetIDs = Dictionary(uniqueKeysWithValues: configuration.assets.map { asset in
            let hex = SHA256.hex(Array("asset:\(asset.symbol)".utf8))
            let chars = Array(hex)
            let text = "\(String(chars[0..<8]))-\(String(chars[8..<12]))-4\(String(chars[13..<16]))-8\(String(chars[17..<20]))-\(String(chars[20..<32]))"
            return (asset.symbol, UUID(uuidString: text) ?? UUID())
        })
    }

    // MARK: Subscriptions (trade updates)

    public func subscribe(_ listener: @escaping @Sendable (TradeUpdate) -> Void) -> UUID {
        let id = UUID()
        listeners.withLock { $0[id] = listener }
        return id
    }

    public func unsubscribe(_ id: UUID) {
        listeners.withLock { _ = $0.removeValue(forKey: id) }
    }

    func publish(_ updates: [TradeUpdate]) {
        guard !updates.isEmpty else { return }
        let targets = listeners.withLock { Array($0.values) }
        for update in updates { for listener in targets { listener(update) } }
    }

    // MARK: Assets and accounts

    public func asset(_ symbol: String) -> SimulatorConfiguration.Asset? {
        configuration.assets.first { $0.symbol == symbol.uppercased() }
    }

    public func alpacaAsset(_ asset: SimulatorConfiguration.Asset) -> AlpacaAsset {
        AlpacaAsset(id: (assetIDs[asset.symbol] ?? UUID()).uuidString.lowercased(), assetClass: "us_equity",
                    exchange: asset.exchange, symbol: asset.symbol, name: asset.name, status: "active",
                    tradable: asset.tradable, marginable: true, shortable: false, easyToBorrow: false,
                    fractionable: asset.fractionable, attributes: asset.fractionable ? ["fractional_eh_enabled"] : [])
    }

    public func account(key: String, now: Date) throws(SimulatorError) -> AlpacaAccount {
        advance(to: now)
        return try state.withLock { state throws(SimulatorError) -> AlpacaAccount in
            guard let account = state.accounts[key] else { throw SimulatorError.unauthorized }
            let marketValue = account.positions.reduce(Decimal(0)) { sum, entry in
                sum + entry.value.qty * (self.market.latestTrade(entry.key, at: now)?.price ?? 0)
            }
            let reserved = reservedCash(state, key: key, now: now)
            let buyingPower = max(0, account.cash - reserved)
            let equity = account.cash + marketValue
            return AlpacaAccount(
                id: account.id.uuidString.lowercased(), accountNumber: account.number, status: "ACTIVE", currency: "USD",
                cash: Self.text(account.cash), buyingPower: Self.text(buyingPower), regtBuyingPower: Self.text(buyingPower),
                daytradingBuyingPower: "0", nonMarginableBuyingPower: Self.text(buyingPower), equity: Self.text(equity),
                lastEquity: Self.text(equity), portfolioValue: Self.text(equity), longMarketValue: Self.text(marketValue),
                shortMarketValue: "0", initialMargin: "0", maintenanceMargin: "0", multiplier: "1",
                patternDayTrader: false, daytradeCount: 0, tradingBlocked: false, transfersBlocked: false,
                accountBlocked: false, tradeSuspendedByUser: false, shortingEnabled: false,
                createdAt: AlpacaTime.utc(account.createdAt))
        }
    }

    public func positions(key: String, now: Date) -> [AlpacaPosition] {
        advance(to: now)
        return state.withLock { state in
            (state.accounts[key]?.positions ?? [:]).filter { $0.value.qty > 0 }.sorted { $0.key < $1.key }.map { symbol, position in
                let price = market.latestTrade(symbol, at: now)?.price ?? 0
                let last = market.previousDailyBar(symbol, at: now)?.close ?? price
                let value = position.qty * price
                let average = position.costBasis / position.qty
                let pl = value - position.costBasis
                let intradayBasis = position.openedDay == MarketTime.tradingDay(of: now) ? position.costBasis : position.qty * last
                let intraday = value - intradayBasis
                return AlpacaPosition(
                    assetID: (assetIDs[symbol] ?? UUID()).uuidString.lowercased(), symbol: symbol,
                    exchange: asset(symbol)?.exchange ?? "ARCA", assetClass: "us_equity", assetMarginable: true,
                    qty: Self.text(position.qty), qtyAvailable: Self.text(position.qty - heldForSale(state, key: key, symbol: symbol)),
                    side: "long", avgEntryPrice: Self.text(average), marketValue: Self.text(value),
                    costBasis: Self.text(position.costBasis), unrealizedPL: Self.text(pl),
                    unrealizedPLPC: Self.text(position.costBasis > 0 ? pl / position.costBasis : 0),
                    currentPrice: Self.text(price), lastdayPrice: Self.text(last),
                    changeToday: Self.text(last > 0 ? (price - last) / last : 0), unrealizedIntradayPL: Self.text(intraday),
                    unrealizedIntradayPLPC: Self.text(intradayBasis > 0 ? intraday / intradayBasis : 0))
            }
        }
    }
}

extension PaperExchange {
    /// Decimal → Alpaca's decimal string (no exponent, trailing zeros trimmed).
    static func text(_ value: Decimal) -> String {
        var rounded = Decimal()
        var input = value
        NSDecimalRound(&rounded, &input, 9, .plain)
        return NSDecimalNumber(decimal: rounded).stringValue
    }
}
