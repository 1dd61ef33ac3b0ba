import ArgumentParser
import Foundation
import HybridSettings
import HybridStore
import ProcessKit
import TradingCore

@main
struct HybridHubCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "hybridhub",
        abstract: "HybridHub trading server: worker and scheduler roles, answers, migrations, configuration checks, the demo.",
        subcommands: [Migrate.self, WorkerRole.self, SchedulerRole.self, StreamsRole.self, APIRole.self, LocalIssuerRole.self, AnswerCommand.self, DemoCommand.self, ShowSettings.self,
                      ValidateConfig.self]
    )
}

/// Settings and logging, the same way for every subcommand.
enum Runtime {
    static func load() throws -> ProcessRuntime {
        do {
            return try ProcessRuntime.load(label: "hybridhub")
        } catch {
            throw ValidationError(error.description)
        }
    }
}

struct Migrate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Apply the numbered SQL files in migrations/ (under an advisory lock), or --verify only.")

    @Flag(help: "Change nothing; fail if a migration is pending, edited or unknown.")
    var verify = false

    func run() async throws {
        let runtime = try Runtime.load()
        let target = runtime.settings.database.redactedDescription
        do {
            if verify {
                try await MigrationCommand.verify(settings: runtime.settings, logger: runtime.logger)
                print("migrate: \(target) is up to date")
            } else {
                let report = try await MigrationCommand.apply(settings: runtime.settings, logger: runtime.logger)
                for name in report.applied { print("migrate: applied \(name)") }
                print("migrate: \(target): \(report.applied.count) applied, \(report.alreadyApplied.count) already applied")
            }
        } catch let error as MigrationError {
            throw CommandFailure("migrate: \(error)")
        } catch {
            throw CommandFailure("migrate: cannot reach \(target): \(String(describing: error).prefix(300))\n"
                                 + "  start the private cluster with `ops/postgres.sh start` and `eval \"$(ops/postgres.sh env)\"`")
        }
    }
}

struct ShowSettings: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "settings", abstract: "Print every setting and its value; secrets are redacted.")

    func run() async throws {
        let environment = ProcessInfo.processInfo.environment
        for (name, value) in Settings.describe(environment: environment) { print("\(name)=\(value)") }
        do {
            _ = try Settings.load(environment: environment)
        } catch {
            throw CommandFailure(error.description)
        }
    }
}

struct ValidateConfig: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "validate-config",
        abstract: "Validate a trading config document (optionally as an override of a template file).")

    @Argument(help: "The config document (JSON).")
    var file: String

    @Option(help: "A template document the file overrides; the merge is validated.")
    var template: String?

    func run() async throws {
        func read(_ path: String) throws -> JSONValue {
            guard let data = FileManager.default.contents(atPath: path) else { throw CommandFailure("cannot read \(path)") }
            do { return try JSONValue.parse(data) } catch { throw CommandFailure("\(path): \(error.message)") }
        }
        let document = try read(file)
        switch ConfigMerge.validate(template: try template.map(read), override: document) {
        case .success(let config):
            print(String(decoding: try JSONSerialization.data(withJSONObject: JSONSerialization.jsonObject(with: config.jsonValue.canonicalData()), options: [.prettyPrinted, .sortedKeys]), as: UTF8.self))
        case .failure(let error):
            throw CommandFailure(error.issues.map(\.description).joined(separator: "\n"))
        }
    }
}

/// A failure that prints its message and exits 1 (never a stack of internals).
struct CommandFailure: Error, CustomStringConvertible {
    let description: String
    init(_ message: String) { description = message }
}
