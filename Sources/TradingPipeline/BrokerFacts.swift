import AlpacaClient
import AlpacaModels
import Foundation
import Logging
import Synchronization
import TradingCore

/// The broker's facts for the pre-flight, cached in the process so that a market move that
/// fires a thousand users' rules costs a handful of Alpaca calls, not three per question. The
/// account (one Alpaca account trades for the whole farm) and positions live
/// `accountSeconds`; the market clock a minute, never past its next open or close; assets come
/// as one list of every active US equity, kept an hour (a symbol not in it is asked for alone,
/// and kept a minute). Concurrent misses share one call. A stale fact can only make the broker
/// refuse later, which the order path handles.
final class BrokerFactsCache: Sendable {
    struct Fact: Sendable {
        var fetch: Task<any Sendable, any Error>
        /// nil while the call is in flight.
        var expires: ContinuousClock.Instant?
    }

    let accountSeconds: Double
    let referenceSeconds: Double
    let assetListSeconds: Double
    let logger: Logger
    private let facts = Mutex<[String: Fact]>([:])

    init(accountSeconds: Double, referenceSeconds: Double = 60, assetListSeconds: Double = 3600, logger: Logger) {
        self.accountSeconds = accountSeconds
        self.referenceSeconds = referenceSeconds
        self.assetListSeconds = assetListSeconds
        self.logger = logger
    }

    func facts(for proposal: OrderProposal, trading: any TradingAPI, now: Date) async throws -> BrokerFacts {
        let symbol = proposal.symbol
        let asset = try await asset(symbol, trading: trading)
        let account = try await cached("account", seconds: accountSeconds) { try await trading.account() }
        let position = proposal.side == .sell
            ? try await cached("position:" + symbol, seconds: accountSeconds) { try await trading.position(symbol: symbol) } : nil
        let clock = try await marketClock(trading: trading, now: now)
        let fractional = proposal.notionalUSD != nil || proposal.qty.map { $0 != Money.rounded($0, scale: 0) } == true
        // Alpaca spends non-marginable buying power on notional and fractional orders. An
        // account without the figure (the document lets Alpaca leave it out) counts as having
        // none, as an unreadable one always did: the pre-flight proposes nothing it cannot cover.
        let power = fractional ? account.nonMarginableBuyingPower : account.buyingPower
        return BrokerFacts(
            asset: asset.map { .init(symbol: $0.symbol, active: $0.status == "active", tradable: $0.tradable, fractionable: $0.fractionable) },
            buyingPower: power.flatMap { Decimal(string: $0) } ?? 0, positionQty: max(0, position.flatMap { Decimal(string: $0.qty) } ?? 0),
            marketOpen: clock.isOpen, nextOpen: AlpacaTime.parse(clock.nextOpen))
    }

    func asset(_ symbol: String, trading: any TradingAPI) async throws -> AlpacaAsset? {
        if assetListSeconds > 0 {
            do {
                let active = try await cached("assets", seconds: assetListSeconds) {
                    Dictionary(try await trading.activeAssets().map { ($0.symbol, $0) }, uniquingKeysWith: { first, _ in first })
                }
                if let asset = active[symbol] { return asset }
            } catch let error as RateBudgetExhausted {
                throw error
            } catch {
                logger.warning("the list of active assets could not be read; asking for the symbol alone", metadata: ["error": "\(error)"])
            }
        }
        return try await cached("asset:" + symbol, seconds: referenceSeconds) { try await trading.asset(symbol: symbol) }
    }

    /// The clock, re-read after a minute or as soon as the trading clock passes its next
    /// open or close (a replay runs the market faster than the wall clock).
    func marketClock(trading: any TradingAPI, now: Date) async throws -> AlpacaClock {
        let clock = try await cached("clock", seconds: referenceSeconds) { try await trading.clock() }
        let boundary = AlpacaTime.parse(clock.isOpen ? clock.nextClose : clock.nextOpen)
        guard let boundary, now >= boundary else { return clock }
        forget("clock")
        return try await cached("clock", seconds: referenceSeconds) { try await trading.clock() }
    }

    func forget(_ key: String) {
        _ = facts.withLock { $0.removeValue(forKey: key) }
    }

    /// The cached value of `key`, or one call shared by every caller that misses meanwhile.
    /// A failed call is not cached.
    private func cached<Value: Sendable>(_ key: String, seconds: Double,
                                         fetch: @escaping @Sendable () async throws -> Value) async throws -> Value {
        guard seconds > 0 else { return try await fetch() }
        let task = facts.withLock { facts -> Task<any Sendable, any Error> in
            if let fact = facts[key], fact.expires.map({ $0 > .now }) ?? true { return fact.fetch }
            let task = Task<any Sendable, any Error> { try await fetch() }
            facts[key] = Fact(fetch: task, expires: nil)
            return task
        }
        do {
            let value = try await task.value
            facts.withLock { facts in
                if facts[key]?.fetch == task, facts[key]?.expires == nil { facts[key]?.expires = .now + .seconds(seconds) }
            }
            guard let typed = value as? Value else { throw CacheTypeMismatch(key: key) }
            return typed
        } catch {
            facts.withLock { facts in
                if facts[key]?.fetch == task { facts[key] = nil }
            }
            throw error
        }
    }

    struct CacheTypeMismatch: Error, CustomStringConvertible {
        let key: String
        var description: String { "broker facts cache: \(key) holds another type" }
    }
}
