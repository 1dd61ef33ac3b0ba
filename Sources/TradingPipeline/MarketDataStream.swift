import AlpacaClient
import Foundation
import HybridStore
import JobEngine
import Logging
import PostgresNIO
import Synchronization
import TradingCore
import TradingJobs

/// How the farm's streams connect and behave (from `StreamSettings`; tests shorten them).
public struct StreamOptions: Sendable {
    public var feed: String
    /// `ws(s)://…/v2/<feed>` and `ws(s)://…/stream`.
    public var marketDataURL: String
    public var tradeUpdatesURL: String
    public var credentials: AlpacaCredentials
    public var maxSymbols: Int
    public var silenceSeconds: Double
    public var followSeconds: Double
    public var refreshSeconds: Double
    /// 0: the stream never triggers evaluations (the tick alone evaluates).
    public var evaluateSeconds: Double
    public var backoffMaxSeconds: Double
    public var flushMilliseconds: Int

    public init(feed: String, marketDataURL: String, tradeUpdatesURL: String, credentials: AlpacaCredentials,
                maxSymbols: Int = 30, silenceSeconds: Double = 30, followSeconds: Double = 5, refreshSeconds: Double = 900,
                evaluateSeconds: Double = 1, backoffMaxSeconds: Double = 30, flushMilliseconds: Int = 100) {
        self.feed = feed
        self.marketDataURL = marketDataURL
        self.tradeUpdatesURL = tradeUpdatesURL
        self.credentials = credentials
        self.maxSymbols = maxSymbols
        self.silenceSeconds = silenceSeconds
        self.followSeconds = followSeconds
        self.refreshSeconds = refreshSeconds
        self.evaluateSeconds = evaluateSeconds
        self.backoffMaxSeconds = backoffMaxSeconds
        self.flushMilliseconds = flushMilliseconds
    }
}

/// One connection of the market-data stream: handshake, subscription to the users' symbols
/// (followed without reconnecting), REST backfill of what the stream cannot have carried,
/// trades written as snapshot rows in batches, evaluations of the users whose symbols traded,
/// and a silence watchdog. Ends by throwing; `StreamsService` reconnects.
final class MarketDataStreamSession: Sendable {
    struct State {
        var ready = false
        var subscribed: Set<String> = []
        var plan = StreamPlan(streamed: [], usersBySymbol: [:])
        var pending: [SnapshotInsert] = []
        var lastMessage = ContinuousClock.now
        var messages: Int64 = 0
        var throttle: EvaluationThrottle
        var lastReport: ContinuousClock.Instant?
        /// Per symbol: the newest reference values (previous close, daily bar) and the last
        /// streamed price, for the trigger of stream evaluations.
        var references: [String: [Metric: Decimal]] = [:]
        var lastPrice: [String: Decimal] = [:]
    }

    static let maxPendingRows = 50_000
    let parts: StreamParts
    let options: StreamOptions
    let holderID: String
    let logger: Logger
    let state: Mutex<State>
    let started = ContinuousClock.now
    /// REST backfills run beside the stream; they end with the session.
    let backfills = Mutex<[Task<Void, Never>]>([])

    init(parts: StreamParts, options: StreamOptions, holderID: String, logger: Logger) {
        self.parts = parts
        self.options = options
        self.holderID = holderID
        self.logger = logger
        self.state = Mutex(State(throttle: EvaluationThrottle(intervalSeconds: options.evaluateSeconds)))
    }

    func run(_ channel: StreamChannel) async throws {
        defer { backfills.withLock { $0.forEach { $0.cancel() } } }
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await self.read(channel) }
            group.addTask { try await self.flushLoop() }
            group.addTask { try await self.watchdog() }
            group.addTask { try await self.follow(channel) }
            group.addTask { try await self.refreshLoop() }
            // The first task to end (the reader at a close, the watchdog at silence) ends all.
            try await group.next()
            group.cancelAll()
        }
        throw StreamError.closedByServer
    }

    /// The reader: Alpaca's greeting, auth, the first subscription and backfill, then messages.
    func read(_ channel: StreamChannel) async throws {
        var handshake = 0
        for try await frame in channel.messages() {
            state.withLock { $0.lastMessage = .now }
            for message in MarketStreamMessage.decode(frame) {
                switch message {
                case .error(let code, let text):
                    throw StreamError.refused(code: code, message: text)
                case .success("connected") where handshake == 0:
                    handshake = 1
                    try await channel.send(Self.authMessage(options.credentials))
                case .success("authenticated") where handshake == 1:
                    handshake = 2
                    try await start(channel)
                case .subscription(let trades, _, _):
                    state.withLock { $0.subscribed = Set(trades) }
                case .trade(let trade):
                    accept(trade)
                case .success, .bar, .other:
                    break
                }
            }
        }
    }

    static func authMessage(_ credentials: AlpacaCredentials) -> String {
        let object = ["action": "auth", "key": credentials.keyID.reveal(), "secret": credentials.secretKey.reveal()]
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data()
        return String(decoding: data, as: UTF8.self)
    }

    /// Authenticated: subscribe to the plan and backfill by REST what happened while no
    /// stream was there (the newest trade, the daily bar, the previous close).
    func start(_ channel: StreamChannel) async throws {
        let (plan, references) = try await loadPlan()
        state.withLock {
            $0.plan = plan
            $0.references.merge(references) { $1 }
            $0.ready = true
        }
        if !plan.streamed.isEmpty {
            try await channel.send(MarketStreamMessage.subscriptionRequest("subscribe", trades: plan.streamed))
        }
        StreamMetrics.connected(true)
        logger.notice("market-data stream subscribed", metadata: [
            "stream.feed": "\(options.feed)", "stream.symbols": "\(plan.streamed.count)",
        ])
        backfillBeside(plan.streamed, reason: "connect")
    }

    func accept(_ trade: StreamTrade) {
        guard let row = Self.row(trade, feed: options.feed) else { return }
        state.withLock { s in
            s.messages += 1
            s.pending.append(row)
            if s.pending.count > Self.maxPendingRows { s.pending.removeFirst(s.pending.count - Self.maxPendingRows) }
        }
        StreamMetrics.trade()
    }

    /// A stream trade as a `last_trade` fact, with Alpaca's fields as the raw fragment.
    static func row(_ trade: StreamTrade, feed: String) -> SnapshotInsert? {
        guard let price = SnapshotMapping.decimal(trade.price) else { return nil }
        return SnapshotInsert(
            symbol: trade.symbol, metric: .lastTrade, price: price, volume: SnapshotMapping.decimal(trade.size), asOf: trade.time,
            feed: feed, raw: .object(["source": .string("alpaca stream trade"), "t": .string(trade.timeText),
                                      "p": SnapshotMapping.number(trade.price), "s": SnapshotMapping.number(trade.size),
                                      "x": .string(trade.exchange), "i": .number(Decimal(trade.id))]))
    }

    /// Every `flushMilliseconds`: the buffered rows, the evaluations they trigger and the
    /// health report, in one transaction (rows and their follow-up jobs commit together).
    func flushLoop() async throws {
        while !Task.isCancelled {
            try await Task.sleep(for: .milliseconds(options.flushMilliseconds))
            do {
                try await flush()
            } catch let error as CancellationError {
                throw error
            } catch {
                logger.warning("market-data stream could not write; will retry", metadata: ["error": "\(error)"])
            }
        }
    }

    func flush() async throws {
        let now = ContinuousClock.now
        let (rows, ready, reportDue) = state.withLock { s -> ([SnapshotInsert], Bool, Bool) in
            defer { s.pending.removeAll(keepingCapacity: true) }
            let due = s.ready && (s.lastReport.map { now - $0 >= .seconds(1) } ?? true)
            return (s.pending, s.ready, due)
        }
        guard ready else { return }
        let clockSeconds = (now - started) / .seconds(1)
        let waitingDue = state.withLock { $0.throttle.hasDue(now: clockSeconds) }
        guard !rows.isEmpty || reportDue || waitingDue else { return }
        do {
            try await parts.client.transaction(logger: logger) { db in
                let fresh = try await SnapshotStore.insertNewSnapshots(rows, on: db, logger: logger)
                let users = state.withLock { s -> [String] in
                    let triggered = Self.trigger(fresh, state: &s)
                    // TRADING_ENABLED / TRADING_WORKER_EVAL_ENABLED off here: store trades, evaluate nothing.
                    guard options.evaluateSeconds > 0, parts.settings.tradingEnabled, parts.settings.evaluateEnabled else { return [] }
                    let touched = s.throttle.touched(triggered, now: clockSeconds)
                    return Array(Set(touched + s.throttle.due(now: clockSeconds))).sorted()
                }
                if !users.isEmpty {
                    let bucket = Int64((Date().timeIntervalSince1970 * 1000).rounded())
                    let jobs = try users.map { uid in
                        var job = try TradingJobCatalog.evaluateUser.job(EvaluateUser(firebaseUID: uid, bucket: bucket, trigger: "stream"))
                        // A price just crossed: ahead of the tick's routine evaluations in the queue.
                        job.priority = max(0, job.priority - 1)
                        return job
                    }
                    _ = try await JobStore.enqueue(jobs, on: db, logger: logger)
                    StreamMetrics.evaluations(users.count)
                }
                if reportDue {
                    let (symbols, messages) = state.withLock { ($0.plan.streamed, $0.messages) }
                    let first = state.withLock { $0.lastReport == nil }
                    try await MarketStreamStore.report(feed: options.feed, holder: holderID, symbols: symbols, messages: messages,
                                                       healthySeconds: options.silenceSeconds, newConnection: first, on: db, logger: logger)
                }
            }
            if reportDue { state.withLock { $0.lastReport = now } }
        } catch {
            // Nothing written: the rows go back (newest kept) and are tried again.
            state.withLock { s in
                s.pending = Array((rows + s.pending).suffix(Self.maxPendingRows))
            }
            throw error
        }
    }

    /// The new rows' effect on whom to evaluate: references first (a backfill brings the
    /// previous close with the newest trade), then each trade in order against the last price.
    static func trigger(_ fresh: [SnapshotInsert], state s: inout State) -> Set<String> {
        for row in fresh where row.metric != .lastTrade {
            if let price = row.price { s.references[row.symbol, default: [:]][row.metric] = price }
        }
        var users: Set<String> = []
        for row in fresh where row.metric == .lastTrade {
            guard let price = row.price else { continue }
            users.formUnion(s.plan.triggered(symbol: row.symbol, price: price, previous: s.lastPrice[row.symbol],
                                             references: s.references[row.symbol] ?? [:]))
            s.lastPrice[row.symbol] = price
        }
        return users
    }

    /// A stream that says nothing for `silenceSeconds` is dead to us, connected or not.
    func watchdog() async throws {
        while !Task.isCancelled {
            try await Task.sleep(for: .milliseconds(250))
            let (last, ready) = state.withLock { ($0.lastMessage, $0.ready) }
            let limit = ready ? options.silenceSeconds : min(options.silenceSeconds, 10)
            if ContinuousClock.now - last > .seconds(limit) {
                throw StreamError.silent(seconds: limit)
            }
        }
    }

    /// Follows the users' symbols without reconnecting: (un)subscribes the difference and
    /// backfills the symbols that are new to the stream.
    func follow(_ channel: StreamChannel) async throws {
        while !Task.isCancelled {
            try await Task.sleep(for: .seconds(options.followSeconds))
            guard state.withLock({ $0.ready }) else { continue }
            let plan: StreamPlan
            let references: [String: [Metric: Decimal]]
            do {
                (plan, references) = try await loadPlan()
            } catch {
                logger.warning("market-data stream could not read the users' symbols", metadata: ["error": "\(error)"])
                continue
            }
            let (subscribe, unsubscribe) = state.withLock { s -> ([String], [String]) in
                let changes = plan.changes(from: Set(s.plan.streamed))
                s.plan = plan
                s.references.merge(references) { $1 }
                return changes
            }
            if !unsubscribe.isEmpty {
                try await channel.send(MarketStreamMessage.subscriptionRequest("unsubscribe", trades: unsubscribe))
            }
            if !subscribe.isEmpty {
                try await channel.send(MarketStreamMessage.subscriptionRequest("subscribe", trades: subscribe))
                backfillBeside(subscribe, reason: "new symbols")
            }
            if !subscribe.isEmpty || !unsubscribe.isEmpty {
                logger.notice("market-data stream follows the users' symbols", metadata: [
                    "stream.subscribed": .string(subscribe.joined(separator: ",")),
                    "stream.unsubscribed": .string(unsubscribe.joined(separator: ",")),
                ])
            }
        }
    }

    func refreshLoop() async throws {
        while !Task.isCancelled {
            try await Task.sleep(for: .seconds(options.refreshSeconds))
            let symbols = state.withLock { $0.plan.streamed }
            await backfill(symbols, reason: "refresh")
        }
    }

    /// REST snapshots for `symbols` (batched, through the farm's rate budget) → rows in the
    /// write buffer. Retries a few times; a gap left after that is closed by the next refresh
    /// or reconnect, and meanwhile the rows' age keeps rules from firing on them.
    func backfill(_ symbols: [String], reason: String) async {
        guard !symbols.isEmpty else { return }
        let batch = max(1, parts.settings.ingestBatchSymbols)
        for start in stride(from: 0, to: symbols.count, by: batch) {
            let chunk = Array(symbols[start..<min(start + batch, symbols.count)])
            for attempt in 1...5 {
                do {
                    let snapshots = try await parts.marketData.snapshots(symbols: chunk, feed: options.feed)
                    var rows: [SnapshotInsert] = []
                    for symbol in chunk {
                        guard let snapshot = snapshots[symbol] else { continue }
                        rows += SnapshotMapping.rows(symbol: symbol, snapshot: snapshot, feed: options.feed, metrics: Set(Metric.allCases))
                    }
                    state.withLock { $0.pending += rows }
                    StreamMetrics.backfill(reason: reason)
                    logger.info("market-data stream backfilled by REST", metadata: [
                        "stream.reason": "\(reason)", "stream.symbols": "\(chunk.count)", "stream.rows": "\(rows.count)",
                    ])
                    break
                } catch {
                    let wait = (error as? RateBudgetExhausted)?.waitSeconds ?? (error as? AlpacaError)?.retryAfterSeconds ?? Double(attempt)
                    logger.warning("market-data backfill failed", metadata: ["error": "\(error)", "attempt": "\(attempt)"])
                    guard attempt < 5, (try? await Task.sleep(for: .seconds(min(wait, 30)))) != nil else { return }
                }
            }
        }
    }

    func backfillBeside(_ symbols: [String], reason: String) {
        let task = Task { await self.backfill(symbols, reason: reason) }
        backfills.withLock { $0.append(task) }
    }

    /// The plan, and the streamed symbols' newest reference rows from Postgres.
    func loadPlan() async throws -> (StreamPlan, [String: [Metric: Decimal]]) {
        try await parts.client.withConnection { db in
            let configs = try await parts.tick.enabledConfigs(on: db, logger: logger)
            let plan = StreamPlan.make(configs: configs, feed: options.feed, maxSymbols: options.maxSymbols)
            var references: [String: [Metric: Decimal]] = [:]
            for row in try await SnapshotStore.latestSnapshots(symbols: plan.streamed, feed: options.feed, on: db, logger: logger)
            where row.metric != .lastTrade {
                if let price = row.price { references[row.symbol, default: [:]][row.metric] = price }
            }
            return (plan, references)
        }
    }
}
