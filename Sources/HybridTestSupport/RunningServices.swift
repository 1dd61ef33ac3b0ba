import Logging
import ServiceLifecycle

/// Runs `services` (a worker, the streams, a server) for the duration of `body`, then shuts
/// them down gracefully and waits for them, whether `body` returned or threw.
public func withRunningServices<T: Sendable>(_ services: [any Service], logger: Logger,
                                             _ body: @Sendable () async throws -> T) async throws -> T {
    try await withServiceGroup(ServiceGroup(configuration: .init(services: services, logger: logger)), logger: logger, body)
}

/// Runs `group` for the duration of `body`; then a graceful shutdown, and if the group has not
/// stopped `shutdownSeconds` later (a peer left a connection open), it is cancelled and left to
/// finish on its own, so that a test's teardown never stalls the suite.
public func withServiceGroup<T: Sendable>(_ group: ServiceGroup, shutdownSeconds: Double = 15, logger: Logger,
                                          _ body: @Sendable () async throws -> T) async throws -> T {
    let (stopped, signal) = AsyncStream.makeStream(of: Void.self)
    let runner = Task {
        defer { signal.finish() }
        try await group.run()
    }
    let outcome: Result<T, any Error>
    do {
        outcome = .success(try await body())
    } catch {
        outcome = .failure(error)
    }
    await group.triggerGracefulShutdown()
    let inTime = await withTaskGroup(of: Bool.self) { waits -> Bool in
        waits.addTask {
            for await _ in stopped {}
            return !Task.isCancelled
        }
        waits.addTask {
            try? await Task.sleep(for: .seconds(shutdownSeconds))
            return false
        }
        let first = await waits.next() ?? true
        waits.cancelAll()
        return first
    }
    if !inTime {
        logger.warning("services did not stop within \(shutdownSeconds) s of a graceful shutdown; cancelled and left behind")
        runner.cancel()
    } else if case .failure(let error) = await runner.result, outcome.isSuccess {
        throw error
    }
    return try outcome.get()
}

extension Result {
    var isSuccess: Bool {
        if case .success = self { return true }
        return false
    }
}
