import Foundation
import Logging
import PostgresNIO
import TradingCore

/// A `user_positions` row.
public struct StoredPosition: Sendable, Hashable {
    public var firebaseUID: String
    public var position: BookPosition
    /// The highest price seen since the position opened (fills and prices the evaluation saw).
    public var highWaterPrice: Decimal?
    public var highWaterAt: Date?
    public var orders: Int
    public var updatedAt: Date

    public var symbol: String { position.symbol }
}

/// The per-user book (`user_positions`, `book_orders`; migration 0010). The book of a (user,
/// symbol) is recomputed from that user's orders in the symbol under its position's row lock,
/// in the transaction that records a fill: `PositionBook` does the arithmetic.
public enum BookStore {
    static let positionColumns = """
        firebase_uid, symbol, qty, cost_basis, realized_pnl, opened_at, high_water_price, high_water_at, orders, updated_at
        """

    static func decodePositions(_ rows: PostgresRowSequence) async throws -> [StoredPosition] {
        var result: [StoredPosition] = []
        for try await (uid, symbol, qty, cost, realized, opened, high, highAt, orders, updated)
            in rows.decode((String, String, Decimal, Decimal, Decimal, Date?, Decimal?, Date?, Int, Date).self) {
            result.append(StoredPosition(
                firebaseUID: uid,
                position: BookPosition(symbol: symbol, qty: qty, costBasis: cost, realizedPnL: realized, openedAt: opened,
                                       highestFillPrice: nil),
                highWaterPrice: high, highWaterAt: highAt, orders: orders, updatedAt: updated))
        }
        return result
    }

    /// The fills of one user's orders in one symbol, in the order the book applies them: by
    /// submission (the broker's `submitted_at`, else the approval), then creation.
    public static func fills(of uid: String, symbol: String, on db: PostgresConnection, logger: Logger) async throws -> [OrderFill] {
        let rows = try await db.query("""
            SELECT id, side, filled_qty, coalesce(filled_avg_price, reference_price, 0),
                   coalesce(last_fill_at, filled_at, submitted_at, decided_at)
            FROM trade_orders
            WHERE firebase_uid = \(uid) AND symbol = \(symbol) AND filled_qty > 0
            ORDER BY coalesce(submitted_at, decided_at), created_at, id
            """, logger: logger)
        var fills: [OrderFill] = []
        for try await (id, side, qty, price, at) in rows.decode((UUID, String, Decimal, Decimal, Date).self) {
            fills.append(OrderFill(orderID: id, side: side == "sell" ? .sell : .buy, qty: qty, avgPrice: price, filledAt: at))
        }
        return fills
    }

    /// Recomputes the book of (user, symbol) from its orders, under the position's row lock;
    /// in the caller's transaction (the one that recorded the fill). Idempotent.
    public static func recompute(_ uid: String, symbol: String, on db: PostgresConnection, logger: Logger) async throws {
        try await db.query("""
            INSERT INTO user_positions (firebase_uid, symbol) VALUES (\(uid), \(symbol))
            ON CONFLICT (firebase_uid, symbol) DO NOTHING
            """, logger: logger)
        guard let before = try await position(of: uid, symbol: symbol, lock: true, on: db, logger: logger) else {
            throw BookStoreError("the position row of \(symbol) vanished under its lock")
        }
        let fills = try await fills(of: uid, symbol: symbol, on: db, logger: logger)
        let (position, realized) = PositionBook.replay(symbol: symbol, fills: fills)
        // The high-water mark survives a recompute while the same position stays open.
        let sameOpen = before.position.openedAt != nil && before.position.openedAt == position.openedAt
        var high = position.highestFillPrice
        var highAt = position.openedAt
        if sameOpen, let stored = before.highWaterPrice, stored >= (high ?? stored) {
            high = stored
            highAt = before.highWaterAt ?? highAt
        }
        try await db.query("""
            UPDATE user_positions
               SET qty = \(position.qty), cost_basis = \(position.costBasis), realized_pnl = \(position.realizedPnL),
                   opened_at = \(position.openedAt), high_water_price = \(high), high_water_at = \(highAt),
                   orders = \(fills.count), updated_at = now()
             WHERE firebase_uid = \(uid) AND symbol = \(symbol)
            """, logger: logger)
        try await writeLedger(uid, symbol: symbol, fills: fills, realized: realized, on: db, logger: logger)
    }

    /// `book_orders` for (user, symbol) made equal to `fills`: rows changed or new upserted,
    /// rows of orders without fills any more (a correction) deleted.
    static func writeLedger(_ uid: String, symbol: String, fills: [OrderFill], realized: [UUID: Decimal],
                            on db: PostgresConnection, logger: Logger) async throws {
        let ids = fills.map(\.orderID)
        try await db.query("""
            DELETE FROM book_orders WHERE firebase_uid = \(uid) AND symbol = \(symbol) AND NOT (trade_order_id = ANY(\(ids)))
            """, logger: logger)
        guard !fills.isEmpty else { return }
        let sides = fills.map(\.side.rawValue)
        let qtys = fills.map { "\($0.qty)" }
        let prices = fills.map { "\($0.avgPrice)" }
        let pnls = fills.map { "\(realized[$0.orderID] ?? 0)" }
        let ats = fills.map(\.filledAt)
        try await db.query("""
            INSERT INTO book_orders (trade_order_id, firebase_uid, symbol, side, qty, avg_price, realized_pnl, filled_at)
            SELECT id, \(uid), \(symbol), side, qty::numeric, price::numeric, pnl::numeric, at
            FROM unnest(\(ids)::uuid[], \(sides)::text[], \(qtys)::text[], \(prices)::text[], \(pnls)::text[], \(ats)::timestamptz[])
                 AS f(id, side, qty, price, pnl, at)
            ON CONFLICT (trade_order_id) DO UPDATE
               SET qty = excluded.qty, avg_price = excluded.avg_price, realized_pnl = excluded.realized_pnl,
                   filled_at = excluded.filled_at
             WHERE (book_orders.qty, book_orders.avg_price, book_orders.realized_pnl, book_orders.filled_at)
                   IS DISTINCT FROM (excluded.qty, excluded.avg_price, excluded.realized_pnl, excluded.filled_at)
            """, logger: logger)
    }

    /// Where the stored book of (user, symbol) differs from the book its orders give now (no
    /// lock, no write): what the rebuild and the chaos run check. `recomputed` is that book.
    public static func compare(_ uid: String, symbol: String, on db: PostgresConnection,
                               logger: Logger) async throws -> (differences: [BookDifference], recomputed: BookPosition) {
        let stored = try await position(of: uid, symbol: symbol, on: db, logger: logger)
        let fills = try await fills(of: uid, symbol: symbol, on: db, logger: logger)
        let recomputed = PositionBook.replay(symbol: symbol, fills: fills).position
        return (BookDifference.between(uid, symbol, stored: stored, recomputed: recomputed, orders: fills.count), recomputed)
    }

    /// One position row of a user's (nil when they never had a fill in the symbol); with `lock`,
    /// locked for the rest of the transaction.
    public static func position(of uid: String, symbol: String, lock: Bool = false, on db: PostgresConnection,
                                logger: Logger) async throws -> StoredPosition? {
        try await decodePositions(db.query("""
            SELECT \(unescaped: positionColumns) FROM user_positions WHERE firebase_uid = \(uid) AND symbol = \(symbol)
            \(unescaped: lock ? "FOR UPDATE" : "")
            """, logger: logger)).first
    }

    /// Books that are short (the broker filled a sell beyond what the book held).
    public static func shortPositions(on db: PostgresConnection, logger: Logger) async throws -> [(uid: String, symbol: String, qty: Decimal)] {
        let rows = try await db.query("SELECT firebase_uid, symbol, qty FROM user_positions WHERE qty < 0 ORDER BY 1, 2", logger: logger)
        var result: [(uid: String, symbol: String, qty: Decimal)] = []
        for try await row in rows.decode((String, String, Decimal).self) { result.append(row) }
        return result
    }

    /// The users' position rows, by user: open ones and flat ones (whose realized P&L counts).
    public static func positions(of uids: [String], on db: PostgresConnection, logger: Logger) async throws -> [String: [StoredPosition]] {
        let rows = try await db.query("""
            SELECT \(unescaped: positionColumns) FROM user_positions WHERE firebase_uid = ANY(\(uids)) ORDER BY firebase_uid, symbol
            """, logger: logger)
        return Dictionary(grouping: try await decodePositions(rows), by: \.firebaseUID)
    }

    /// The highest price of each user's open long positions since they opened: the stored
    /// high-water mark (fills, and what earlier evaluations saw) or a newer stored last trade up
    /// to `asOf`, whichever is higher. For the trailing stop.
    public static func highWater(of uids: [String], asOf: Date, on db: PostgresConnection,
                                 logger: Logger) async throws -> [String: [String: Decimal]] {
        let rows = try await db.query("""
            SELECT p.firebase_uid, p.symbol,
                   greatest(p.high_water_price,
                            (SELECT max(s.price) FROM market_data_snapshots s
                              WHERE s.symbol = p.symbol AND s.metric = 'last_trade'
                                AND s.as_of >= coalesce(p.high_water_at, p.opened_at) AND s.as_of <= \(asOf)))
            FROM user_positions p
            WHERE p.firebase_uid = ANY(\(uids)) AND p.qty > 0
            """, logger: logger)
        var result: [String: [String: Decimal]] = [:]
        for try await (uid, symbol, high) in rows.decode((String, String, Decimal?).self) {
            if let high { result[uid, default: [:]][symbol] = high }
        }
        return result
    }

    /// A high-water mark to keep: the highest price of the position that opened at `openedAt`,
    /// known up to `through` (older prices need not be read again).
    public struct HighWaterMark: Sendable {
        public var uid: String
        public var symbol: String
        public var openedAt: Date
        public var price: Decimal
        public var through: Date

        public init(uid: String, symbol: String, openedAt: Date, price: Decimal, through: Date) {
            self.uid = uid
            self.symbol = symbol
            self.openedAt = openedAt
            self.price = price
            self.through = through
        }
    }

    /// Stores high-water marks so that the next `highWater` reads only prices since `through`:
    /// only forward, only up, only for the same open position (a recompute that reopened it in
    /// between has reset the mark). Rows are locked in key order; the marks are a cache of what
    /// the snapshots say, so a caller may ignore a failure.
    public static func keepHighWater(_ marks: [HighWaterMark], on db: PostgresConnection, logger: Logger) async throws {
        guard !marks.isEmpty else { return }
        try await db.query("""
            WITH m AS (SELECT * FROM unnest(\(marks.map(\.uid))::text[], \(marks.map(\.symbol))::text[], \(marks.map(\.openedAt))::timestamptz[],
                                            \(marks.map { "\($0.price)" })::text[], \(marks.map(\.through))::timestamptz[])
                       AS m(uid, symbol, opened, price, through)),
                 locked AS (SELECT p.firebase_uid, p.symbol FROM user_positions p JOIN m ON p.firebase_uid = m.uid AND p.symbol = m.symbol
                            ORDER BY p.firebase_uid, p.symbol FOR UPDATE OF p)
            UPDATE user_positions p SET high_water_price = m.price::numeric, high_water_at = m.through
              FROM m JOIN locked l ON l.firebase_uid = m.uid AND l.symbol = m.symbol
             WHERE p.firebase_uid = m.uid AND p.symbol = m.symbol AND p.qty > 0 AND p.opened_at = m.opened
               AND p.high_water_at < m.through AND coalesce(p.high_water_price, 0) <= m.price::numeric
            """, logger: logger)
    }

    /// What each user's fills did since `start` (the US/Eastern day's start), per symbol.
    public static func activity(of uids: [String], since start: Date, on db: PostgresConnection,
                                logger: Logger) async throws -> [String: [String: DayActivity]] {
        let rows = try await db.query("""
            SELECT firebase_uid, symbol,
                   coalesce(sum(qty) FILTER (WHERE side = 'buy'), 0), coalesce(sum(qty * avg_price) FILTER (WHERE side = 'buy'), 0),
                   coalesce(sum(qty) FILTER (WHERE side = 'sell'), 0), coalesce(sum(qty * avg_price) FILTER (WHERE side = 'sell'), 0),
                   coalesce(sum(realized_pnl), 0)
            FROM book_orders WHERE firebase_uid = ANY(\(uids)) AND filled_at >= \(start)
            GROUP BY firebase_uid, symbol
            """, logger: logger)
        var result: [String: [String: DayActivity]] = [:]
        for try await (uid, symbol, boughtQty, boughtCost, soldQty, soldProceeds, realized)
            in rows.decode((String, String, Decimal, Decimal, Decimal, Decimal, Decimal).self) {
            result[uid, default: [:]][symbol] = DayActivity(boughtQty: boughtQty, boughtCost: boughtCost, soldQty: soldQty,
                                                            soldProceeds: soldProceeds, realizedPnL: realized)
        }
        return result
    }

    /// The users' orders that have not ended (unsent ones included): what each may still buy
    /// or sell. Sells reserve shares (a second sell cannot sell them again); buys count toward
    /// the position and exposure caps.
    public static func openOrders(of uids: [String], excluding: UUID? = nil, on db: PostgresConnection,
                                  logger: Logger) async throws -> [String: [OpenOrderExposure]] {
        let rows = try await db.query("""
            SELECT firebase_uid, symbol, side,
                   greatest(coalesce(qty, notional_usd / nullif(reference_price, 0)) - coalesce(filled_qty, 0), 0),
                   greatest(coalesce(notional_usd, qty * reference_price)
                            - coalesce(filled_qty * coalesce(filled_avg_price, reference_price), 0), 0)
            FROM trade_orders
            WHERE firebase_uid = ANY(\(uids)) AND status NOT IN \(unescaped: OrderStatus.sqlList(OrderStatus.terminal))
              AND id IS DISTINCT FROM \(excluding)
            """, logger: logger)
        var result: [String: [OpenOrderExposure]] = [:]
        for try await (uid, symbol, side, qty, notional) in rows.decode((String, String, String, Decimal?, Decimal?).self) {
            // A size that cannot be valued fails closed: it reserves everything (NaN refuses).
            result[uid, default: []].append(OpenOrderExposure(symbol: symbol, side: side == "sell" ? .sell : .buy,
                                                              remainingQty: qty ?? .nan, remainingNotional: notional ?? .nan))
        }
        return result
    }

    /// Every (user, symbol) the book has or should have: a position row or a fill.
    public static func bookKeys(on db: PostgresConnection, logger: Logger) async throws -> [(uid: String, symbol: String)] {
        let rows = try await db.query("""
            SELECT firebase_uid, symbol FROM user_positions
            UNION
            SELECT firebase_uid, symbol FROM trade_orders WHERE filled_qty > 0
            ORDER BY 1, 2
            """, logger: logger)
        var keys: [(uid: String, symbol: String)] = []
        for try await (uid, symbol) in rows.decode((String, String).self) { keys.append((uid, symbol)) }
        return keys
    }

    /// The sum of every user's book per symbol the books ever held (0 when all are flat).
    public static func accountSum(on db: PostgresConnection, logger: Logger) async throws -> [String: Decimal] {
        let rows = try await db.query("SELECT symbol, sum(qty) FROM user_positions GROUP BY symbol", logger: logger)
        var sums: [String: Decimal] = [:]
        for try await (symbol, qty) in rows.decode((String, Decimal).self) { sums[symbol] = qty }
        return sums
    }
}

extension BookStore {
    /// Symbols with an order of ours that has not ended: their books may not yet hold what the
    /// broker filled.
    public static func settlingSymbols(on db: PostgresConnection, logger: Logger) async throws -> Set<String> {
        let rows = try await db.query("""
            SELECT DISTINCT symbol FROM trade_orders WHERE status NOT IN \(unescaped: OrderStatus.sqlList(OrderStatus.terminal))
            """, logger: logger)
        var symbols: Set<String> = []
        for try await symbol in rows.decode(String.self) { symbols.insert(symbol) }
        return symbols
    }
}

/// One field in which a stored position differs from its recomputed book (exact decimals).
public struct BookDifference: Sendable, Hashable {
    public var uid: String
    public var symbol: String
    public var field: String
    public var stored: String
    public var recomputed: String

    /// Every field of `stored` that differs from `recomputed` (a missing row is one difference).
    static func between(_ uid: String, _ symbol: String, stored: StoredPosition?, recomputed: BookPosition, orders: Int) -> [BookDifference] {
        guard let stored else {
            return [BookDifference(uid: uid, symbol: symbol, field: "row", stored: "missing", recomputed: "\(recomputed.qty) shares")]
        }
        let time = { (date: Date?) in date.map { $0.formatted(Date.ISO8601FormatStyle(includingFractionalSeconds: true)) } ?? "-" }
        let book = stored.position
        return [
            ("qty", "\(book.qty)", "\(recomputed.qty)"),
            ("cost_basis", "\(book.costBasis)", "\(recomputed.costBasis)"),
            ("realized_pnl", "\(book.realizedPnL)", "\(recomputed.realizedPnL)"),
            ("opened_at", time(book.openedAt), time(recomputed.openedAt)),
            ("orders", "\(stored.orders)", "\(orders)"),
        ].compactMap { field, a, b in
            a == b ? nil : BookDifference(uid: uid, symbol: symbol, field: field, stored: a, recomputed: b)
        }
    }
}

public struct BookStoreError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}
