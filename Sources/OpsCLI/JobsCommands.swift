import ArgumentParser
import Foundation
import OpsKit
import PostgresNIO

struct JobsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "jobs", abstract: "List, show, requeue and cancel jobs.",
        subcommands: [JobsList.self, JobsShow.self, JobsRequeue.self, JobsCancel.self, JobsRetryDiscarded.self],
        defaultSubcommand: JobsList.self)
}

struct FilterOptions: ParsableArguments {
    @Option(name: .customLong("state"), help: "Only jobs in this state (repeat or comma-separate: available, scheduled, running, retryable, completed, discarded, cancelled).")
    var states: [String] = []
    @Option(name: .customLong("kind"), help: "Only jobs of this kind (repeatable).") var kinds: [String] = []
    @Option(name: .customLong("queue"), help: "Only jobs of this queue (repeatable).") var queues: [String] = []
    @Option(help: "Only jobs created at least this long ago (90s, 10m, 2h, 14d).") var olderThan: String?
    @Option(help: "Only jobs created at most this long ago.") var newerThan: String?

    func filter() throws -> JobFilter {
        try JobFilter.parse(states: states, kinds: kinds, queues: queues, olderThan: olderThan, newerThan: newerThan)
    }
}

struct JobsList: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "List jobs, newest first, a page at a time.")

    @OptionGroup var filters: FilterOptions
    @Option(help: "Jobs per page (1-1000).") var limit = 50
    @Option(help: "Continue after this job id (the cursor the previous page printed).") var afterId: Int64?
    @OptionGroup var output: OutputOptions

    func run() async throws {
        let filter = Ops.parse(output, label: "jobs list") { () throws -> JobFilter in
            guard (1...1000).contains(self.limit) else { throw OpsError("bad --limit \(self.limit): use 1 to 1000") }
            return try filters.filter()
        }
        let (limit, afterID) = (self.limit, self.afterId)
        try await Ops.run(output, label: "jobs list") { client, logger in
            let jobs = try await client.withConnection {
                try await JobQueries.list(filter, limit: limit, afterID: afterID, on: $0, logger: logger)
            }
            return JobListReport(jobs: jobs, limit: limit)
        }
    }
}

struct JobsShow: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "show", abstract: "One job: payload, attempts, error history, lease, unique key, times.")

    @Argument(help: "The job id.") var id: Int64
    @OptionGroup var output: OutputOptions

    func run() async throws {
        let id = self.id
        try await Ops.run(output, label: "jobs show") { client, logger in
            guard let detail = try await client.withConnection({ try await JobQueries.detail(id, on: $0, logger: logger) }) else {
                throw JobQueries.notFound(id)
            }
            return JobShowReport(detail: detail)
        }
    }
}

/// requeue, cancel and retry-discarded: one id acts at once; a filter is a dry run unless --apply.
struct ActionOptions: ParsableArguments {
    @Flag(help: "Perform a bulk action (without it, print what would change and change nothing).") var apply = false
    @Flag(help: "Also act on running jobs whose worker still holds a live lease (its outcome is then dropped).") var force = false
}

enum JobActionCommand {
    static func run(_ action: JobAction, label: String, id: Int64?, filter: JobFilter, force: Bool, apply: Bool,
                    output: OutputOptions) async throws {
        if id != nil && !filter.isEmpty {
            Ops.fail(OpsError("give a job id or filters, not both"), output: output, label: label)
        }
        if id == nil && filter.isEmpty && label != "jobs retry-discarded" {
            Ops.fail(OpsError("name a job id, or select jobs with --state, --kind, --queue, --older-than or --newer-than "
                              + "(a bulk action is a dry run until --apply)"), output: output, label: label)
        }
        if id != nil && apply {
            FileHandle.standardError.write(Data("note: --apply is for filters; a single job id is acted on at once\n".utf8))
        }
        try await Ops.run(output, label: label) { client, logger in
            let result = try await client.withConnection {
                try await JobActions.run(action, id: id, filter: filter, force: force, apply: apply, on: $0, logger: logger)
            }
            let report = JobActionReport(result: result)
            if id != nil, let skip = result.skipped.first {
                return FailingReport(inner: report, failure: ReportedFailure(description: "job \(skip.id) not changed: \(skip.reason)"))
            }
            return report
        }
    }
}

struct JobsRequeue: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "requeue",
        abstract: "Make discarded, cancelled, retryable or scheduled jobs available now, attempts reset to 0.",
        discussion: "A running job under a live lease is left alone unless --force; its worker then drops its outcome.")

    @Argument(help: "One job id (acted on at once); or use filters.") var id: Int64?
    @OptionGroup var filters: FilterOptions
    @OptionGroup var options: ActionOptions
    @OptionGroup var output: OutputOptions

    func run() async throws {
        let filter = Ops.parse(output, label: "jobs requeue") { try filters.filter() }
        try await JobActionCommand.run(.requeue, label: "jobs requeue", id: id, filter: filter, force: options.force, apply: options.apply, output: output)
    }
}

struct JobsCancel: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cancel", abstract: "Cancel available, scheduled or retryable jobs (terminal; frees the unique key).",
        discussion: "A running job under a live lease is cancelled only with --force: it becomes non-claimable at once and its worker drops the outcome at its next lease renewal.")

    @Argument(help: "One job id (acted on at once); or use filters.") var id: Int64?
    @OptionGroup var filters: FilterOptions
    @OptionGroup var options: ActionOptions
    @OptionGroup var output: OutputOptions

    func run() async throws {
        let filter = Ops.parse(output, label: "jobs cancel") { try filters.filter() }
        try await JobActionCommand.run(.cancel, label: "jobs cancel", id: id, filter: filter, force: options.force, apply: options.apply, output: output)
    }
}

struct JobsRetryDiscarded: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "retry-discarded", abstract: "Requeue discarded jobs (all, or by kind, queue and age); a dry run unless --apply.")

    @Option(name: .customLong("kind"), help: "Only jobs of this kind (repeatable).") var kinds: [String] = []
    @Option(name: .customLong("queue"), help: "Only jobs of this queue (repeatable).") var queues: [String] = []
    @Option(help: "Only jobs created at least this long ago.") var olderThan: String?
    @Option(help: "Only jobs created at most this long ago.") var newerThan: String?
    @Flag(help: "Requeue them (without it, print what would change and change nothing).") var apply = false
    @OptionGroup var output: OutputOptions

    func run() async throws {
        let label = "jobs retry-discarded"
        let filter = Ops.parse(output, label: label) {
            try JobFilter.parse(states: ["discarded"], kinds: kinds, queues: queues, olderThan: olderThan, newerThan: newerThan)
        }
        try await JobActionCommand.run(.requeue, label: label, id: nil, filter: filter, force: false, apply: apply, output: output)
    }
}
