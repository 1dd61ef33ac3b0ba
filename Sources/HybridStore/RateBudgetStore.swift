import Foundation
import Logging
import PostgresNIO

/// The shape of one budget: a burst and a steady rate chosen so that no 60-second window
/// sees more than `perMinute` calls: burst + refill × 60 = perMinute.
public struct RateBudgetShape: Sendable, Equatable {
    public var perMinute: Double
    public var burst: Double

    public init(perMinute: Double, burst: Double) {
        precondition(perMinute >= 2 && burst >= 1 && burst < perMinute)
        self.perMinute = perMinute
        self.burst = burst
    }

    public var refillPerSecond: Double { (perMinute - burst) / 60 }

    /// Tokens that only order submissions may take: 20% of the burst, at least one, so that
    /// polls and pre-flight reads, however many, never leave a submission without a token.
    /// (A burst under two has no room for a reserve: everything shares it.)
    public var submissionReserve: Double { min(max(1, burst * 0.2), burst - 1) }
}

/// Token buckets in Postgres, refilled on the database's clock (every process agrees on it).
public enum RateBudgetStore {
    /// Creates or reshapes the bucket `name` (once per process and name is enough).
    public static func ensure(_ name: String, shape: RateBudgetShape, on db: PostgresConnection, logger: Logger) async throws {
        try await db.query("""
            INSERT INTO rate_budgets (name, capacity, refill_per_second, tokens)
            VALUES (\(name), \(shape.burst), \(shape.refillPerSecond), \(shape.burst))
            ON CONFLICT (name) DO UPDATE SET capacity = EXCLUDED.capacity, refill_per_second = EXCLUDED.refill_per_second
            WHERE rate_budgets.capacity <> EXCLUDED.capacity OR rate_budgets.refill_per_second <> EXCLUDED.refill_per_second
            """, logger: logger)
    }

    /// Takes one token from `name` (row-locked for the statement, refilled on the database's
    /// clock): nil when granted, else the seconds until one will be there. With `reserve`, the
    /// take must leave that many tokens behind (a lower-priority call: see
    /// `RateBudgetShape.submissionReserve`); the wait is then until the bucket holds 1 + reserve.
    public static func take(_ name: String, leaving reserve: Double = 0, on db: PostgresConnection,
                            logger: Logger) async throws -> Double? {
        let rows = try await db.query("""
            WITH current AS (
                SELECT name, blocked_until, refill_per_second,
                       least(capacity, tokens + extract(epoch FROM now() - refilled_at) * refill_per_second) AS available
                FROM rate_budgets WHERE name = \(name)
                FOR UPDATE
            ),
            taken AS (
                UPDATE rate_budgets b
                   SET tokens = c.available - 1, refilled_at = now(), updated_at = now()
                  FROM current c
                 WHERE b.name = c.name AND c.available >= 1 + \(reserve)::float8
                   AND (c.blocked_until IS NULL OR c.blocked_until <= now())
                RETURNING b.name
            )
            SELECT (SELECT count(*) FROM taken)::int,
                   coalesce((SELECT greatest(coalesce(extract(epoch FROM blocked_until - now()), 0),
                                             (1 + \(reserve)::float8 - available) / refill_per_second) FROM current), 1)::float8
            """, logger: logger)
        for try await (granted, wait) in rows.decode((Int, Double).self) {
            return granted == 1 ? nil : max(0.05, wait)
        }
        return 1
    }

    /// After a 429: no token until `retryAfter` seconds from now, and the bucket emptied.
    public static func block(_ name: String, seconds: Double, on db: PostgresConnection, logger: Logger) async throws {
        try await db.query("""
            UPDATE rate_budgets
               SET blocked_until = greatest(coalesce(blocked_until, now()), now() + make_interval(secs => \(seconds))),
                   tokens = 0, refilled_at = now() + make_interval(secs => \(seconds)), updated_at = now()
             WHERE name = \(name)
            """, logger: logger)
    }
}
