import Logging
import PostgresNIO

/// `withTransaction` that rethrows the closure's own error when the rollback succeeded, so
/// callers see domain errors (`MigrationError`, `UserEvaluationError`, …) rather than the
/// driver's wrapper. A failed BEGIN, COMMIT or ROLLBACK still surfaces as the wrapper.
extension PostgresConnection {
    public func transaction<T>(
        logger: Logger,
        isolation: isolated (any Actor)? = #isolation,
        _ body: (PostgresConnection) async throws -> sending T
    ) async throws -> sending T {
        do {
            return try await withTransaction(logger: logger, isolation: isolation, body)
        } catch let error as PostgresTransactionError {
            if let closureError = error.closureError, error.rollbackError == nil { throw closureError }
            throw error
        }
    }
}

extension PostgresClient {
    public func transaction<T: Sendable>(
        logger: Logger, _ body: (PostgresConnection) async throws -> sending T
    ) async throws -> T {
        try await withConnection { try await $0.transaction(logger: logger, body) }
    }
}
