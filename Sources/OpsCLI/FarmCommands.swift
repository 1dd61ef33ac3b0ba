import ArgumentParser
import Foundation
import HybridStore
import OpsKit
import PostgresNIO
import ProcessKit
import TradingCore

struct QueuesCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "queues", abstract: "Queue depth by state, age of the oldest available job, paused or not; pause and resume.",
        subcommands: [QueuesList.self, QueuesPause.self, QueuesResume.self], defaultSubcommand: QueuesList.self)
}

struct QueuesList: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "Every queue with its depth by state.")

    @OptionGroup var output: OutputOptions

    func run() async throws {
        try await Ops.run(output, label: "queues") { client, logger in
            QueuesReport(queues: try await client.withConnection { try await QueueQueries.status(on: $0, logger: logger) })
        }
    }
}

struct QueuesPause: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pause", abstract: "Stop workers claiming from a queue (jobs in hand finish; nothing is lost).")

    @Argument(help: "The queue name.") var name: String
    @OptionGroup var output: OutputOptions

    func run() async throws { try await QueuesPause.set(name, paused: true, output: output) }

    static func set(_ name: String, paused: Bool, output: OutputOptions) async throws {
        let label = paused ? "queues pause" : "queues resume"
        let trimmed = name.trimmingCharacters(in: .whitespaces)
        if trimmed.isEmpty || trimmed.count > 100 {
            Ops.fail(OpsError("bad queue name '\(name)': 1 to 100 characters"), output: output, label: label)
        }
        try await Ops.run(output, label: label) { client, logger in
            try await client.withConnection { db in
                let known = try await QueueQueries.isKnown(trimmed, on: db, logger: logger)
                return QueuePauseReport(queue: try await QueueQueries.setPaused(trimmed, paused: paused, on: db, logger: logger), known: known)
            }
        }
    }
}

struct QueuesResume: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "resume", abstract: "Let workers claim from a paused queue again (wakes them).")

    @Argument(help: "The queue name.") var name: String
    @OptionGroup var output: OutputOptions

    func run() async throws { try await QueuesPause.set(name, paused: false, output: output) }
}

struct WorkersCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "workers", abstract: "Worker processes: last heartbeat, jobs in hand, stopping or not.")

    @OptionGroup var output: OutputOptions

    func run() async throws {
        try await Ops.run(output, label: "workers") { client, logger in
            WorkersReport(workers: try await client.withConnection { try await WorkerQueries.workers(on: $0, logger: logger) })
        }
    }
}

struct LeaderCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "leader", abstract: "Who leads each singleton role (trading-scheduler, …), its epoch, since when, until when.")

    @OptionGroup var output: OutputOptions

    func run() async throws {
        try await Ops.run(output, label: "leader") { client, logger in
            LeaderReport(leaders: try await client.withConnection { try await LeaderQueries.leaders(on: $0, logger: logger) })
        }
    }
}

struct PruneCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "prune", abstract: "Delete finished jobs past retention, in batches; a dry-run count unless --apply.")

    @Option(help: "Completed and cancelled jobs finalized longer ago than this go.") var completedAge = "24h"
    @Option(help: "Discarded jobs finalized longer ago than this go.") var discardedAge = "14d"
    @Option(help: "Rows per DELETE.") var batch = 1000
    @Flag(help: "Delete them (without it, count only).") var apply = false
    @OptionGroup var output: OutputOptions

    func run() async throws {
        let (completed, discarded) = Ops.parse(output, label: "prune") {
            guard self.batch >= 1 else { throw OpsError("bad --batch \(self.batch): at least 1") }
            return (try DurationText.seconds(completedAge, option: "--completed-age"),
                    try DurationText.seconds(discardedAge, option: "--discarded-age"))
        }
        let (apply, batch) = (self.apply, self.batch)
        try await Ops.run(output, label: "prune") { client, logger in
            let counts = apply
                ? try await Prune.delete(completedSeconds: completed, discardedSeconds: discarded, batch: batch, client: client, logger: logger)
                : try await client.withConnection {
                    try await Prune.count(completedSeconds: completed, discardedSeconds: discarded, on: $0, logger: logger)
                }
            return PruneReport(counts: counts, applied: apply, completedSeconds: completed, discardedSeconds: discarded)
        }
    }
}

struct TraceCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "trace", abstract: "One order's chain: rule evaluation → question → answer → order → jobs → fill, with times.")

    @Argument(help: "The order's client_order_id.") var clientOrderId: String
    @OptionGroup var output: OutputOptions

    func run() async throws {
        let id = clientOrderId
        try await Ops.run(output, label: "trace") { client, logger in
            TraceReport(trace: try await client.withConnection { try await TraceQueries.trace(clientOrderID: id, on: $0, logger: logger) })
        }
    }
}

/// `hybridhub-ops migrate`: the same as `hybridhub migrate` (MigrationCommand).
struct MigrateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "migrate", abstract: "Apply the numbered SQL files in migrations/ (under an advisory lock), or --verify only.")

    @Flag(help: "Change nothing; fail if a migration is pending, edited or unknown.") var verify = false
    @OptionGroup var output: OutputOptions

    struct Report: OpsReport {
        let target: String
        let verified: Bool
        let applied: [String]
        let alreadyApplied: Int

        var json: JSONValue {
            .object(["database": .string(target), "verify": .bool(verified), "applied": .array(applied.map { .string($0) }),
                     "already_applied": .number(Decimal(alreadyApplied))])
        }

        var text: String {
            if verified { return "migrate: \(target) is up to date" }
            return (applied.map { "migrate: applied \($0)" } + ["migrate: \(target): \(applied.count) applied, \(alreadyApplied) already applied"])
                .joined(separator: "\n")
        }
    }

    func run() async throws {
        let label = "migrate"
        do {
            let runtime = try ProcessRuntime.load(label: "hybridhub-ops")
            let target = runtime.settings.database.redactedDescription
            let report: Report
            try await OpsDatabase.check(runtime.settings.database, logger: runtime.logger)
            do {
                if verify {
                    try await MigrationCommand.verify(settings: runtime.settings, logger: runtime.logger)
                    report = Report(target: target, verified: true, applied: [], alreadyApplied: 0)
                } else {
                    let result = try await MigrationCommand.apply(settings: runtime.settings, logger: runtime.logger)
                    report = Report(target: target, verified: false, applied: result.applied, alreadyApplied: result.alreadyApplied.count)
                }
            } catch let error as MigrationError {
                throw OpsError("\(error)")
            } catch let error as OpsError {
                throw error
            } catch {
                throw OpsError("cannot reach the database at \(target) (\(String(describing: error).prefix(200)))\n\(OpsDatabase.startHint)")
            }
            print(report.rendered(json: output.json))
        } catch {
            Ops.fail(error, output: output, label: label)
        }
    }
}
