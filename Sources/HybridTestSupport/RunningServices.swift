import Logging
import ServiceLifecycle

/// Runs `services` (a worker, the streams, a server) for the duration of `body`, then shuts
/// them down gracefully and waits for them, whether `body` returned or threw.
public func withRunningServices<T: Sendable>(_ services: [any Service], logger: Logger,
                                             _ body: @Sendable () async throws -> T) async throws -> T {
    let group = ServiceGroup(configuration: .init(services: services, logger: logger))
    return try await withThrowingTaskGroup(of: Void.self) { tasks in
        tasks.addTask { try await group.run() }
        do {
            let result = try await body()
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
            return result
        } catch {
            await group.triggerGracefulShutdown()
            try? await tasks.waitForAll()
            throw error
        }
    }
}
