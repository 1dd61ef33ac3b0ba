import Foundation
import HybridStore
import Logging
import PostgresNIO
import TradingCore

/// Bulk seeding for `fills`: users, configs, orders, prices; one statement each.
extension FillsBench {
    func seed(_ client: PostgresClient, referenceOrders: Int) async throws {
        let (book, ref, n, qty) = (BenchUniverse.bookPrefix, BenchUniverse.referencePrefix, universe.count, Self.qty)
        let priceTexts = prices.map { "\($0)" }
        let referenceUsers = (referenceOrders + n - 1) / n
        let config: JSONValue = .object([
            "data_inputs": .array([.object(["id": .string("w"), "symbols": .array(universe.map { .string($0) }),
                                            "poll_interval_seconds": .number(60)])]),
            "rules": .array([]),
        ])
        try await client.transaction(logger: logger) { db in
            try await db.query("""
                INSERT INTO users (firebase_uid, display_name)
                SELECT \(book) || n, 'bench' FROM generate_series(0, \(users - 1)) AS n
                UNION ALL
                SELECT \(ref) || n, 'bench' FROM generate_series(0, \(referenceUsers - 1)) AS n
                """, logger: logger)
            try await db.query("""
                INSERT INTO user_trading_config (firebase_uid, config, enabled)
                SELECT firebase_uid, \(config.canonicalString())::jsonb, true FROM users WHERE starts_with(firebase_uid, \(book))
                """, logger: logger)
            // One bought order per (user, symbol), accepted by the broker, nothing filled yet.
            try await db.query("""
                INSERT INTO trade_orders (id, firebase_uid, client_order_id, symbol, side, order_type, qty, status, rule_id,
                                          reference_price, decided_at)
                SELECT gen_random_uuid(), \(book) || n, 'hh-' || \(book) || n || '-' || s.symbol, s.symbol, 'buy', 'market', \(qty),
                       'accepted', 'bench', s.price::numeric, now() - interval '1 hour'
                FROM generate_series(0, \(users - 1)) AS n, unnest(\(universe)::text[], \(priceTexts)::text[]) AS s(symbol, price)
                """, logger: logger)
            // The reference: as many orders alike, on other users (their fills are never booked).
            try await db.query("""
                INSERT INTO trade_orders (id, firebase_uid, client_order_id, symbol, side, order_type, qty, status, rule_id,
                                          reference_price, decided_at)
                SELECT gen_random_uuid(), \(ref) || (k / \(n)), 'hh-' || \(ref) || k, s.symbol, 'buy', 'market', \(qty),
                       'accepted', 'bench', s.price::numeric, now() - interval '1 hour'
                FROM generate_series(0, \(referenceOrders - 1)) AS k
                JOIN unnest(\(universe)::text[], \(priceTexts)::text[]) WITH ORDINALITY AS s(symbol, price, i) ON s.i = k % \(n) + 1
                """, logger: logger)
            // A trading day of minute last trades per symbol (the newest this minute) and the
            // previous close, as the ingest stores them: what the positions read values with.
            try await db.query("""
                INSERT INTO market_data_snapshots (symbol, metric, price, as_of)
                SELECT s.symbol, 'last_trade', s.price::numeric + 0.5 + (m % 7) * 0.01, date_trunc('minute', now()) - m * interval '1 minute'
                FROM unnest(\(universe)::text[], \(priceTexts)::text[]) AS s(symbol, price), generate_series(0, \(priceMinutes - 1)) AS m
                UNION ALL
                SELECT s.symbol, 'prev_close', s.price::numeric - 1, date_trunc('day', now()) - interval '4 hours'
                FROM unnest(\(universe)::text[], \(priceTexts)::text[]) AS s(symbol, price)
                """, logger: logger)
        }
    }

    /// The orders of users whose uid starts with `prefix`, in random order, at most `limit`.
    func orders(_ client: PostgresClient, prefix: String, limit: Int) async throws -> [Order] {
        try await client.withConnection { db in
            let rows = try await db.query("""
                SELECT id, firebase_uid, symbol, reference_price FROM trade_orders
                WHERE starts_with(firebase_uid, \(prefix)) ORDER BY random() LIMIT \(limit)
                """, logger: logger)
            var result: [Order] = []
            for try await (id, uid, symbol, price) in rows.decode((UUID, String, String, Decimal).self) {
                result.append(Order(id: id, uid: uid, symbol: symbol, price: price))
            }
            return result
        }
    }

    /// The book users' orders outside the timed sample, filled whole and booked as
    /// `BookStore.recompute` would book them (one buy per position); the verification compares
    /// a sample of these with a recompute too.
    func seedFilled(_ client: PostgresClient, except timed: [UUID]) async throws {
        let (book, markup) = (BenchUniverse.bookPrefix, Self.markup)
        try await client.withConnection { db in
            _ = try await db.query("""
                WITH filled AS (
                    UPDATE trade_orders
                       SET alpaca_order_id = 'bench-' || id, status = 'filled', submitted_at = decided_at, filled_at = now(),
                           last_fill_at = now(), filled_qty = qty, filled_avg_price = reference_price + \(markup), updated_at = now()
                     WHERE starts_with(firebase_uid, \(book)) AND id NOT IN (SELECT unnest(\(timed)::uuid[]))
                    RETURNING id, firebase_uid, symbol, filled_qty, filled_avg_price, last_fill_at
                ), positions AS (
                    INSERT INTO user_positions (firebase_uid, symbol, qty, cost_basis, realized_pnl, opened_at, high_water_price,
                                                high_water_at, orders)
                    SELECT firebase_uid, symbol, filled_qty, filled_qty * filled_avg_price, 0, last_fill_at, filled_avg_price,
                           last_fill_at, 1
                    FROM filled
                )
                INSERT INTO book_orders (trade_order_id, firebase_uid, symbol, side, qty, avg_price, realized_pnl, filled_at)
                SELECT id, firebase_uid, symbol, 'buy', filled_qty, filled_avg_price, 0, last_fill_at FROM filled
                """, logger: logger)
        }
    }
}

enum FillsSQL {
    /// The statement `OrderStore.recordBroker` runs, as it runs it, without booking the fill:
    /// the reference. True when it updated the row.
    static func updateAlone(_ id: UUID, _ update: BrokerOrderUpdate, on db: PostgresConnection, logger: Logger) async throws -> Bool {
        let rows = try await db.query("""
            WITH before AS (SELECT id, filled_qty, filled_avg_price FROM trade_orders WHERE id = \(id) FOR UPDATE)
            UPDATE trade_orders t
               SET alpaca_order_id = \(update.alpacaOrderID), status = \(update.status),
                   submitted_at = coalesce(t.submitted_at, \(update.submittedAt)), filled_at = \(update.filledAt),
                   last_fill_at = CASE WHEN coalesce(t.filled_qty, 0) <> coalesce(\(update.filledQty), 0)
                                       THEN coalesce(\(update.lastFillAt), now()) ELSE t.last_fill_at END,
                   filled_qty = \(update.filledQty),
                   filled_avg_price = \(update.filledAvgPrice), raw = \(update.raw)::jsonb, updated_at = now()
              FROM before
             WHERE t.id = before.id
               AND (t.status NOT IN \(unescaped: OrderStatus.sqlList(OrderStatus.terminal))
                    OR (t.alpaca_order_id IS NULL AND t.status IN \(unescaped: OrderStatus.sqlList(OrderStatus.unsentEnd))))
               AND coalesce(t.filled_qty, 0) <= coalesce(\(update.filledQty), 0)
            RETURNING t.firebase_uid, t.symbol,
                      (before.filled_qty, before.filled_avg_price) IS DISTINCT FROM (t.filled_qty, t.filled_avg_price)
            """, logger: logger)
        var updated = false
        for try await _ in rows.decode((String, String, Bool).self) { updated = true }
        return updated
    }

    static func int(_ client: PostgresClient, _ sql: String, _ logger: Logger) async throws -> Int {
        try await client.withConnection { db in
            for try await n in try await db.query(PostgresQuery(unsafeSQL: sql), logger: logger).decode(Int.self) { return n }
            return 0
        }
    }

    static func execute(_ client: PostgresClient, _ sql: String, _ logger: Logger) async throws {
        try await client.withConnection { db in _ = try await db.query(PostgresQuery(unsafeSQL: sql), logger: logger) }
    }
}
