import Foundation
import JobEngine
import PostgresNIO
import TradingJobs

extension TradingPipeline {
    /// `deliver-question`: NOTIFY the API processes (they push `ReceiveQuestion` to the user's
    /// live connections) and mark the question delivered, in one statement: the mark and the
    /// NOTIFY commit together, and a question no longer open is left alone. Publishing again
    /// is harmless (clients dedupe by question id).
    func deliver(_ job: DeliverQuestion, _ context: JobContext) async throws -> JobOutcome {
        let logger = context.logger
        let rows = try await client.query("""
            WITH delivered AS (
                UPDATE questions SET delivered_at = coalesce(delivered_at, now())
                WHERE id = \(job.questionID) AND status = 'open'
                RETURNING id, firebase_uid, expires_at, delivered_at = now() AS first
            )
            SELECT d.first, d.firebase_uid
            FROM delivered d
            CROSS JOIN LATERAL (
                SELECT pg_notify(\(PipelineChannels.questions), json_build_object(
                    'question_id', d.id, 'firebase_uid', d.firebase_uid, 'expires_at', d.expires_at)::text)
            ) AS published
            """, logger: logger)
        for try await (first, uid) in rows.decode((Bool, String).self) {
            if first {
                logger.info("question delivered", metadata: ["question.id": "\(job.questionID)", "user.uid": "\(uid)"])
            }
        }
        return .complete
    }
}
