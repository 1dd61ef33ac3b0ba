import Foundation
import Logging
import PostgresNIO

/// Kills, and what became of the jobs the killed workers held: each watched job is rescued
/// when its lease epoch moves past the one it had at the kill (another claim); the rescue
/// time is from the kill to that claim (`attempted_at`). A job that finished with its old
/// epoch was done before the signal landed. Scheduler kills are timed to the next holder.
actor Tracker {
    enum Cause: String, Sendable { case killer, failpoint, crash }

    struct Kill: Sendable {
        let at: Date
        let id: String
        let role: Role
        let cause: Cause
        let jobs: Int
        let submitOrders: Int
    }

    struct Watch: Sendable {
        let job: Int64
        let kind: String
        let epoch: Int64
        let killedAt: Date
    }

    private(set) var kills: [Kill] = []
    private var watches: [Watch] = []
    private(set) var rescueSeconds: [Double] = []
    private(set) var rescuedByKind: [String: Int] = [:]
    private(set) var finishedBeforeKill = 0
    private(set) var rescuedIntoDiscarded = 0
    private var failovers: [(holder: String, at: Date)] = []
    private(set) var failoverSeconds: [Double] = []

    func record(_ kill: Kill, held: [(Int64, String, Int64)]) {
        kills.append(kill)
        watches += held.map { Watch(job: $0.0, kind: $0.1, epoch: $0.2, killedAt: kill.at) }
    }

    func leaderKilled(_ holder: String, at: Date) { failovers.append((holder, at)) }

    var pendingJobs: [Int64] { watches.map(\.job) }
    var pending: Int { watches.count + failovers.count }

    func observe(jobs: [Int64: (state: String, epoch: Int64, attemptedAt: Date?)], now: Date) {
        watches.removeAll { watch in
            guard let row = jobs[watch.job] else { return true }
            if row.epoch > watch.epoch {
                let claimed = row.epoch == watch.epoch + 1 ? (row.attemptedAt ?? now) : now
                rescueSeconds.append(max(0, claimed.timeIntervalSince(watch.killedAt)))
                rescuedByKind[watch.kind, default: 0] += 1
                return true
            }
            switch row.state {
            case "completed", "cancelled":
                finishedBeforeKill += 1
                return true
            case "discarded":
                rescuedIntoDiscarded += 1          // its last attempt died with the worker (counted as lost)
                return true
            default:
                return false                       // still running under the dead lease, or rescued and not yet claimed
            }
        }
    }

    func observe(leader: String?, since: Date?) {
        guard let leader, let since else { return }
        failovers.removeAll { failover in
            guard leader != failover.holder else { return false }
            failoverSeconds.append(max(0, since.timeIntervalSince(failover.at)))
            return true
        }
    }

    /// Polls the database for watched jobs and the leader until told to stop.
    static func follow(_ tracker: Tracker, client: PostgresClient, logger: Logger, until done: @Sendable () async -> Bool) async {
        while !(await done()) {
            do {
                let ids = await tracker.pendingJobs
                if !ids.isEmpty {
                    let rows = try await client.withConnection { db in
                        var found: [Int64: (state: String, epoch: Int64, attemptedAt: Date?)] = [:]
                        for try await (id, state, epoch, at) in try await db.query(
                            "SELECT id, state, lease_epoch, attempted_at FROM jobs WHERE id = ANY(\(ids))", logger: logger
                        ).decode((Int64, String, Int64, Date?).self) { found[id] = (state, epoch, at) }
                        return found
                    }
                    await tracker.observe(jobs: rows, now: Date())
                }
                let leader = try await Self.leader(client: client, logger: logger)
                await tracker.observe(leader: leader?.holder, since: leader?.since)
            } catch {
                logger.warning("tracker poll failed", metadata: ["error": "\(error)"])
            }
            try? await Task.sleep(for: .milliseconds(200))
        }
    }

    static func leader(client: PostgresClient, logger: Logger) async throws -> (holder: String, since: Date)? {
        try await client.withConnection { db in
            for try await (holder, since) in try await db.query("""
                SELECT holder, acquired_at FROM leader_leases WHERE name = 'trading-scheduler' AND expires_at > now()
                """, logger: logger).decode((String, Date).self) { return (holder, since) }
            return nil
        }
    }

    /// Running jobs a worker holds (read just before it is killed, or just after it exited).
    static func held(by worker: String, client: PostgresClient, logger: Logger) async throws -> [(Int64, String, Int64)] {
        try await client.withConnection { db in
            var held: [(Int64, String, Int64)] = []
            for try await row in try await db.query("""
                SELECT id, kind, lease_epoch FROM jobs WHERE state = 'running' AND lease_owner = \(worker)
                """, logger: logger).decode((Int64, String, Int64).self) { held.append(row) }
            return held
        }
    }
}
