import Foundation
import HybridSettings
import HybridStore
import Logging
import PostgresNIO

/// Real Postgres for tests, isolated cheaply: the migrations are applied once into a template
/// database (named after their checksums), and each test or suite clones it with
/// `CREATE DATABASE … TEMPLATE …`. Only a local server is ever touched.
public enum TestDatabase {
    public struct NotLocal: Error, CustomStringConvertible {
        public let host: String
        public var description: String { "refusing to run tests against non-local database host '\(host)'" }
    }

    public static let logger: Logger = {
        var logger = Logger(label: "hybridhub.tests")
        logger.logLevel = .warning
        return logger
    }()

    /// The repository root, from this file's location.
    public static let repositoryRoot: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    public static var migrationsDirectory: URL { repositoryRoot.appendingPathComponent("migrations") }

    /// The server to use: the environment (`eval "$(ops/postgres.sh env)"`), else the private
    /// cluster's defaults and `.pg/password`.
    public static func serverSettings() throws -> DatabaseSettings {
        var environment = ProcessInfo.processInfo.environment
        let passwordFile = repositoryRoot.appendingPathComponent(".pg/password").path
        if environment["DATABASE_PASSWORD_FILE"] == nil, FileManager.default.fileExists(atPath: passwordFile) {
            environment["DATABASE_PASSWORD_FILE"] = passwordFile
        }
        let settings = try Settings.load(environment: environment).database
        try requireLocal(settings)
        return settings
    }

    public static func requireLocal(_ settings: DatabaseSettings) throws {
        guard settings.isLocal else { throw NotLocal(host: settings.host) }
    }

    /// A fresh, migrated database for `body`, dropped afterwards.
    public static func withMigrated<T: Sendable>(
        _ body: @Sendable (DatabaseSettings) async throws -> T
    ) async throws -> T {
        let server = try serverSettings()
        let template = try await migratedTemplate(server: server)
        return try await withFresh(server: server, template: template, body)
    }

    /// A fresh, empty database (no migrations) for `body`, dropped afterwards.
    public static func withEmpty<T: Sendable>(
        _ body: @Sendable (DatabaseSettings) async throws -> T
    ) async throws -> T {
        let server = try serverSettings()
        return try await withFresh(server: server, template: "template0", body)
    }

    private static func withFresh<T: Sendable>(
        server: DatabaseSettings, template: String, _ body: @Sendable (DatabaseSettings) async throws -> T
    ) async throws -> T {
        let name = "hh_test_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "").prefix(16)
        try await admin(server) { connection in
            try await connection.query(PostgresQuery(unsafeSQL: "CREATE DATABASE \(name) TEMPLATE \(template)"), logger: logger)
        }
        do {
            let result = try await body(server.with(database: String(name)))
            try await drop(String(name), server: server)
            return result
        } catch {
            try? await drop(String(name), server: server)
            throw error
        }
    }

    /// Tried a few times: `WITH (FORCE)` refuses while a backend of another role (an autovacuum
    /// worker) is in the database, which lasts moments.
    private static func drop(_ name: String, server: DatabaseSettings) async throws {
        for attempt in 1...5 {
            do {
                try await admin(server) { connection in
                    try await connection.query(PostgresQuery(unsafeSQL: "DROP DATABASE IF EXISTS \(name) WITH (FORCE)"), logger: logger)
                }
                return
            } catch where attempt < 5 {
                try await Task.sleep(for: .milliseconds(200 * attempt))
            }
        }
    }

    /// The template for the current migrations, made once under an advisory lock so parallel
    /// suites and processes do not race.
    static func migratedTemplate(server: DatabaseSettings) async throws -> String {
        let files = try MigrationFile.load(directory: migrationsDirectory)
        let fingerprint = files.map(\.checksum).joined().utf8.reduce(into: UInt64(14_695_981_039_346_656_037)) {
            $0 = ($0 ^ UInt64($1)) &* 1_099_511_628_211
        }
        let name = "hh_tpl_" + String(fingerprint, radix: 16)
        try await admin(server) { connection in
            try await connection.query("SELECT pg_advisory_lock(\(Int64(0x4859_5445_5354)))", logger: logger)
            do {
                let rows = try await connection.query("SELECT count(*)::int FROM pg_database WHERE datname = \(name)", logger: logger)
                var count = 0
                for try await value in rows.decode(Int.self) { count = value }
                if count == 0 {
                    // A build interrupted by a crash leaves `_building` behind; start it over.
                    try await connection.query(PostgresQuery(unsafeSQL: "DROP DATABASE IF EXISTS \(name)_building WITH (FORCE)"), logger: logger)
                    try await connection.query(PostgresQuery(unsafeSQL: "CREATE DATABASE \(name)_building TEMPLATE template0"), logger: logger)
                    try await PostgresClientFactory.withClient(server.with(database: "\(name)_building"), logger: logger) { client in
                        _ = try await Migrator(client: client, logger: logger).apply(files)
                    }
                    try await connection.query(PostgresQuery(unsafeSQL: "ALTER DATABASE \(name)_building RENAME TO \(name)"), logger: logger)
                    // Templates of older migration sets are no longer needed.
                    let stale = try await connection.query("""
                        SELECT datname FROM pg_database WHERE datname LIKE 'hh\\_tpl\\_%' AND datname <> \(name)
                        """, logger: logger)
                    var names: [String] = []
                    for try await old in stale.decode(String.self) { names.append(old) }
                    for old in names {
                        try await connection.query(PostgresQuery(unsafeSQL: "DROP DATABASE IF EXISTS \(old) WITH (FORCE)"), logger: logger)
                    }
                }
                _ = try await connection.query("SELECT pg_advisory_unlock(\(Int64(0x4859_5445_5354)))", logger: logger)
            } catch {
                _ = try? await connection.query("SELECT pg_advisory_unlock(\(Int64(0x4859_5445_5354)))", logger: logger)
                throw error
            }
        }
        return name
    }

    /// A connection to the server's own database, for CREATE/DROP DATABASE.
    @discardableResult
    private static func admin<T: Sendable>(
        _ server: DatabaseSettings, _ body: @Sendable (PostgresConnection) async throws -> T
    ) async throws -> T {
        try await PostgresClientFactory.withClient(server, logger: logger) { client in
            try await client.withConnection { try await body($0) }
        }
    }
}
