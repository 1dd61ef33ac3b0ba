import ArgumentParser
import Foundation

/// `hybridhub-books-bench`: the books benchmark's driver (ops/bench/books/run.sh starts the
/// token issuer and the API processes). `fills` seeds the users and their orders and times each
/// fill recorded through `OrderStore.recordBroker` (which books it) against the same UPDATE of
/// `trade_orders` alone; `tokens` mints ID tokens at the local issuer; `read` times
/// `GET /v1/me/trading/positions` under concurrent clients against `GET /v1/me/trading/orders`.
/// Each prints a Markdown fragment on stdout, progress on stderr.
@main
struct BooksBenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "hybridhub-books-bench", abstract: "Benchmark the per-user book: time per fill recorded, and the positions read.",
        subcommands: [FillsCommand.self, TokensCommand.self, ReadCommand.self])
}

/// The seeded users and symbols, shared by the subcommands.
enum BenchUniverse {
    static let bookPrefix = "bench-books-"
    static let referencePrefix = "bench-ref-"

    /// SPY and the simulator's synthetic SYNnn names.
    static func symbols(_ count: Int) -> [String] {
        ["SPY"] + (1..<max(1, count)).map { "SYN" + ($0 < 10 ? "0\($0)" : "\($0)") }
    }

    static func uid(_ n: Int) -> String { bookPrefix + String(n) }
}

func note(_ text: String) {
    FileHandle.standardError.write(Data("bench: \(text)\n".utf8))
}

/// Latencies in milliseconds, summarised (nearest-rank percentiles).
struct LatencySummary: Sendable {
    var count: Int
    var seconds: Double
    var mean = 0.0, p50 = 0.0, p90 = 0.0, p99 = 0.0, max = 0.0

    init(_ milliseconds: [Double], seconds: Double) {
        count = milliseconds.count
        self.seconds = seconds
        guard !milliseconds.isEmpty else { return }
        let sorted = milliseconds.sorted()
        func rank(_ p: Double) -> Double { sorted[Swift.max(0, Swift.min(sorted.count - 1, Int((p * Double(sorted.count)).rounded(.up)) - 1))] }
        mean = sorted.reduce(0, +) / Double(sorted.count)
        (p50, p90, p99) = (rank(0.50), rank(0.90), rank(0.99))
        max = sorted[sorted.count - 1]
    }

    var perSecond: Double { seconds > 0 ? Double(count) / seconds : 0 }
}

func ms(_ duration: Duration) -> Double {
    let (seconds, attoseconds) = duration.components
    return Double(seconds) * 1000 + Double(attoseconds) / 1e15
}

func fixed(_ value: Double, _ places: Int = 2) -> String { String(format: "%.\(places)f", value) }

struct BenchFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
