/// Every environment variable the servers read: name, default, meaning, and whether it is a
/// secret. docs/operations.md's settings table and `hybridhub settings` come from this list,
/// and a test checks that table against it.
public struct SettingDoc: Sendable, Hashable {
    public let name: String
    public let defaultValue: String
    public let summary: String
    public let isSecret: Bool
}

public enum SettingsCatalog {
    public static let all: [SettingDoc] = [
        // Plan §11: trading feature gates.
        .init(name: "TRADING_ENABLED", defaultValue: "false", summary: "Master switch: false stops evaluation, approvals, order submission, ingest and the market-data stream in this process (order tracking goes on).", isSecret: false),
        .init(name: "TRADING_WORKER_INGEST_ENABLED", defaultValue: "true", summary: "Market-data ingest in this process: the tick's ingest jobs, the worker's ingest handler, the streams' market data.", isSecret: false),
        .init(name: "TRADING_WORKER_EVAL_ENABLED", defaultValue: "true", summary: "Rule evaluation in this process: the tick's evaluations, the worker's evaluate-user, stream-triggered evaluations.", isSecret: false),
        // Plan §11: Alpaca (server only).
        .init(name: "ALPACA_API_KEY_ID", defaultValue: "", summary: "Alpaca key id (header APCA-API-KEY-ID).", isSecret: true),
        .init(name: "ALPACA_API_SECRET_KEY", defaultValue: "", summary: "Alpaca secret key (header APCA-API-SECRET-KEY).", isSecret: true),
        .init(name: "ALPACA_TRADING_BASE_URL", defaultValue: "https://paper-api.alpaca.markets", summary: "Trading API. Any host but the paper host or loopback counts as live.", isSecret: false),
        .init(name: "ALPACA_DATA_BASE_URL", defaultValue: "https://data.alpaca.markets", summary: "Market data API.", isSecret: false),
        .init(name: "ALPACA_DATA_FEED", defaultValue: "iex", summary: "Market data feed: iex (Basic) or sip.", isSecret: false),
        .init(name: "ALPACA_ALLOW_LIVE", defaultValue: "false", summary: "Must be true, with mode \"live\" in the user's config, to trade on a live URL.", isSecret: false),
        // Plan §11: the existing worker flags.
        .init(name: "QUESTION_WORKER_ENABLED", defaultValue: "true", summary: "Scheduler ticks at all.", isSecret: false),
        .init(name: "QUESTION_WORKER_INTERVAL_SECONDS", defaultValue: "60", summary: "Tick period: ingest due-times and evaluation frequency (>= 1).", isSecret: false),
        .init(name: "QUESTION_PIPELINE_TEST_MODE", defaultValue: "false", summary: "Point Alpaca clients at the built-in simulator instead of Alpaca.", isSecret: false),
        // This server's own.
        .init(name: "TRADING_MAX_ORDER_NOTIONAL_USD", defaultValue: "250", summary: "Hard per-order notional cap; wins over any config.", isSecret: false),
        .init(name: "TRADING_QUESTION_TTL_SECONDS", defaultValue: "900", summary: "A trading question expires after this long unanswered.", isSecret: false),
        .init(name: "TRADING_APPROVAL_MAX_DRIFT_PCT", defaultValue: "1", summary: "An approval whose price moved more than this % since the question asks again; an approved order whose price moved more than this % before its POST is not sent (expired).", isSecret: false),
        .init(name: "TRADING_APPROVAL_MAX_AGE_SECONDS", defaultValue: "120", summary: "An approved order not sent within this many seconds of the approval (an Alpaca outage, a backlog) is not sent (expired).", isSecret: false),
        .init(name: "TRADING_INGEST_BATCH_SYMBOLS", defaultValue: "100", summary: "Symbols per market-data call (calls per tick = ceil(symbols / this)).", isSecret: false),
        .init(name: "TRADING_EVALUATE_DELAY_SECONDS", defaultValue: "2", summary: "evaluate-user runs this long after its tick's ingest, to read fresh rows.", isSecret: false),
        .init(name: "TRADING_PREFLIGHT_CACHE_SECONDS", defaultValue: "5", summary: "The broker pre-flight reuses the account and positions this long (the market clock a minute, the active assets an hour); 0: no cache.", isSecret: false),
        // Order reconciliation (the books always equal the broker).
        .init(name: "TRADING_RECONCILE_INTERVAL_SECONDS", defaultValue: "60", summary: "How often the scheduler enqueues reconcile-orders (Alpaca's orders since the watermark vs trade_orders; repairs and findings); 0: never (hybridhub-ops reconcile still runs one).", isSecret: false),
        .init(name: "TRADING_RECONCILE_GRACE_SECONDS", defaultValue: "300", summary: "A book order the broker does not list (or one still pending_submit) is reported only once its row has been unchanged this long; the reconciliation's watermark stays this far behind now.", isSecret: false),
        .init(name: "ALPACA_HTTP_TIMEOUT_SECONDS", defaultValue: "10", summary: "Timeout of each Alpaca REST call.", isSecret: false),
        .init(name: "ALPACA_RATE_LIMIT_PER_MINUTE", defaultValue: "200", summary: "Alpaca REST calls per minute per key (trading and market data each), shared by every worker through Postgres.", isSecret: false),
        .init(name: "ALPACA_RATE_BURST", defaultValue: "20", summary: "Calls the farm may make at once out of that minute's budget (burst + refill x 60 s = the limit); a fifth of it (at least 1) is kept for order submissions.", isSecret: false),
        .init(name: "ALPACA_SIMULATOR_URL", defaultValue: "http://127.0.0.1:54380", summary: "The built-in simulator (alpaca-sim) that QUESTION_PIPELINE_TEST_MODE points both Alpaca clients and the trading clock at.", isSecret: false),
        .init(name: "FIREBASE_PROJECT_ID", defaultValue: "cyber-hybrid-hub", summary: "Firebase project: ID tokens must have iss https://securetoken.google.com/<this> and aud <this>.", isSecret: false),
        .init(name: "FIREBASE_JWKS_URL", defaultValue: "https://www.googleapis.com/service_accounts/v1/jwk/securetoken@system.gserviceaccount.com", summary: "Where the token signing keys (JWKS) come from; cached as its Cache-Control allows. The demo points it at the local issuer.", isSecret: false),
        .init(name: "API_HOST", defaultValue: "127.0.0.1", summary: "Address the API role listens on.", isSecret: false),
        .init(name: "API_PORT", defaultValue: "8080", summary: "Port of the API role (HTTP /v1, the hub, the approval page).", isSecret: false),
        // Issue 9: the farm's one market-data stream and the trade-update stream (`hybridhub streams`).
        .init(name: "ALPACA_STREAM_DATA_URL", defaultValue: "wss://stream.data.alpaca.markets", summary: "Market-data WebSocket host (the feed's path /v2/<feed> is added); test mode uses the simulator.", isSecret: false),
        .init(name: "MARKET_STREAM_MAX_SYMBOLS", defaultValue: "30", summary: "Symbols the stream subscribes at most (Basic feed: 30); the rest of the union stays on REST polling.", isSecret: false),
        .init(name: "MARKET_STREAM_SILENCE_SECONDS", defaultValue: "30", summary: "A stream with no message for this long is treated as dead: reconnect, backfill by REST, poll meanwhile.", isSecret: false),
        .init(name: "MARKET_STREAM_FOLLOW_SECONDS", defaultValue: "5", summary: "How often the stream re-reads the users' symbols and (un)subscribes the difference, without reconnecting.", isSecret: false),
        .init(name: "MARKET_STREAM_REFRESH_SECONDS", defaultValue: "900", summary: "REST refresh of previous close and daily bar for the streamed symbols (trades come by the stream).", isSecret: false),
        .init(name: "MARKET_STREAM_EVALUATE_SECONDS", defaultValue: "1", summary: "A user whose symbols traded is evaluated at once, then at most once per this many seconds (0: only on the tick).", isSecret: false),
        .init(name: "MARKET_STREAM_BACKOFF_MAX_SECONDS", defaultValue: "30", summary: "Longest wait between reconnects (exponential backoff with jitter from 0.5 s).", isSecret: false),
        .init(name: "METRICS_HOST", defaultValue: "127.0.0.1", summary: "Address of the /metrics endpoint of workers and schedulers (the API serves /metrics on its own port).", isSecret: false),
        .init(name: "METRICS_PORT", defaultValue: "0", summary: "Port of that endpoint; 0 picks a free one and logs it (set one per process for Prometheus).", isSecret: false),
        .init(name: "DATABASE_URL", defaultValue: "postgres://hybridhub@127.0.0.1:54329/hybridhub", summary: "Postgres URL; a password in it is treated as a secret.", isSecret: true),
        .init(name: "DATABASE_PASSWORD_FILE", defaultValue: "", summary: "File holding the database password (preferred over a password in the URL).", isSecret: false),
        .init(name: "DATABASE_POOL_SIZE", defaultValue: "10", summary: "Connections per process.", isSecret: false),
        .init(name: "HYBRIDHUB_MIGRATIONS_DIR", defaultValue: "migrations", summary: "Folder of numbered SQL migrations.", isSecret: false),
        .init(name: "LOG_LEVEL", defaultValue: "info", summary: "trace, debug, info, notice, warning, error or critical.", isSecret: false),
    ]

    public static func doc(_ name: String) -> SettingDoc? {
        all.first { $0.name == name }
    }
}
