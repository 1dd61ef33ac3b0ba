import Foundation
import Logging
import PostgresNIO
import TradingCore

/// A `trade_orders` row.
public struct StoredOrder: Sendable, Equatable {
    public var id: UUID
    public var firebaseUID: String
    public var clientOrderID: String
    public var alpacaOrderID: String?
    public var symbol: String
    public var side: String
    public var orderType: String
    public var notionalUSD: Decimal?
    public var qty: Decimal?
    public var status: String
    public var statusReason: String?
    public var questionID: UUID?
    public var ruleID: String?
    public var referencePrice: Decimal?
    public var decidedAt: Date
    public var submittedAt: Date?
    public var filledAt: Date?
    public var filledQty: Decimal?
    public var filledAvgPrice: Decimal?
    public var createdAt: Date
    public var updatedAt: Date
    public var timeInForce: String = "day"
    /// The intent the user approved (nil for orders made before intents were frozen).
    public var intent: OrderIntent?
    public var cancelRequestedAt: Date?
    public var cancelReason: String?

    public var isTerminal: Bool { OrderStatus.isTerminal(status) }
    /// Ended without ever reaching Alpaca.
    public var endedUnsent: Bool { isTerminal && alpacaOrderID == nil }
}

/// What a new approved order carries.
public struct NewOrder: Sendable {
    public var id: UUID
    public var firebaseUID: String
    public var clientOrderID: String
    public var symbol: String
    public var side: String
    public var notionalUSD: Decimal?
    public var qty: Decimal?
    public var questionID: UUID
    public var ruleID: String
    public var referencePrice: Decimal?
    public var decidedAt: Date
    public var orderType = "market"
    public var timeInForce = "day"
    public var intent: JSONValue?

    public init(id: UUID = UUID(), firebaseUID: String, clientOrderID: String, symbol: String, side: String,
                notionalUSD: Decimal?, qty: Decimal?, questionID: UUID, ruleID: String, referencePrice: Decimal?, decidedAt: Date) {
        self.id = id
        self.firebaseUID = firebaseUID
        self.clientOrderID = clientOrderID
        self.symbol = symbol
        self.side = side
        self.notionalUSD = notionalUSD
        self.qty = qty
        self.questionID = questionID
        self.ruleID = ruleID
        self.referencePrice = referencePrice
        self.decidedAt = decidedAt
    }
}

/// The broker's view of an order, as recorded.
public struct BrokerOrderUpdate: Sendable {
    public var alpacaOrderID: String
    public var status: String
    public var submittedAt: Date?
    public var filledAt: Date?
    public var filledQty: Decimal?
    public var filledAvgPrice: Decimal?
    /// When it last filled by the broker's clock (its `filled_at`, else its `updated_at`).
    public var lastFillAt: Date?
    public var raw: String

    public init(alpacaOrderID: String, status: String, submittedAt: Date?, filledAt: Date?, filledQty: Decimal?,
                filledAvgPrice: Decimal?, lastFillAt: Date? = nil, raw: String) {
        self.alpacaOrderID = alpacaOrderID
        self.status = status
        self.submittedAt = submittedAt
        self.filledAt = filledAt
        self.filledQty = filledQty
        self.filledAvgPrice = filledAvgPrice
        self.lastFillAt = lastFillAt
        self.raw = raw
    }
}

public enum OrderStore {
    static let columns = """
        id, firebase_uid, client_order_id, alpaca_order_id, symbol, side, order_type, notional_usd, qty, status,
        status_reason, question_id, rule_id, reference_price, decided_at, submitted_at, filled_at, filled_qty,
        filled_avg_price, created_at, updated_at, time_in_force, intent::text, cancel_requested_at, cancel_reason
        """

    static func decode(_ rows: PostgresRowSequence) async throws -> [StoredOrder] {
        var result: [StoredOrder] = []
        for try await row in rows {
            let cells = row.makeRandomAccess()
            func cell<T: PostgresDecodable>(_ index: Int, _ type: T.Type) throws -> T { try cells[index].decode(T.self) }
            result.append(StoredOrder(
                id: try cell(0, UUID.self), firebaseUID: try cell(1, String.self), clientOrderID: try cell(2, String.self),
                alpacaOrderID: try cell(3, String?.self), symbol: try cell(4, String.self), side: try cell(5, String.self),
                orderType: try cell(6, String.self), notionalUSD: try cell(7, Decimal?.self), qty: try cell(8, Decimal?.self),
                status: try cell(9, String.self), statusReason: try cell(10, String?.self), questionID: try cell(11, UUID?.self),
                ruleID: try cell(12, String?.self), referencePrice: try cell(13, Decimal?.self), decidedAt: try cell(14, Date.self),
                submittedAt: try cell(15, Date?.self), filledAt: try cell(16, Date?.self), filledQty: try cell(17, Decimal?.self),
                filledAvgPrice: try cell(18, Decimal?.self), createdAt: try cell(19, Date.self), updatedAt: try cell(20, Date.self),
                timeInForce: try cell(21, String.self),
                intent: OrderIntent(json: try cell(22, String?.self).flatMap { try? JSONValue.parse($0) }),
                cancelRequestedAt: try cell(23, Date?.self), cancelReason: try cell(24, String?.self)))
        }
        return result
    }

    public static func order(_ id: UUID, on db: PostgresConnection, logger: Logger) async throws -> StoredOrder? {
        var binds = PostgresBindings()
        binds.append(id)
        return try await decode(db.query(PostgresQuery(unsafeSQL: "SELECT \(columns) FROM trade_orders WHERE id = $1", binds: binds),
                                         logger: logger)).first
    }

    public static func order(clientOrderID: String, on db: PostgresConnection, logger: Logger) async throws -> StoredOrder? {
        var binds = PostgresBindings()
        binds.append(clientOrderID)
        let sql = "SELECT \(columns) FROM trade_orders WHERE client_order_id = $1"
        return try await decode(db.query(PostgresQuery(unsafeSQL: sql, binds: binds), logger: logger)).first
    }

    public static func order(forQuestion questionID: UUID, on db: PostgresConnection, logger: Logger) async throws -> StoredOrder? {
        var binds = PostgresBindings()
        binds.append(questionID)
        let sql = "SELECT \(columns) FROM trade_orders WHERE question_id = $1"
        return try await decode(db.query(PostgresQuery(unsafeSQL: sql, binds: binds), logger: logger)).first
    }

    /// A user's orders, newest first (the API pages with `before`).
    public static func orders(of uid: String, limit: Int, before: Date? = nil,
                              on db: PostgresConnection, logger: Logger) async throws -> [StoredOrder] {
        var binds = PostgresBindings()
        binds.append(uid)
        binds.append(before ?? Date.distantFuture)
        binds.append(limit)
        let sql = "SELECT \(columns) FROM trade_orders WHERE firebase_uid = $1 AND created_at < $2 ORDER BY created_at DESC LIMIT $3"
        return try await decode(db.query(PostgresQuery(unsafeSQL: sql, binds: binds), logger: logger))
    }

    /// The orders that count against the caps (everything Alpaca may have seen), decided in
    /// the 24 hours before `now` (covers both the ET day and the 4-hour window); `excluding`
    /// leaves out the order being re-checked.
    public static func countedOrders(of uid: String, around now: Date, excluding: UUID? = nil,
                                     on db: PostgresConnection, logger: Logger) async throws -> [PlacedOrder] {
        try await countedOrders(of: [uid], around: now, excluding: excluding, on: db, logger: logger)[uid] ?? []
    }

    public static func insert(_ order: NewOrder, on db: PostgresConnection, logger: Logger) async throws {
        try await db.query("""
            INSERT INTO trade_orders (id, firebase_uid, client_order_id, symbol, side, order_type, time_in_force, notional_usd,
                                      qty, status, question_id, rule_id, reference_price, decided_at, intent)
            VALUES (\(order.id), \(order.firebaseUID), \(order.clientOrderID), \(order.symbol), \(order.side), \(order.orderType),
                    \(order.timeInForce), \(order.notionalUSD), \(order.qty), 'pending_submit', \(order.questionID), \(order.ruleID),
                    \(order.referencePrice), \(order.decidedAt), \(order.intent?.canonicalString())::jsonb)
            """, logger: logger)
    }

    /// Records what the broker says; a terminal row is never moved back (but a row ended unsent
    /// takes any report of the broker's: it has the order after all), and a stale report
    /// (fewer shares filled than already recorded) never overwrites a newer one: fills arrive
    /// by the trade stream and by polling, in either order, and the row ends the same. A change
    /// in what was filled is booked in the user's position in the same transaction.
    @discardableResult
    public static func recordBroker(_ id: UUID, _ update: BrokerOrderUpdate, on db: PostgresConnection, logger: Logger) async throws -> Bool {
        let rows = try await db.query("""
            WITH before AS (SELECT id, filled_qty, filled_avg_price FROM trade_orders WHERE id = \(id) FOR UPDATE)
            UPDATE trade_orders t
               SET alpaca_order_id = \(update.alpacaOrderID), status = \(update.status),
                   submitted_at = coalesce(t.submitted_at, \(update.submittedAt)), filled_at = \(update.filledAt),
                   -- Dated by the broker when what was filled changes (SET reads the row as it was).
                   last_fill_at = CASE WHEN coalesce(t.filled_qty, 0) <> coalesce(\(update.filledQty), 0)
                                       THEN coalesce(\(update.lastFillAt), now()) ELSE t.last_fill_at END,
                   filled_qty = \(update.filledQty),
                   filled_avg_price = \(update.filledAvgPrice), raw = \(update.raw)::jsonb, updated_at = now()
              FROM before
             WHERE t.id = before.id
               AND (t.status NOT IN \(unescaped: OrderStatus.sqlList(OrderStatus.terminal))
                    -- Ended unsent, yet the broker has it (a POST that landed late): Alpaca is the truth.
                    OR (t.alpaca_order_id IS NULL AND t.status IN \(unescaped: OrderStatus.sqlList(OrderStatus.unsentEnd))))
               AND coalesce(t.filled_qty, 0) <= coalesce(\(update.filledQty), 0)
            RETURNING t.firebase_uid, t.symbol,
                      (before.filled_qty, before.filled_avg_price) IS DISTINCT FROM (t.filled_qty, t.filled_avg_price)
            """, logger: logger)
        return try await bookIfFilled(rows, on: db, logger: logger)
    }

    /// Books the fill an update made (its `RETURNING firebase_uid, symbol, fill_changed`);
    /// true when a row was updated.
    static func bookIfFilled(_ rows: PostgresRowSequence, on db: PostgresConnection, logger: Logger) async throws -> Bool {
        var updated: (uid: String, symbol: String, fillChanged: Bool)?
        for try await row in rows.decode((String, String, Bool).self) { updated = row }
        guard let updated else { return false }
        if updated.fillChanged { try await BookStore.recompute(updated.uid, symbol: updated.symbol, on: db, logger: logger) }
        return true
    }

    /// Ends an order that Alpaca does not have (see `OrderStatus.unsentEnd`). Callers
    /// have asked Alpaca first: nothing is marked unsent that Alpaca might hold.
    @discardableResult
    public static func markNotSent(_ id: UUID, status: String, reason: String, on db: PostgresConnection, logger: Logger) async throws -> Bool {
        precondition(OrderStatus.unsentEnd.contains(status))
        let rows = try await db.query("""
            UPDATE trade_orders SET status = \(status), status_reason = \(reason), updated_at = now()
             WHERE id = \(id) AND status = 'pending_submit'
            RETURNING id
            """, logger: logger)
        for try await _ in rows { return true }
        return false
    }

    /// The order row, locked for the rest of the transaction.
    public static func lock(_ id: UUID, on db: PostgresConnection, logger: Logger) async throws -> StoredOrder? {
        var binds = PostgresBindings()
        binds.append(id)
        let sql = "SELECT \(columns) FROM trade_orders WHERE id = $1 FOR UPDATE"
        return try await decode(db.query(PostgresQuery(unsafeSQL: sql, binds: binds), logger: logger)).first
    }

    /// An operator's cancel of an order not yet sent: recorded on the row (which `submit-order`
    /// reads under its lock), so the next submit attempt ends it instead of sending it. Returns
    /// the row, or nil when it is not `pending_submit` any more (sent or ended).
    public static func requestCancel(_ id: UUID, reason: String, on db: PostgresConnection, logger: Logger) async throws -> StoredOrder? {
        var binds = PostgresBindings()
        binds.append(id)
        binds.append(reason)
        let sql = """
            UPDATE trade_orders SET cancel_requested_at = coalesce(cancel_requested_at, now()), cancel_reason = coalesce(cancel_reason, $2),
                   updated_at = now()
             WHERE id = $1 AND status = 'pending_submit'
            RETURNING \(columns)
            """
        return try await decode(db.query(PostgresQuery(unsafeSQL: sql, binds: binds), logger: logger)).first
    }

    public static func setReason(_ id: UUID, _ reason: String, on db: PostgresConnection, logger: Logger) async throws {
        try await db.query("UPDATE trade_orders SET status_reason = \(reason), updated_at = now() WHERE id = \(id)", logger: logger)
    }
}

extension OrderStore {
    /// `countedOrders` for several users at once; absent users have none.
    public static func countedOrders(of uids: [String], around now: Date, excluding: UUID? = nil, on db: PostgresConnection,
                                     logger: Logger) async throws -> [String: [PlacedOrder]] {
        // What happened counts: an order still open (or not yet sent) at its full size; an
        // ended one by what was filled (a partial fill counts its filled part; a rejection, a
        // cancel or an unsent order with nothing filled does not count at all).
        let rows = try await db.query("""
            SELECT firebase_uid, decided_at, side,
                   CASE WHEN status = 'filled' AND filled_qty IS NULL
                             THEN coalesce(notional_usd, qty * reference_price)
                        WHEN status IN \(unescaped: OrderStatus.sqlList(OrderStatus.terminal))
                             THEN coalesce(filled_qty * coalesce(filled_avg_price, reference_price), notional_usd)
                        ELSE coalesce(notional_usd, qty * reference_price) END
            FROM trade_orders
            WHERE firebase_uid = ANY(\(uids)) AND decided_at > \(now.addingTimeInterval(-26 * 3600))
              AND (status NOT IN \(unescaped: OrderStatus.sqlList(OrderStatus.terminal))
                   OR status = 'filled' OR coalesce(filled_qty, 0) > 0)
              AND id IS DISTINCT FROM \(excluding)
            """, logger: logger)
        var result: [String: [PlacedOrder]] = [:]
        for try await (uid, decided, side, notional) in rows.decode((String, Date, String, Decimal?).self) {
            // An order with no size or price to value it by (not one this server writes) fails
            // closed: it counts as NaN, which the guardrails refuse.
            result[uid, default: []].append(PlacedOrder(createdAt: decided, notionalUSD: notional ?? .nan,
                                                        side: side == "sell" ? .sell : .buy))
        }
        return result
    }

    /// Publishes the order's current state on the trade-updates channel (sent at commit).
    public static func publishUpdate(_ order: StoredOrder, on db: PostgresConnection, logger: Logger) async throws {
        var fields: [String: JSONValue] = [
            "firebase_uid": .string(order.firebaseUID), "trade_order_id": .string(order.id.uuidString.lowercased()),
            "client_order_id": .string(order.clientOrderID), "status": .string(order.status), "symbol": .string(order.symbol),
            "side": .string(order.side),
        ]
        if let value = order.notionalUSD { fields["notional_usd"] = .number(value) }
        if let value = order.qty { fields["qty"] = .number(value) }
        if let value = order.filledQty { fields["filled_qty"] = .number(value) }
        if let value = order.filledAvgPrice { fields["filled_avg_price"] = .number(value) }
        if let value = order.statusReason { fields["status_reason"] = .string(String(value.prefix(500))) }
        if let value = order.alpacaOrderID { fields["alpaca_order_id"] = .string(value) }
        // The user's position after the fill (booked in this transaction).
        if (order.filledQty ?? 0) > 0,
           let held = try await BookStore.position(of: order.firebaseUID, symbol: order.symbol, on: db, logger: logger) {
            fields["position_qty"] = .number(held.position.qty)
            fields["position_cost_basis"] = .number(Money.rounded(held.position.costBasis, scale: 2))
            if let average = held.position.averageCost { fields["position_avg_cost"] = .number(Money.rounded(average, scale: 4)) }
            fields["position_realized_pnl"] = .number(Money.rounded(held.position.realizedPnL, scale: 2))
        }
        try await db.query("SELECT pg_notify(\(NotifyChannels.tradeUpdates), \(JSONValue.object(fields).canonicalString()))",
                           logger: logger)
    }

    /// Approved orders still `pending_submit` with no change for `quietSeconds`, oldest first:
    /// the candidates the tick checks for a lost `submit-order` job.
    public static func quietPendingSubmissions(quietSeconds: Int, limit: Int, on db: PostgresConnection,
                                               logger: Logger) async throws -> [(id: UUID, clientOrderID: String)] {
        let rows = try await db.query("""
            SELECT id, client_order_id FROM trade_orders
            WHERE status = \(OrderStatus.pendingSubmit) AND updated_at < now() - make_interval(secs => \(quietSeconds))
            ORDER BY updated_at LIMIT \(limit)
            """, logger: logger)
        var result: [(id: UUID, clientOrderID: String)] = []
        for try await (id, clientOrderID) in rows.decode((UUID, String).self) { result.append((id, clientOrderID)) }
        return result
    }

    /// Orders the broker has and that are not terminal, with no change for `quietSeconds`,
    /// oldest first: the tick's safety-net polls.
    public static func quietOpenOrders(quietSeconds: Int, limit: Int, on db: PostgresConnection,
                                       logger: Logger) async throws -> [(id: UUID, clientOrderID: String)] {
        let rows = try await db.query("""
            SELECT id, client_order_id FROM trade_orders
            WHERE status NOT IN \(unescaped: OrderStatus.sqlList(OrderStatus.terminal + [OrderStatus.pendingSubmit]))
              AND updated_at < now() - make_interval(secs => \(quietSeconds))
            ORDER BY updated_at LIMIT \(limit)
            """, logger: logger)
        var result: [(id: UUID, clientOrderID: String)] = []
        for try await (id, clientOrderID) in rows.decode((UUID, String).self) { result.append((id, clientOrderID)) }
        return result
    }

    /// `requestCancel` for many orders at once (the tick, for orders whose submit job an
    /// operator cancelled); returns the ids marked.
    @discardableResult
    public static func requestCancel(_ ids: [UUID], reason: String, on db: PostgresConnection, logger: Logger) async throws -> [UUID] {
        guard !ids.isEmpty else { return [] }
        let rows = try await db.query("""
            UPDATE trade_orders SET cancel_requested_at = coalesce(cancel_requested_at, now()),
                   cancel_reason = coalesce(cancel_reason, \(reason)), updated_at = now()
             WHERE id = ANY(\(ids)) AND status = \(OrderStatus.pendingSubmit)
            RETURNING id
            """, logger: logger)
        var marked: [UUID] = []
        for try await id in rows.decode(UUID.self) { marked.append(id) }
        return marked
    }
}
