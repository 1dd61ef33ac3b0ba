import Foundation
import HybridStore
import TradingCore

/// JSON shapes of the API. REST bodies are snake_case, like the config document and the
/// tables; hub messages are camelCase, as ASP.NET SignalR clients expect.
enum Presentation {
    static func iso(_ date: Date?) -> Any { date.map { $0.formatted(.iso8601.year().month().day().time(includingFractionalSeconds: true).timeZone(separator: .omitted)) } ?? NSNull() }

    static func decimal(_ value: Decimal?) -> Any {
        guard let value else { return NSNull() }
        return NSDecimalNumber(decimal: value)
    }

    static func json(_ value: JSONValue) -> Any {
        switch value {
        case .null: NSNull()
        case .bool(let b): b
        case .number(let n): NSDecimalNumber(decimal: n)
        case .string(let s): s
        case .array(let items): items.map(json)
        case .object(let fields): fields.mapValues(json)
        }
    }

    /// A question as the app shows it (REST, snake_case).
    static func question(_ q: StoredQuestion) -> [String: Any] {
        [
            "id": q.id.uuidString.lowercased(), "text": q.text, "type": "swipe", "options": json(q.options),
            "status": q.status, "pipeline_key": q.pipelineKey ?? NSNull(), "pipeline_step": q.pipelineStep ?? NSNull(),
            "metadata": json(q.metadata), "created_at": iso(q.createdAt), "expires_at": iso(q.expiresAt),
            "delivered_at": iso(q.deliveredAt),
        ]
    }

    /// The same question as `ReceiveQuestion` carries it (camelCase).
    static func hubQuestion(_ q: StoredQuestion) -> [String: Any] {
        [
            "id": q.id.uuidString.lowercased(), "text": q.text, "type": "swipe", "options": json(q.options),
            "pipelineKey": q.pipelineKey ?? NSNull(), "pipelineStep": q.pipelineStep ?? NSNull(),
            "metadata": json(q.metadata), "createdAt": iso(q.createdAt), "expiresAt": iso(q.expiresAt),
        ]
    }

    static func order(_ o: StoredOrder) -> [String: Any] {
        [
            "id": o.id.uuidString.lowercased(), "client_order_id": o.clientOrderID, "alpaca_order_id": o.alpacaOrderID ?? NSNull(),
            "symbol": o.symbol, "side": o.side, "order_type": o.orderType, "notional_usd": decimal(o.notionalUSD),
            "qty": decimal(o.qty), "status": o.status, "status_reason": o.statusReason ?? NSNull(),
            "question_id": o.questionID.map { $0.uuidString.lowercased() } ?? NSNull(), "rule_id": o.ruleID ?? NSNull(),
            "reference_price": decimal(o.referencePrice), "filled_qty": decimal(o.filledQty),
            "filled_avg_price": decimal(o.filledAvgPrice), "decided_at": iso(o.decidedAt), "submitted_at": iso(o.submittedAt),
            "filled_at": iso(o.filledAt), "created_at": iso(o.createdAt), "updated_at": iso(o.updatedAt),
        ]
    }

    /// A trade-update NOTIFY payload (snake_case) → `ReceiveTradeUpdate`'s argument (camelCase).
    static func hubTradeUpdate(_ payload: [String: Any]) -> [String: Any] {
        var result: [String: Any] = [:]
        for (key, value) in payload where key != "firebase_uid" {
            result[camel(key)] = value
        }
        return result
    }

    static func camel(_ snake: String) -> String {
        let parts = snake.split(separator: "_")
        guard let first = parts.first else { return snake }
        return String(first) + parts.dropFirst().map { $0.prefix(1).uppercased() + $0.dropFirst() }.joined()
    }
}
