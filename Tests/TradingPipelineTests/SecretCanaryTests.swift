import AlpacaClient
import Foundation
import HybridSettings
import HybridStore
import HybridTestSupport
import Logging
import PostgresNIO
import Synchronization
import Testing
import TradingCore
import TradingPipeline

/// Keys live only in the environment: the whole flow (a scheduler process and two worker
/// processes, the plan's §17 user, an approval, the fill) with canary keys, then every log line
/// (in-process and of the processes at trace level), every row of every table and every error
/// text is searched for them.
@Suite struct SecretCanaryTests {
    static let keyID = "CANARYKEYID7Q2"
    static let secret = "CANARYSECRET9X4Z"

    @Test func canaryKeysAppearNowhere() async throws {
        let capture = LogCapture()
        let logger: Logger = {
            var logger = Logger(label: "canary") { _ in capture }
            logger.logLevel = .trace
            return logger
        }()
        try await Farm.run(worker: false, keys: (Self.keyID, Self.secret), logger: logger) { farm in
            try await farm.seedUser()
            // One failed market-data call, so an error gets recorded on a job.
            try await farm.fault(#"{"route": "GET /v2/stocks/snapshots", "kind": "status", "status": 500, "count": 1}"#)
            let binary = try ChildProcess.executable("hybridhub")
            let environment = farm.processEnvironment(["LOG_LEVEL": "trace", "QUESTION_WORKER_INTERVAL_SECONDS": "1",
                                                       "TRADING_EVALUATE_DELAY_SECONDS": "0"])
            let scheduler = try RunningProcess.start(binary, ["scheduler", "--id", "canary-scheduler"], environment: environment)
            let worker = try RunningProcess.start(binary, ["worker", "--id", "canary-worker"], environment: environment)
            let second = try RunningProcess.start(binary, ["worker", "--id", "canary-worker-2"], environment: environment)
            defer { scheduler.stop(); worker.stop(); second.stop() }

            let asked = try await eventually(within: 30) { try await !farm.openQuestions().isEmpty }
            try #require(asked != nil, "no question: \(worker.output.suffix(2000))")
            let question = try #require(try await farm.openQuestions().first)
            let (orderID, _) = try await farm.approve(question.id)
            #expect(try await farm.settled(orderID, seconds: 30).status == "filled")

            // A refused key: Alpaca's 401 must not carry the key into the error either.
            let wrong = AlpacaTradingClient(baseURL: farm.sim.url, credentials: AlpacaCredentials(keyID: Secret(Self.keyID), secretKey: Secret("CANARYWRONG55")),
                                            logger: logger)
            var errorText = ""
            do { _ = try await wrong.account() } catch { errorText = "\(error) \(String(reflecting: error))" }
            #expect(errorText.contains("401"))

            scheduler.signal(SIGTERM)
            worker.signal(SIGTERM)
            second.signal(SIGTERM)
            #expect(await scheduler.wait(seconds: 30) == 0)
            #expect(await worker.wait(seconds: 30) == 0)
            #expect(await second.wait(seconds: 30) == 0)
            let processLogs = scheduler.output + worker.output + second.output
            #expect(processLogs.contains("job.kind=submit-order"), "the worker logged at trace level")
            #expect(try await farm.int("SELECT count(*)::int FROM jobs WHERE errors <> '[]'::jsonb") >= 1)

            let rows = try await farm.everyRow()
            let settingsOutput = try await ChildProcess.run(binary, ["settings"], environment: environment).stdout
            for canary in [Self.keyID, Self.secret, "CANARYWRONG55"] {
                #expect(!processLogs.contains(canary), "a process log holds \(canary)")
                #expect(!capture.text.contains(canary), "an in-process log holds \(canary)")
                #expect(!rows.contains(canary), "a database row holds \(canary)")
                #expect(!errorText.contains(canary), "an error holds \(canary)")
                #expect(!settingsOutput.contains(canary), "hybridhub settings shows \(canary)")
            }
            #expect(rows.contains("hh1-"), "the dump covers trade_orders")
        }
    }
}

extension Farm {
    /// Every row of every table of the public schema, as text.
    func everyRow() async throws -> String {
        let tables = try await rows("SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename")
        var dump = ""
        for table in tables {
            dump += try await rows("SELECT t::text FROM \"\(table)\" t").joined(separator: "\n") + "\n"
        }
        return dump
    }
}

/// Keeps every log line with its metadata.
final class LogCapture: LogHandler, @unchecked Sendable {
    private let lines = Mutex<[String]>([])
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .trace

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        let all = metadata.merging(event.metadata ?? [:]) { $1 }
        lines.withLock { $0.append("\(event.level) \(event.message) \(all)") }
    }

    var text: String { lines.withLock { $0.joined(separator: "\n") } }
}
