import Foundation

/// Alpaca Trading API JSON (v2). Money, quantities and prices are decimal strings; absent
/// values are JSON `null` (never omitted), as Alpaca sends them and alpaca-py expects.
///
/// Reading is lenient where Alpaca's OpenAPI document (`shared/reference/alpaca-openapi`,
/// trading-api.json) lets a field be omitted or `null`: such a field is optional here, or takes
/// a stated default, so that a real 2xx is never mistaken for a malformed one. Decimals are
/// read from a string or a JSON number (alpaca-py's own fixtures send `"qty": 1`) and kept as
/// their decimal text. What each type requires is said at the type.

/// An order. Required when read: `id`, `client_order_id` and `status`, without which an
/// answer cannot be matched to our order or acted on (alpaca-py requires them too; the
/// document's own `required` list for Order, `notional`, `type`, `time_in_force`, is the
/// request's and names a field it also marks nullable). Defaults: `filled_qty` "0" (nothing
/// filled), `extended_hours` false. Everything else may be absent or `null`.
public struct AlpacaOrder: Codable, Sendable, Equatable {
    public var id: String
    public var clientOrderID: String
    public var createdAt: String?
    public var updatedAt: String?
    public var submittedAt: String?
    public var filledAt: String?
    public var expiredAt: String?
    public var canceledAt: String?
    public var failedAt: String?
    public var replacedAt: String?
    public var replacedBy: String?
    public var replaces: String?
    public var assetID: String?
    public var symbol: String?
    public var assetClass: String?
    public var notional: String?
    public var qty: String?
    public var filledQty: String
    public var filledAvgPrice: String?
    public var orderClass: String?
    public var orderType: String?
    public var type: String?
    public var side: String?
    public var timeInForce: String?
    public var limitPrice: String?
    public var stopPrice: String?
    public var status: String
    public var extendedHours: Bool
    public var legs: [AlpacaOrder]?
    public var trailPercent: String?
    public var trailPrice: String?
    public var hwm: String?
    public var positionIntent: String?

    public init(id: String, clientOrderID: String, createdAt: String? = nil, updatedAt: String? = nil, submittedAt: String? = nil, filledAt: String? = nil, expiredAt: String? = nil, canceledAt: String? = nil, failedAt: String? = nil, replacedAt: String? = nil, replacedBy: String? = nil, replaces: String? = nil, assetID: String? = nil, symbol: String? = nil, assetClass: String? = nil, notional: String? = nil, qty: String? = nil, filledQty: String = "0", filledAvgPrice: String? = nil, orderClass: String? = nil, orderType: String? = nil, type: String? = nil, side: String? = nil, timeInForce: String? = nil, limitPrice: String? = nil, stopPrice: String? = nil, status: String, extendedHours: Bool = false, legs: [AlpacaOrder]? = nil, trailPercent: String? = nil, trailPrice: String? = nil, hwm: String? = nil, positionIntent: String? = nil) {
        self.id = id
        self.clientOrderID = clientOrderID
        self.createdAt = createdAt
        self.updatedAt = updatedAt
        self.submittedAt = submittedAt
        self.filledAt = filledAt
        self.expiredAt = expiredAt
        self.canceledAt = canceledAt
        self.failedAt = failedAt
        self.replacedAt = replacedAt
        self.replacedBy = replacedBy
        self.replaces = replaces
        self.assetID = assetID
        self.symbol = symbol
        self.assetClass = assetClass
        self.notional = notional
        self.qty = qty
        self.filledQty = filledQty
        self.filledAvgPrice = filledAvgPrice
        self.orderClass = orderClass
        self.orderType = orderType
        self.type = type
        self.side = side
        self.timeInForce = timeInForce
        self.limitPrice = limitPrice
        self.stopPrice = stopPrice
        self.status = status
        self.extendedHours = extendedHours
        self.legs = legs
        self.trailPercent = trailPercent
        self.trailPrice = trailPrice
        self.hwm = hwm
        self.positionIntent = positionIntent
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case id, symbol, notional, qty, type, side, status, legs, hwm, replaces
        case clientOrderID = "client_order_id", createdAt = "created_at", updatedAt = "updated_at"
        case submittedAt = "submitted_at", filledAt = "filled_at", expiredAt = "expired_at"
        case canceledAt = "canceled_at", failedAt = "failed_at", replacedAt = "replaced_at"
        case replacedBy = "replaced_by", assetID = "asset_id", assetClass = "asset_class"
        case filledQty = "filled_qty", filledAvgPrice = "filled_avg_price", orderClass = "order_class"
        case orderType = "order_type", timeInForce = "time_in_force", limitPrice = "limit_price"
        case stopPrice = "stop_price", extendedHours = "extended_hours", trailPercent = "trail_percent"
        case trailPrice = "trail_price", positionIntent = "position_intent"
    }

    public static let terminalStatuses: Set<String> = ["filled", "canceled", "expired", "rejected", "replaced"]
    public var isTerminal: Bool { Self.terminalStatuses.contains(status) }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        id = try c.decode(String.self, forKey: .id)
        clientOrderID = try c.decode(String.self, forKey: .clientOrderID)
        status = try c.decode(String.self, forKey: .status)
        createdAt = try c.decodeIfPresent(String.self, forKey: .createdAt)
        updatedAt = try c.decodeIfPresent(String.self, forKey: .updatedAt)
        submittedAt = try c.decodeIfPresent(String.self, forKey: .submittedAt)
        filledAt = try c.decodeIfPresent(String.self, forKey: .filledAt)
        expiredAt = try c.decodeIfPresent(String.self, forKey: .expiredAt)
        canceledAt = try c.decodeIfPresent(String.self, forKey: .canceledAt)
        failedAt = try c.decodeIfPresent(String.self, forKey: .failedAt)
        replacedAt = try c.decodeIfPresent(String.self, forKey: .replacedAt)
        replacedBy = try c.decodeIfPresent(String.self, forKey: .replacedBy)
        replaces = try c.decodeIfPresent(String.self, forKey: .replaces)
        assetID = try c.decodeIfPresent(String.self, forKey: .assetID)
        symbol = try c.decodeIfPresent(String.self, forKey: .symbol)
        assetClass = try c.decodeIfPresent(String.self, forKey: .assetClass)
        notional = try c.decimalTextIfPresent(.notional)
        qty = try c.decimalTextIfPresent(.qty)
        filledQty = try c.decimalTextIfPresent(.filledQty) ?? "0"
        filledAvgPrice = try c.decimalTextIfPresent(.filledAvgPrice)
        orderClass = try c.decodeIfPresent(String.self, forKey: .orderClass)
        orderType = try c.decodeIfPresent(String.self, forKey: .orderType)
        type = try c.decodeIfPresent(String.self, forKey: .type)
        side = try c.decodeIfPresent(String.self, forKey: .side)
        timeInForce = try c.decodeIfPresent(String.self, forKey: .timeInForce)
        limitPrice = try c.decimalTextIfPresent(.limitPrice)
        stopPrice = try c.decimalTextIfPresent(.stopPrice)
        extendedHours = try c.decodeIfPresent(Bool.self, forKey: .extendedHours) ?? false
        legs = try c.decodeIfPresent([AlpacaOrder].self, forKey: .legs)
        trailPercent = try c.decimalTextIfPresent(.trailPercent)
        trailPrice = try c.decimalTextIfPresent(.trailPrice)
        hwm = try c.decimalTextIfPresent(.hwm)
        positionIntent = try c.decodeIfPresent(String.self, forKey: .positionIntent)
    }

    /// Every key written, absent values as `null`.
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(id, forKey: .id); try c.encode(clientOrderID, forKey: .clientOrderID)
        try c.encode(createdAt, forKey: .createdAt); try c.encode(updatedAt, forKey: .updatedAt)
        try c.encode(submittedAt, forKey: .submittedAt); try c.encode(filledAt, forKey: .filledAt)
        try c.encode(expiredAt, forKey: .expiredAt); try c.encode(canceledAt, forKey: .canceledAt)
        try c.encode(failedAt, forKey: .failedAt); try c.encode(replacedAt, forKey: .replacedAt)
        try c.encode(replacedBy, forKey: .replacedBy); try c.encode(replaces, forKey: .replaces)
        try c.encode(assetID, forKey: .assetID); try c.encode(symbol, forKey: .symbol)
        try c.encode(assetClass, forKey: .assetClass); try c.encode(notional, forKey: .notional)
        try c.encode(qty, forKey: .qty); try c.encode(filledQty, forKey: .filledQty)
        try c.encode(filledAvgPrice, forKey: .filledAvgPrice); try c.encode(orderClass, forKey: .orderClass)
        try c.encode(orderType, forKey: .orderType); try c.encode(type, forKey: .type)
        try c.encode(side, forKey: .side); try c.encode(timeInForce, forKey: .timeInForce)
        try c.encode(limitPrice, forKey: .limitPrice); try c.encode(stopPrice, forKey: .stopPrice)
        try c.encode(status, forKey: .status); try c.encode(extendedHours, forKey: .extendedHours)
        try c.encode(legs, forKey: .legs); try c.encode(trailPercent, forKey: .trailPercent)
        try c.encode(trailPrice, forKey: .trailPrice); try c.encode(hwm, forKey: .hwm)
        try c.encode(positionIntent, forKey: .positionIntent)
    }
}

/// The account. Required when read: `id` and `status` (the document's `required`); every
/// other field may be absent or `null`.
public struct AlpacaAccount: Codable, Sendable, Equatable {
    public var id: String
    public var accountNumber: String?
    public var status: String
    public var currency: String?
    public var cash: String?
    public var buyingPower: String?
    public var regtBuyingPower: String?
    public var daytradingBuyingPower: String?
    public var nonMarginableBuyingPower: String?
    public var equity: String?
    public var lastEquity: String?
    public var portfolioValue: String?
    public var longMarketValue: String?
    public var shortMarketValue: String?
    public var initialMargin: String?
    public var maintenanceMargin: String?
    public var multiplier: String?
    public var patternDayTrader: Bool?
    public var daytradeCount: Int?
    public var tradingBlocked: Bool?
    public var transfersBlocked: Bool?
    public var accountBlocked: Bool?
    public var tradeSuspendedByUser: Bool?
    public var shortingEnabled: Bool?
    public var createdAt: String?

    public init(id: String, accountNumber: String? = nil, status: String, currency: String? = nil, cash: String? = nil, buyingPower: String? = nil, regtBuyingPower: String? = nil, daytradingBuyingPower: String? = nil, nonMarginableBuyingPower: String? = nil, equity: String? = nil, lastEquity: String? = nil, portfolioValue: String? = nil, longMarketValue: String? = nil, shortMarketValue: String? = nil, initialMargin: String? = nil, maintenanceMargin: String? = nil, multiplier: String? = nil, patternDayTrader: Bool? = nil, daytradeCount: Int? = nil, tradingBlocked: Bool? = nil, transfersBlocked: Bool? = nil, accountBlocked: Bool? = nil, tradeSuspendedByUser: Bool? = nil, shortingEnabled: Bool? = nil, createdAt: String? = nil) {
        self.id = id
        self.accountNumber = accountNumber
        self.status = status
        self.currency = currency
        self.cash = cash
        self.buyingPower = buyingPower
        self.regtBuyingPower = regtBuyingPower
        self.daytradingBuyingPower = daytradingBuyingPower
        self.nonMarginableBuyingPower = nonMarginableBuyingPower
        self.equity = equity
        self.lastEquity = lastEquity
        self.portfolioValue = portfolioValue
        self.longMarketValue = longMarketValue
        self.shortMarketValue = shortMarketValue
        self.initialMargin = initialMargin
        self.maintenanceMargin = maintenanceMargin
        self.multiplier = multiplier
        self.patternDayTrader = patternDayTrader
        self.daytradeCount = daytradeCount
        self.tradingBlocked = tradingBlocked
        self.transfersBlocked = transfersBlocked
        self.accountBlocked = accountBlocked
        self.tradeSuspendedByUser = tradeSuspendedByUser
        self.shortingEnabled = shortingEnabled
        self.createdAt = createdAt
    }

    enum CodingKeys: String, CodingKey {
        case id, status, currency, cash, equity, multiplier
        case accountNumber = "account_number", buyingPower = "buying_power", regtBuyingPower = "regt_buying_power"
        case daytradingBuyingPower = "daytrading_buying_power", nonMarginableBuyingPower = "non_marginable_buying_power"
        case lastEquity = "last_equity", portfolioValue = "portfolio_value", longMarketValue = "long_market_value"
        case shortMarketValue = "short_market_value", initialMargin = "initial_margin"
        case maintenanceMargin = "maintenance_margin", patternDayTrader = "pattern_day_trader"
        case daytradeCount = "daytrade_count", tradingBlocked = "trading_blocked", transfersBlocked = "transfers_blocked"
        case accountBlocked = "account_blocked", tradeSuspendedByUser = "trade_suspended_by_user"
        case shortingEnabled = "shorting_enabled", createdAt = "created_at"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        id = try c.decode(String.self, forKey: .id)
        status = try c.decode(String.self, forKey: .status)
        accountNumber = try c.decodeIfPresent(String.self, forKey: .accountNumber)
        currency = try c.decodeIfPresent(String.self, forKey: .currency)
        cash = try c.decimalTextIfPresent(.cash)
        buyingPower = try c.decimalTextIfPresent(.buyingPower)
        regtBuyingPower = try c.decimalTextIfPresent(.regtBuyingPower)
        daytradingBuyingPower = try c.decimalTextIfPresent(.daytradingBuyingPower)
        nonMarginableBuyingPower = try c.decimalTextIfPresent(.nonMarginableBuyingPower)
        equity = try c.decimalTextIfPresent(.equity)
        lastEquity = try c.decimalTextIfPresent(.lastEquity)
        portfolioValue = try c.decimalTextIfPresent(.portfolioValue)
        longMarketValue = try c.decimalTextIfPresent(.longMarketValue)
        shortMarketValue = try c.decimalTextIfPresent(.shortMarketValue)
        initialMargin = try c.decimalTextIfPresent(.initialMargin)
        maintenanceMargin = try c.decimalTextIfPresent(.maintenanceMargin)
        multiplier = try c.decimalTextIfPresent(.multiplier)
        patternDayTrader = try c.decodeIfPresent(Bool.self, forKey: .patternDayTrader)
        daytradeCount = try c.decodeIfPresent(Int.self, forKey: .daytradeCount)
        tradingBlocked = try c.decodeIfPresent(Bool.self, forKey: .tradingBlocked)
        transfersBlocked = try c.decodeIfPresent(Bool.self, forKey: .transfersBlocked)
        accountBlocked = try c.decodeIfPresent(Bool.self, forKey: .accountBlocked)
        tradeSuspendedByUser = try c.decodeIfPresent(Bool.self, forKey: .tradeSuspendedByUser)
        shortingEnabled = try c.decodeIfPresent(Bool.self, forKey: .shortingEnabled)
        createdAt = try c.decodeIfPresent(String.self, forKey: .createdAt)
    }
}

/// An asset. Required when read, as the document says: `id`, `class`, `exchange`, `symbol`,
/// `name`, `status`, `tradable`, `marginable`, `shortable`, `fractionable`. `easy_to_borrow`
/// (required there, but deprecated for `borrow_status`) may be absent; `attributes` (optional
/// there) reads as [] when absent or `null`.
public struct AlpacaAsset: Codable, Sendable, Equatable {
    public var id: String
    public var assetClass: String
    public var exchange: String
    public var symbol: String
    public var name: String
    public var status: String
    public var tradable: Bool
    public var marginable: Bool
    public var shortable: Bool
    public var easyToBorrow: Bool?
    public var fractionable: Bool
    public var attributes: [String]

    public init(id: String, assetClass: String, exchange: String, symbol: String, name: String, status: String, tradable: Bool, marginable: Bool, shortable: Bool, easyToBorrow: Bool?, fractionable: Bool, attributes: [String] = []) {
        self.id = id
        self.assetClass = assetClass
        self.exchange = exchange
        self.symbol = symbol
        self.name = name
        self.status = status
        self.tradable = tradable
        self.marginable = marginable
        self.shortable = shortable
        self.easyToBorrow = easyToBorrow
        self.fractionable = fractionable
        self.attributes = attributes
    }

    enum CodingKeys: String, CodingKey {
        case id, exchange, symbol, name, status, tradable, marginable, shortable, fractionable, attributes
        case assetClass = "class", easyToBorrow = "easy_to_borrow"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        id = try c.decode(String.self, forKey: .id)
        assetClass = try c.decode(String.self, forKey: .assetClass)
        exchange = try c.decode(String.self, forKey: .exchange)
        symbol = try c.decode(String.self, forKey: .symbol)
        name = try c.decode(String.self, forKey: .name)
        status = try c.decode(String.self, forKey: .status)
        tradable = try c.decode(Bool.self, forKey: .tradable)
        marginable = try c.decode(Bool.self, forKey: .marginable)
        shortable = try c.decode(Bool.self, forKey: .shortable)
        easyToBorrow = try c.decodeIfPresent(Bool.self, forKey: .easyToBorrow)
        fractionable = try c.decode(Bool.self, forKey: .fractionable)
        attributes = try c.decodeIfPresent([String].self, forKey: .attributes) ?? []
    }
}

/// A position. Required when read, as the document says: every field but `qty_available`
/// (optional there; it is absent from alpaca-py's own fixture) and the intraday P/L pair
/// (kept optional as before). Decimals may come as strings or numbers.
public struct AlpacaPosition: Codable, Sendable, Equatable {
    public var assetID: String
    public var symbol: String
    public var exchange: String
    public var assetClass: String
    public var assetMarginable: Bool
    public var qty: String
    public var qtyAvailable: String?
    public var side: String
    public var avgEntryPrice: String
    public var marketValue: String
    public var costBasis: String
    public var unrealizedPL: String
    public var unrealizedPLPC: String
    /// Today's part of the unrealised P/L (since the previous close, or since entry when opened today).
    public var unrealizedIntradayPL: String?
    public var unrealizedIntradayPLPC: String?
    public var currentPrice: String
    public var lastdayPrice: String
    public var changeToday: String

    public init(assetID: String, symbol: String, exchange: String, assetClass: String, assetMarginable: Bool, qty: String, qtyAvailable: String?, side: String, avgEntryPrice: String, marketValue: String, costBasis: String, unrealizedPL: String, unrealizedPLPC: String, currentPrice: String, lastdayPrice: String, changeToday: String, unrealizedIntradayPL: String? = nil, unrealizedIntradayPLPC: String? = nil) {
        self.assetID = assetID
        self.symbol = symbol
        self.exchange = exchange
        self.assetClass = assetClass
        self.assetMarginable = assetMarginable
        self.qty = qty
        self.qtyAvailable = qtyAvailable
        self.side = side
        self.avgEntryPrice = avgEntryPrice
        self.marketValue = marketValue
        self.costBasis = costBasis
        self.unrealizedPL = unrealizedPL
        self.unrealizedPLPC = unrealizedPLPC
        self.unrealizedIntradayPL = unrealizedIntradayPL
        self.unrealizedIntradayPLPC = unrealizedIntradayPLPC
        self.currentPrice = currentPrice
        self.lastdayPrice = lastdayPrice
        self.changeToday = changeToday
    }

    enum CodingKeys: String, CodingKey {
        case symbol, exchange, qty, side
        case assetID = "asset_id", assetClass = "asset_class", assetMarginable = "asset_marginable"
        case qtyAvailable = "qty_available", avgEntryPrice = "avg_entry_price", marketValue = "market_value"
        case costBasis = "cost_basis", unrealizedPL = "unrealized_pl", unrealizedPLPC = "unrealized_plpc"
        case unrealizedIntradayPL = "unrealized_intraday_pl", unrealizedIntradayPLPC = "unrealized_intraday_plpc"
        case currentPrice = "current_price", lastdayPrice = "lastday_price", changeToday = "change_today"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        assetID = try c.decode(String.self, forKey: .assetID)
        symbol = try c.decode(String.self, forKey: .symbol)
        exchange = try c.decode(String.self, forKey: .exchange)
        assetClass = try c.decode(String.self, forKey: .assetClass)
        assetMarginable = try c.decode(Bool.self, forKey: .assetMarginable)
        qty = try c.decimalText(.qty)
        qtyAvailable = try c.decimalTextIfPresent(.qtyAvailable)
        side = try c.decode(String.self, forKey: .side)
        avgEntryPrice = try c.decimalText(.avgEntryPrice)
        marketValue = try c.decimalText(.marketValue)
        costBasis = try c.decimalText(.costBasis)
        unrealizedPL = try c.decimalText(.unrealizedPL)
        unrealizedPLPC = try c.decimalText(.unrealizedPLPC)
        unrealizedIntradayPL = try c.decimalTextIfPresent(.unrealizedIntradayPL)
        unrealizedIntradayPLPC = try c.decimalTextIfPresent(.unrealizedIntradayPLPC)
        currentPrice = try c.decimalText(.currentPrice)
        lastdayPrice = try c.decimalText(.lastdayPrice)
        changeToday = try c.decimalText(.changeToday)
    }
}

public struct AlpacaClock: Codable, Sendable, Equatable {
    public var timestamp: String
    public var isOpen: Bool
    public var nextOpen: String
    public var nextClose: String

    public init(timestamp: String, isOpen: Bool, nextOpen: String, nextClose: String) {
        self.timestamp = timestamp
        self.isOpen = isOpen
        self.nextOpen = nextOpen
        self.nextClose = nextClose
    }

    enum CodingKeys: String, CodingKey {
        case timestamp
        case isOpen = "is_open", nextOpen = "next_open", nextClose = "next_close"
    }
}

public struct AlpacaCalendarDay: Codable, Sendable, Equatable {
    public var date: String
    public var open: String
    public var close: String
    public var sessionOpen: String
    public var sessionClose: String
    public var settlementDate: String

    public init(date: String, open: String, close: String, sessionOpen: String, sessionClose: String, settlementDate: String) {
        self.date = date
        self.open = open
        self.close = close
        self.sessionOpen = sessionOpen
        self.sessionClose = sessionClose
        self.settlementDate = settlementDate
    }

    enum CodingKeys: String, CodingKey {
        case date, open, close
        case sessionOpen = "session_open", sessionClose = "session_close", settlementDate = "settlement_date"
    }
}

/// Trading API error body: `{"code": 40010001, "message": "..."}`.
public struct AlpacaAPIError: Codable, Sendable, Equatable, Error {
    public var code: Int
    public var message: String

    public init(code: Int, message: String) {
        self.code = code
        self.message = message
    }
}

/// `POST /v2/orders`. Sizes and prices arrive as JSON numbers (alpaca-py) or strings (the spec).
public struct AlpacaOrderRequest: Decodable, Sendable, Equatable {
    public var symbol: String?
    public var qty: Decimal?
    public var notional: Decimal?
    public var side: String?
    public var type: String?
    public var timeInForce: String?
    public var limitPrice: Decimal?
    public var stopPrice: Decimal?
    public var clientOrderID: String?
    public var extendedHours: Bool?
    public var orderClass: String?

    enum CodingKeys: String, CodingKey {
        case symbol, qty, notional, side, type
        case timeInForce = "time_in_force", limitPrice = "limit_price", stopPrice = "stop_price"
        case clientOrderID = "client_order_id", extendedHours = "extended_hours", orderClass = "order_class"
    }

    public init(symbol: String?, qty: Decimal? = nil, notional: Decimal? = nil, side: String?, type: String?,
                timeInForce: String?, limitPrice: Decimal? = nil, clientOrderID: String? = nil) {
        self.symbol = symbol
        self.qty = qty
        self.notional = notional
        self.side = side
        self.type = type
        self.timeInForce = timeInForce
        self.limitPrice = limitPrice
        self.clientOrderID = clientOrderID
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        symbol = try c.decodeIfPresent(String.self, forKey: .symbol)
        qty = try Self.flexibleDecimal(c, .qty)
        notional = try Self.flexibleDecimal(c, .notional)
        side = try c.decodeIfPresent(String.self, forKey: .side)
        type = try c.decodeIfPresent(String.self, forKey: .type)
        timeInForce = try c.decodeIfPresent(String.self, forKey: .timeInForce)
        limitPrice = try Self.flexibleDecimal(c, .limitPrice)
        stopPrice = try Self.flexibleDecimal(c, .stopPrice)
        clientOrderID = try c.decodeIfPresent(String.self, forKey: .clientOrderID)
        extendedHours = try c.decodeIfPresent(Bool.self, forKey: .extendedHours)
        orderClass = try c.decodeIfPresent(String.self, forKey: .orderClass)
    }

    /// A decimal sent as a JSON number or a string.
    static func flexibleDecimal(_ c: KeyedDecodingContainer<CodingKeys>, _ key: CodingKeys) throws -> Decimal? {
        if let text = try? c.decodeIfPresent(String.self, forKey: key) {
            guard let value = Decimal(string: text, locale: Locale(identifier: "en_US_POSIX")) else {
                throw DecodingError.dataCorruptedError(forKey: key, in: c, debugDescription: "\(key.rawValue) is not a number")
            }
            return value
        }
        return try c.decodeIfPresent(Decimal.self, forKey: key)
    }
}

extension KeyedDecodingContainer {
    /// A decimal field: Alpaca's string, or a JSON number kept as its decimal text; nil when
    /// absent or `null`. Anything else (a boolean, an object) is a decoding error.
    func decimalTextIfPresent(_ key: Key) throws -> String? {
        guard contains(key), try !decodeNil(forKey: key) else { return nil }
        if let text = try? decode(String.self, forKey: key) { return text }
        return "\(try decode(Decimal.self, forKey: key))"
    }

    /// A decimal field that must be there.
    func decimalText(_ key: Key) throws -> String {
        guard let text = try decimalTextIfPresent(key) else {
            throw DecodingError.valueNotFound(String.self, .init(codingPath: codingPath + [key],
                                                                 debugDescription: "\(key.stringValue) is required"))
        }
        return text
    }
}
