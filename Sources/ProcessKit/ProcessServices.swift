import Logging
import PostgresNIO
import ServiceLifecycle

/// How every long-running executable runs: the Postgres client first, then its services, with
/// SIGTERM and SIGINT as graceful shutdown; the first service to end ends the group.
public enum ProcessServices {
    public static func run(client: PostgresClient, services: [any Service], logger: Logger) async throws {
        var configured = [ServiceGroupConfiguration.ServiceConfiguration(service: client)]
        configured += services.map { .init(service: $0, successTerminationBehavior: .gracefullyShutdownGroup) }
        let group = ServiceGroup(configuration: .init(services: configured, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await group.run()
    }
}

/// A start-up check that failed: the process exits with this message.
public struct StartupCheckError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
