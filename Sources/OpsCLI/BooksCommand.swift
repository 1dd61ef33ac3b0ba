import ArgumentParser
import Foundation
import OpsKit

/// `hybridhub-ops books rebuild [--apply]`.
struct BooksCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "books", abstract: "The users' own books (positions and P&L from their fills).",
        subcommands: [Rebuild.self])

    struct Rebuild: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Recompute every user's book from trade_orders and report the differences; --apply writes the recomputed books.",
            discussion: """
                The book of a (user, symbol) is recomputed from that user's fills in the symbol (average cost, in the order \
                the orders were submitted) and compared with user_positions: quantity, cost basis, realized P&L, when the \
                position opened, how many orders it holds. Exits 1 when a dry run finds a difference.
                """)

        @Flag(help: "Write the recomputed books (each position in its own transaction, under its lock).") var apply = false
        @OptionGroup var output: OutputOptions

        func run() async throws {
            let apply = self.apply
            try await Ops.run(output, label: "books rebuild") { client, logger in
                let report = try await BooksRebuild.run(apply: apply, client: client, logger: logger) { done, total in
                    FileHandle.standardError.write(Data("books rebuild: \(done)/\(total) positions\n".utf8))
                }
                guard apply || report.agreed else {
                    return FailingReport(inner: report, failure: ReportedFailure(
                        description: "\(report.differences.count) differences between the books and trade_orders"))
                }
                return report
            }
        }
    }
}
