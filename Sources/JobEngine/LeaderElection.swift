import Foundation
import Logging
import PostgresNIO
import Synchronization

/// Leadership of one role ("scheduler") by an expiring lease row on database time
/// (swift-jobs-postgres' `acquireLock` shape). Renewed every `renewSeconds`; a standby takes
/// over within about `leaseSeconds + renewSeconds` of the leader's death. Each new holder gets a
/// higher epoch, and leader-only work re-checks holder and epoch in its own transaction.
public final class LeaderElector: Sendable {
    public struct Leadership: Sendable, Equatable {
        public let epoch: Int64
        public let since: Date
    }

    public let name: String
    public let holderID: String
    public let leaseSeconds: Double
    public let renewSeconds: Double
    private let current = Mutex<Leadership?>(nil)

    public init(name: String, holderID: String, leaseSeconds: Double = 5, renewSeconds: Double = 1) {
        precondition(leaseSeconds > renewSeconds * 2, "the lease must outlive at least two renewals")
        self.name = name
        self.holderID = holderID
        self.leaseSeconds = leaseSeconds
        self.renewSeconds = renewSeconds
    }

    public var leadership: Leadership? { current.withLock { $0 } }

    /// Acquires or renews; returns the leadership held now (nil: someone else leads).
    @discardableResult
    public func refresh(on db: PostgresConnection, logger: Logger) async throws -> Leadership? {
        let rows = try await db.query("""
            INSERT INTO leader_leases AS l (name, holder, epoch, acquired_at, expires_at)
            VALUES (\(name), \(holderID), 1, now(), now() + make_interval(secs => \(leaseSeconds)))
            ON CONFLICT (name) DO UPDATE
               SET holder = EXCLUDED.holder,
                   epoch = CASE WHEN l.holder = EXCLUDED.holder AND l.expires_at > now() THEN l.epoch ELSE l.epoch + 1 END,
                   acquired_at = CASE WHEN l.holder = EXCLUDED.holder AND l.expires_at > now() THEN l.acquired_at ELSE now() END,
                   expires_at = EXCLUDED.expires_at
             WHERE l.holder = EXCLUDED.holder OR l.expires_at <= now()
            RETURNING epoch, acquired_at
            """, logger: logger)
        var now: Leadership?
        for try await (epoch, since) in rows.decode((Int64, Date).self) { now = Leadership(epoch: epoch, since: since) }
        let before = current.withLock { state -> Leadership? in
            defer { state = now }
            return state
        }
        if before?.epoch != now?.epoch {
            if let now {
                logger.notice("became leader", metadata: ["leader.name": "\(name)", "leader.epoch": "\(now.epoch)"])
            } else if before != nil {
                logger.warning("lost leadership", metadata: ["leader.name": "\(name)"])
            }
        }
        return now
    }

    /// Inside a transaction: true if this process still leads at `epoch`. Takes a share lock
    /// on the lease row so no takeover commits before this transaction does.
    public func confirm(_ leadership: Leadership, on db: PostgresConnection, logger: Logger) async throws -> Bool {
        let rows = try await db.query("""
            SELECT 1 FROM leader_leases
            WHERE name = \(name) AND holder = \(holderID) AND epoch = \(leadership.epoch) AND expires_at > now()
            FOR SHARE
            """, logger: logger)
        for try await _ in rows { return true }
        return false
    }

    /// Steps down at graceful shutdown so a standby takes over at once.
    public func resign(on db: PostgresConnection, logger: Logger) async throws {
        try await db.query("DELETE FROM leader_leases WHERE name = \(name) AND holder = \(holderID)", logger: logger)
        current.withLock { $0 = nil }
    }

    /// Who leads `name` now, for the ops CLI.
    public static func currentLeader(name: String, on db: PostgresConnection, logger: Logger) async throws
        -> (holder: String, epoch: Int64, since: Date, expiresAt: Date)?
    {
        let rows = try await db.query("""
            SELECT holder, epoch, acquired_at, expires_at FROM leader_leases WHERE name = \(name) AND expires_at > now()
            """, logger: logger)
        for try await row in rows.decode((String, Int64, Date, Date).self) { return row }
        return nil
    }
}
