import Foundation
import Logging
import PostgresNIO

/// The `market_streams` row of a feed: which symbols the farm's one market-data stream covers
/// and until when (database time). The tick polls by REST whatever no healthy stream covers.
public enum MarketStreamStore {
    /// The holder vouches for `symbols` for `healthySeconds` more (it calls this while its
    /// connection lives; a dead stream lapses by itself). `newConnection`: the first report of
    /// a connection, which sets `connected_at`.
    public static func report(feed: String, holder: String, symbols: [String], messages: Int64, healthySeconds: Double,
                              newConnection: Bool, on db: PostgresConnection, logger: Logger) async throws {
        try await db.query("""
            INSERT INTO market_streams AS s (feed, holder, connected_at, healthy_until, symbols, last_message_at, messages)
            VALUES (\(feed), \(holder), now(), now() + make_interval(secs => \(healthySeconds)), \(symbols), now(), \(messages))
            ON CONFLICT (feed) DO UPDATE
               SET connected_at = CASE WHEN s.holder = EXCLUDED.holder AND NOT \(newConnection) THEN s.connected_at ELSE now() END,
                   holder = EXCLUDED.holder, healthy_until = EXCLUDED.healthy_until, symbols = EXCLUDED.symbols,
                   last_message_at = now(), messages = EXCLUDED.messages, updated_at = now()
            """, logger: logger)
    }

    /// The stream is gone (disconnect, silence, lost leadership): polling takes over at once.
    public static func lapse(feed: String, holder: String, on db: PostgresConnection, logger: Logger) async throws {
        try await db.query("""
            UPDATE market_streams SET healthy_until = least(healthy_until, now()), updated_at = now()
             WHERE feed = \(feed) AND holder = \(holder)
            """, logger: logger)
    }

    /// Symbols a healthy stream covers now, per feed.
    public static func coveredSymbols(on db: PostgresConnection, logger: Logger) async throws -> [String: Set<String>] {
        let rows = try await db.query("SELECT feed, symbols FROM market_streams WHERE healthy_until > now()", logger: logger)
        var result: [String: Set<String>] = [:]
        for try await (feed, symbols) in rows.decode((String, [String]).self) { result[feed] = Set(symbols) }
        return result
    }

    public struct Status: Sendable {
        public var feed: String
        public var holder: String
        public var connectedAt: Date
        public var healthyUntil: Date
        public var healthy: Bool
        public var symbols: [String]
        public var messages: Int64
    }

    /// For the ops CLI and tests.
    public static func status(on db: PostgresConnection, logger: Logger) async throws -> [Status] {
        let rows = try await db.query("""
            SELECT feed, holder, connected_at, healthy_until, healthy_until > now(), symbols, messages
            FROM market_streams ORDER BY feed
            """, logger: logger)
        var result: [Status] = []
        for try await row in rows.decode((String, String, Date, Date, Bool, [String], Int64).self) {
            result.append(Status(feed: row.0, holder: row.1, connectedAt: row.2, healthyUntil: row.3, healthy: row.4,
                                 symbols: row.5, messages: row.6))
        }
        return result
    }
}
