import ArgumentParser
import AsyncHTTPClient
import Foundation

/// `tokens`: one ID token per seeded user from the local issuer (`POST /token`).
struct TokensCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "tokens", abstract: "Mint an ID token per seeded user at the local issuer.")

    @Option(help: "The local issuer's base URL (hybridhub local-issuer).") var issuer: String
    @Option(help: "Users: bench-books-0 … bench-books-<users-1>.") var users = 10_000
    @Option(help: "File to write, one 'uid token' line per user.") var out: String
    @Option(help: "Requests in flight.") var concurrency = 8

    func run() async throws {
        let (issuer, users, lanes) = (issuer, max(1, users), max(1, concurrency))
        let minted = try await withThrowingTaskGroup(of: [(Int, String)].self) { group in
            for lane in 0..<lanes {
                group.addTask {
                    var tokens: [(Int, String)] = []
                    for n in stride(from: lane, to: users, by: lanes) {
                        let token = try await Self.mint(BenchUniverse.uid(n), issuer: issuer)
                        tokens.append((n, token))
                    }
                    return tokens
                }
            }
            var all: [(Int, String)] = []
            for try await tokens in group { all += tokens }
            return all.sorted { $0.0 < $1.0 }
        }
        try Data(minted.map { "\(BenchUniverse.uid($0.0)) \($0.1)\n" }.joined().utf8).write(to: URL(fileURLWithPath: out))
        note("\(minted.count) tokens written to \(out)")
    }

    static func mint(_ uid: String, issuer: String) async throws -> String {
        var request = HTTPClientRequest(url: issuer + "/token")
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.body = .bytes(try JSONSerialization.data(withJSONObject: ["uid": uid, "lifetime_seconds": 7200] as [String: Any]))
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(30))
        let body = Data(try await response.body.collect(upTo: 1 << 20).readableBytesView)
        guard response.status.code == 200, let token = (try? JSONSerialization.jsonObject(with: body) as? [String: Any])?["token"] as? String else {
            throw BenchFailure("the issuer answered \(response.status.code) for \(uid): \(String(decoding: body.prefix(200), as: UTF8.self))")
        }
        return token
    }
}

/// `read`: concurrent clients, each looping GET on the route for random seeded users, first
/// `/positions` then the reference `/orders?limit=10`; every response must be 200 and list
/// what the user holds.
struct ReadCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "read", abstract: "Time GET /v1/me/trading/positions under concurrent clients against GET /v1/me/trading/orders.")

    @Option(help: "API base URLs, comma-separated (the clients are spread over them).") var api: String
    @Option(help: "The tokens file written by `tokens`.") var tokens: String
    @Option(help: "Concurrent clients (one request in flight each).") var clients = 100
    @Option(help: "Seconds measured per route.") var seconds = 30.0
    @Option(help: "Seconds of warm-up per route, not counted.") var warmup = 5.0
    @Option(help: "Positions each seeded user holds (one order each).") var positions = 10
    @Option(help: "The API processes' pids, comma-separated, to split the CPU used per request (Linux /proc).") var apiPids = ""

    func run() async throws {
        let text = try String(contentsOf: URL(fileURLWithPath: tokens), encoding: .utf8)
        let users = text.split(separator: "\n").compactMap { line -> (String, String)? in
            let parts = line.split(separator: " ", maxSplits: 1)
            return parts.count == 2 ? (String(parts[0]), String(parts[1])) : nil
        }
        let apis = api.split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        guard !users.isEmpty, !apis.isEmpty else { throw ValidationError("no tokens in \(tokens), or no --api URL") }
        var configuration = HTTPClient.Configuration()
        configuration.connectionPool.concurrentHTTP1ConnectionsPerHostSoftLimit = max(8, clients)
        let http = HTTPClient(configuration: configuration)
        let load = ReadLoad(http: http, apis: apis, users: users, clients: max(1, clients), warmup: warmup, seconds: seconds,
                            apiPIDs: apiPids.split(separator: ",").compactMap { Int32($0.trimmingCharacters(in: .whitespaces)) })
        do {
            note("GET /v1/me/trading/positions: \(load.clients) clients over \(apis.count) API process(es), \(warmup) s warm-up + \(seconds) s")
            let held = try await load.run(path: "/v1/me/trading/positions", list: "positions", expect: positions)
            note("positions: \(held.summary.count) requests, p99 \(fixed(held.summary.p99)) ms")
            note("GET /v1/me/trading/orders?limit=10 (the reference): the same")
            let orders = try await load.run(path: "/v1/me/trading/orders?limit=10", list: "orders", expect: min(10, positions))
            note("orders: \(orders.summary.count) requests, p99 \(fixed(orders.summary.p99)) ms")
            try await http.shutdown()
            print(ReadLoad.markdown(positions: held, orders: orders, load: load, expect: positions))
            let errors = held.errors + orders.errors
            guard errors == 0 else {
                throw BenchFailure("\(errors) responses were not 200 with the user's \(positions) positions / orders; first: "
                                   + (held.firstError ?? orders.firstError ?? "?"))
            }
        } catch {
            try? await http.shutdown()
            throw error
        }
    }
}

struct ReadLoad: Sendable {
    let http: HTTPClient
    let apis: [String]
    let users: [(String, String)]
    let clients: Int
    let warmup: Double
    let seconds: Double
    let apiPIDs: [Int32]

    struct Result: Sendable {
        var summary: LatencySummary
        var errors: Int
        var firstError: String?
        var cpu: CPUUse?
    }

    private struct Lane: Sendable {
        var latencies: [Double] = []
        var errors = 0
        var firstError: String?
    }

    func run(path: String, list: String, expect: Int) async throws -> Result {
        let measureFrom = ContinuousClock.now + .seconds(warmup)
        let end = measureFrom + .seconds(seconds)
        let pids = apiPIDs + [CPUSample.ownPID]
        let startSample = Task {
            try? await Task.sleep(until: measureFrom, clock: .continuous)
            return CPUSample.take(pids)
        }
        let lanes = await withTaskGroup(of: Lane.self) { group in
            for client in 0..<clients {
                group.addTask { await lane(base: apis[client % apis.count], path: path, list: list, expect: expect, from: measureFrom, until: end) }
            }
            var all: [Lane] = []
            for await lane in group { all.append(lane) }
            return all
        }
        let (endSample, elapsed) = (CPUSample.take(pids), ms(ContinuousClock.now - measureFrom) / 1000)
        let summary = LatencySummary(lanes.flatMap(\.latencies), seconds: elapsed)
        return Result(summary: summary, errors: lanes.reduce(0) { $0 + $1.errors }, firstError: lanes.lazy.compactMap(\.firstError).first,
                      cpu: CPUUse(from: await startSample.value, to: endSample, apiPIDs: apiPIDs, requests: summary.count))
    }

    /// One client: a request at a time for random users until `until`; latencies of requests
    /// begun from `from` (to the whole body read), every response checked.
    private func lane(base: String, path: String, list: String, expect: Int, from: ContinuousClock.Instant,
                      until: ContinuousClock.Instant) async -> Lane {
        var lane = Lane()
        while ContinuousClock.now < until {
            let (uid, token) = users[Int.random(in: 0..<users.count)]
            var request = HTTPClientRequest(url: base + path)
            request.headers.add(name: "Authorization", value: "Bearer \(token)")
            let begin = ContinuousClock.now
            var problem: String?
            do {
                let response = try await http.execute(request, timeout: .seconds(30))
                let body = Data(try await response.body.collect(upTo: 8 << 20).readableBytesView)
                let took = ms(ContinuousClock.now - begin)
                let listed = ((try? JSONSerialization.jsonObject(with: body)) as? [String: Any])?[list] as? [Any]
                if response.status.code != 200 {
                    problem = "\(uid) \(path): HTTP \(response.status.code) \(String(decoding: body.prefix(200), as: UTF8.self))"
                } else if listed?.count != expect {
                    problem = "\(uid) \(path): \(listed?.count ?? -1) \(list) listed, \(expect) expected"
                } else if begin >= from {
                    lane.latencies.append(took)
                }
            } catch {
                problem = "\(uid) \(path): \(error)"
            }
            if let problem {
                lane.errors += 1
                if lane.firstError == nil { lane.firstError = problem }
            }
        }
        return lane
    }

    static func markdown(positions: Result, orders: Result, load: ReadLoad, expect: Int) -> String {
        func row(_ label: String, _ s: LatencySummary) -> String {
            "| \(label) | \(s.count) | \(fixed(s.perSecond, 0)) | \(fixed(s.mean)) | \(fixed(s.p50)) | \(fixed(s.p90)) | \(fixed(s.p99)) | \(fixed(s.max, 1)) |"
        }
        let (p, o) = (positions.summary, orders.summary)
        func ratio(_ a: Double, _ b: Double) -> String { b > 0 ? fixed(a / b) : "-" }
        return [
            "| Read under \(load.clients) concurrent clients (ms, request sent → whole body read) | requests | requests/s | mean | p50 | p90 | p99 | max |",
            "|---|---:|---:|---:|---:|---:|---:|---:|",
            row("`GET /v1/me/trading/positions` (\(expect) positions valued at the newest price, P&L)", p),
            row("reference: `GET /v1/me/trading/orders?limit=10` (`trade_orders` alone)", o),
            "| ratio positions / orders | | \(ratio(p.perSecond, o.perSecond)) | \(ratio(p.mean, o.mean)) | \(ratio(p.p50, o.p50)) | "
                + "\(ratio(p.p90, o.p90)) | **\(ratio(p.p99, o.p99))** | \(ratio(p.max, o.max)) |",
            "",
            "**`/positions` p99 \(fixed(p.p99)) ms under \(load.clients) concurrent clients = \(ratio(p.p99, o.p99)) × the `/orders` "
                + "reference (\(fixed(o.p99)) ms)**; \(fixed(p.perSecond, 0)) against \(fixed(o.perSecond, 0)) requests/s. Each client "
                + "keeps one request in flight for a random one of \(load.users.count) users (its own ID token, verified by the API on "
                + "every request) against one of \(load.apis.count) API process(es); \(fixed(load.warmup, 0)) s of warm-up, then "
                + "\(fixed(load.seconds, 0)) s measured per route. Every response checked (200, the user's \(expect) positions or "
                + "\(min(10, expect)) orders listed): \(positions.errors + orders.errors) failed.",
        ]
        .joined(separator: "\n") + cpu(positions, orders)
    }

    /// Where the time goes: with every client keeping a request in flight, the cores are busy
    /// and a request's latency is mostly its wait for them, so latency follows CPU per request.
    static func cpu(_ positions: Result, _ orders: Result) -> String {
        guard let p = positions.cpu, let o = orders.cpu else { return "" }
        return "\n\n`/positions`: \(p.text); `/orders`: \(o.text). Ratio of CPU per request: "
            + "\(fixed((p.apiMs + p.clientMs + p.restMs) / max(0.001, o.apiMs + o.clientMs + o.restMs)))."
    }
}
