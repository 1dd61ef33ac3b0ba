import Foundation
import TradingCore

/// What the farm's market-data stream should cover, from the enabled users' configs: the
/// union of their US-equity symbols on the feed (capped at the feed's limit, the most watched
/// first; the rest stay on REST polling) and, per symbol, who watches it.
public struct StreamPlan: Sendable, Equatable {
    /// A user's enabled rule on a streamed symbol whose price a trade can move.
    public struct WatchedRule: Sendable, Equatable {
        public var firebaseUID: String
        public var rule: Rule
    }

    public var streamed: [String]
    public var usersBySymbol: [String: [String]]
    public var rulesBySymbol: [String: [WatchedRule]] = [:]

    public init(streamed: [String], usersBySymbol: [String: [String]], rulesBySymbol: [String: [WatchedRule]] = [:]) {
        self.streamed = streamed
        self.usersBySymbol = usersBySymbol
        self.rulesBySymbol = rulesBySymbol
    }

    public static func make(configs: [EffectiveTradingConfig], feed: String, maxSymbols: Int) -> StreamPlan {
        var users: [String: Set<String>] = [:]
        var rules: [String: [WatchedRule]] = [:]
        for effective in configs where effective.config.enabled {
            for input in effective.config.dataInputs where input.assetClass == .usEquity && input.feed.rawValue == feed {
                for symbol in input.symbols { users[symbol, default: []].insert(effective.firebaseUID) }
            }
            // Exit rules measure from the user's position, which the stream does not know: each
            // evaluation (every tick) judges them.
            for rule in effective.config.rules where rule.enabled && !rule.type.isExit && [.lastTrade, .dailyBar].contains(rule.priceMetric) {
                rules[rule.symbol, default: []].append(WatchedRule(firebaseUID: effective.firebaseUID, rule: rule))
            }
        }
        let ranked = users.keys.sorted { a, b in
            let (na, nb) = (users[a]?.count ?? 0, users[b]?.count ?? 0)
            return na != nb ? na > nb : a < b
        }
        let streamed = Array(ranked.prefix(max(0, maxSymbols))).sorted()
        var bySymbol: [String: [String]] = [:]
        var rulesBySymbol: [String: [WatchedRule]] = [:]
        for symbol in streamed {
            bySymbol[symbol] = (users[symbol] ?? []).sorted()
            // Only watchlisted symbols can be traded (a guardrail); others' rules never ask.
            rulesBySymbol[symbol] = (rules[symbol] ?? []).filter { users[symbol]?.contains($0.firebaseUID) == true }
        }
        return StreamPlan(streamed: streamed, usersBySymbol: bySymbol, rulesBySymbol: rulesBySymbol)
    }

    /// Users to evaluate because a trade at `price` moved one of their rules on `symbol` across
    /// its threshold (edge-triggered: from `previous`, the symbol's last streamed price, to
    /// `price`; with no previous price, every rule the price satisfies). `references` are the
    /// symbol's newest reference values (previous close, …). The evaluation decides; this only
    /// chooses whom to evaluate now, and the tick still evaluates everyone as before.
    public func triggered(symbol: String, price: Decimal, previous: Decimal?, references: [Metric: Decimal]) -> Set<String> {
        var users: Set<String> = []
        for watched in rulesBySymbol[symbol] ?? [] {
            guard let reference = references[watched.rule.refMetric], reference > 0 else { continue }
            guard RuleEngine.crossed(rule: watched.rule, price: price, reference: reference) else { continue }
            if let previous, RuleEngine.crossed(rule: watched.rule, price: previous, reference: reference) { continue }
            users.insert(watched.firebaseUID)
        }
        return users
    }

    /// The subscribe and unsubscribe lists that turn `current` into this plan.
    public func changes(from current: Set<String>) -> (subscribe: [String], unsubscribe: [String]) {
        let target = Set(streamed)
        return (target.subtracting(current).sorted(), current.subtracting(target).sorted())
    }

}

/// At most one stream-triggered evaluation per user per `intervalSeconds`: the first trade
/// after a quiet spell evaluates at once (leading edge), trades inside the interval are
/// evaluated when it ends (trailing edge), so the newest price is always judged. Pure: the
/// caller passes the time.
public struct EvaluationThrottle: Sendable {
    public let intervalSeconds: Double
    private var lastRun: [String: Double] = [:]
    private var waiting: Set<String> = []

    public init(intervalSeconds: Double) { self.intervalSeconds = intervalSeconds }

    /// New data for `users` at `now`: the ones to evaluate now; the rest wait their turn.
    public mutating func touched(_ users: Set<String>, now: Double) -> [String] {
        var due: [String] = []
        for user in users {
            if let last = lastRun[user], now - last < intervalSeconds {
                waiting.insert(user)
            } else {
                lastRun[user] = now
                waiting.remove(user)
                due.append(user)
            }
        }
        return due.sorted()
    }

    /// Waiting users whose interval has passed (each is evaluated once for all its trades).
    public mutating func due(now: Double) -> [String] {
        var due: [String] = []
        for user in waiting where now - (lastRun[user] ?? -.infinity) >= intervalSeconds {
            due.append(user)
        }
        for user in due {
            waiting.remove(user)
            lastRun[user] = now
        }
        // Forget users idle for a while, so the map does not grow with every user ever seen.
        if lastRun.count > 4 * max(1, waiting.count) + 10_000 {
            lastRun = lastRun.filter { now - $0.value < intervalSeconds * 2 || waiting.contains($0.key) }
        }
        return due.sorted()
    }

    public var waitingCount: Int { waiting.count }

    /// Whether `due(now:)` would return anyone (without changing anything).
    public func hasDue(now: Double) -> Bool {
        waiting.contains { now - (lastRun[$0] ?? -.infinity) >= intervalSeconds }
    }
}

/// Reconnect delays: exponential from `base`, capped, with "equal jitter" (half fixed, half
/// random) so a farm restarted at once does not reconnect in lockstep.
public struct ReconnectBackoff: Sendable {
    public let baseSeconds: Double
    public let maxSeconds: Double
    public private(set) var failures = 0

    public init(baseSeconds: Double = 0.5, maxSeconds: Double) {
        self.baseSeconds = baseSeconds
        self.maxSeconds = max(baseSeconds, maxSeconds)
    }

    /// The wait before the next attempt; `random` in 0..<1.
    public mutating func next(random: Double) -> Double {
        let ceiling = min(maxSeconds, baseSeconds * pow(2, Double(min(failures, 30))))
        failures += 1
        return ceiling / 2 + ceiling / 2 * min(max(random, 0), 1)
    }

    /// A session that worked for a while starts the next series from the base again.
    public mutating func reset() { failures = 0 }
}
