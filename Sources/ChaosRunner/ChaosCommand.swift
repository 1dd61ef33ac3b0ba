import ArgumentParser
import Foundation
import HybridStore
import Logging
import PostgresNIO
import ProcessKit

/// `hybridhub-chaos`: the chaos runner of issue 8 (ops/chaos/run.sh; shortened in the test
/// suite). Starts the simulator with faults on, schedulers, workers (some exit right after
/// an Alpaca POST), API processes and a local token issuer; users sign up and answer through
/// the API while the driver SIGKILLs workers and the leading scheduler and restarts them;
/// then it drains the farm and checks the database and the simulator's ledger.
@main
struct ChaosCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "hybridhub-chaos",
        abstract: "Run the farm under chaos (kills, faults, duplicate answers), drain it, and check that nothing was lost or doubled.")

    @Option(help: "Seconds of chaos before the drain.") var seconds = 600.0
    @Option(help: "Worker processes.") var workers = 4
    @Option(help: "Scheduler processes.") var schedulers = 2
    @Option(help: "API processes.") var apis = 2
    @Option(help: "Workers that exit right after an Alpaca POST (failpoint) with --failpoint-probability.") var failpointWorkers = 2
    @Option(help: "Probability of that exit per POST.") var failpointProbability = 0.2
    @Option(help: "Users signed up at the start.") var initialUsers = 20
    @Option(help: "Users signing up per second afterwards.") var signupsPerSecond = 1.0
    @Option(help: "Seconds a user trades before switching it off.") var userLifetime = 120.0
    @Option(help: "Mean seconds between kills.") var killEvery = 4.0
    @Option(help: "Every Nth kill hits the leading scheduler (0: never).") var schedulerKillEvery = 4
    @Option(help: "Mean seconds between simulator faults.") var faultEvery = 2.0
    @Option(help: "Mean seconds between users' config edits (sizes, sides, rules off or removed, blocklist, trading off; 0: none).") var editEvery = 1.0
    @Option(help: "Mean seconds between farm-wide halts of one to three seconds (0: none).") var haltEvery = 15.0
    @Option(help: "Replayed seconds per real second.") var clockRate = 9.0
    @Option(help: "Scheduler tick seconds.") var tickSeconds = 1
    @Option(help: "Worker concurrency per queue.") var concurrency = 4
    @Option(help: "Seconds to wait for the drain.") var drainTimeout = 180.0
    @Option(help: "Seed of every random choice of the driver.") var seed: UInt64 = 42
    @Option(help: "LOG_LEVEL of the farm's processes.") var logLevel = "warning"
    @Option(help: "Folder of hybridhub and alpaca-sim (default: this executable's).") var bin: String?
    @Option(help: "Folder for the processes' logs (default: a new one under /tmp).") var logs: String?
    @Option(help: "Also write the assertions and numbers as JSON to this file.") var json: String?

    func run() async throws {
        let runtime = try ProcessRuntime.load(label: "hybridhub-chaos")
        let options = ChaosOptions(
            seconds: seconds, workers: workers, schedulers: schedulers, apis: apis, failpointWorkers: failpointWorkers,
            failpointProbability: failpointProbability, initialUsers: initialUsers, signupsPerSecond: signupsPerSecond,
            userLifetime: userLifetime, killEvery: killEvery, schedulerKillEvery: schedulerKillEvery, faultEvery: faultEvery,
            editEvery: editEvery, haltEvery: haltEvery,
            clockRate: clockRate, tickSeconds: tickSeconds, concurrency: concurrency, drainTimeout: drainTimeout, seed: seed,
            logLevel: logLevel)
        let binDirectory = bin.map { URL(fileURLWithPath: $0) }
            ?? (Bundle.main.executableURL ?? URL(fileURLWithPath: CommandLine.arguments[0])).resolvingSymlinksInPath().deletingLastPathComponent()
        let logDirectory = logs.map { URL(fileURLWithPath: $0) }
            ?? URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("hh-chaos-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: logDirectory, withIntermediateDirectories: true)
        note("binaries from \(binDirectory.path); logs in \(logDirectory.path)")
        let report = try await PostgresClientFactory.withClient(runtime.settings.database, logger: runtime.logger) { client in
            try await ChaosRun.run(options, client: client, logger: runtime.logger, bin: binDirectory, logs: logDirectory)
        }
        print(report.markdown)
        if let json { try report.json.write(toFile: json, atomically: true, encoding: .utf8) }
        note(report.passed ? "every assertion holds" : "ASSERTIONS FAILED")
        if !report.passed { throw ExitCode(1) }
    }
}

actor Flag {
    private(set) var isSet = false
    func set() { isSet = true }
}

enum ChaosRun {
    static func run(_ options: ChaosOptions, client: PostgresClient, logger: Logger, bin: URL, logs: URL) async throws -> ChaosReport {
        let checks = ChaosChecks(client: client, logger: logger, simulator: "")
        let used = try await checks.int("SELECT ((SELECT count(*) FROM questions) + (SELECT count(*) FROM trade_orders) + (SELECT count(*) FROM jobs))::int")
        guard used == 0 else { throw ChaosError("the database already holds questions, orders or jobs: give the chaos runner a fresh one") }
        let farm = try await ChaosFarm.start(options, bin: bin, logs: logs, logger: logger)
        do {
            let report = try await drive(options, farm: farm, client: client, logger: logger)
            await farm.supervisor.stop()
            return report
        } catch {
            await farm.supervisor.stop()
            throw error
        }
    }

    static func drive(_ options: ChaosOptions, farm: ChaosFarm, client: PostgresClient, logger: Logger) async throws -> ChaosReport {
        let checks = ChaosChecks(client: client, logger: logger, simulator: farm.simulator)
        let deadline = ContinuousClock.now + .seconds(60)
        while try await Tracker.leader(client: client, logger: logger) == nil {
            guard ContinuousClock.now < deadline else { throw ChaosError("no scheduler took the lead within 60 s") }
            try await Task.sleep(for: .milliseconds(200))
        }
        let (tracker, stats, tokens, done, switchboard) = (Tracker(), Stats(), Tokens(issuer: farm.issuer), Flag(), Switchboard())
        let start = ContinuousClock.now
        let loops = ChaosLoops(options: options, farm: farm, client: client, logger: logger, tracker: tracker, stats: stats,
                               tokens: tokens, switchboard: switchboard, end: start + .seconds(options.seconds))
        note("farm up: \(farm.apis.count) API, \(options.schedulers) schedulers, \(options.workers) workers; chaos for \(Int(options.seconds)) s")
        let exits = Task { await loops.exits() }
        let following = Task { await Tracker.follow(tracker, client: client, logger: logger) { await done.isSet } }
        let clock = Task { await loops.clock(until: start + .seconds(options.seconds + options.drainTimeout)) }
        defer { exits.cancel(); clock.cancel() }
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await loops.users() }
            group.addTask { await loops.approvals() }
            group.addTask { await loops.faults() }
            group.addTask { await loops.killer() }
            group.addTask { await loops.edits() }
            group.addTask { await loops.halts() }
        }
        await loops.resumeAfterChaos()
        let chaosSeconds = (ContinuousClock.now - start) / .seconds(1)

        let killCount = await tracker.kills.count
        note("chaos over (\(killCount) kills); draining: faults off, users leave, every process back up")
        let drainStart = ContinuousClock.now
        _ = try? await HTTP.call("DELETE", farm.simulator + "/_sim/faults")
        await loops.everyoneLeaves()
        try await Task.sleep(for: .seconds(4))
        for slot in await farm.supervisor.down() { try await farm.supervisor.restart(slot) }
        let drainDeadline = drainStart + .seconds(options.drainTimeout)
        var quiet = 0
        while quiet < 3, ContinuousClock.now < drainDeadline {
            try await Task.sleep(for: .seconds(1))
            let busy = try await checks.nonTerminalJobs()
            let pending = await tracker.pending
            quiet = busy == 0 && pending == 0 ? quiet + 1 : 0
        }
        let drainSeconds = (ContinuousClock.now - drainStart) / .seconds(1)
        await done.set()
        await following.value
        note(String(format: "drained in %.0f s; checking", drainSeconds))
        return try await checks.run(stats: stats, tracker: tracker, switchboard: switchboard, options: options, chaosSeconds: chaosSeconds,
                                    drainSeconds: drainSeconds)
    }
}
