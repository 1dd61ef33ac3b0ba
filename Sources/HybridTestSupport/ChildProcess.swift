import Foundation
import HybridSettings

/// Runs the package's own executables as real OS processes in tests.
public struct ChildProcess: Sendable {
    public struct Result: Sendable {
        public let status: Int32
        public let stdout: String
        public let stderr: String
    }

    /// A product built next to the test bundle (`swift build` / `swift test` build them all).
    public static func executable(_ name: String) throws -> URL {
        var candidates: [URL] = []
        if let bundle = Bundle.main.executableURL?.resolvingSymlinksInPath().deletingLastPathComponent() {
            candidates.append(bundle.appendingPathComponent(name))
        }
        candidates.append(TestDatabase.repositoryRoot.appendingPathComponent(".build/debug/\(name)"))
        guard let found = candidates.first(where: { FileManager.default.isExecutableFile(atPath: $0.path) }) else {
            throw MissingExecutable(name: name, looked: candidates.map(\.path))
        }
        return found
    }

    public struct MissingExecutable: Error, CustomStringConvertible {
        let name: String
        let looked: [String]
        public var description: String { "executable \(name) not built (looked in \(looked.joined(separator: ", "))); run `swift build`" }
    }

    /// `DATABASE_URL` for `database` (the password inline: tests only).
    public static func databaseURL(_ database: DatabaseSettings) -> String {
        let password = database.password.map { ":\($0.reveal())" } ?? ""
        return "postgres://\(database.user)\(password)@\(database.host):\(database.port)/\(database.database)"
    }

    /// The environment that points a child at `database`.
    public static func environment(for database: DatabaseSettings, extra: [String: String] = [:]) -> [String: String] {
        var environment = ProcessInfo.processInfo.environment
        environment["DATABASE_URL"] = databaseURL(database)
        environment["DATABASE_PASSWORD_FILE"] = nil
        environment["HYBRIDHUB_MIGRATIONS_DIR"] = TestDatabase.migrationsDirectory.path
        environment["LOG_LEVEL"] = "warning"
        return environment.merging(extra) { $1 }
    }

    /// Starts `executable` and waits for it; output is collected from temporary files so a
    /// chatty child never blocks on a full pipe.
    public static func run(_ executable: URL, _ arguments: [String], environment: [String: String],
                           currentDirectory: URL = TestDatabase.repositoryRoot) async throws -> Result {
        let process = makeProcess(executable, arguments, environment: environment, currentDirectory: currentDirectory)
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("hh-child-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let out = folder.appendingPathComponent("out"), err = folder.appendingPathComponent("err")
        _ = FileManager.default.createFile(atPath: out.path, contents: nil)
        _ = FileManager.default.createFile(atPath: err.path, contents: nil)
        process.standardOutput = try FileHandle(forWritingTo: out)
        process.standardError = try FileHandle(forWritingTo: err)
        let status: Int32 = try await withCheckedThrowingContinuation { continuation in
            process.terminationHandler = { continuation.resume(returning: $0.terminationStatus) }
            do { try process.run() } catch {
                process.terminationHandler = nil
                continuation.resume(throwing: error)
            }
        }
        return Result(status: status,
                      stdout: (try? String(contentsOf: out, encoding: .utf8)) ?? "",
                      stderr: (try? String(contentsOf: err, encoding: .utf8)) ?? "")
    }

    static func makeProcess(_ executable: URL, _ arguments: [String], environment: [String: String],
                            currentDirectory: URL) -> Process {
        let process = Process()
        process.executableURL = executable
        process.arguments = arguments
        process.environment = environment
        process.currentDirectoryURL = currentDirectory
        return process
    }
}

#if canImport(Glibc)
import Glibc
#endif

/// A child process left running: tests signal it (SIGKILL, SIGSTOP, SIGCONT, SIGTERM) and
/// wait for it. Output goes to files so it never blocks on a pipe.
public final class RunningProcess: Sendable {
    public let process: Process
    public let outputFile: URL

    public static func start(_ executable: URL, _ arguments: [String], environment: [String: String],
                             currentDirectory: URL = TestDatabase.repositoryRoot) throws -> RunningProcess {
        let process = ChildProcess.makeProcess(executable, arguments, environment: environment, currentDirectory: currentDirectory)
        let output = FileManager.default.temporaryDirectory.appendingPathComponent("hh-proc-\(UUID().uuidString).log")
        _ = FileManager.default.createFile(atPath: output.path, contents: nil)
        let handle = try FileHandle(forWritingTo: output)
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
        return RunningProcess(process: process, outputFile: output)
    }

    private init(process: Process, outputFile: URL) {
        self.process = process
        self.outputFile = outputFile
    }

    public var pid: Int32 { process.processIdentifier }

    public func signal(_ signal: Int32) {
        _ = kill(process.processIdentifier, signal)
    }

    /// The exit status (for a signal, the signal number), or nil if still running after `seconds`.
    public func wait(seconds: Double) async -> Int32? {
        let deadline = ContinuousClock.now + .seconds(seconds)
        while process.isRunning {
            if ContinuousClock.now >= deadline { return nil }
            try? await Task.sleep(for: .milliseconds(20))
        }
        return process.terminationStatus
    }

    /// True if the process ended because of a signal (as SIGKILL does).
    public var endedBySignal: Bool { !process.isRunning && process.terminationReason == .uncaughtSignal }

    public var output: String { (try? String(contentsOf: outputFile, encoding: .utf8)) ?? "" }

    /// Kills the process if it still runs (test clean-up).
    public func stop() {
        if process.isRunning { signal(SIGKILL) }
    }
}

/// Polls `condition` until it holds or `seconds` pass; returns how long it took, or nil.
/// (Explicit readiness, never a blind sleep.)
public func eventually(within seconds: Double, every interval: Double = 0.05,
                       _ condition: @Sendable () async throws -> Bool) async throws -> Double? {
    let start = ContinuousClock.now
    while ContinuousClock.now - start < .seconds(seconds) {
        if try await condition() {
            let elapsed = ContinuousClock.now - start
            return Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        }
        try await Task.sleep(for: .seconds(interval))
    }
    return nil
}
