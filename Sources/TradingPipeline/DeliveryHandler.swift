import Foundation
import HybridStore
import JobEngine
import TradingCore
import TradingJobs

extension TradingPipeline {
    /// `deliver-question`: NOTIFY the API processes (they push `ReceiveQuestion` to the user's
    /// live connections) and mark the question delivered. The NOTIFY leaves at commit, with
    /// the mark; publishing again is harmless (clients dedupe by question id).
    func deliver(_ job: DeliverQuestion, _ context: JobContext) async throws -> JobOutcome {
        let logger = context.logger
        try await client.transaction(logger: logger) { db in
            guard let question = try await QuestionStore.question(job.questionID, on: db, logger: logger) else { return }
            guard question.status == "open" else { return }
            var fields: [String: JSONValue] = [
                "question_id": .string(question.id.uuidString.lowercased()), "firebase_uid": .string(question.firebaseUID),
            ]
            if let expires = question.expiresAt { fields["expires_at"] = .string(expires.formatted(.iso8601)) }
            try await db.query("SELECT pg_notify(\(PipelineChannels.questions), \(JSONValue.object(fields).canonicalString()))",
                               logger: logger)
            if try await QuestionStore.markDelivered(question.id, on: db, logger: logger) {
                logger.info("question delivered", metadata: ["question.id": "\(question.id)", "user.uid": "\(question.firebaseUID)"])
            }
        }
        return .complete
    }
}
