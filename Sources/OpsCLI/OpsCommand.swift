import ArgumentParser
import Foundation
import Logging
import OpsKit
import PostgresNIO
import ProcessKit
import TradingCore

/// `hybridhub-ops`: the operator's view of the farm (jobs, queues, workers, leader, traces),
/// configured like the servers (DATABASE_URL, DATABASE_PASSWORD_FILE, LOG_LEVEL).
@main
struct OpsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "hybridhub-ops",
        abstract: "Inspect and operate the HybridHub job farm: jobs, queues, workers, the leader, migrations, retention, order traces, reconciliation.",
        discussion: """
            Configured like the servers: DATABASE_URL and DATABASE_PASSWORD_FILE (`eval "$(ops/postgres.sh env)"`).
            Every command prints a table, or one JSON document with --json; any failure exits non-zero.
            Bulk actions print what they would touch and change nothing without --apply.
            """,
        subcommands: [JobsCommand.self, QueuesCommand.self, WorkersCommand.self, LeaderCommand.self, MigrateCommand.self,
                      PruneCommand.self, TraceCommand.self, TradingCommand.self, OrdersCommand.self, ReconcileCommand.self,
                      BooksCommand.self])
}

struct OutputOptions: ParsableArguments {
    @Flag(help: "Print one JSON document (stable keys) instead of tables.") var json = false
}

/// Settings, a probed database connection, output and exit codes, the same for every command.
enum Ops {
    /// Runs `body` against the database and prints its report. Failures print a message that
    /// says what to do (on stderr; with --json also as `{"error": …}` on stdout) and exit 1.
    static func run(_ output: OutputOptions, label: String,
                    _ body: @Sendable (PostgresClient, Logger) async throws -> any OpsReport) async throws {
        do {
            let runtime: ProcessRuntime
            do {
                runtime = try ProcessRuntime.load(label: "hybridhub-ops")
            } catch {
                throw OpsError("configuration: \(error.description)")
            }
            let logger = runtime.logger
            let report = try await OpsDatabase.withClient(runtime.settings.database, logger: logger) { client in
                try await body(client, logger)
            }
            print(report.rendered(json: output.json))
            if let failure = (report as? FailingReport)?.failure { throw failure }
        } catch {
            fail(error, output: output, label: label)
        }
    }

    /// Prints the failure and exits 1 (never a stack of internals).
    static func fail(_ error: any Error, output: OutputOptions, label: String) -> Never {
        let message = (error as? OpsError)?.description ?? String(describing: error)
        FileHandle.standardError.write(Data("hybridhub-ops \(label): \(message)\n".utf8))
        if output.json, !(error is ReportedFailure) {
            print(Output.jsonText(.object(["error": .object(["command": .string(label), "message": .string(message)])])))
        }
        Foundation.exit(1)
    }

    /// A bad command-line value, reported like any failure (the message names the value).
    static func parse<T>(_ output: OutputOptions, label: String, _ body: () throws -> T) -> T {
        do { return try body() } catch { fail(error, output: output, label: label) }
    }
}

/// A report printed in full that still ends the command with a failure (e.g. a single-job
/// action that was refused: the report says why).
struct FailingReport: OpsReport {
    let inner: any OpsReport
    let failure: ReportedFailure?
    var json: JSONValue { inner.json }
    var text: String { inner.text }
}

struct ReportedFailure: Error, CustomStringConvertible {
    let description: String
}
