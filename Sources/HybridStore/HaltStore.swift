import Foundation
import Logging
import PostgresNIO
import TradingCore

/// The farm-wide halt (`trading_halt`, one row).
public enum HaltStore {
    /// The halt as it stands. With `lock`, a `FOR SHARE` lock until the transaction ends: the
    /// stages that can lead to an order take it, so `set` (an UPDATE) waits for them and none
    /// starts after a halt commits.
    public static func current(lock: Bool = false, on db: PostgresConnection, logger: Logger) async throws -> TradingHalt {
        let sql = "SELECT halted, reason, set_by, set_at FROM trading_halt WHERE id = 1" + (lock ? " FOR SHARE" : "")
        let rows = try await db.query(PostgresQuery(unsafeSQL: sql), logger: logger)
        for try await (halted, reason, setBy, setAt) in rows.decode((Bool, String?, String?, Date?).self) {
            return TradingHalt(halted: halted, reason: reason, setBy: setBy, setAt: setAt)
        }
        return .running
    }

    /// Halts or resumes the farm and records the event; returns the halt as it was before.
    /// Waits for the transactions that hold the halt row (orders in flight) to end.
    @discardableResult
    public static func set(halted: Bool, reason: String?, by: String, on db: PostgresConnection, logger: Logger) async throws -> TradingHalt {
        // A row UPDATE waiting behind FOR SHARE holders does not stop new ones from joining them
        // (a busy farm could starve the halt); a table lock does: EXCLUSIVE conflicts with the
        // ROW SHARE every FOR SHARE takes, and new takers queue behind it. The wait is for the
        // POSTs in flight, each bounded by the Alpaca timeout.
        try await db.query("SET LOCAL lock_timeout = '60s'", logger: logger)
        try await db.query("LOCK TABLE trading_halt IN EXCLUSIVE MODE", logger: logger)
        let before = try await current(on: db, logger: logger)
        try await db.query("""
            UPDATE trading_halt
               SET halted = \(halted), reason = \(reason), set_by = \(by), set_at = now(), updated_at = now()
             WHERE id = 1
            """, logger: logger)
        try await db.query("""
            INSERT INTO trading_halt_events (halted, reason, set_by) VALUES (\(halted), \(reason), \(by))
            """, logger: logger)
        return before
    }
}
