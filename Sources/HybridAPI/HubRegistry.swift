import Foundation
import Metrics
import Synchronization

/// One live hub connection as the rest of the process sees it: its user and a bounded outbox.
final class HubConnection: Sendable {
    let connectionID: String
    let uid: String
    private let continuation: AsyncStream<String>.Continuation
    let outbox: AsyncStream<String>
    /// Set when the outbox overflowed (a client that does not read): the session closes it.
    let overflowed = Atomic<Bool>(false)

    init(connectionID: String, uid: String, capacity: Int) {
        self.connectionID = connectionID
        self.uid = uid
        (outbox, continuation) = AsyncStream.makeStream(of: String.self, bufferingPolicy: .bufferingOldest(capacity))
    }

    /// Queues a message; false when the buffer is full (the connection is then closed, so a
    /// slow client never holds back anyone else).
    @discardableResult
    func send(_ text: String) -> Bool {
        switch continuation.yield(text) {
        case .enqueued: return true
        case .dropped:
            overflowed.store(true, ordering: .relaxed)
            continuation.finish()
            return false
        case .terminated: return false
        @unknown default: return false
        }
    }

    func finish() { continuation.finish() }
}

/// Connections by user (every live connection of a user gets `Clients.User(uid)` messages),
/// and negotiated connection tokens waiting for their WebSocket.
final class HubRegistry: Sendable {
    struct Pending: Sendable {
        var connectionID: String
        var uid: String
        var created: ContinuousClock.Instant
    }

    private let byUser = Mutex<[String: [String: HubConnection]]>([:])
    private let pending = Mutex<[String: Pending]>([:])
    /// Negotiated tokens unused for this long are forgotten (ASP.NET: about 15 s).
    let pendingLifetime: Duration = .seconds(30)
    private let gauge = Gauge(label: "hybridhub_hub_connections")

    func addPending(token: String, connectionID: String, uid: String) {
        let now = ContinuousClock.now
        pending.withLock { pending in
            pending = pending.filter { now - $0.value.created < pendingLifetime }
            pending[token] = Pending(connectionID: connectionID, uid: uid, created: now)
        }
    }

    /// The negotiated connection for `token`, consumed (a token opens one WebSocket).
    func takePending(token: String) -> Pending? {
        let now = ContinuousClock.now
        return pending.withLock { pending in
            guard let found = pending.removeValue(forKey: token), now - found.created < pendingLifetime else { return nil }
            return found
        }
    }

    func hasPending(token: String) -> Bool {
        pending.withLock { $0[token] != nil }
    }

    func add(_ connection: HubConnection) {
        let total = byUser.withLock { users in
            users[connection.uid, default: [:]][connection.connectionID] = connection
            return users.values.reduce(0) { $0 + $1.count }
        }
        gauge.record(total)
    }

    func remove(_ connection: HubConnection) {
        let total = byUser.withLock { users in
            users[connection.uid]?[connection.connectionID] = nil
            if users[connection.uid]?.isEmpty == true { users[connection.uid] = nil }
            return users.values.reduce(0) { $0 + $1.count }
        }
        gauge.record(total)
    }

    func connections(of uid: String) -> [HubConnection] {
        byUser.withLock { Array(($0[uid] ?? [:]).values) }
    }

    var users: [String] { byUser.withLock { Array($0.keys) } }

    var count: Int { byUser.withLock { $0.values.reduce(0) { $0 + $1.count } } }

    /// Sends to every live connection of `uid`; returns how many got it.
    @discardableResult
    func send(to uid: String, _ text: String) -> Int {
        connections(of: uid).reduce(0) { $0 + ($1.send(text) ? 1 : 0) }
    }
}
