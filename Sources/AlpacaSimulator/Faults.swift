import Foundation
import Synchronization

/// A scripted fault: which requests it hits and what happens to them.
public struct FaultRule: Codable, Sendable, Equatable {
    public enum Kind: String, Codable, Sendable {
        /// Delay the answer by `latencyMs`.
        case latency
        /// Answer `status` (429 with `Retry-After: retryAfterSeconds`, 500, 503…) without doing anything.
        case status
        /// Close the connection without an answer, without doing anything.
        case drop
        /// Do the work (the order is accepted), then never answer: hold the request for
        /// `latencyMs` (default 60 s) and close the connection.
        case timeoutAfterAccept = "timeout_after_accept"
        /// Market data answers as of `staleSeconds` ago.
        case staleData = "stale_data"
        /// The next fills are partial (half), the rest fills on the next step.
        case partialFill = "partial_fill"
        /// WebSocket streams are closed by the server (see the stream endpoints).
        case disconnectStreams = "disconnect_streams"
        /// The order is accepted, then rejected by the "broker" (status `rejected`, a `rejected`
        /// trade update), as Alpaca does when a venue refuses an order after acceptance.
        case rejectOrder = "reject_order"
        /// Do the work (the order is created), then answer 200 with a body that is not what the
        /// route returns: `body` if given, else `{"id":42}`. Only a 2xx is garbled; an error
        /// answer goes out as it is and leaves the fault for the next request.
        case garbledAfterAccept = "garbled_after_accept"
    }

    /// `"METHOD /path"` with `*` matching the rest (`"POST /v2/orders"`, `"GET /v2/stocks/*"`, `"*"`).
    public var route: String
    public var kind: Kind
    public var status: Int?
    public var retryAfterSeconds: Int?
    public var latencyMs: Int?
    public var staleSeconds: Int?
    /// The body a `garbled_after_accept` answer carries (any bytes: truncated JSON, HTML…).
    public var body: String?
    /// How many requests it applies to; nil = until cleared.
    public var count: Int?

    enum CodingKeys: String, CodingKey {
        case route, kind, status, count, body
        case retryAfterSeconds = "retry_after_seconds", latencyMs = "latency_ms", staleSeconds = "stale_seconds"
    }

    public init(route: String, kind: Kind, status: Int? = nil, retryAfterSeconds: Int? = nil, latencyMs: Int? = nil,
                staleSeconds: Int? = nil, body: String? = nil, count: Int? = nil) {
        self.route = route
        self.kind = kind
        self.status = status
        self.retryAfterSeconds = retryAfterSeconds
        self.latencyMs = latencyMs
        self.staleSeconds = staleSeconds
        self.body = body
        self.count = count
    }

    /// What `garbled_after_accept` answers when the rule names no body: JSON, but no order.
    public static let garbledBody = #"{"id":42}"#

    func matches(method: String, path: String) -> Bool {
        if route == "*" { return true }
        let parts = route.split(separator: " ", maxSplits: 1)
        guard parts.count == 2, parts[0].uppercased() == method.uppercased() || parts[0] == "*" else { return false }
        let pattern = parts[1]
        if pattern.hasSuffix("*") { return path.hasPrefix(pattern.dropLast()) }
        return path == pattern
    }
}

/// The active faults, consumed as they fire.
public final class FaultPlan: Sendable {
    private let rules = Mutex<[FaultRule]>([])
    /// Lets every request skip the lock when no fault is scripted (the usual case).
    private let count = Atomic<Int>(0)

    public init(_ initial: [FaultRule] = []) {
        rules.withLock { $0 = initial }
        count.store(initial.count, ordering: .releasing)
    }

    public func add(_ rule: FaultRule) {
        rules.withLock { rules in
            rules.append(rule)
            count.store(rules.count, ordering: .releasing)
        }
    }

    public func clear() {
        rules.withLock { rules in
            rules.removeAll()
            count.store(0, ordering: .releasing)
        }
    }
    public var all: [FaultRule] { rules.withLock { $0 } }

    /// Whether any fault is scripted (one atomic load: requests skip all fault work when not).
    public var isEmpty: Bool { count.load(ordering: .acquiring) == 0 }

    /// The first rule that matches, counted down (and removed when used up).
    public func take(method: String, path: String, kinds: Set<FaultRule.Kind>) -> FaultRule? {
        guard count.load(ordering: .acquiring) > 0 else { return nil }
        return rules.withLock { rules in
            guard let index = rules.firstIndex(where: { kinds.contains($0.kind) && $0.matches(method: method, path: path) }) else {
                return nil
            }
            let rule = rules[index]
            if let remaining = rule.count {
                if remaining <= 1 { rules.remove(at: index) } else { rules[index].count = remaining - 1 }
            }
            count.store(rules.count, ordering: .releasing)
            return rule
        }
    }
}

/// REST requests per key and minute of wall time (the farm's rate budget is checked against it).
public final class RequestStats: Sendable {
    /// One key's counts: the current minute's in place (one hash lookup per request), earlier
    /// minutes moved to `past` when the minute turns.
    private struct KeyCounts {
        var minute: Int
        var count: Int
        var past: [Int: Int] = [:]
    }

    private let counts = Mutex<[String: KeyCounts]>([:])

    public init() {}

    /// Counts one request; returns how many this key made in the current minute.
    @discardableResult
    public func count(key: String, at wall: Date = Date()) -> Int {
        let minute = Int(wall.timeIntervalSince1970 / 60)
        return counts.withLock { counts in
            guard let index = counts.index(forKey: key) else {
                counts[key] = KeyCounts(minute: minute, count: 1)
                return 1
            }
            return Self.increment(&counts.values[index], minute: minute)
        }
    }

    private static func increment(_ entry: inout KeyCounts, minute: Int) -> Int {
        if entry.minute == minute {
            entry.count += 1
        } else if minute > entry.minute {
            entry.past[entry.minute, default: 0] += entry.count
            (entry.minute, entry.count) = (minute, 1)
        } else {
            entry.past[minute, default: 0] += 1   // a wall clock stepped back: counted, not current
            return entry.past[minute] ?? 1
        }
        return entry.count
    }

    /// Per key: total and the busiest minute.
    public func summary() -> [String: (total: Int, maxPerMinute: Int)] {
        counts.withLock { counts in
            counts.mapValues { entry in
                var minutes = entry.past
                minutes[entry.minute, default: 0] += entry.count
                return (minutes.values.reduce(0, +), minutes.values.max() ?? 0)
            }
        }
    }
}
