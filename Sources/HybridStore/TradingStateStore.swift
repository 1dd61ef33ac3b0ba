import Foundation
import Logging
import PostgresNIO
import TradingCore

/// `user_trading_state`: each user's trading context (cooldowns, open questions by rule), the
/// row every stage locks for that user. Batched reads and writes serve `evaluate-user`: a
/// burst of crossings evaluates hundreds of users at once, and the cost that counts then is
/// statements, not rows.
public enum TradingStateStore {
    /// One user's config documents as stored (text, so callers can cache what they parse), the
    /// trading context, and how many open questions are past their expiry.
    public struct EvaluationView: Sendable {
        public var templateName: String?
        public var templateText: String?
        public var overrideText: String
        public var enabled: Bool
        public var context: TradingContext
        public var questionsDueToExpire: Int
        /// The user's trading state row exists (it is created before the first decision).
        public var hasStateRow: Bool

        public init(templateName: String?, templateText: String?, overrideText: String, enabled: Bool, context: TradingContext,
                    questionsDueToExpire: Int, hasStateRow: Bool = true) {
            self.templateName = templateName
            self.templateText = templateText
            self.overrideText = overrideText
            self.enabled = enabled
            self.context = context
            self.questionsDueToExpire = questionsDueToExpire
            self.hasStateRow = hasStateRow
        }

        public var documents: ConfigDocuments {
            ConfigDocuments(templateName: templateName, templateText: templateText, overrideText: overrideText, enabled: enabled)
        }

        /// The same stored config documents (the context may differ).
        public func sameDocuments(as other: EvaluationView) -> Bool {
            templateName == other.templateName && templateText == other.templateText && overrideText == other.overrideText
                && enabled == other.enabled
        }
    }

    /// The views of the given users, without a lock; a user without a config is absent.
    public static func evaluationViews(_ uids: [String], on db: PostgresConnection, logger: Logger) async throws -> [String: EvaluationView] {
        let rows = try await db.query("""
            SELECT c.firebase_uid, c.template_name, t.config::text, c.config::text, c.enabled,
                   (s.context -> 'trading')::text,
                   (SELECT count(*) FROM questions q
                     WHERE q.firebase_uid = c.firebase_uid AND q.status = 'open' AND q.expires_at <= now())::int,
                   s.firebase_uid IS NOT NULL
            FROM user_trading_config c
            LEFT JOIN trading_config_templates t ON t.name = c.template_name
            LEFT JOIN user_trading_state s ON s.firebase_uid = c.firebase_uid
            WHERE c.firebase_uid = ANY(\(uids))
            """, logger: logger)
        var views: [String: EvaluationView] = [:]
        for try await (uid, templateName, templateText, overrideText, enabled, contextText, due, hasStateRow)
            in rows.decode((String, String?, String?, String, Bool, String?, Int, Bool).self) {
            views[uid] = EvaluationView(templateName: templateName, templateText: templateText, overrideText: overrideText,
                                        enabled: enabled, context: try decodeContext(contextText), questionsDueToExpire: due,
                                        hasStateRow: hasStateRow)
        }
        return views
    }

    /// Creates the users' missing trading state rows, in uid order, in a statement of its own
    /// (outside the transaction that locks them: inserting inside it would let two batches
    /// that overlap wait on each other's new rows).
    public static func ensureTradingStates(_ uids: [String], on db: PostgresConnection, logger: Logger) async throws {
        try await db.query("""
            INSERT INTO user_trading_state (firebase_uid)
            SELECT firebase_uid FROM user_trading_config WHERE firebase_uid = ANY(\(uids))
            ORDER BY firebase_uid
            ON CONFLICT (firebase_uid) DO NOTHING
            """, logger: logger)
    }

    /// Locks the users' trading state rows (`FOR UPDATE`, in uid order, so that two batches
    /// never deadlock) for the rest of the transaction. The views are read by the next
    /// statement (`evaluationViews`): under READ COMMITTED only a new statement sees what
    /// committed while this one waited (a config saved under the same lock, say).
    public static func lockTradingStates(_ uids: [String], on db: PostgresConnection, logger: Logger) async throws {
        let rows = try await db.query("""
            SELECT firebase_uid FROM user_trading_state WHERE firebase_uid = ANY(\(uids)) ORDER BY firebase_uid FOR UPDATE
            """, logger: logger)
        for try await _ in rows {}
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

    /// Saves each user's trading context and the evaluation instant.
    public static func saveTradingContexts(_ contexts: [(uid: String, context: TradingContext)], evaluatedAt: Date,
                                           on db: PostgresConnection, logger: Logger) async throws {
        guard !contexts.isEmpty else { return }
        let texts = try contexts.map { String(decoding: try contextEncoder.encode($0.context), as: UTF8.self) }
        try await db.query("""
            UPDATE user_trading_state s
               SET context = jsonb_set(s.context, '{trading}', v.context::jsonb), last_eval_at = \(evaluatedAt), updated_at = now()
              FROM unnest(\(contexts.map(\.uid)), \(texts)) AS v(firebase_uid, context)
             WHERE s.firebase_uid = v.firebase_uid
            """, logger: logger)
    }

    static func decodeContext(_ text: String?) throws -> TradingContext {
        try text.map { try contextDecoder.decode(TradingContext.self, from: Data($0.utf8)) } ?? TradingContext()
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
