import AlpacaClient
import AlpacaModels
import Foundation
import HybridStore
import Logging
import PostgresNIO
import Synchronization
import TradingCore

/// No token in the farm's budget right now: the job snoozes (no attempt used).
public struct RateBudgetExhausted: Error, CustomStringConvertible {
    public let budget: String
    public let waitSeconds: Double
    public var description: String { "rate budget \(budget) empty; next token in \(String(format: "%.2f", waitSeconds)) s" }
}

/// One Alpaca rate budget for the whole farm (Alpaca allows about 200 REST calls a minute per
/// key, trading and market data counted apart): a token per call, taken in Postgres.
public final class RateBudget: Sendable {
    let client: PostgresClient
    let shape: RateBudgetShape
    let logger: Logger
    private let ensured = Mutex<Set<String>>([])

    public init(client: PostgresClient, shape: RateBudgetShape, logger: Logger) {
        self.client = client
        self.shape = shape
        self.logger = logger
    }

    /// The bucket's name for an API and a key: a digest of the key id, never the key.
    public static func name(api: String, keyID: String) -> String {
        "alpaca-\(api):" + SHA256.hex(Array("hybridhub/rate-budget|\(keyID)".utf8)).prefix(12)
    }

    /// Takes a token from `name`, leaving `reserve` tokens behind (0: may take the last one).
    func take(_ name: String, leaving reserve: Double = 0) async throws {
        let wait = try await client.withConnection { db -> Double? in
            if !ensured.withLock({ $0.contains(name) }) {
                try await RateBudgetStore.ensure(name, shape: shape, on: db, logger: logger)
                ensured.withLock { _ = $0.insert(name) }
            }
            return try await RateBudgetStore.take(name, leaving: reserve, on: db, logger: logger)
        }
        if let wait { throw RateBudgetExhausted(budget: name, waitSeconds: wait) }
    }

    /// The tokens a call of `priority` must leave behind: none for a submission, the shape's
    /// submission reserve for anything else.
    public func reserve(for priority: TradingCallPriority) -> Double {
        priority == .submission ? 0 : shape.submissionReserve
    }

    /// Runs `call` with a token (leaving `reserve` behind); a 429 closes the budget for its
    /// Retry-After (at least 1 s).
    func spend<T: Sendable>(_ name: String, leaving reserve: Double = 0, _ call: () async throws -> T) async throws -> T {
        try await take(name, leaving: reserve)
        do {
            return try await call()
        } catch let error as AlpacaError where error.httpStatus == 429 {
            let seconds = max(1, error.retryAfterSeconds ?? 60)
            try? await client.withConnection { try await RateBudgetStore.block(name, seconds: seconds, on: $0, logger: logger) }
            logger.warning("Alpaca rate limit hit; the farm's budget is closed", metadata: ["budget": "\(name)", "seconds": "\(seconds)"])
            throw error
        }
    }
}

/// One API's bucket of the farm's budget for one key: what each budgeted client holds, and
/// how its calls take their tokens.
struct RateBudgetBucket: Sendable {
    let budget: RateBudget
    let name: String

    init(_ budget: RateBudget, api: String, keyID: String) {
        self.budget = budget
        self.name = RateBudget.name(api: api, keyID: keyID)
    }

    /// Runs `call` with a token, leaving behind the reserve a call of `priority` must leave
    /// (none without a priority).
    func spend<T: Sendable>(at priority: TradingCallPriority? = nil, _ call: () async throws -> T) async throws -> T {
        try await budget.spend(name, leaving: priority.map { budget.reserve(for: $0) } ?? 0, call)
    }
}

/// The market-data API behind the farm's budget.
public struct BudgetedMarketData: MarketDataAPI {
    let inner: any MarketDataAPI
    let bucket: RateBudgetBucket

    public init(_ inner: any MarketDataAPI, budget: RateBudget, keyID: String) {
        self.inner = inner
        self.bucket = RateBudgetBucket(budget, api: "data", keyID: keyID)
    }

    public func snapshots(symbols: [String], feed: String) async throws -> [String: AlpacaSnapshot] {
        try await bucket.spend { try await inner.snapshots(symbols: symbols, feed: feed) }
    }
}

/// The trading API behind the farm's budget, with submissions first: a call at `.routine`
/// priority (the default: poll-order-status's polls, the pre-flight's reads) must leave the
/// budget's submission reserve (`RateBudgetShape.submissionReserve`) behind, while a call at
/// `.submission` priority may take any token. The POST is always a submission; submit-order
/// makes its lookups by `client_order_id` through `prioritized(.submission)`.
public struct BudgetedTrading: TradingAPI {
    let inner: any TradingAPI
    let bucket: RateBudgetBucket
    /// The priority of this wrapper's calls (`submit` is always `.submission`).
    public let priority: TradingCallPriority

    public init(_ inner: any TradingAPI, budget: RateBudget, keyID: String, priority: TradingCallPriority = .routine) {
        self.init(inner, bucket: RateBudgetBucket(budget, api: "trading", keyID: keyID), priority: priority)
    }

    /// The same client and budget, its calls made at `priority`.
    public func prioritized(_ priority: TradingCallPriority) -> any TradingAPI {
        BudgetedTrading(inner.prioritized(priority), bucket: bucket, priority: priority)
    }

    private init(_ inner: any TradingAPI, bucket: RateBudgetBucket, priority: TradingCallPriority) {
        self.inner = inner
        self.bucket = bucket
        self.priority = priority
    }

    public func account() async throws -> AlpacaAccount { try await bucket.spend(at: priority) { try await inner.account() } }
    public func clock() async throws -> AlpacaClock { try await bucket.spend(at: priority) { try await inner.clock() } }
    public func order(clientOrderID: String) async throws -> AlpacaOrder? {
        try await bucket.spend(at: priority) { try await inner.order(clientOrderID: clientOrderID) }
    }
    public func submit(_ order: OrderSubmission) async throws -> AlpacaOrder {
        try await bucket.spend(at: .submission) { try await inner.submit(order) }
    }
    public func orders(after: Date, limit: Int) async throws -> [AlpacaOrder] {
        try await bucket.spend(at: priority) { try await inner.orders(after: after, limit: limit) }
    }
    public func asset(symbol: String) async throws -> AlpacaAsset? {
        try await bucket.spend(at: priority) { try await inner.asset(symbol: symbol) }
    }
    public func activeAssets() async throws -> [AlpacaAsset] {
        try await bucket.spend(at: priority) { try await inner.activeAssets() }
    }
    public func position(symbol: String) async throws -> AlpacaPosition? {
        try await bucket.spend(at: priority) { try await inner.position(symbol: symbol) }
    }
    public func positions() async throws -> [AlpacaPosition] {
        try await bucket.spend(at: priority) { try await inner.positions() }
    }
}
