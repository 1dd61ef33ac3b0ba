import Foundation
import HybridStore
import Logging
import PostgresNIO
import TradingCore

/// One user's book as every stage reads it: what the guardrails judge (`state`), what exit
/// rules measure from (`held`), and the valuation the user is shown.
public struct UserBook: Sendable {
    public var state: PortfolioState
    public var held: [String: HeldPosition]
    public var valuation: PortfolioValuation
    public var positions: [StoredPosition]

    public static func empty(now: Date) -> UserBook {
        UserBook(state: .empty, held: [:], valuation: Portfolio.value([], prices: [:], previousCloses: [:], today: [:], now: now),
                 positions: [])
    }
}

/// Reads users' books in a fixed number of statements however many users: positions, their
/// high-water marks, open orders, today's fills, and the prices that value them.
public enum PortfolioReader {
    /// The books of `uids` at the trading clock's `now`; `excludingOrder` leaves one open order
    /// out (the order being re-checked just before its POST). `highs: false` skips the
    /// high-water read (only the trailing stop and the user's view need it, not the guardrails).
    public static func books(of uids: [String], now: Date, excludingOrder: UUID? = nil, highs readHighs: Bool = true,
                             on db: PostgresConnection, logger: Logger) async throws -> [String: UserBook] {
        guard !uids.isEmpty else { return [:] }
        // Open orders before positions (separate statements, READ COMMITTED): a fill committed in
        // between is then counted twice (a sell's shares reserved and gone, a buy's notional
        // open and held), never not at all, so every check errs on the safe side.
        let open = try await BookStore.openOrders(of: uids, excluding: excludingOrder, on: db, logger: logger)
        let positions = try await BookStore.positions(of: uids, on: db, logger: logger)
        let dayStart = MarketTime.startOfTradingDay(now)
        let today = try await BookStore.activity(of: uids, since: dayStart, on: db, logger: logger)
        let highs = positions.isEmpty || !readHighs ? [:] : try await BookStore.highWater(of: Array(positions.keys), asOf: now, on: db, logger: logger)
        let symbols = Set(positions.values.flatMap { $0.map(\.symbol) }).union(today.values.flatMap(\.keys)).sorted()
        let rows = symbols.isEmpty ? [] : try await SnapshotStore.latestSnapshots(symbols: symbols, asOf: now, on: db, logger: logger)
        var prices: [String: PricePoint] = [:]
        var closes: [String: Decimal] = [:]
        for row in rows {
            guard let price = row.price else { continue }
            switch row.metric {
            case .lastTrade: prices[row.symbol] = PricePoint(price: price, asOf: row.asOf)
            case .prevClose: closes[row.symbol] = price
            case .dailyBar: break
            }
        }
        var books: [String: UserBook] = [:]
        for uid in uids {
            let stored = positions[uid] ?? []
            let book = stored.map(\.position)
            let valuation = Portfolio.value(book, highWater: highs[uid] ?? [:], prices: prices, previousCloses: closes,
                                            today: today[uid] ?? [:], now: now)
            var held: [String: HeldPosition] = [:]
            for position in book where position.qty > 0 {
                guard let average = position.averageCost else { continue }
                held[position.symbol] = HeldPosition(qty: position.qty, averageCost: average, highWater: highs[uid]?[position.symbol])
            }
            let state = PortfolioState(positions: Dictionary(book.map { ($0.symbol, $0) }, uniquingKeysWith: { first, _ in first }),
                                       openOrders: open[uid] ?? [], dayPnL: valuation.dayPnL)
            books[uid] = UserBook(state: state, held: held, valuation: valuation, positions: stored)
        }
        return books
    }

    /// Marks that let the next read of these books' highs start from `now` less `lagSeconds`
    /// (prices stored late, up to that lag, are still read): for positions whose stored mark is
    /// older than a minute.
    public static func highWaterMarks(_ books: [String: UserBook], now: Date, lagSeconds: Double = 300) -> [BookStore.HighWaterMark] {
        let through = now.addingTimeInterval(-lagSeconds)
        return books.keys.sorted().flatMap { uid -> [BookStore.HighWaterMark] in
            guard let book = books[uid] else { return [] }
            return book.positions.compactMap { stored in
                guard stored.position.qty > 0, let opened = stored.position.openedAt, let high = book.held[stored.symbol]?.highWater,
                      let at = stored.highWaterAt, through.timeIntervalSince(at) > 60 else { return nil }
                return BookStore.HighWaterMark(uid: uid, symbol: stored.symbol, openedAt: opened, price: high, through: through)
            }
        }
    }

    public static func book(of uid: String, now: Date, excludingOrder: UUID? = nil, highs: Bool = true, on db: PostgresConnection,
                            logger: Logger) async throws -> UserBook {
        try await books(of: [uid], now: now, excludingOrder: excludingOrder, highs: highs, on: db, logger: logger)[uid] ?? .empty(now: now)
    }
}
