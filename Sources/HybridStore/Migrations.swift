import Foundation
import Logging
import PostgresNIO
import TradingCore

/// A numbered SQL file from `migrations/`: `NNNN_words.sql`.
public struct MigrationFile: Sendable, Hashable {
    public let name: String
    public let sql: String
    /// SHA-256 of the file's bytes; an applied file whose checksum changed stops start-up.
    public let checksum: String

    public init(name: String, sql: String) {
        self.name = name
        self.sql = sql
        self.checksum = SHA256.hex(Array(sql.utf8))
    }

    /// Reads every `NNNN_name.sql` in `directory`, in order. Other `.sql` names, and two
    /// files with one number, are errors rather than silently skipped.
    public static func load(directory: URL) throws(MigrationError) -> [MigrationFile] {
        let names: [String]
        do {
            names = try FileManager.default.contentsOfDirectory(atPath: directory.path)
        } catch {
            throw .unreadable(directory.path)
        }
        var files: [MigrationFile] = []
        var numbers: [Substring: String] = [:]
        for name in names.sorted() where name.hasSuffix(".sql") {
            let number = name.prefix { $0.isNumber }
            let rest = name.dropFirst(number.count)
            guard number.count == 4, rest.hasPrefix("_"), rest.count > 5,
                  rest.dropFirst().dropLast(4).allSatisfy({ $0.isLowercase || $0.isNumber || $0 == "_" }) else {
                throw .badFileName(name)
            }
            if let other = numbers[number] { throw .duplicateNumber(other, name) }
            numbers[number] = name
            guard let sql = try? String(contentsOf: directory.appendingPathComponent(name), encoding: .utf8) else {
                throw .unreadable(directory.appendingPathComponent(name).path)
            }
            files.append(MigrationFile(name: name, sql: sql))
        }
        if files.isEmpty { throw .noFiles(directory.path) }
        return files
    }
}

public enum MigrationError: Error, Sendable, Equatable, CustomStringConvertible {
    case unreadable(String)
    case noFiles(String)
    case badFileName(String)
    case duplicateNumber(String, String)
    case edited(name: String)
    case unknownApplied([String])
    case pending([String])
    case failed(name: String, statement: Int, message: String)

    public var description: String {
        switch self {
        case .unreadable(let path): "cannot read \(path)"
        case .noFiles(let path): "no NNNN_name.sql files in \(path)"
        case .badFileName(let name): "\(name): migration files are named NNNN_lower_case_words.sql"
        case .duplicateNumber(let a, let b): "\(a) and \(b) share a number; renumber one of them"
        case .edited(let name):
            "\(name) was edited after it was applied (its checksum changed); restore it and put the change in a new numbered file"
        case .unknownApplied(let names):
            "the database has migrations this build does not know (\(names.joined(separator: ", "))); run a newer build"
        case .pending(let names):
            "the database is missing migrations \(names.joined(separator: ", ")); run `hybridhub migrate` first"
        case .failed(let name, let statement, let message): "\(name), statement \(statement): \(message)"
        }
    }
}

public struct MigrationReport: Sendable, Equatable {
    public var applied: [String]
    public var alreadyApplied: [String]
}

/// Applies migrations under a Postgres advisory lock, one transaction per file, recording each
/// file's name and checksum; N processes starting together apply each file exactly once.
/// Servers call `verify`, which changes nothing.
public struct Migrator: Sendable {
    /// pg_advisory_lock key, shared by every HybridHub process on one database.
    public static let lockKey: Int64 = 0x4859_4252_4D49_47  // "HYBRMIG"

    public let client: PostgresClient
    public let logger: Logger

    public init(client: PostgresClient, logger: Logger) {
        self.client = client
        self.logger = logger
    }

    public func apply(_ files: [MigrationFile]) async throws -> MigrationReport {
        try await client.withConnection { connection in
            try await connection.query("SELECT pg_advisory_lock(\(Self.lockKey))", logger: logger)
            do {
                let report = try await applyLocked(files, on: connection)
                try await connection.query("SELECT pg_advisory_unlock(\(Self.lockKey))", logger: logger)
                return report
            } catch {
                // Best effort: if this fails the connection is broken and the lock dies with it.
                _ = try? await connection.query("SELECT pg_advisory_unlock(\(Self.lockKey))", logger: logger)
                throw error
            }
        }
    }

    public func verify(_ files: [MigrationFile]) async throws {
        let applied = try await client.withConnection { try await recorded(on: $0) }
        let pending = try compare(files, applied: applied)
        if !pending.isEmpty { throw MigrationError.pending(pending.map(\.name)) }
    }

    private func applyLocked(_ files: [MigrationFile], on connection: PostgresConnection) async throws -> MigrationReport {
        try await connection.query("""
            CREATE TABLE IF NOT EXISTS schema_migrations (
                name        TEXT PRIMARY KEY,
                checksum    TEXT NOT NULL,
                applied_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
                duration_ms INTEGER NOT NULL
            )
            """, logger: logger)
        let applied = try await recorded(on: connection)
        let pending = try compare(files, applied: applied)
        var report = MigrationReport(applied: [], alreadyApplied: files.map(\.name).filter { applied[$0] != nil })
        for file in pending {
            let started = ContinuousClock.now
            try await connection.transaction(logger: logger) { tx in
                for (index, statement) in SQLScript.statements(file.sql).enumerated() {
                    do {
                        try await tx.query(PostgresQuery(unsafeSQL: statement), logger: logger)
                    } catch let error as PSQLError {
                        throw MigrationError.failed(name: file.name, statement: index + 1,
                                                    message: error.serverInfo?[.message] ?? String(reflecting: error))
                    }
                }
                let elapsed = ContinuousClock.now - started
                let ms = Int(elapsed.components.seconds * 1000 + elapsed.components.attoseconds / 1_000_000_000_000_000)
                try await tx.query("""
                    INSERT INTO schema_migrations (name, checksum, duration_ms)
                    VALUES (\(file.name), \(file.checksum), \(ms))
                    """, logger: logger)
            }
            logger.info("migration applied", metadata: ["migration.name": "\(file.name)"])
            report.applied.append(file.name)
        }
        return report
    }

    /// name → checksum of applied migrations; empty when the table does not exist yet.
    private func recorded(on connection: PostgresConnection) async throws -> [String: String] {
        let exists = try await connection.query("SELECT to_regclass('schema_migrations') IS NOT NULL", logger: logger)
        var tableExists = false
        for try await flag in exists.decode(Bool.self) { tableExists = flag }
        guard tableExists else { return [:] }
        var applied: [String: String] = [:]
        let rows = try await connection.query("SELECT name, checksum FROM schema_migrations", logger: logger)
        for try await (name, checksum) in rows.decode((String, String).self) { applied[name] = checksum }
        return applied
    }

    /// Checks applied files against the folder; returns the files still to apply.
    private func compare(_ files: [MigrationFile], applied: [String: String]) throws -> [MigrationFile] {
        for file in files {
            if let checksum = applied[file.name], checksum != file.checksum { throw MigrationError.edited(name: file.name) }
        }
        let known = Set(files.map(\.name))
        let unknown = applied.keys.filter { !known.contains($0) }.sorted()
        if !unknown.isEmpty { throw MigrationError.unknownApplied(unknown) }
        return files.filter { applied[$0.name] == nil }
    }
}

extension Migrator {
    /// Throws unless the database answers and has the migrations table (readiness).
    public static func checkMigrated(on db: PostgresConnection, logger: Logger) async throws {
        _ = try await db.query("SELECT 1 FROM schema_migrations LIMIT 1", logger: logger)
    }
}
