import Foundation
import Logging
import PostgresNIO

/// The run's settings (the command's options, copied into a Sendable value).
struct ChaosOptions: Sendable {
    var seconds = 600.0
    var workers = 4
    var schedulers = 2
    var apis = 2
    var failpointWorkers = 2
    var failpointProbability = 0.2
    var initialUsers = 20
    var signupsPerSecond = 1.0
    var userLifetime = 120.0
    var killEvery = 4.0
    var schedulerKillEvery = 4
    var faultEvery = 2.0
    var editEvery = 1.0
    var haltEvery = 15.0
    var clockRate = 9.0
    var tickSeconds = 1
    var concurrency = 4
    var drainTimeout = 180.0
    var seed: UInt64 = 42
    var logLevel = "warning"
    var syntheticSymbols = 9

    var summary: String {
        "\(Int(seconds)) s of chaos; \(workers) workers (\(failpointWorkers) with submit-order.after-post=exit@\(failpointProbability)), "
            + "\(schedulers) schedulers, \(apis) API processes; \(initialUsers) users + \(signupsPerSecond)/s signing up, each trading for "
            + "\(Int(userLifetime)) s; a kill every ~\(killEvery) s (one in \(schedulerKillEvery) the leading scheduler, the others a worker caught mid-job); a simulator fault every "
            + "~\(faultEvery) s; a user's config edit every ~\(editEvery) s; a farm halt every ~\(haltEvery) s; replay at \(clockRate)× from 2011-03-16 13:39:50 ET; tick \(tickSeconds) s; worker concurrency \(concurrency); seed \(seed)"
    }
}

/// The farm's processes and where they listen.
struct ChaosFarm: Sendable {
    /// TRADING_APPROVAL_MAX_AGE_SECONDS of the farm: on the replayed clock, which runs
    /// `clockRate` times faster than the wall.
    static let approvalMaxAgeSeconds = 300

    let supervisor: Supervisor
    let simulator: String
    let issuer: String
    let apis: [String]

    static let keyID = "chaos-key", secret = "chaos-secret"
    /// 13:39:50 ET: SPY (and every SYNnn) is 1.56 % below the previous close.
    static let start = Date(timeIntervalSince1970: 1_300_297_190)
    /// The replay clock jumps over 14:40:30–15:29:10 ET (SPY above the dip line: nothing to ask).
    static let gapStart = Date(timeIntervalSince1970: 1_300_300_830)   // 18:40:30Z
    static let gapEnd = Date(timeIntervalSince1970: 1_300_303_750)     // 19:29:10Z

    static func start(_ options: ChaosOptions, bin: URL, logs: URL, logger: Logger) async throws -> ChaosFarm {
        let supervisor = Supervisor(bin: bin, logs: logs)
        let simPort = HTTP.freePort(), issuerPort = HTTP.freePort()
        let simulator = "http://127.0.0.1:\(simPort)", issuer = "http://127.0.0.1:\(issuerPort)"
        var base = ProcessInfo.processInfo.environment
        base["LOG_LEVEL"] = options.logLevel
        try await supervisor.start(.init(slot: "alpaca-sim", role: .simulator, executable: "alpaca-sim", arguments: { _ in
            ["--port", "\(simPort)", "--start", "2011-03-16T17:39:50Z", "--speed", "0", "--keys", "\(keyID):\(secret)",
             "--synthetic-symbols", "\(options.syntheticSymbols)"]
        }, environment: base))
        try await supervisor.start(.init(slot: "local-issuer", role: .issuer, executable: "hybridhub",
                                         arguments: { _ in ["local-issuer", "--port", "\(issuerPort)"] }, environment: base))
        try await HTTP.waitReady(simulator + "/_sim/health")
        try await HTTP.waitReady(issuer + "/jwks.json")

        var environment = base
        for (key, value) in [
            "TRADING_ENABLED": "true", "QUESTION_WORKER_ENABLED": "true", "QUESTION_WORKER_INTERVAL_SECONDS": "\(options.tickSeconds)",
            "QUESTION_PIPELINE_TEST_MODE": "true", "ALPACA_SIMULATOR_URL": simulator, "ALPACA_API_KEY_ID": keyID,
            "ALPACA_API_SECRET_KEY": secret, "ALPACA_HTTP_TIMEOUT_SECONDS": "2", "TRADING_EVALUATE_DELAY_SECONDS": "1",
            "TRADING_QUESTION_TTL_SECONDS": "120", "TRADING_APPROVAL_MAX_AGE_SECONDS": "\(Self.approvalMaxAgeSeconds)", "FIREBASE_JWKS_URL": issuer + "/jwks.json", "METRICS_PORT": "0",
            "DATABASE_POOL_SIZE": "6", "HYBRIDHUB_FAILPOINTS": "",
            // The farm's shared Alpaca budget stays on (every call takes a token), sized for a
            // simulator that has no limit: the run compresses hours of trading into minutes.
            "ALPACA_RATE_LIMIT_PER_MINUTE": "6000", "ALPACA_RATE_BURST": "200",
        ] { environment[key] = value }

        var apis: [String] = []
        for n in 1...max(1, options.apis) {
            let port = HTTP.freePort()
            apis.append("http://127.0.0.1:\(port)")
            try await supervisor.start(.init(slot: "api-\(n)", role: .api, executable: "hybridhub",
                                             arguments: { _ in ["api", "--port", "\(port)"] }, environment: environment))
        }
        for n in 1...max(1, options.schedulers) {
            try await supervisor.start(.init(slot: "scheduler-\(n)", role: .scheduler, executable: "hybridhub",
                                             arguments: { ["scheduler", "--id", $0] }, environment: environment))
        }
        for n in 1...max(1, options.workers) {
            var workerEnvironment = environment
            if n <= options.failpointWorkers {
                workerEnvironment["HYBRIDHUB_FAILPOINTS"] = "submit-order.after-post=exit@\(options.failpointProbability)"
            }
            let concurrency = options.concurrency
            try await supervisor.start(.init(slot: "worker-\(n)", role: .worker, executable: "hybridhub",
                                             arguments: { ["worker", "--id", $0, "--concurrency", "\(concurrency)"] },
                                             environment: workerEnvironment))
        }
        for api in apis { try await HTTP.waitReady(api + "/health") }
        return ChaosFarm(supervisor: supervisor, simulator: simulator, issuer: issuer, apis: apis)
    }
}
