import Foundation
import HybridStore
import Logging
import PostgresNIO

/// After the fills: every book user has one position per symbol holding what was filled, the
/// reference orders are all filled, and a sample of positions equals a recompute from their
/// orders (`BookStore.compare`, what `hybridhub-ops books rebuild` compares). Throws otherwise.
struct FillsVerification {
    let bench: FillsBench

    struct Result {
        var positions = 0
        var bookOrders = 0
        var referenceFilled = 0
        var compared = 0
    }

    func run(_ client: PostgresClient, timed: [FillsBench.Order], total: Int) async throws -> Result {
        let (logger, universe, prices, check) = (bench.logger, bench.universe, bench.prices, bench.check)
        let (book, ref) = (BenchUniverse.bookPrefix, BenchUniverse.referencePrefix)
        return try await client.withConnection { db in
            var result = Result()
            func count(_ query: PostgresQuery) async throws -> Int {
                for try await n in try await db.query(query, logger: logger).decode(Int.self) { return n }
                return 0
            }
            result.positions = try await count("""
                SELECT count(*)::int FROM user_positions WHERE starts_with(firebase_uid, \(book)) AND qty = \(FillsBench.qty) AND orders = 1
                """)
            result.bookOrders = try await count("SELECT count(*)::int FROM book_orders WHERE starts_with(firebase_uid, \(book))")
            result.referenceFilled = try await count("""
                SELECT count(*)::int FROM trade_orders WHERE starts_with(firebase_uid, \(ref)) AND status = 'filled'
                   AND filled_qty = \(FillsBench.qty)
                """)
            guard result.positions == total, result.bookOrders == total, result.referenceFilled == timed.count else {
                throw BenchFailure("""
                    the books do not hold the fills: \(result.positions) positions of \(FillsBench.qty) shares and \(result.bookOrders) \
                    book_orders rows for \(total) filled orders; \(result.referenceFilled) of \(timed.count) reference orders filled
                    """)
            }
            // Half the sample from the timed fills, the rest from any position.
            var keys = timed.prefix(check / 2).map { ($0.uid, $0.symbol) }
            let rows = try await db.query("""
                SELECT firebase_uid, symbol FROM user_positions WHERE starts_with(firebase_uid, \(book))
                ORDER BY random() LIMIT \(check - keys.count)
                """, logger: logger)
            for try await key in rows.decode((String, String).self) { keys.append(key) }
            var differences: [String] = []
            for (uid, symbol) in keys {
                let found = try await BookStore.compare(uid, symbol: symbol, on: db, logger: logger)
                let expectedCost = universe.firstIndex(of: symbol).map { FillsBench.qty * (prices[$0] + FillsBench.markup) }
                let book = found.recomputed
                if !found.differences.isEmpty {
                    differences.append("\(uid) \(symbol): " + found.differences.map { "\($0.field) \($0.stored) ≠ recomputed \($0.recomputed)" }
                        .joined(separator: ", "))
                } else if book.qty != FillsBench.qty || book.costBasis != expectedCost {
                    differences.append("\(uid) \(symbol): \(book.qty) shares cost \(book.costBasis), filled \(FillsBench.qty) costing "
                                       + (expectedCost.map { "\($0)" } ?? "?"))
                }
            }
            guard differences.isEmpty else {
                throw BenchFailure("\(differences.count) of \(keys.count) positions differ from their fills:\n"
                                   + differences.prefix(10).joined(separator: "\n"))
            }
            result.compared = keys.count
            return result
        }
    }
}

/// The `fills` section of the report (Markdown).
struct FillsReport {
    let bench: FillsBench
    let total: Int
    let passes: [FillsBench.Pass]
    let book: LatencySummary
    let reference: LatencySummary
    let waits: LockWaits
    let referenceWaits: LockWaits
    let deadlocks: Int
    let verification: FillsVerification.Result

    var markdown: String {
        func row(_ label: String, _ s: LatencySummary) -> String {
            "| \(label) | \(s.count) | \(fixed(s.perSecond, 0)) | \(fixed(s.mean, 3)) | \(fixed(s.p50, 3)) | \(fixed(s.p90, 3)) | "
                + "\(fixed(s.p99, 3)) | \(fixed(s.max, 1)) |"
        }
        func ratio(_ a: Double, _ b: Double) -> String { b > 0 ? fixed(a / b) : "-" }
        var lines = [
            "| Fill recorded, BEGIN … COMMIT (ms) | fills | fills/s | mean | p50 | p90 | p99 | max |",
            "|---|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for pass in passes {
            lines.append(row("\(pass.name): with the book (`OrderStore.recordBroker` → `BookStore.recompute`)", pass.book))
            lines.append(row("\(pass.name): reference, the same UPDATE of `trade_orders` alone", pass.reference))
        }
        lines.append(row("**all fills, with the book**", book))
        lines.append(row("**all fills, reference**", reference))
        lines.append("| ratio book / reference | | \(ratio(book.perSecond, reference.perSecond)) | \(ratio(book.mean, reference.mean)) | "
                     + "\(ratio(book.p50, reference.p50)) | \(ratio(book.p90, reference.p90)) | **\(ratio(book.p99, reference.p99))** | "
                     + "\(ratio(book.max, reference.max)) |")
        let sampled = book.count < 2 * total
        lines += [
            "",
            "**Time per fill recorded: mean \(fixed(book.mean, 3)) ms with the book against \(fixed(reference.mean, 3)) ms for the UPDATE "
                + "alone = \(ratio(book.mean, reference.mean)) × the reference** (p99 \(fixed(book.p99, 3)) against \(fixed(reference.p99, 3)) ms = "
                + "\(ratio(book.p99, reference.p99)) ×); \(fixed(book.perSecond, 0)) fills/s against \(fixed(reference.perSecond, 0)) "
                + "(\(bench.concurrency) concurrent recorders).",
            "",
            "Fills recorded with the book: \(book.count) (\(sampled ? "a sample: \(book.count / 2) random orders × 2 of \(total); the other orders seeded filled and booked in bulk" : "every order × 2, a partial then the whole")); "
                + "reference UPDATEs: \(reference.count), on \(reference.count / 2) orders of other users. Lock waits (`pg_stat_activity` every 50 ms): "
                + "during the book's fills \(waits.text); during the reference's \(referenceWaits.text). "
                + "Deadlocks in the database during the fills: \(deadlocks); errors: 0 (any error fails the run).",
            "",
            "Verified after the fills: \(verification.positions) positions (= \(bench.users) users × \(bench.universe.count) symbols) of "
                + "\(FillsBench.qty) shares, \(verification.bookOrders) `book_orders` rows, \(verification.referenceFilled) reference orders "
                + "filled; \(verification.compared) positions (half of them timed) equal a recompute from their orders "
                + "(`BookStore.compare`: qty, cost basis, realized P&L, opened at, orders) and cost what was filled.",
        ]
        return lines.joined(separator: "\n")
    }
}
