import Foundation
import Logging
import PostgresNIO
import TradingCore

/// The scheduler leader's retention, on demand: completed and cancelled jobs older than
/// `completedSeconds` and discarded ones older than `discardedSeconds` (by `finalized_at`),
/// deleted in batches with `SKIP LOCKED` so it never waits on or deadlocks with workers.
public enum Prune {
    public struct Counts: Sendable, Equatable {
        public var completedOrCancelled: Int
        public var discarded: Int
        public var total: Int { completedOrCancelled + discarded }
    }

    /// What a prune would delete now.
    public static func count(completedSeconds: Double, discardedSeconds: Double, on db: PostgresConnection,
                             logger: Logger) async throws -> Counts {
        let rows = try await db.query("""
            SELECT count(*) FILTER (WHERE state IN ('completed', 'cancelled')
                                      AND finalized_at < now() - make_interval(secs => \(completedSeconds)))::int,
                   count(*) FILTER (WHERE state = 'discarded'
                                      AND finalized_at < now() - make_interval(secs => \(discardedSeconds)))::int
            FROM jobs WHERE finalized_at IS NOT NULL
            """, logger: logger)
        for try await (done, discarded) in rows.decode((Int, Int).self) {
            return Counts(completedOrCancelled: done, discarded: discarded)
        }
        return Counts(completedOrCancelled: 0, discarded: 0)
    }

    /// Deletes them, `batch` rows per statement (each its own transaction).
    public static func delete(completedSeconds: Double, discardedSeconds: Double, batch: Int, client: PostgresClient,
                              logger: Logger) async throws -> Counts {
        var counts = Counts(completedOrCancelled: 0, discarded: 0)
        for (states, age) in [(["completed", "cancelled"], completedSeconds), (["discarded"], discardedSeconds)] {
            while true {
                let deleted = try await client.withConnection { db in
                    let rows = try await db.query("""
                        WITH old AS (
                            SELECT id FROM jobs
                            WHERE state = ANY(\(states)::text[]) AND finalized_at < now() - make_interval(secs => \(age))
                            ORDER BY finalized_at LIMIT \(batch)
                            FOR UPDATE SKIP LOCKED
                        )
                        DELETE FROM jobs USING old WHERE jobs.id = old.id RETURNING jobs.id
                        """, logger: logger)
                    var n = 0
                    for try await _ in rows { n += 1 }
                    return n
                }
                if states.count == 2 { counts.completedOrCancelled += deleted } else { counts.discarded += deleted }
                if deleted < batch { break }
            }
        }
        return counts
    }
}

public struct PruneReport: OpsReport {
    public let counts: Prune.Counts
    public let applied: Bool
    public let completedSeconds: Double
    public let discardedSeconds: Double

    public init(counts: Prune.Counts, applied: Bool, completedSeconds: Double, discardedSeconds: Double) {
        self.counts = counts
        self.applied = applied
        self.completedSeconds = completedSeconds
        self.discardedSeconds = discardedSeconds
    }

    public var json: JSONValue {
        .object([
            "applied": .bool(applied), "completed_age_seconds": J.seconds(completedSeconds),
            "discarded_age_seconds": J.seconds(discardedSeconds), "completed_or_cancelled": J.int(counts.completedOrCancelled),
            "discarded": J.int(counts.discarded), "total": J.int(counts.total),
        ])
    }

    public var text: String {
        let lines = Output.table(["jobs", "older than", applied ? "deleted" : "would delete"], [
            ["completed or cancelled", Output.age(completedSeconds), String(counts.completedOrCancelled)],
            ["discarded", Output.age(discardedSeconds), String(counts.discarded)],
        ])
        return lines + "\n" + (applied ? "prune: deleted \(counts.total) jobs"
                                       : "dry run: prune would delete \(counts.total) jobs; nothing changed. Add --apply to do it.")
    }
}
