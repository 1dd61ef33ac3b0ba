import ArgumentParser
import Foundation
import OpsKit
import PostgresNIO

/// `hybridhub-ops reconcile [--apply]`: asks the workers (which hold the Alpaca keys; this CLI
/// never does) for a reconcile-orders run, waits for it and prints its findings.
struct ReconcileCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reconcile",
        abstract: "Compare Alpaca's orders with trade_orders now: a dry run that reports, or --apply to repair the books.",
        discussion: """
            Enqueues a reconcile-orders job (queue orders) for the workers, waits for it (progress on stderr) and prints \
            the run: broker orders listed since the watermark, book rows compared, and every finding (book_diverged, \
            unknown_broker_order, missing_at_broker, stuck_pending_submit, listing_truncated). Without --apply nothing \
            changes; with it, diverged rows get what Alpaca says and the watermark moves.
            """)

    @Flag(help: "Repair the books (record what Alpaca says) and move the watermark; without it, report only.") var apply = false
    @Option(help: "How long to wait for a worker to finish the job (90s, 5m).") var timeout = "120s"
    @OptionGroup var output: OutputOptions

    func run() async throws {
        let seconds = Ops.parse(output, label: "reconcile") { () throws -> Double in
            let value = try DurationText.seconds(timeout, option: "--timeout")
            guard value > 0 else { throw OpsError("bad --timeout '\(timeout)': above 0, e.g. 90s or 5m") }
            return value
        }
        let apply = self.apply
        try await Ops.run(output, label: "reconcile") { client, logger in
            let requester = ReconcileRequest.requester()
            let jobID = try await client.withConnection {
                try await ReconcileRequest.enqueue(apply: apply, requestedBy: requester, on: $0, logger: logger)
            }
            let run = try await ReconcileRequest.wait(jobID: jobID, timeoutSeconds: seconds, client: client, logger: logger) { job in
                FileHandle.standardError.write(Data((ReconcileRequest.progressLine(job, apply: apply) + "\n").utf8))
            }
            return ReconcileReport(run: run)
        }
    }
}
