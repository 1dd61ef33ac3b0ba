import Foundation
import HybridStore
import Logging
import PostgresNIO
import TradingCore

/// `hybridhub-ops books rebuild [--apply]`: recomputes every user's book from `trade_orders`
/// (the fills as recorded) and reports where the stored book differs; with `--apply` writes
/// the recomputed book, each (user, symbol) in its own transaction under its position lock.
public enum BooksRebuild {
    public static func run(apply: Bool, client: PostgresClient, logger: Logger,
                           progress: @Sendable (Int, Int) -> Void = { _, _ in }) async throws -> BooksReport {
        let keys = try await client.withConnection { try await BookStore.bookKeys(on: $0, logger: logger) }
        var differences: [BookDifference] = []
        var repaired = 0
        for (index, key) in keys.enumerated() {
            let diff = try await client.withConnection { db in
                try await BookStore.compare(key.uid, symbol: key.symbol, on: db, logger: logger).differences
            }
            differences += diff
            if apply && !diff.isEmpty {
                try await client.transaction(logger: logger) { db in
                    try await BookStore.recompute(key.uid, symbol: key.symbol, on: db, logger: logger)
                }
                repaired += 1
            }
            if (index + 1) % 1000 == 0 { progress(index + 1, keys.count) }
        }
        return BooksReport(apply: apply, positions: keys.count, differences: differences, repaired: repaired)
    }
}

public struct BooksReport: OpsReport {
    public let apply: Bool
    public let positions: Int
    public let differences: [BookDifference]
    public let repaired: Int

    public var agreed: Bool { differences.isEmpty }

    public var json: JSONValue {
        .object([
            "apply": .bool(apply), "positions_checked": J.int(positions), "positions_repaired": J.int(repaired),
            "differences": .array(differences.map { difference in
                .object(["firebase_uid": .string(difference.uid), "symbol": .string(difference.symbol), "field": .string(difference.field),
                         "stored": .string(difference.stored), "recomputed": .string(difference.recomputed)])
            }),
        ])
    }

    public var text: String {
        var lines = ["books rebuild (\(apply ? "apply" : "dry run")): \(positions) positions checked, "
            + (differences.isEmpty ? "the books agree with trade_orders"
               : "\(Set(differences.map { "\($0.uid)\u{0}\($0.symbol)" }).count) differ" + (apply ? ", \(repaired) rewritten" : ""))]
        if !differences.isEmpty {
            lines.append(Output.table(["user", "symbol", "field", "stored", "recomputed"],
                                      differences.map { [$0.uid, $0.symbol, $0.field, $0.stored, $0.recomputed] }, maxWidth: 40))
            if !apply { lines.append("run again with --apply to write the recomputed books") }
        }
        return lines.joined(separator: "\n")
    }
}
