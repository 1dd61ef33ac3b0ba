import HybridStore
import JobEngine
import PostgresNIO
import TradingJobs

/// `deliver-question`: NOTIFY the API processes (they push `ReceiveQuestion` to the user's
/// live connections) and mark the question delivered, together (`QuestionStore.markDelivered`).
/// A question no longer open is left alone; publishing again is harmless.
public struct DeliverQuestionHandler: TradingJobHandler {
    public static let spec = TradingJobCatalog.deliverQuestion
    let client: PostgresClient

    public init(client: PostgresClient) {
        self.client = client
    }

    public func handle(_ job: DeliverQuestion, _ context: JobContext) async throws -> JobOutcome {
        let delivered = try await client.withConnection { try await QuestionStore.markDelivered(job.questionID, on: $0, logger: context.logger) }
        if let delivered, delivered.first {
            context.logger.info("question delivered", metadata: ["question.id": "\(job.questionID)", "user.uid": "\(delivered.firebaseUID)"])
        }
        return .complete
    }
}
