import Foundation
import Logging
import PostgresNIO
import TradingCore

/// A question row as the pipeline and the app see it.
public struct StoredQuestion: Sendable, Equatable {
    public var id: UUID
    public var firebaseUID: String
    public var text: String
    public var options: JSONValue
    public var pipelineKey: String?
    public var pipelineStep: String?
    public var metadata: JSONValue
    public var status: String
    public var expiresAt: Date?
    public var deliveredAt: Date?
    public var createdAt: Date
    /// The database's clock passed `expires_at`.
    public var isPastExpiry: Bool

    /// The rule a trading question belongs to (`pipeline_step` = `<rule>:<phase>`).
    public var ruleID: String? {
        guard pipelineKey == "trading", let step = pipelineStep, let colon = step.lastIndex(of: ":") else { return nil }
        return String(step[..<colon])
    }

    public var phase: String? {
        guard let step = pipelineStep, let colon = step.lastIndex(of: ":") else { return nil }
        return String(step[step.index(after: colon)...])
    }
}

/// A recorded answer and what it led to.
public struct StoredAnswer: Sendable, Equatable {
    public var questionID: UUID
    public var value: Decimal
    public var decision: String
    public var outcome: String?
    public var detail: String?
    public var followUpQuestionID: UUID?
    public var tradeOrderID: UUID?

    public init(questionID: UUID, value: Decimal, decision: String, outcome: String?, detail: String?,
                followUpQuestionID: UUID? = nil, tradeOrderID: UUID? = nil) {
        self.questionID = questionID
        self.value = value
        self.decision = decision
        self.outcome = outcome
        self.detail = detail
        self.followUpQuestionID = followUpQuestionID
        self.tradeOrderID = tradeOrderID
    }
}

public enum QuestionStore {
    static let columns = """
        id, firebase_uid, question_text, options::text, pipeline_key, pipeline_step, metadata::text, status,
        expires_at, delivered_at, created_at, coalesce(expires_at <= now(), false)
        """

    static func decode(_ rows: PostgresRowSequence) async throws -> [StoredQuestion] {
        var result: [StoredQuestion] = []
        for try await row in rows {
            let (id, uid, text, options, key, step, metadata, status, expires, delivered, created, past) =
                try row.decode((UUID, String, String, String, String?, String?, String, String, Date?, Date?, Date, Bool).self)
            result.append(StoredQuestion(
                id: id, firebaseUID: uid, text: text, options: try JSONValue.parse(options), pipelineKey: key,
                pipelineStep: step, metadata: try JSONValue.parse(metadata), status: status, expiresAt: expires,
                deliveredAt: delivered, createdAt: created, isPastExpiry: past))
        }
        return result
    }

    /// One question of one user; `lock` takes a row lock for the rest of the transaction.
    public static func question(_ id: UUID, of uid: String, lock: Bool = false,
                                on db: PostgresConnection, logger: Logger) async throws -> StoredQuestion? {
        let sql = "SELECT \(columns) FROM questions WHERE id = $1 AND firebase_uid = $2" + (lock ? " FOR UPDATE" : "")
        var binds = PostgresBindings()
        binds.append(id)
        binds.append(uid)
        return try await decode(db.query(PostgresQuery(unsafeSQL: sql, binds: binds), logger: logger)).first
    }

    public static func question(_ id: UUID, on db: PostgresConnection, logger: Logger) async throws -> StoredQuestion? {
        var binds = PostgresBindings()
        binds.append(id)
        return try await decode(db.query(PostgresQuery(unsafeSQL: "SELECT \(columns) FROM questions WHERE id = $1", binds: binds),
                                         logger: logger)).first
    }

    /// The user's open questions, oldest first (the app's list; re-sent on reconnect).
    public static func openQuestions(of uid: String, on db: PostgresConnection, logger: Logger) async throws -> [StoredQuestion] {
        var binds = PostgresBindings()
        binds.append(uid)
        let sql = "SELECT \(columns) FROM questions WHERE firebase_uid = $1 AND status = 'open' ORDER BY created_at"
        return try await decode(db.query(PostgresQuery(unsafeSQL: sql, binds: binds), logger: logger))
    }

    public static func setStatus(_ id: UUID, _ status: String, answered: Bool = false,
                                 on db: PostgresConnection, logger: Logger) async throws {
        try await db.query("""
            UPDATE questions SET status = \(status), answered_at = CASE WHEN \(answered) THEN now() ELSE answered_at END
            WHERE id = \(id)
            """, logger: logger)
    }

    public static func answer(to questionID: UUID, on db: PostgresConnection, logger: Logger) async throws -> StoredAnswer? {
        let rows = try await db.query("""
            SELECT value, decision, outcome, detail, follow_up_question_id, trade_order_id
            FROM answers WHERE question_id = \(questionID)
            """, logger: logger)
        for try await (value, decision, outcome, detail, followUp, order) in rows.decode((Decimal, String, String?, String?, UUID?, UUID?).self) {
            return StoredAnswer(questionID: questionID, value: value, decision: decision, outcome: outcome, detail: detail,
                                followUpQuestionID: followUp, tradeOrderID: order)
        }
        return nil
    }

    public static func insertAnswer(_ answer: StoredAnswer, firebaseUID: String, on db: PostgresConnection, logger: Logger) async throws {
        try await db.query("""
            INSERT INTO answers (question_id, firebase_uid, value, decision, outcome, detail, follow_up_question_id, trade_order_id)
            VALUES (\(answer.questionID), \(firebaseUID), \(answer.value), \(answer.decision), \(answer.outcome), \(answer.detail),
                    \(answer.followUpQuestionID), \(answer.tradeOrderID))
            """, logger: logger)
    }

    /// Closes open questions that no longer propose anything (`cancelled`, the reason kept in
    /// their metadata as `withdrawn_reason`), and tells the user's phones through the
    /// questions channel; in the caller's transaction. Returns the ids withdrawn.
    public static func withdraw(_ reasons: [UUID: String], of uid: String,
                                on db: PostgresConnection, logger: Logger) async throws -> [UUID] {
        guard !reasons.isEmpty else { return [] }
        let ids = reasons.keys.sorted { $0.uuidString < $1.uuidString }
        let texts = ids.map { reasons[$0] ?? "" }
        let rows = try await db.query("""
            WITH given (id, reason) AS (SELECT * FROM unnest(\(ids)::uuid[], \(texts)::text[])),
                 closed AS (
                     UPDATE questions q
                        SET status = 'cancelled', metadata = q.metadata || jsonb_build_object('withdrawn_reason', g.reason)
                       FROM given g
                      WHERE q.id = g.id AND q.firebase_uid = \(uid) AND q.status = 'open'
                     RETURNING q.id, g.reason)
            SELECT id, pg_notify(\(NotifyChannels.questions), json_build_object('question_id', id, 'firebase_uid', \(uid)::text,
                                                               'withdrawn', true, 'reason', reason)::text)::text
            FROM closed
            """, logger: logger)
        var withdrawn: [UUID] = []
        for try await (id, _) in rows.decode((UUID, String).self) { withdrawn.append(id) }
        return withdrawn
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

extension QuestionStore {
    /// Inserts one question; returns its new id.
    public static func insertQuestion(_ question: NewQuestion, on db: PostgresConnection, logger: Logger) async throws -> UUID {
        let id = UUID()
        try await insertQuestions([(id, question)], on: db, logger: logger)
        return id
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

    /// Marks an open question delivered and publishes it on the questions channel, in one
    /// statement: the mark and the NOTIFY commit together, and a question no longer open is
    /// left alone (nil). `first` is false when it had been delivered before (publishing again
    /// is harmless: clients dedupe by question id).
    public static func markDelivered(_ id: UUID, on db: PostgresConnection,
                                     logger: Logger) async throws -> (first: Bool, firebaseUID: String)? {
        let rows = try await db.query("""
            WITH delivered AS (
                UPDATE questions SET delivered_at = coalesce(delivered_at, now())
                WHERE id = \(id) AND status = 'open'
                RETURNING id, firebase_uid, expires_at, delivered_at = now() AS first
            )
            SELECT d.first, d.firebase_uid
            FROM delivered d
            CROSS JOIN LATERAL (
                SELECT pg_notify(\(NotifyChannels.questions), json_build_object(
                    'question_id', d.id, 'firebase_uid', d.firebase_uid, 'expires_at', d.expires_at)::text)
            ) AS published
            """, logger: logger)
        for try await (first, uid) in rows.decode((Bool, String).self) { return (first, uid) }
        return nil
    }
}
