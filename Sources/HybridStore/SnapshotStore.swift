import Foundation
import Logging
import PostgresNIO
import TradingCore

/// A snapshot row to write; `raw` is the provider's fragment, kept for debugging.
public struct SnapshotInsert: Sendable {
    public var symbol: String
    public var metric: Metric
    public var price: Decimal?
    public var volume: Decimal?
    public var asOf: Date
    public var feed: String
    public var raw: JSONValue?

    public init(symbol: String, metric: Metric, price: Decimal?, volume: Decimal?, asOf: Date,
                feed: String = "iex", raw: JSONValue? = nil) {
        self.symbol = symbol
        self.metric = metric
        self.price = price
        self.volume = volume
        self.asOf = asOf
        self.feed = feed
        self.raw = raw
    }
}

/// `market_data_snapshots`: the facts rules read, one row per (symbol, metric, feed, as_of).
public enum SnapshotStore {
    /// Inserts facts; a fact already stored (same symbol, metric, feed, as_of) is skipped.
    /// Returns how many rows were new.
    @discardableResult
    public static func insertSnapshots(_ snapshots: [SnapshotInsert], on db: PostgresConnection, logger: Logger) async throws -> Int {
        try await insertNewSnapshots(snapshots, on: db, logger: logger).count
    }

    /// As `insertSnapshots`; returns the rows that were new, in the order given (a repeat of
    /// a stored fact is not news: nothing downstream should react to it).
    public static func insertNewSnapshots(_ snapshots: [SnapshotInsert], on db: PostgresConnection, logger: Logger) async throws -> [SnapshotInsert] {
        var inserted: [SnapshotInsert] = []
        // 7 parameters a row; Postgres allows 65,535 per statement.
        for start in stride(from: 0, to: snapshots.count, by: 5_000) {
            let chunk = snapshots[start..<min(start + 5_000, snapshots.count)]
            var binds = PostgresBindings(capacity: chunk.count * 8)
            var values: [String] = []
            for (index, snapshot) in chunk.enumerated() {
                let n = binds.count
                values.append("($\(n + 1), $\(n + 2), $\(n + 3), $\(n + 4)::numeric, $\(n + 5)::numeric, $\(n + 6), $\(n + 7)::jsonb, $\(n + 8)::int)")
                binds.append(snapshot.symbol, context: .default)
                binds.append(snapshot.feed, context: .default)
                binds.append(snapshot.metric.rawValue, context: .default)
                if let price = snapshot.price { try binds.append(price, context: .default) } else { binds.appendNull() }
                if let volume = snapshot.volume { try binds.append(volume, context: .default) } else { binds.appendNull() }
                binds.append(snapshot.asOf, context: .default)
                if let raw = snapshot.raw { binds.append(raw.canonicalString(), context: .default) } else { binds.appendNull() }
                binds.append(index, context: .default)
            }
            // The position travels with each row, so the new ones come back in the caller's order.
            let sql = """
                WITH given (symbol, feed, metric, price, volume, as_of, raw, position) AS (VALUES \(values.joined(separator: ", "))),
                     added AS (
                         INSERT INTO market_data_snapshots (symbol, feed, metric, price, volume, as_of, raw)
                         SELECT symbol, feed, metric, price, volume, as_of, raw FROM given ORDER BY position
                         ON CONFLICT (symbol, metric, feed, as_of) DO NOTHING
                         RETURNING symbol, feed, metric, as_of)
                SELECT min(g.position) FROM added a
                JOIN given g ON (g.symbol, g.feed, g.metric, g.as_of) = (a.symbol, a.feed, a.metric, a.as_of)
                GROUP BY a.symbol, a.feed, a.metric, a.as_of
                ORDER BY 1
                """
            let rows = try await db.query(PostgresQuery(unsafeSQL: sql, binds: binds), logger: logger)
            let base = chunk.startIndex
            for try await position in rows.decode(Int.self) { inserted.append(snapshots[base + position]) }
        }
        return inserted
    }

    /// The newest row per (symbol, metric) for the given symbols and feed. With `asOf`, the
    /// newest at that instant (a replay's simulated clock) instead of the newest stored.
    public static func latestSnapshots(symbols: [String], feed: String = "iex", asOf: Date? = nil,
                                       on db: PostgresConnection, logger: Logger) async throws -> [SnapshotRow] {
        let rows: PostgresRowSequence
        if let asOf {
            // One index probe per (symbol, metric) on (symbol, metric, feed, as_of DESC): the
            // cost does not grow with the history stored (a DISTINCT ON would read all of it).
            let metrics = Metric.allCases.map(\.rawValue)
            rows = try await db.query("""
                SELECT s.symbol, s.metric, s.price, s.as_of
                FROM unnest(\(symbols)::text[]) AS q(symbol) CROSS JOIN unnest(\(metrics)::text[]) AS m(metric)
                CROSS JOIN LATERAL (
                    SELECT symbol, metric, price, as_of FROM market_data_snapshots
                    WHERE symbol = q.symbol AND metric = m.metric AND feed = \(feed) AND as_of <= \(asOf)
                    ORDER BY as_of DESC LIMIT 1) s
                """, logger: logger)
        } else {
            rows = try await db.query("""
                SELECT symbol, metric, price, as_of FROM market_data_latest
                WHERE symbol = ANY(\(symbols)) AND feed = \(feed)
                """, logger: logger)
        }
        var result: [SnapshotRow] = []
        for try await (symbol, metric, price, asOf) in rows.decode((String, String, Decimal?, Date).self) {
            guard let metric = Metric(rawValue: metric) else { continue }
            result.append(SnapshotRow(symbol: symbol, metric: metric, price: price, asOf: asOf))
        }
        return result
    }

    /// A stored latest row of `market_data_latest` (the API's snapshots route).
    public struct LatestRow: Sendable {
        public var metric: String
        public var feed: String
        public var price: Decimal?
        public var volume: Decimal?
        public var asOf: Date
        public var storedAt: Date
    }

    /// The newest stored row per (metric, feed) of one symbol.
    public static func latestStored(symbol: String, on db: PostgresConnection, logger: Logger) async throws -> [LatestRow] {
        let rows = try await db.query("""
            SELECT metric, feed, price, volume, as_of, created_at FROM market_data_latest WHERE symbol = \(symbol) ORDER BY metric, feed
            """, logger: logger)
        var result: [LatestRow] = []
        for try await (metric, feed, price, volume, asOf, created) in rows.decode((String, String, Decimal?, Decimal?, Date, Date).self) {
            result.append(LatestRow(metric: metric, feed: feed, price: price, volume: volume, asOf: asOf, storedAt: created))
        }
        return result
    }
}
