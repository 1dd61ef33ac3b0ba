import Foundation
import Testing
@testable import HybridSettings

@Suite struct SettingsTests {
    let noFile: (String) throws -> String = { _ in throw CocoaError(.fileNoSuchFile) }

    @Test func defaultsArePaperAndOff() throws {
        let settings = try Settings.load(environment: [:], readFile: noFile)
        #expect(!settings.trading.enabled)
        #expect(settings.trading.ingestEnabled && settings.trading.evalEnabled)
        #expect(settings.alpaca.tradingBaseURL.absoluteString == "https://paper-api.alpaca.markets")
        #expect(settings.alpaca.dataBaseURL.absoluteString == "https://data.alpaca.markets")
        #expect(settings.alpaca.dataFeed == "iex")
        #expect(!settings.alpaca.allowLive && !settings.alpaca.tradingURLIsLive)
        #expect(settings.worker.enabled && settings.worker.intervalSeconds == 60 && !settings.worker.testMode)
        #expect(settings.trading.hardMaxOrderNotionalUSD == 250)
        #expect(settings.database.host == "127.0.0.1" && settings.database.port == 54329)
        #expect(settings.database.user == "hybridhub" && settings.database.database == "hybridhub")
        #expect(settings.database.password == nil)
    }

    @Test func reconciliationRunsEveryMinuteWithAFiveMinuteGrace() throws {
        let settings = try Settings.load(environment: [:], readFile: noFile)
        #expect(settings.trading.reconcileIntervalSeconds == 60 && settings.trading.reconcileGraceSeconds == 300)
        let off = try Settings.load(environment: ["TRADING_RECONCILE_INTERVAL_SECONDS": "0", "TRADING_RECONCILE_GRACE_SECONDS": "0"],
                                    readFile: noFile)
        #expect(off.trading.reconcileIntervalSeconds == 0 && off.trading.reconcileGraceSeconds == 0)
        do {
            _ = try Settings.load(environment: ["TRADING_RECONCILE_INTERVAL_SECONDS": "-1", "TRADING_RECONCILE_GRACE_SECONDS": "5m"],
                                  readFile: noFile)
            Issue.record("bad reconciliation settings were accepted")
        } catch {
            #expect(error.problems == [
                "TRADING_RECONCILE_INTERVAL_SECONDS: must be at least 0, got -1",
                "TRADING_RECONCILE_GRACE_SECONDS: expected a whole number, got '5m'",
            ])
        }
    }

    @Test func everyCatalogueDefaultParses() throws {
        let environment = Dictionary(uniqueKeysWithValues: SettingsCatalog.all.map { ($0.name, $0.defaultValue) })
        _ = try Settings.load(environment: environment, readFile: noFile)
    }

    @Test func liveURLNeedsAllowLive() throws {
        let live = ["ALPACA_TRADING_BASE_URL": "https://api.alpaca.markets"]
        #expect(throws: SettingsError.self) { try Settings.load(environment: live, readFile: noFile) }
        var allowed = live
        allowed["ALPACA_ALLOW_LIVE"] = "true"
        let settings = try Settings.load(environment: allowed, readFile: noFile)
        #expect(settings.alpaca.tradingURLIsLive)
    }

    @Test(arguments: ["https://paper-api.alpaca.markets", "http://127.0.0.1:8080", "http://localhost:1"])
    func paperAndLoopbackAreNotLive(url: String) throws {
        #expect(try !Settings.load(environment: ["ALPACA_TRADING_BASE_URL": url], readFile: noFile).alpaca.tradingURLIsLive)
    }

    @Test(arguments: ["https://api.alpaca.markets", "https://proxy.example.com", "http://10.0.0.5"])
    func anythingElseCountsAsLive(url: String) throws {
        let env = ["ALPACA_TRADING_BASE_URL": url, "ALPACA_ALLOW_LIVE": "true"]
        #expect(try Settings.load(environment: env, readFile: noFile).alpaca.tradingURLIsLive)
    }

    @Test func everyProblemIsReportedByName() {
        let env = ["TRADING_ENABLED": "maybe", "QUESTION_WORKER_INTERVAL_SECONDS": "0", "ALPACA_DATA_FEED": "nasdaq",
                   "TRADING_MAX_ORDER_NOTIONAL_USD": "-5", "ALPACA_DATA_BASE_URL": "ftp://x", "LOG_LEVEL": "loud"]
        do {
            _ = try Settings.load(environment: env, readFile: noFile)
            Issue.record("bad settings were accepted")
        } catch {
            #expect(error.problems == [
                "TRADING_ENABLED: expected true or false, got 'maybe'",
                "TRADING_MAX_ORDER_NOTIONAL_USD: expected a positive number, got '-5'",
                "ALPACA_DATA_BASE_URL: expected a http or https URL, got 'ftp://x'",
                "ALPACA_DATA_FEED: expected one of iex, sip, got 'nasdaq'",
                "QUESTION_WORKER_INTERVAL_SECONDS: must be at least 1, got 0",
                "LOG_LEVEL: expected one of trace, debug, info, notice, warning, error, critical, got 'loud'",
            ])
        }
    }

    @Test func secretsNeverAppearInTextOrErrors() throws {
        let canary = "CANARY-SECRET-4f1c"
        let env = ["ALPACA_API_KEY_ID": canary, "ALPACA_API_SECRET_KEY": canary,
                   "DATABASE_URL": "postgres://app:\(canary)@127.0.0.1:5432/app"]
        let settings = try Settings.load(environment: env, readFile: noFile)
        #expect(settings.alpaca.secretKey.reveal() == canary)
        #expect(settings.database.password?.reveal() == canary)
        for text in [String(describing: settings), String(reflecting: settings), "\(settings.alpaca)",
                     settings.database.redactedDescription, "\(settings.alpaca.keyID)"] {
            #expect(!text.contains(canary))
        }
        #expect(!Settings.describe(environment: env).contains { $0.value.contains(canary) })
        // A malformed URL holding a secret is reported without echoing it.
        do {
            _ = try Settings.load(environment: ["DATABASE_URL": "mysql://u:\(canary)@h/db"], readFile: noFile)
            Issue.record("bad DATABASE_URL accepted")
        } catch {
            #expect(!error.description.contains(canary))
            #expect(error.description.contains("DATABASE_URL"))
        }
    }

    @Test func passwordFileWinsAndUnreadableFileIsNamed() throws {
        let env = ["DATABASE_URL": "postgres://u:inurl@127.0.0.1/db", "DATABASE_PASSWORD_FILE": "/run/secrets/db"]
        let settings = try Settings.load(environment: env, readFile: { path in path == "/run/secrets/db" ? "fromfile\n" : "" })
        #expect(settings.database.password?.reveal() == "fromfile")
        #expect(throws: SettingsError.self) { try Settings.load(environment: env, readFile: noFile) }
    }

    @Test func localHosts() {
        func settings(_ host: String) -> DatabaseSettings { DatabaseSettings(host: host, port: 1, user: "u", password: nil, database: "d") }
        #expect(settings("127.0.0.1").isLocal && settings("localhost").isLocal && settings("/tmp/sock").isLocal)
        #expect(!settings("db.example.com").isLocal && !settings("10.1.2.3").isLocal)
    }

    /// docs/operations.md's settings table and the catalog are the same list, with the same
    /// defaults: a setting added, removed or changed in one place fails here.
    @Test func theSettingsTableIsTheCatalog() throws {
        let doc = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("docs/operations.md")
        let text = try String(contentsOf: doc, encoding: .utf8)
        var documented: [String: String] = [:]
        for line in text.split(separator: "\n") where line.hasPrefix("| `") {
            let cells = line.split(separator: "|", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
            guard cells.count > 3, cells[1].hasPrefix("`"), cells[1].uppercased() == cells[1] else { continue }
            documented[cells[1].trimmingCharacters(in: CharacterSet(charactersIn: "`"))] = cells[2]
        }
        let catalog = Dictionary(SettingsCatalog.all.map { ($0.name, $0.defaultValue) }, uniquingKeysWith: { a, _ in a })
        let documentedOnly = Set(documented.keys).subtracting(catalog.keys), undocumented = Set(catalog.keys).subtracting(documented.keys)
        #expect(documentedOnly.isEmpty && undocumented.isEmpty, "documented only: \(documentedOnly); undocumented: \(undocumented)")
        for (name, value) in catalog {
            let shown = documented[name] ?? ""
            #expect(value.isEmpty ? shown == "(empty)" : shown == "`\(value)`", "\(name): documented \(shown), default \(value)")
        }
    }
}
