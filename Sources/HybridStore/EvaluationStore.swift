import Foundation
import Logging
import PostgresNIO
import TradingCore

/// What `evaluate-user` reads and writes, for many users per statement: a burst of crossings
/// (a market-wide drop) evaluates hundreds of users at once, and the cost that counts then is
/// statements, not rows.
extension TradingStore {
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

    static func decodeContext(_ text: String?) throws -> TradingContext {
        try text.map { try contextDecoder.decode(TradingContext.self, from: Data($0.utf8)) } ?? TradingContext()
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

    /// Inserts questions whose ids the caller chose (the cooldown records the id before the row exists).
    public static func insertQuestions(_ questions: [(id: UUID, question: NewQuestion)], on db: PostgresConnection, logger: Logger) async throws {
        guard !questions.isEmpty else { return }
        let rows = questions.map(\.question)
        try await db.query("""
            INSERT INTO questions (id, firebase_uid, question_text, source_tag, pipeline_key, pipeline_step,
                                   correct_answer, metadata, expires_at)
            SELECT id, uid, text, tag, key, step, answer::numeric, metadata::jsonb, now() + make_interval(secs => ttl)
            FROM unnest(\(questions.map(\.id)), \(rows.map(\.firebaseUID)), \(rows.map(\.text)), \(rows.map(\.sourceTag)),
                        \(rows.map(\.pipelineKey)), \(rows.map(\.pipelineStep)), \(rows.map { "\($0.correctAnswer)" }),
                        \(rows.map { $0.metadata.canonicalString() }), \(rows.map(\.expiresInSeconds)))
                 AS q(id, uid, text, tag, key, step, answer, metadata, ttl)
            """, logger: logger)
    }
}

extension QuestionStore {
    /// Closes the given users' open questions whose time ran out; returns them.
    public static func expireDue(of uids: [String], on db: PostgresConnection, logger: Logger) async throws -> [StoredQuestion] {
        var binds = PostgresBindings()
        binds.append(uids)
        let sql = """
            UPDATE questions SET status = 'expired'
            WHERE firebase_uid = ANY($1) AND status = 'open' AND expires_at <= now()
            RETURNING \(columns)
            """
        return try await decode(db.query(PostgresQuery(unsafeSQL: sql, binds: binds), logger: logger))
    }

    /// Each user's open trading questions that have not run out (one past `expires_at` awaits
    /// `expireDue` and no longer counts against `max_open_questions`); absent users have none.
    public static func countOpen(of uids: [String], on db: PostgresConnection, logger: Logger) async throws -> [String: Int] {
        let rows = try await db.query("""
            SELECT firebase_uid, count(*)::int FROM questions
            WHERE firebase_uid = ANY(\(uids)) AND status = 'open' AND pipeline_key = 'trading'
              AND (expires_at IS NULL OR expires_at > now())
            GROUP BY firebase_uid
            """, logger: logger)
        var counts: [String: Int] = [:]
        for try await (uid, count) in rows.decode((String, Int).self) { counts[uid] = count }
        return counts
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
            SELECT firebase_uid, decided_at,
                   CASE WHEN status = 'filled' AND filled_qty IS NULL
                             THEN coalesce(notional_usd, qty * reference_price)
                        WHEN status IN ('filled', 'canceled', 'expired', 'rejected', 'replaced', 'blocked', 'failed')
                             THEN coalesce(filled_qty * coalesce(filled_avg_price, reference_price), notional_usd)
                        ELSE coalesce(notional_usd, qty * reference_price) END
            FROM trade_orders
            WHERE firebase_uid = ANY(\(uids)) AND decided_at > \(now.addingTimeInterval(-26 * 3600))
              AND (status NOT IN ('filled', 'canceled', 'expired', 'rejected', 'replaced', 'blocked', 'failed')
                   OR status = 'filled' OR coalesce(filled_qty, 0) > 0)
              AND id IS DISTINCT FROM \(excluding)
            """, logger: logger)
        var result: [String: [PlacedOrder]] = [:]
        for try await (uid, decided, notional) in rows.decode((String, Date, Decimal?).self) {
            // An order with no size or price to value it by (not one this server writes) fails
            // closed: it counts as NaN, which the guardrails refuse.
            result[uid, default: []].append(PlacedOrder(createdAt: decided, notionalUSD: notional ?? .nan))
        }
        return result
    }
}
