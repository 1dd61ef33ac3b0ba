import Foundation
import Logging
import PostgresNIO
import SeededRandom

/// The driver's loops: the replay clock, simulator faults, users signing up and leaving
/// through the API, the scripted phone answering delivered questions, and the killer.
struct ChaosLoops: Sendable {
    let options: ChaosOptions
    let farm: ChaosFarm
    let client: PostgresClient
    let logger: Logger
    let tracker: Tracker
    let stats: Stats
    let tokens: Tokens
    let switchboard: Switchboard
    let end: ContinuousClock.Instant

    var running: Bool { ContinuousClock.now < end }

    /// Steps the stepped replay clock `clockRate` seconds per second, jumping over
    /// 14:41–15:29 ET (SPY above the dip line) and stopping before the close.
    func clock(until stop: ContinuousClock.Instant) async {
        let (gapStart, gapEnd) = (ChaosFarm.gapStart, ChaosFarm.gapEnd)
        let last = Date(timeIntervalSince1970: 1_300_305_570)       // 19:59:30Z
        var now = ChaosFarm.start
        while ContinuousClock.now < stop {
            try? await Task.sleep(for: .seconds(1))
            var next = now.addingTimeInterval(options.clockRate)
            if now < gapStart && next >= gapStart { next = gapEnd }
            next = min(next, last)
            guard next > now else { continue }
            if let reply = try? await HTTP.call("POST", farm.simulator + "/_sim/clock", json: ["now": next.formatted(.iso8601)]),
               reply.status == 200 {
                now = next
            }
        }
    }

    /// One fault every `faultEvery` seconds on average, each for a request or two.
    func faults() async {
        var random = SplitMix64(seed: options.seed &+ 1)
        typealias Fault = (label: String, rule: [String: Any])
        let menu: [Fault] = [
            ("POST /v2/orders 429 Retry-After 1", ["route": "POST /v2/orders", "kind": "status", "status": 429, "retry_after_seconds": 1, "count": 2]),
            ("POST /v2/orders 503", ["route": "POST /v2/orders", "kind": "status", "status": 503, "count": 2]),
            ("POST /v2/orders 500", ["route": "POST /v2/orders", "kind": "status", "status": 500, "count": 1]),
            ("POST /v2/orders timeout after accept", ["route": "POST /v2/orders", "kind": "timeout_after_accept", "latency_ms": 2500, "count": 1]),
            ("POST /v2/orders dropped", ["route": "POST /v2/orders", "kind": "drop", "count": 1]),
            ("POST /v2/orders latency 800 ms", ["route": "POST /v2/orders", "kind": "latency", "latency_ms": 800, "count": 3]),
            ("POST /v2/orders rejected by the broker", ["route": "POST /v2/orders", "kind": "reject_order", "count": 1]),
            ("GET /v2/orders… 503", ["route": "GET /v2/orders*", "kind": "status", "status": 503, "count": 1]),
            ("GET /v2/stocks/… latency 400 ms", ["route": "GET /v2/stocks/*", "kind": "latency", "latency_ms": 400, "count": 2]),
            ("GET /v2/stocks/… 503", ["route": "GET /v2/stocks/*", "kind": "status", "status": 503, "count": 1]),
        ]
        while running {
            try? await Task.sleep(for: .seconds(options.faultEvery * Double.random(in: 0.5...1.5, using: &random)))
            guard running else { break }
            let (label, rule) = menu[Int.random(in: 0..<menu.count, using: &random)]
            if let reply = try? await HTTP.call("POST", farm.simulator + "/_sim/faults", json: rule), reply.status < 300 {
                await stats.count("fault: \(label)")
            }
        }
    }

    /// Sends the user's whole override; true when the API stored it.
    @discardableResult
    func putConfig(_ n: Int, _ variant: UserVariant) async -> Bool {
        let uid = "chaos-u\(n)"
        do {
            let token = try await tokens.token(uid)
            let api = farm.apis[n % farm.apis.count]
            let reply = try await HTTP.call("PUT", api + "/v1/me/trading/config", json: override(n, variant), token: token)
            guard reply.status == 200 else {
                await stats.apiError("PUT config \(uid): \(reply.status) \(reply.text)")
                return false
            }
            await switchboard.set(n, variant)
            return true
        } catch {
            await stats.apiError("PUT config \(uid): \(error)")
            return false
        }
    }

    /// A user joins (trading on) or leaves (trading off for good: a stop window that never ends).
    /// A leave lost to a slow API leaves the user trading without a window; the drain's sweep
    /// (`everyoneLeaves`) switches them off.
    func putConfig(_ n: Int, enabled: Bool) async {
        var variant = await switchboard.variant(n)
        variant.enabled = enabled
        guard await putConfig(n, variant) else { return }
        if enabled {
            await stats.joined("chaos-u\(n)", at: Date())
        } else {
            await stats.count("users left")
            await switchboard.open(StopWindow(scope: "user", uid: "chaos-u\(n)", from: Date()))
        }
    }

    /// Users sign up (their config through the API) and, after `userLifetime`, switch trading off.
    func users() async {
        var n = 0
        for _ in 0..<options.initialUsers { await putConfig(n, enabled: true); n += 1 }
        var due = ContinuousClock.now
        while running {
            due += .seconds(1 / max(0.01, options.signupsPerSecond))
            try? await Task.sleep(until: due, clock: .continuous)
            guard running else { break }
            await putConfig(n, enabled: true)
            n += 1
            for uid in await stats.leaving(olderThan: options.userLifetime, now: Date()) {
                await putConfig(Int(uid.dropFirst("chaos-u".count)) ?? 0, enabled: false)
            }
        }
    }

    /// Everyone still trading switches it off (the drain: no new questions). Then whoever the
    /// books still show trading leaves again, until nobody does: a config edit sent just before
    /// a user left can land after the leave (two PUTs on two connections), and the last word
    /// must be the leave.
    func everyoneLeaves() async {
        for uid in await stats.leaving(olderThan: nil, now: Date()) {
            await putConfig(Int(uid.dropFirst("chaos-u".count)) ?? 0, enabled: false)
        }
        for _ in 0..<5 {
            let trading = (try? await stillTrading()) ?? []
            guard !trading.isEmpty else { return }
            logger.notice("chaos: users still trading after leaving; switching them off again", metadata: ["users": "\(trading.count)"])
            for uid in trading {
                // Its stop window is open since it left: only the switch is sent again.
                let n = Int(uid.dropFirst("chaos-u".count)) ?? 0
                var variant = await switchboard.variant(n)
                variant.enabled = false
                await putConfig(n, variant)
            }
            try? await Task.sleep(for: .seconds(2))
        }
    }

    /// The runner's users whose stored config is switched on.
    func stillTrading() async throws -> [String] {
        try await client.withConnection { db in
            var uids: [String] = []
            let rows = try await db.query("SELECT firebase_uid FROM user_trading_config WHERE enabled AND firebase_uid LIKE 'chaos-u%'",
                                          logger: logger)
            for try await uid in rows.decode(String.self) { uids.append(uid) }
            return uids
        }
    }
}
