import Foundation

/// Everything the servers read from the environment, parsed and checked in one place.
public struct Settings: Sendable {
    public var trading: TradingSettings
    public var alpaca: AlpacaSettings
    public var worker: QuestionWorkerSettings
    public var stream: StreamSettings
    public var database: DatabaseSettings
    public var api: APISettings
    public var migrationsDirectory: String
    public var logLevel: String

    /// Reads the variables of `SettingsCatalog`; `readFile` reads DATABASE_PASSWORD_FILE.
    public static func load(
        environment: [String: String],
        readFile: (String) throws -> String = { try String(contentsOfFile: $0, encoding: .utf8) }
    ) throws(SettingsError) -> Settings {
        var env = EnvironmentReader(environment)
        let trading = TradingSettings(
            enabled: env.bool("TRADING_ENABLED"),
            ingestEnabled: env.bool("TRADING_WORKER_INGEST_ENABLED"),
            evalEnabled: env.bool("TRADING_WORKER_EVAL_ENABLED"),
            hardMaxOrderNotionalUSD: env.decimal("TRADING_MAX_ORDER_NOTIONAL_USD", positive: true),
            questionTTLSeconds: env.int("TRADING_QUESTION_TTL_SECONDS", minimum: 10),
            approvalMaxDriftPct: env.decimal("TRADING_APPROVAL_MAX_DRIFT_PCT", positive: true),
            approvalMaxAgeSeconds: env.int("TRADING_APPROVAL_MAX_AGE_SECONDS", minimum: 1),
            ingestBatchSymbols: env.int("TRADING_INGEST_BATCH_SYMBOLS", minimum: 1),
            evaluateDelaySeconds: env.int("TRADING_EVALUATE_DELAY_SECONDS", minimum: 0),
            preflightCacheSeconds: env.int("TRADING_PREFLIGHT_CACHE_SECONDS", minimum: 0),
            reconcileIntervalSeconds: env.int("TRADING_RECONCILE_INTERVAL_SECONDS", minimum: 0),
            reconcileGraceSeconds: env.int("TRADING_RECONCILE_GRACE_SECONDS", minimum: 0)
        )
        let alpaca = AlpacaSettings(
            keyID: env.secret("ALPACA_API_KEY_ID"),
            secretKey: env.secret("ALPACA_API_SECRET_KEY"),
            tradingBaseURL: env.url("ALPACA_TRADING_BASE_URL"),
            dataBaseURL: env.url("ALPACA_DATA_BASE_URL"),
            dataFeed: env.oneOf("ALPACA_DATA_FEED", ["iex", "sip"]),
            allowLive: env.bool("ALPACA_ALLOW_LIVE"),
            timeoutSeconds: env.int("ALPACA_HTTP_TIMEOUT_SECONDS", minimum: 1),
            ratePerMinute: env.int("ALPACA_RATE_LIMIT_PER_MINUTE", minimum: 2),
            rateBurst: env.int("ALPACA_RATE_BURST", minimum: 1),
            simulatorURL: env.url("ALPACA_SIMULATOR_URL")
        )
        let worker = QuestionWorkerSettings(
            enabled: env.bool("QUESTION_WORKER_ENABLED"),
            intervalSeconds: env.int("QUESTION_WORKER_INTERVAL_SECONDS", minimum: 1),
            testMode: env.bool("QUESTION_PIPELINE_TEST_MODE")
        )
        let stream = StreamSettings(
            dataURL: env.url("ALPACA_STREAM_DATA_URL", schemes: ["wss", "ws", "https", "http"]),
            maxSymbols: env.int("MARKET_STREAM_MAX_SYMBOLS", minimum: 1),
            silenceSeconds: env.int("MARKET_STREAM_SILENCE_SECONDS", minimum: 2),
            followSeconds: env.int("MARKET_STREAM_FOLLOW_SECONDS", minimum: 1),
            refreshSeconds: env.int("MARKET_STREAM_REFRESH_SECONDS", minimum: 10),
            evaluateSeconds: env.int("MARKET_STREAM_EVALUATE_SECONDS", minimum: 0),
            backoffMaxSeconds: env.int("MARKET_STREAM_BACKOFF_MAX_SECONDS", minimum: 1)
        )
        let database = env.database(readFile: readFile)
        let api = APISettings(firebaseProjectID: env.string("FIREBASE_PROJECT_ID"), firebaseJWKSURL: env.url("FIREBASE_JWKS_URL"),
                              host: env.string("API_HOST"), port: env.int("API_PORT", minimum: 0),
                              metricsHost: env.string("METRICS_HOST"), metricsPort: env.int("METRICS_PORT", minimum: 0))
        let settings = Settings(
            trading: trading, alpaca: alpaca, worker: worker, stream: stream, database: database, api: api,
            migrationsDirectory: env.string("HYBRIDHUB_MIGRATIONS_DIR"),
            logLevel: env.oneOf("LOG_LEVEL", ["trace", "debug", "info", "notice", "warning", "error", "critical"])
        )
        // The start-up half of the live gate: a live URL needs ALPACA_ALLOW_LIVE=true.
        if alpaca.tradingURLIsLive && !alpaca.allowLive {
            env.fail("ALPACA_TRADING_BASE_URL", "points at a live trading host (\(alpaca.tradingBaseURL.host ?? "?")) but ALPACA_ALLOW_LIVE is not true; use https://paper-api.alpaca.markets for paper trading")
        }
        if alpaca.rateBurst >= alpaca.ratePerMinute {
            env.fail("ALPACA_RATE_BURST", "must be below ALPACA_RATE_LIMIT_PER_MINUTE (\(alpaca.ratePerMinute))")
        }
        if !env.problems.isEmpty { throw SettingsError(problems: env.problems) }
        return settings
    }

    /// Name = value lines for `hybridhub settings`, secrets redacted.
    public static func describe(environment: [String: String]) -> [(name: String, value: String)] {
        SettingsCatalog.all.map { doc in
            let raw = environment[doc.name]
            let shown: String
            if doc.isSecret {
                shown = (raw ?? doc.defaultValue).isEmpty ? "(unset)" : (raw == nil ? "(default)" : "<redacted>")
            } else {
                shown = raw ?? "\(doc.defaultValue) (default)"
            }
            return (doc.name, shown)
        }
    }
}

public struct TradingSettings: Sendable {
    public var enabled: Bool
    public var ingestEnabled: Bool
    public var evalEnabled: Bool
    public var hardMaxOrderNotionalUSD: Decimal
    public var questionTTLSeconds: Int
    public var approvalMaxDriftPct: Decimal
    public var approvalMaxAgeSeconds: Int
    public var ingestBatchSymbols: Int
    public var evaluateDelaySeconds: Int
    public var preflightCacheSeconds: Int
    /// How often the scheduler enqueues reconcile-orders (0: never; `hybridhub-ops reconcile` still works).
    public var reconcileIntervalSeconds: Int
    /// A book order the broker lacks is reported only this long after it was created, and the
    /// reconciliation's watermark stays this far behind the broker's now.
    public var reconcileGraceSeconds: Int
}

public struct AlpacaSettings: Sendable {
    public var keyID: Secret
    public var secretKey: Secret
    public var tradingBaseURL: URL
    public var dataBaseURL: URL
    public var dataFeed: String
    public var allowLive: Bool
    public var timeoutSeconds: Int
    public var ratePerMinute: Int
    public var rateBurst: Int
    /// Where QUESTION_PIPELINE_TEST_MODE sends both clients (and reads the trading clock).
    public var simulatorURL: URL

    public static let paperHost = "paper-api.alpaca.markets"

    /// Conservative: anything that is not Alpaca's paper host or a loopback address (the
    /// simulator) might reach real money, so it counts as live.
    public var tradingURLIsLive: Bool {
        let host = (tradingBaseURL.host ?? "").lowercased()
        return !(host == Self.paperHost || host == "127.0.0.1" || host == "localhost" || host == "::1" || host == "[::1]")
    }
}

/// The market-data stream's knobs (`hybridhub streams`).
public struct StreamSettings: Sendable {
    public var dataURL: URL
    public var maxSymbols: Int
    public var silenceSeconds: Int
    public var followSeconds: Int
    public var refreshSeconds: Int
    public var evaluateSeconds: Int
    public var backoffMaxSeconds: Int
}

public struct APISettings: Sendable {
    public var firebaseProjectID: String
    public var firebaseJWKSURL: URL
    public var host: String
    public var port: Int
    public var metricsHost: String
    public var metricsPort: Int
}

public struct QuestionWorkerSettings: Sendable {
    public var enabled: Bool
    public var intervalSeconds: Int
    public var testMode: Bool
}

public struct DatabaseSettings: Sendable {
    public var host: String
    public var port: Int
    public var user: String
    public var password: Secret?
    public var database: String
    public var poolSize: Int

    public init(host: String, port: Int, user: String, password: Secret?, database: String, poolSize: Int = 10) {
        self.host = host
        self.port = port
        self.user = user
        self.password = password
        self.database = database
        self.poolSize = poolSize
    }

    /// The same server, another database (tests clone one per suite).
    public func with(database: String) -> DatabaseSettings {
        var copy = self
        copy.database = database
        return copy
    }

    /// Loopback or a unix socket: what tests insist on before they create or drop anything.
    public var isLocal: Bool {
        ["127.0.0.1", "localhost", "::1"].contains(host.lowercased()) || host.hasPrefix("/")
    }

    /// For logs: never the password.
    public var redactedDescription: String { "postgres://\(user)@\(host):\(port)/\(database)" }
}

public struct SettingsError: Error, Sendable, CustomStringConvertible {
    public let problems: [String]
    public var description: String {
        "invalid configuration:\n" + problems.map { "  - \($0)" }.joined(separator: "\n")
    }
}
