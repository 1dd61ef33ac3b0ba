import ArgumentParser
import Foundation
import OpsKit
import PostgresNIO

struct TradingCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "trading", abstract: "The farm-wide trading halt: status, halt, resume.",
        subcommands: [TradingStatusCommand.self, TradingHaltCommand.self, TradingResumeCommand.self], defaultSubcommand: TradingStatusCommand.self)

    /// Who is acting: --by, else the login name and host.
    static func actor(_ by: String?) -> String {
        if let by, !by.trimmingCharacters(in: .whitespaces).isEmpty { return String(by.prefix(100)) }
        let user = ProcessInfo.processInfo.environment["USER"] ?? "operator"
        return "\(user)@\(ProcessInfo.processInfo.hostName)"
    }
}

struct TradingStatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "status", abstract: "Halted or running, who set it, the last events.")

    @OptionGroup var output: OutputOptions

    func run() async throws {
        try await Ops.run(output, label: "trading status") { client, logger in
            try await client.withConnection { try await TradingControl.status(on: $0, logger: logger) }
        }
    }
}

struct TradingHaltCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "halt",
        abstract: "Halt trading in every role at once: no question is asked, no approval orders, no order is sent.",
        discussion: "Returns once the order POSTs in flight have finished; from then on none starts. Market data and order tracking go on.")

    @Option(help: "Why (shown to operators and in refusals).") var reason: String
    @Option(help: "Who halts (default: $USER@host).") var by: String?
    @OptionGroup var output: OutputOptions

    func run() async throws {
        let reason = self.reason.trimmingCharacters(in: .whitespacesAndNewlines)
        if reason.isEmpty || reason.count > 500 {
            Ops.fail(OpsError("--reason must be 1 to 500 characters"), output: output, label: "trading halt")
        }
        let by = TradingCommand.actor(self.by)
        try await Ops.run(output, label: "trading halt") { client, logger in
            try await TradingControl.set(halted: true, reason: reason, by: by, client: client, logger: logger)
        }
    }
}

struct TradingResumeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "resume", abstract: "Lift the halt.")

    @Option(help: "Why (optional).") var reason: String?
    @Option(help: "Who resumes (default: $USER@host).") var by: String?
    @OptionGroup var output: OutputOptions

    func run() async throws {
        let reason = self.reason.map { String($0.prefix(500)) }
        let by = TradingCommand.actor(self.by)
        try await Ops.run(output, label: "trading resume") { client, logger in
            try await TradingControl.set(halted: false, reason: reason, by: by, client: client, logger: logger)
        }
    }
}

struct OrdersCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "orders", abstract: "Act on trade orders.", subcommands: [OrdersCancel.self])
}

struct OrdersCancel: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cancel",
        abstract: "Cancel an order that has not been sent: nothing sends it afterwards.",
        discussion: "The order's submit attempt asks Alpaca first: if an earlier attempt got through, the order is recorded as Alpaca has it.")

    @Argument(help: "The trade order's id or its client_order_id.") var order: String
    @Option(help: "Why.") var reason: String = "cancelled by an operator"
    @OptionGroup var output: OutputOptions

    func run() async throws {
        let reference = order.trimmingCharacters(in: .whitespaces)
        let reason = String(self.reason.prefix(500))
        try await Ops.run(output, label: "orders cancel") { client, logger in
            let report = try await TradingControl.cancel(order: reference, reason: reason, client: client, logger: logger)
            return FailingReport(inner: report, failure: report.requested ? nil : ReportedFailure(description: report.text))
        }
    }
}
