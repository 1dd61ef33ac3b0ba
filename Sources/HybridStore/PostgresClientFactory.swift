import HybridSettings
import Logging
import NIOSSL
import PostgresNIO

/// Builds postgres-nio clients from settings. The client is a ServiceLifecycle `Service`:
/// servers add it to their service group; one-shot commands use `withClient`.
public enum PostgresClientFactory {
    public static func configuration(_ settings: DatabaseSettings) -> PostgresClient.Configuration {
        var configuration: PostgresClient.Configuration
        if settings.host.hasPrefix("/") {
            configuration = .init(unixSocketPath: settings.host, username: settings.user,
                                  password: settings.password?.reveal(), database: settings.database)
        } else {
            // Loopback needs no TLS; a database across a network must speak TLS.
            let tls: PostgresClient.Configuration.TLS =
                settings.isLocal ? .disable : .require(.makeClientConfiguration())
            configuration = .init(host: settings.host, port: settings.port, username: settings.user,
                                  password: settings.password?.reveal(), database: settings.database, tls: tls)
        }
        configuration.options.maximumConnections = settings.poolSize
        configuration.options.connectTimeout = .seconds(5)
        return configuration
    }

    public static func make(_ settings: DatabaseSettings, logger: Logger) -> PostgresClient {
        PostgresClient(configuration: configuration(settings), backgroundLogger: logger)
    }

    /// Runs `body` with a running client, then shuts the client down.
    public static func withClient<T: Sendable>(
        _ settings: DatabaseSettings, logger: Logger,
        _ body: @Sendable (PostgresClient) async throws -> T
    ) async throws -> T {
        // postgres-nio warns when a lease races the pool's `run()` starting in the child task;
        // the lease simply waits, so that warning is noise here. Failures still reach `body`
        // as thrown errors.
        var background = logger
        background.logLevel = max(logger.logLevel, .error)
        let client = make(settings, logger: background)
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await client.run() }
            defer { group.cancelAll() }
            return try await body(client)
        }
    }
}
