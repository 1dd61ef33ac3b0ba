import AlpacaClient
import AlpacaModels
import Foundation
import Logging
import Synchronization
import TradingCore

/// The broker's facts for the pre-flight, cached in the process so that a market move that
/// fires a thousand users' rules costs a handful of Alpaca calls, not three per question. The
/// account (one Alpaca account trades for the whole farm) and positions live
/// `accountSeconds`; assets and the market clock a minute, the clock never past its next open
/// or close. A stale fact can only make the broker refuse later, which the order path handles.
final class BrokerFactsCache: Sendable {
    struct Entry<Value: Sendable>: Sendable {
        var value: Value
        var expires: ContinuousClock.Instant
        /// For the clock: the trading-clock instant at which it stops being true.
        var validUntil: Date?
    }

    struct State {
        var account: Entry<AlpacaAccount>?
        var clock: Entry<AlpacaClock>?
        var assets: [String: Entry<AlpacaAsset?>] = [:]
        var positions: [String: Entry<AlpacaPosition?>] = [:]
    }

    let accountSeconds: Double
    let referenceSeconds: Double
    private let state = Mutex(State())

    init(accountSeconds: Double, referenceSeconds: Double = 60) {
        self.accountSeconds = accountSeconds
        self.referenceSeconds = referenceSeconds
    }

    func facts(for proposal: OrderProposal, trading: any TradingAPI, now: Date) async throws -> BrokerFacts {
        let symbol = proposal.symbol
        let asset = try await cached(\.assets[symbol], seconds: referenceSeconds) { try await trading.asset(symbol: symbol) }
        let account = try await cached(\.account, seconds: accountSeconds) { try await trading.account() }
        let position = proposal.side == .sell
            ? try await cached(\.positions[symbol], seconds: accountSeconds) { try await trading.position(symbol: symbol) } : nil
        let clock = try await marketClock(trading: trading, now: now)
        let fractional = proposal.notionalUSD != nil || proposal.qty.map { $0 != Money.rounded($0, scale: 0) } == true
        // Alpaca spends non-marginable buying power on notional and fractional orders.
        let power = fractional ? account.nonMarginableBuyingPower : account.buyingPower
        return BrokerFacts(
            asset: asset.map { .init(symbol: $0.symbol, active: $0.status == "active", tradable: $0.tradable, fractionable: $0.fractionable) },
            buyingPower: Decimal(string: power) ?? 0, positionQty: max(0, position.flatMap { Decimal(string: $0.qty) } ?? 0),
            marketOpen: clock.isOpen, nextOpen: AlpacaTime.parse(clock.nextOpen))
    }

    /// The clock, re-read after a minute or as soon as the trading clock passes its next
    /// open or close (a replay runs the market faster than the wall clock).
    func marketClock(trading: any TradingAPI, now: Date) async throws -> AlpacaClock {
        let hit = state.withLock { s -> AlpacaClock? in
            guard let entry = s.clock, entry.expires > .now, entry.validUntil.map({ now < $0 }) ?? true else { return nil }
            return entry.value
        }
        if let hit { return hit }
        let clock = try await trading.clock()
        let boundary = AlpacaTime.parse(clock.isOpen ? clock.nextClose : clock.nextOpen)
        state.withLock { $0.clock = Entry(value: clock, expires: .now + .seconds(referenceSeconds), validUntil: boundary) }
        return clock
    }

    private func cached<Value: Sendable>(_ path: WritableKeyPath<State, Entry<Value>?> & Sendable, seconds: Double,
                                         fetch: () async throws -> Value) async throws -> Value {
        if seconds > 0, let hit = state.withLock({ s in s[keyPath: path].flatMap { $0.expires > .now ? $0.value : nil } }) {
            return hit
        }
        let value = try await fetch()
        if seconds > 0 { state.withLock { $0[keyPath: path] = Entry(value: value, expires: .now + .seconds(seconds)) } }
        return value
    }
}
