import Foundation
import HybridSettings
import HybridStore
import HybridTestSupport
import PostgresNIO
import Testing
@Suite struct MigrationTests {
    let logger = TestDatabase.logger

    func files() throws -> [MigrationFile] { try MigrationFile.load(directory: TestDatabase.migrationsDirectory) }

    func appliedRows(_ db: DatabaseSettings) async throws -> [String: String] {
        try await PostgresClientFactory.withClient(db, logger: logger) { client in
            var rows: [String: String] = [:]
            let result = try await client.query("SELECT name, checksum FROM schema_migrations", logger: logger)
            for try await (name, checksum) in result.decode((String, String).self) { rows[name] = checksum }
            return rows
        }
    }

    /// A private copy of migrations/ that a test may edit.
    func copyOfMigrations() throws -> URL {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("hh-migrations-\(UUID().uuidString)")
        try FileManager.default.copyItem(at: TestDatabase.migrationsDirectory, to: folder)
        return folder
    }

    @Test func appliesEveryFileOnceAndRecordsChecksums() async throws {
        let files = try files()
        try await TestDatabase.withEmpty { db in
            let report = try await PostgresClientFactory.withClient(db, logger: logger) {
                try await Migrator(client: $0, logger: logger).apply(files)
            }
            #expect(report.applied == files.map(\.name))
            #expect(try await appliedRows(db) == Dictionary(uniqueKeysWithValues: files.map { ($0.name, $0.checksum) }))
            let again = try await PostgresClientFactory.withClient(db, logger: logger) {
                try await Migrator(client: $0, logger: logger).apply(files)
            }
            #expect(again.applied.isEmpty && again.alreadyApplied == files.map(\.name))
            try await PostgresClientFactory.withClient(db, logger: logger) { try await Migrator(client: $0, logger: logger).verify(files) }
        }
    }

    @Test func concurrentMigratorsApplyEachFileExactlyOnce() async throws {
        let files = try files()
        try await TestDatabase.withEmpty { db in
            // Eight migrators, each with its own client and connection, start together.
            let reports = try await withThrowingTaskGroup(of: MigrationReport.self) { group in
                for _ in 0..<8 {
                    group.addTask {
                        try await PostgresClientFactory.withClient(db, logger: logger) {
                            try await Migrator(client: $0, logger: logger).apply(files)
                        }
                    }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            let applied = reports.flatMap(\.applied)
            #expect(applied.sorted() == files.map(\.name).sorted(), "each file applied exactly once across all migrators")
            #expect(try await appliedRows(db).count == files.count)
        }
    }

    @Test func twoProcessesMigratingAtOnceApplyEachFileOnce() async throws {
        let files = try files()
        let binary = try ChildProcess.executable("hybridhub")
        try await TestDatabase.withEmpty { db in
            let environment = ChildProcess.environment(for: db)
            async let first = ChildProcess.run(binary, ["migrate"], environment: environment)
            async let second = ChildProcess.run(binary, ["migrate"], environment: environment)
            let results = try await [first, second]
            for result in results { #expect(result.status == 0, "\(result.stderr)") }
            let appliedLines = results.flatMap { $0.stdout.split(separator: "\n").filter { $0.hasPrefix("migrate: applied ") } }
            #expect(appliedLines.map { String($0.dropFirst("migrate: applied ".count)) }.sorted() == files.map(\.name).sorted())
            #expect(try await appliedRows(db).count == files.count)
        }
    }

    @Test func anEditedAppliedFileStopsStartUpNamingTheFile() async throws {
        let folder = try copyOfMigrations()
        defer { try? FileManager.default.removeItem(at: folder) }
        let binary = try ChildProcess.executable("hybridhub")
        try await TestDatabase.withEmpty { db in
            let original = try MigrationFile.load(directory: folder)
            _ = try await PostgresClientFactory.withClient(db, logger: logger) { try await Migrator(client: $0, logger: logger).apply(original) }
            let edited = folder.appendingPathComponent("0002_trading.sql")
            let text = try String(contentsOf: edited, encoding: .utf8)
            try (text + "\n-- a harmless-looking edit\n").write(to: edited, atomically: true, encoding: .utf8)
            let files = try MigrationFile.load(directory: folder)
            await #expect(throws: MigrationError.edited(name: "0002_trading.sql")) {
                try await PostgresClientFactory.withClient(db, logger: logger) { try await Migrator(client: $0, logger: logger).verify(files) }
            }
            await #expect(throws: MigrationError.edited(name: "0002_trading.sql")) {
                try await PostgresClientFactory.withClient(db, logger: logger) { try await Migrator(client: $0, logger: logger).apply(files) }
            }
            // The server's start-up check, as a process: non-zero exit and a message naming the file.
            var environment = ChildProcess.environment(for: db)
            environment["HYBRIDHUB_MIGRATIONS_DIR"] = folder.path
            let result = try await ChildProcess.run(binary, ["migrate", "--verify"], environment: environment)
            #expect(result.status != 0)
            #expect(result.stderr.contains("0002_trading.sql was edited after it was applied"), "\(result.stderr)")
        }
    }

    @Test func verifyReportsPendingAndUnknownMigrations() async throws {
        let files = try files()
        try await TestDatabase.withEmpty { db in
            await #expect(throws: MigrationError.pending(files.map(\.name))) {
                try await PostgresClientFactory.withClient(db, logger: logger) { try await Migrator(client: $0, logger: logger).verify(files) }
            }
            _ = try await PostgresClientFactory.withClient(db, logger: logger) { try await Migrator(client: $0, logger: logger).apply(files) }
            let older = Array(files.dropLast())
            await #expect(throws: MigrationError.unknownApplied([files[files.count - 1].name])) {
                try await PostgresClientFactory.withClient(db, logger: logger) { try await Migrator(client: $0, logger: logger).verify(older) }
            }
        }
    }

    @Test func aFailingFileRollsBackEntirely() async throws {
        let good = MigrationFile(name: "0001_good.sql", sql: "CREATE TABLE good (id INT);")
        let bad = MigrationFile(name: "0002_bad.sql", sql: "CREATE TABLE half (id INT);\nSELECT * FROM no_such_table;")
        try await TestDatabase.withEmpty { db in
            await #expect(throws: MigrationError.failed(name: "0002_bad.sql", statement: 2, message: "relation \"no_such_table\" does not exist")) {
                try await PostgresClientFactory.withClient(db, logger: logger) { try await Migrator(client: $0, logger: logger).apply([good, bad]) }
            }
            #expect(try await appliedRows(db).keys.sorted() == ["0001_good.sql"])
            let halfExists = try await PostgresClientFactory.withClient(db, logger: logger) { client in
                var exists = true
                for try await flag in try await client.query("SELECT to_regclass('half') IS NOT NULL", logger: logger).decode(Bool.self) { exists = flag }
                return exists
            }
            #expect(!halfExists, "the failed file's first statement was rolled back")
        }
    }

    @Test func badFileNamesAreRefused() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("hh-badnames-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        try "SELECT 1;".write(to: folder.appendingPathComponent("1_short.sql"), atomically: true, encoding: .utf8)
        #expect(throws: MigrationError.badFileName("1_short.sql")) { try MigrationFile.load(directory: folder) }
        try FileManager.default.removeItem(at: folder.appendingPathComponent("1_short.sql"))
        try "SELECT 1;".write(to: folder.appendingPathComponent("0001_a.sql"), atomically: true, encoding: .utf8)
        try "SELECT 1;".write(to: folder.appendingPathComponent("0001_b.sql"), atomically: true, encoding: .utf8)
        #expect(throws: MigrationError.duplicateNumber("0001_a.sql", "0001_b.sql")) { try MigrationFile.load(directory: folder) }
    }

    @Test func testsRefuseANonLocalDatabase() {
        let remote = DatabaseSettings(host: "db.example.com", port: 5432, user: "u", password: nil, database: "d")
        #expect(throws: TestDatabase.NotLocal.self) { try TestDatabase.requireLocal(remote) }
    }
}
