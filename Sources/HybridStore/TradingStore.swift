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

/// A user's stored config: the template (if any), the override, and the `enabled` column.
public struct StoredUserConfig: Sendable {
    public var firebaseUID: String
    public var templateName: String?
    public var template: JSONValue?
    public var override: JSONValue
    public var enabled: Bool

    public init(firebaseUID: String, templateName: String?, template: JSONValue?, override: JSONValue, enabled: Bool) {
        self.firebaseUID = firebaseUID
        self.templateName = templateName
        self.template = template
        self.override = override
        self.enabled = enabled
    }

    /// Template ⊕ override, validated; errors carry JSON paths.
    public var effective: Result<EffectiveTradingConfig, ConfigValidationError> {
        ConfigMerge.effective(firebaseUID: firebaseUID, templateName: templateName, template: template,
                              override: override, enabledColumn: enabled)
    }
}

public struct NewQuestion: Sendable {
    public var firebaseUID: String
    public var text: String
    public var sourceTag: String
    public var pipelineKey: String
    public var pipelineStep: String
    public var correctAnswer: Decimal
    public var metadata: JSONValue
    public var expiresInSeconds: Int

    public init(firebaseUID: String, text: String, sourceTag: String, pipelineKey: String, pipelineStep: String,
                correctAnswer: Decimal, metadata: JSONValue, expiresInSeconds: Int) {
        self.firebaseUID = firebaseUID
        self.text = text
        self.sourceTag = sourceTag
        self.pipelineKey = pipelineKey
        self.pipelineStep = pipelineStep
        self.correctAnswer = correctAnswer
        self.metadata = metadata
        self.expiresInSeconds = expiresInSeconds
    }
}

/// Trading tables, one function per statement, each written against a connection so that
/// callers compose them inside `withTransaction`.
public enum TradingStore {
    public static func upsertUser(_ uid: String, displayName: String?, on db: PostgresConnection, logger: Logger) async throws {
        try await db.query("""
            INSERT INTO users (firebase_uid, display_name) VALUES (\(uid), \(displayName))
            ON CONFLICT (firebase_uid) DO UPDATE SET display_name = EXCLUDED.display_name
            """, logger: logger)
    }

    /// Creates the user row if missing; leaves an existing one as it is.
    public static func ensureUser(_ uid: String, on db: PostgresConnection, logger: Logger) async throws {
        try await db.query("INSERT INTO users (firebase_uid) VALUES (\(uid)) ON CONFLICT (firebase_uid) DO NOTHING", logger: logger)
    }

    public static func upsertUserConfig(
        _ uid: String, templateName: String?, override: JSONValue, enabled: Bool,
        on db: PostgresConnection, logger: Logger
    ) async throws {
        try await db.query("""
            INSERT INTO user_trading_config (firebase_uid, template_name, config, enabled)
            VALUES (\(uid), \(templateName), \(override.canonicalString())::jsonb, \(enabled))
            ON CONFLICT (firebase_uid) DO UPDATE
               SET template_name = EXCLUDED.template_name, config = EXCLUDED.config,
                   enabled = EXCLUDED.enabled, updated_at = now()
            """, logger: logger)
    }

    public static func userConfig(_ uid: String, on db: PostgresConnection, logger: Logger) async throws -> StoredUserConfig? {
        let rows = try await db.query("""
            SELECT c.template_name, t.config::text, c.config::text, c.enabled
            FROM user_trading_config c
            LEFT JOIN trading_config_templates t ON t.name = c.template_name
            WHERE c.firebase_uid = \(uid)
            """, logger: logger)
        for try await (templateName, templateText, overrideText, enabled) in rows.decode((String?, String?, String, Bool).self) {
            let template = try templateText.map { try JSONValue.parse($0) }
            return StoredUserConfig(firebaseUID: uid, templateName: templateName, template: template,
                                    override: try JSONValue.parse(overrideText), enabled: enabled)
        }
        return nil
    }

    public static func templates(on db: PostgresConnection, logger: Logger) async throws -> [(name: String, config: JSONValue)] {
        var result: [(String, JSONValue)] = []
        let rows = try await db.query("SELECT name, config::text FROM trading_config_templates ORDER BY name", logger: logger)
        for try await (name, text) in rows.decode((String, String).self) { result.append((name, try JSONValue.parse(text))) }
        return result
    }

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
            rows = try await db.query("""
                SELECT DISTINCT ON (symbol, metric) symbol, metric, price, as_of
                FROM market_data_snapshots
                WHERE symbol = ANY(\(symbols)) AND feed = \(feed) AND as_of <= \(asOf)
                ORDER BY symbol, metric, as_of DESC
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

    /// The trading context, row-locked (`FOR UPDATE`) for the rest of the transaction;
    /// creates the state row when missing.
    public static func lockTradingContext(_ uid: String, on db: PostgresConnection, logger: Logger) async throws -> TradingContext {
        try await db.query("""
            INSERT INTO user_trading_state (firebase_uid) VALUES (\(uid)) ON CONFLICT (firebase_uid) DO NOTHING
            """, logger: logger)
        let rows = try await db.query("""
            SELECT context -> 'trading' FROM user_trading_state WHERE firebase_uid = \(uid) FOR UPDATE
            """, logger: logger)
        for try await text in rows.decode(String?.self) {
            guard let text else { return TradingContext() }
            return try contextDecoder.decode(TradingContext.self, from: Data(text.utf8))
        }
        return TradingContext()
    }

    /// Writes the trading context; `evaluatedAt` nil keeps `last_eval_at` (a change that was
    /// not an evaluation, such as a config change closing a rule's question).
    public static func saveTradingContext(_ uid: String, _ context: TradingContext, evaluatedAt: Date?,
                                          on db: PostgresConnection, logger: Logger) async throws {
        let text = String(decoding: try contextEncoder.encode(context), as: UTF8.self)
        try await db.query("""
            UPDATE user_trading_state
               SET context = jsonb_set(context, '{trading}', \(text)::jsonb), last_eval_at = coalesce(\(evaluatedAt), last_eval_at),
                   updated_at = now()
             WHERE firebase_uid = \(uid)
            """, logger: logger)
    }

    /// Inserts one question; returns its new id.
    public static func insertQuestion(_ question: NewQuestion, on db: PostgresConnection, logger: Logger) async throws -> UUID {
        let id = UUID()
        try await insertQuestions([(id, question)], on: db, logger: logger)
        return id
    }

    static let contextEncoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        encoder.outputFormatting = .sortedKeys
        return encoder
    }()

    static let contextDecoder: JSONDecoder = {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return decoder
    }()
}
