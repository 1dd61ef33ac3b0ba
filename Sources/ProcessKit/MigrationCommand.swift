import Foundation
import HybridSettings
import HybridStore
import Logging

/// `hybridhub migrate`: the explicit apply; servers only `verify` at start-up.
public enum MigrationCommand {
    public static func migrationsURL(_ settings: Settings) -> URL {
        let path = settings.migrationsDirectory
        return path.hasPrefix("/") ? URL(fileURLWithPath: path)
            : URL(fileURLWithPath: FileManager.default.currentDirectoryPath).appendingPathComponent(path)
    }

    public static func apply(settings: Settings, logger: Logger) async throws -> MigrationReport {
        let files = try MigrationFile.load(directory: migrationsURL(settings))
        return try await PostgresClientFactory.withClient(settings.database, logger: logger) { client in
            try await Migrator(client: client, logger: logger).apply(files)
        }
    }

    public static func verify(settings: Settings, logger: Logger) async throws {
        let files = try MigrationFile.load(directory: migrationsURL(settings))
        try await PostgresClientFactory.withClient(settings.database, logger: logger) { client in
            try await Migrator(client: client, logger: logger).verify(files)
        }
    }
}
