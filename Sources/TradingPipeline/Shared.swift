import Foundation
import HybridStore
import JobEngine
import Logging
import PostgresNIO
import TradingCore
import TradingJobs

/// A user's effective config read in the caller's transaction (no cache: under a lock the
/// decision reads what is stored now).
enum UserConfigs {
    static func effective(_ uid: String, on db: PostgresConnection, logger: Logger) async throws -> EffectiveTradingConfig {
        guard let stored = try await UserConfigStore.userConfig(uid, on: db, logger: logger) else {
            throw PipelineError.noConfig(uid)
        }
        switch stored.effective {
        case .success(let value): return value
        case .failure(let error): throw PipelineError.invalidConfig(uid, error)
        }
    }
}

/// Asking the user: the question row and its `deliver-question` job, in the caller's transaction.
enum Questions {
    static func ask(_ question: NewQuestion, on db: PostgresConnection, logger: Logger) async throws -> UUID {
        let id = try await QuestionStore.insertQuestion(question, on: db, logger: logger)
        _ = try await JobStore.enqueue(try TradingJobCatalog.deliverQuestion.job(DeliverQuestion(questionID: id)), on: db, logger: logger)
        PipelineMetrics.questionCreated(step: question.pipelineStep)
        return id
    }
}
