import Foundation

/// What the driver did and saw from the outside (API answers, faults, sign-ups).
actor Stats {
    private(set) var counters: [String: Int] = [:]
    private(set) var ordered: [String] = []
    private(set) var apiErrors: [String] = []
    private(set) var duplicateViolations: [String] = []
    private(set) var activeUsers: [(uid: String, since: Date)] = []
    private(set) var users = 0

    func count(_ key: String, _ n: Int = 1) { counters[key, default: 0] += n }
    func value(_ key: String) -> Int { counters[key] ?? 0 }
    func orderedOrder(_ clientOrderID: String) { ordered.append(clientOrderID) }
    func apiError(_ text: String) {
        if apiErrors.count < 20 { apiErrors.append(text) }
        count("api errors")
    }
    func duplicateViolation(_ text: String) { duplicateViolations.append(text) }
    func joined(_ uid: String, at: Date) {
        activeUsers.append((uid, at))
        users += 1
    }
    /// Users active for longer than `lifetime` seconds (they leave now); all when nil.
    func leaving(olderThan lifetime: Double?, now: Date) -> [String] {
        let gone = activeUsers.filter { lifetime == nil || now.timeIntervalSince($0.since) >= lifetime! }.map(\.uid)
        activeUsers.removeAll { gone.contains($0.uid) }
        return gone
    }
}

/// Local-issuer tokens, one per user, fetched once.
actor Tokens {
    let issuer: String
    private var tokens: [String: String] = [:]

    init(issuer: String) { self.issuer = issuer }

    func token(_ uid: String) async throws -> String {
        if let token = tokens[uid] { return token }
        let reply = try await HTTP.call("POST", issuer + "/token", json: ["uid": uid, "lifetime_seconds": 7200])
        guard reply.status == 200, let token = reply.object["token"] as? String else {
            throw ChaosError("local issuer answered \(reply.status) for \(uid): \(reply.text)")
        }
        tokens[uid] = token
        return token
    }
}
