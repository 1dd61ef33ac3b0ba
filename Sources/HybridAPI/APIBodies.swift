import Foundation
import HybridStore
import TradingCore
import TradingPipeline

// `openapi.yaml`'s schemas as types: every REST body the API sends is one of these, encoded
// by `JSONBody` (keys as the document spells them, explicit `null` where it says a field is
// nullable, times in ISO 8601 with milliseconds, decimals with their digits). The schemathesis
// test holds the server to the document.

extension UUID {
    /// The document's spelling of an id (lower case; `UUID`'s own encoding is upper case).
    var lowercased: String { uuidString.lowercased() }
}

/// An optional the document lists as required and nullable: encoded as `null` when absent
/// (a synthesized `Encodable` would leave the key out).
@propertyWrapper
struct Nullable<Value: Encodable & Sendable>: Encodable, Sendable {
    var wrappedValue: Value?

    init(wrappedValue: Value?) {
        self.wrappedValue = wrappedValue
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        if let wrappedValue { try container.encode(wrappedValue) } else { try container.encodeNil() }
    }
}

/// `Error`: `{"error", "message", "issues"?}`.
struct ErrorBody: Encodable, Sendable {
    var error: String
    var message: String
    var issues: [IssueBody]?
}

/// `Issue`: a config problem at a JSON path.
public struct IssueBody: Encodable, Sendable, Equatable {
    public var path: String
    public var message: String
}

/// `GET /health`.
struct HealthBody: Encodable, Sendable {
    var status = "ok"
}

/// `GET /ready`: ready, with the farm's trading switches (the halt shown with who, why, when).
struct ReadyBody: Encodable, Sendable {
    struct Trading: Encodable, Sendable {
        var halted: Bool
        var enabled: Bool
        var reason: String??
        var setBy: String??
        var setAt: Date??

        enum CodingKeys: String, CodingKey {
            case halted, enabled, reason
            case setBy = "set_by"
            case setAt = "set_at"
        }

        /// The halt's fields are present (possibly null) only while halted.
        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(halted, forKey: .halted)
            try container.encode(enabled, forKey: .enabled)
            if let reason { try container.encode(reason, forKey: .reason) }
            if let setBy { try container.encode(setBy, forKey: .setBy) }
            if let setAt { try container.encode(setAt, forKey: .setAt) }
        }
    }

    var status = "ready"
    var trading: Trading
}

/// `GET /ready` when the database is not there.
struct NotReadyBody: Encodable, Sendable {
    var status = "not_ready"
    var message: String
}

/// `ConfigView`: the effective config, the stored override, the template, the switch.
struct ConfigViewBody: Encodable, Sendable {
    var config: JSONValue
    var override: JSONValue
    @Nullable var templateName: String?
    var enabled: Bool

    enum CodingKeys: String, CodingKey {
        case config, override, enabled
        case templateName = "template_name"
    }
}

/// `Order`: a `trade_orders` row as the app sees it.
struct OrderBody: Encodable, Sendable {
    var id: String
    var clientOrderID: String
    @Nullable var alpacaOrderID: String?
    var symbol: String
    var side: String
    var orderType: String
    @Nullable var notionalUSD: Decimal?
    @Nullable var qty: Decimal?
    var status: String
    @Nullable var statusReason: String?
    @Nullable var questionID: String?
    @Nullable var ruleID: String?
    @Nullable var referencePrice: Decimal?
    @Nullable var filledQty: Decimal?
    @Nullable var filledAvgPrice: Decimal?
    var decidedAt: Date
    @Nullable var submittedAt: Date?
    @Nullable var filledAt: Date?
    var createdAt: Date
    var updatedAt: Date

    enum CodingKeys: String, CodingKey {
        case id, symbol, side, qty, status
        case clientOrderID = "client_order_id", alpacaOrderID = "alpaca_order_id", orderType = "order_type"
        case notionalUSD = "notional_usd", statusReason = "status_reason", questionID = "question_id", ruleID = "rule_id"
        case referencePrice = "reference_price", filledQty = "filled_qty", filledAvgPrice = "filled_avg_price"
        case decidedAt = "decided_at", submittedAt = "submitted_at", filledAt = "filled_at"
        case createdAt = "created_at", updatedAt = "updated_at"
    }

    init(_ o: StoredOrder) {
        id = o.id.lowercased
        clientOrderID = o.clientOrderID
        alpacaOrderID = o.alpacaOrderID
        symbol = o.symbol
        side = o.side
        orderType = o.orderType
        notionalUSD = o.notionalUSD
        qty = o.qty
        status = o.status
        statusReason = o.statusReason
        questionID = o.questionID?.lowercased
        ruleID = o.ruleID
        referencePrice = o.referencePrice
        filledQty = o.filledQty
        filledAvgPrice = o.filledAvgPrice
        decidedAt = o.decidedAt
        submittedAt = o.submittedAt
        filledAt = o.filledAt
        createdAt = o.createdAt
        updatedAt = o.updatedAt
    }
}

/// `GET /v1/me/trading/orders`: a page, newest first.
struct OrdersPageBody: Encodable, Sendable {
    var orders: [OrderBody]
    @Nullable var nextBefore: Date?

    enum CodingKeys: String, CodingKey {
        case orders
        case nextBefore = "next_before"
    }
}

/// `Snapshot`: the newest stored row of a (metric, feed).
struct SnapshotBody: Encodable, Sendable {
    var metric: String
    var feed: String
    @Nullable var price: Decimal?
    @Nullable var volume: Decimal?
    var asOf: Date
    var storedAt: Date

    enum CodingKeys: String, CodingKey {
        case metric, feed, price, volume
        case asOf = "as_of"
        case storedAt = "stored_at"
    }
}

/// `GET /v1/me/trading/snapshots`.
struct SnapshotsBody: Encodable, Sendable {
    var symbol: String
    var snapshots: [SnapshotBody]
}

/// `Position`: one open position of the user's own book, valued at the newest price.
struct PositionBody: Encodable, Sendable {
    var symbol: String
    var qty: Decimal
    var avgCost: Decimal
    var costBasisUSD: Decimal
    @Nullable var price: Decimal?
    @Nullable var priceAsOf: Date?
    @Nullable var marketValueUSD: Decimal?
    @Nullable var unrealizedPnLUSD: Decimal?
    @Nullable var unrealizedPnLPct: Decimal?
    var realizedPnLUSD: Decimal
    @Nullable var dayPnLUSD: Decimal?
    @Nullable var openedAt: Date?
    @Nullable var highWater: Decimal?

    enum CodingKeys: String, CodingKey {
        case symbol, qty, price
        case avgCost = "avg_cost", costBasisUSD = "cost_basis_usd", priceAsOf = "price_as_of", marketValueUSD = "market_value_usd"
        case unrealizedPnLUSD = "unrealized_pnl_usd", unrealizedPnLPct = "unrealized_pnl_pct", realizedPnLUSD = "realized_pnl_usd"
        case dayPnLUSD = "day_pnl_usd", openedAt = "opened_at", highWater = "high_water"
    }

    init(_ row: PositionValuation) {
        let money = { (value: Decimal) in Money.rounded(value) }
        symbol = row.position.symbol
        qty = row.position.qty
        avgCost = Money.rounded(row.position.averageCost ?? 0, scale: 4)
        costBasisUSD = money(row.position.costBasis)
        price = row.price
        priceAsOf = row.priceAsOf
        marketValueUSD = row.marketValue.map(money)
        unrealizedPnLUSD = row.unrealizedPnL.map(money)
        unrealizedPnLPct = row.unrealizedPct.map { Money.rounded($0) }
        realizedPnLUSD = money(row.position.realizedPnL)
        dayPnLUSD = row.dayPnL.map(money)
        openedAt = row.position.openedAt
        highWater = row.highWater
    }
}

/// `PnL`: the book's totals (realized over every position, closed ones included).
struct PnLBody: Encodable, Sendable {
    var tradingDay: String
    var costBasisUSD: Decimal
    @Nullable var marketValueUSD: Decimal?
    @Nullable var unrealizedPnLUSD: Decimal?
    var realizedPnLUSD: Decimal
    @Nullable var dayPnLUSD: Decimal?

    enum CodingKeys: String, CodingKey {
        case tradingDay = "trading_day", costBasisUSD = "cost_basis_usd", marketValueUSD = "market_value_usd"
        case unrealizedPnLUSD = "unrealized_pnl_usd", realizedPnLUSD = "realized_pnl_usd", dayPnLUSD = "day_pnl_usd"
    }

    init(_ valuation: PortfolioValuation) {
        tradingDay = valuation.tradingDay
        costBasisUSD = Money.rounded(valuation.costBasis)
        marketValueUSD = valuation.marketValue.map { Money.rounded($0) }
        unrealizedPnLUSD = valuation.unrealizedPnL.map { Money.rounded($0) }
        realizedPnLUSD = Money.rounded(valuation.realizedPnL)
        dayPnLUSD = valuation.dayPnL.map { Money.rounded($0) }
    }
}

/// `GET /v1/me/trading/positions`.
struct PositionsBody: Encodable, Sendable {
    var positions: [PositionBody]
    var pnl: PnLBody

    init(_ valuation: PortfolioValuation) {
        positions = valuation.positions.map(PositionBody.init)
        pnl = PnLBody(valuation)
    }
}

/// `Status`: the user's switches, positions of their own book and P&L, recent orders, open questions.
struct StatusBody: Encodable, Sendable {
    var enabled: Bool
    var mode: String
    var watchlist: [String]
    var positions: [PositionBody]
    var pnl: PnLBody
    var recentOrders: [OrderBody]
    var openQuestions: Int

    enum CodingKeys: String, CodingKey {
        case enabled, mode, watchlist, positions, pnl
        case recentOrders = "recent_orders"
        case openQuestions = "open_questions"
    }
}

/// `Question`: as the app shows it. The hub's `ReceiveQuestion` carries the same in camelCase
/// and without status and delivery (`HubQuestionBody`).
struct QuestionBody: Encodable, Sendable {
    var id: String
    var text: String
    var type = "swipe"
    var options: JSONValue
    var status: String
    @Nullable var pipelineKey: String?
    @Nullable var pipelineStep: String?
    var metadata: JSONValue
    var createdAt: Date
    @Nullable var expiresAt: Date?
    @Nullable var deliveredAt: Date?

    enum CodingKeys: String, CodingKey {
        case id, text, type, options, status, metadata
        case pipelineKey = "pipeline_key", pipelineStep = "pipeline_step", createdAt = "created_at"
        case expiresAt = "expires_at", deliveredAt = "delivered_at"
    }

    init(_ q: StoredQuestion) {
        id = q.id.lowercased
        text = q.text
        options = q.options
        status = q.status
        pipelineKey = q.pipelineKey
        pipelineStep = q.pipelineStep
        metadata = q.metadata
        createdAt = q.createdAt
        expiresAt = q.expiresAt
        deliveredAt = q.deliveredAt
    }
}

/// `Negotiation`: the hub's `POST <hub>/negotiate` (camelCase, as SignalR clients read it).
struct NegotiationBody: Encodable, Sendable {
    struct Transport: Encodable, Sendable {
        var transport = "WebSockets"
        var transferFormats = ["Text"]
    }

    var negotiateVersion: Int
    var connectionId: String
    var connectionToken: String?
    var availableTransports = [Transport()]
}

/// `ReceiveQuestion`'s argument: the app's `Question` in camelCase, as SignalR clients read
/// it, without the status and the delivery time (a pushed question is open and being delivered).
struct HubQuestionBody: Encodable, Sendable {
    let question: QuestionBody

    init(_ q: StoredQuestion) {
        question = QuestionBody(q)
    }

    enum CodingKeys: String, CodingKey {
        case id, text, type, options, pipelineKey, pipelineStep, metadata, createdAt, expiresAt
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(question.id, forKey: .id)
        try container.encode(question.text, forKey: .text)
        try container.encode(question.type, forKey: .type)
        try container.encode(question.options, forKey: .options)
        try container.encode(question.pipelineKey, forKey: .pipelineKey)
        try container.encode(question.pipelineStep, forKey: .pipelineStep)
        try container.encode(question.metadata, forKey: .metadata)
        try container.encode(question.createdAt, forKey: .createdAt)
        try container.encode(question.expiresAt, forKey: .expiresAt)
    }
}

/// `ReceiveQuestionWithdrawn`'s argument.
struct QuestionWithdrawnBody: Encodable, Sendable {
    var id: String
    var reason: String
}

/// `GET /v1/me/questions`.
struct QuestionsBody: Encodable, Sendable {
    var questions: [QuestionBody]
}

/// `Answer`: `{"value"}` or its alias `{"answer"}`; other keys are ignored.
struct AnswerRequest: Decodable, Sendable {
    var value: JSONValue?
    var answer: JSONValue?

    /// The value given, or nil when neither key is there.
    var given: JSONValue? { value ?? answer }

    enum CodingKeys: String, CodingKey {
        case value, answer
    }

    /// A number beyond `Decimal`'s range is read as `LenientJSON` reads it (tiny: 0, huge: null).
    init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        value = Self.read(container, .value)
        answer = Self.read(container, .answer)
    }

    static func read(_ container: KeyedDecodingContainer<CodingKeys>, _ key: CodingKeys) -> JSONValue? {
        guard container.contains(key) else { return nil }
        return (try? container.decode(LenientJSON.self, forKey: key))?.value ?? .null
    }

    /// A number or a numeric string: what the answer service reads; nil for anything else.
    var acceptedValue: JSONValue? {
        switch given {
        case .number(let value)?: .number(value)
        case .string(let text)?: .string(text)
        default: nil
        }
    }
}

/// `AnswerResult` (snake_case for REST; the hub's completion carries it in camelCase).
struct AnswerResultBody: Encodable, Sendable {
    var questionID: String
    var decision: String
    var outcome: String
    var detail: String
    var repeated: Bool
    var tradeOrderID: String?
    var clientOrderID: String?
    var followUpQuestionID: String?
    /// Keys as the hub's clients expect them (camelCase) instead of the REST API's snake_case.
    var camelCase = false

    init(_ result: AnswerResult, camelCase: Bool = false) {
        questionID = result.questionID.lowercased
        decision = result.decision
        outcome = result.outcome.name
        detail = result.detail
        repeated = result.repeated
        self.camelCase = camelCase
        switch result.outcome {
        case .ordered(let order, let clientOrderID):
            tradeOrderID = order.lowercased
            self.clientOrderID = clientOrderID
        case .followUp(let next), .askedAgain(let next):
            followUpQuestionID = next.lowercased
        default: break
        }
    }

    struct Key: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: Key.self)
        func key(_ snake: String) -> Key { Key(stringValue: camelCase ? Presentation.camel(snake) : snake) }
        try container.encode(questionID, forKey: key("question_id"))
        try container.encode(decision, forKey: key("decision"))
        try container.encode(outcome, forKey: key("outcome"))
        try container.encode(detail, forKey: key("detail"))
        try container.encode(repeated, forKey: key("repeated"))
        try container.encodeIfPresent(tradeOrderID, forKey: key("trade_order_id"))
        try container.encodeIfPresent(clientOrderID, forKey: key("client_order_id"))
        try container.encodeIfPresent(followUpQuestionID, forKey: key("follow_up_question_id"))
    }
}
