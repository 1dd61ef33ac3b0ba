import Foundation
import MarketReplay
import TradingCore

/// The committed market data seen from a simulated instant: what had traded by then, the
/// sessions (every day with a daily bar is a 09:30–16:00 ET session) and, per symbol, the
/// market-data answers prepared once (`SymbolSeries`).
/// Quotes are not in the data: they are synthesised one cent either side of the last trade.
public struct ReplayMarket: Sendable {
    public let data: MarketDataSet
    /// Session days ("YYYY-MM-DD"), sorted; computed once (requests read them all the time).
    public let sessionDays: [String]
    /// Per symbol, the answers of the hot market-data routes prepared once (see `SymbolSeries`).
    let series: [String: SymbolSeries]

    public init(data: MarketDataSet) {
        self.data = data
        let daily = data.daily.values.flatMap { $0.map(\.day) }
        let minutes = data.minutes.values.flatMap { $0.map(\.tradingDay) }
        sessionDays = Array(Set(daily).union(minutes)).sorted()
        var series: [String: SymbolSeries] = [:]
        for symbol in Set(data.minutes.keys).union(data.daily.keys) {
            series[symbol] = SymbolSeries(minutes: data.minutes[symbol] ?? [], daily: data.daily[symbol] ?? [])
        }
        self.series = series
    }

    public var symbols: [String] { Array(Set(data.minutes.keys).union(data.daily.keys)).sorted() }

    /// The last minute bar that had closed by `now`.
    public func latestBar(_ symbol: String, at now: Date) -> MinuteBar? {
        guard let bars = data.minutes[symbol], !bars.isEmpty else { return nil }
        var low = 0, high = bars.count
        while low < high {
            let mid = (low + high) / 2
            if bars[mid].end <= now { low = mid + 1 } else { high = mid }
        }
        return low == 0 ? nil : bars[low - 1]
    }

    /// The last trade: the closing print of the latest closed bar, stamped in its last second.
    public func latestTrade(_ symbol: String, at now: Date) -> (price: Decimal, size: Decimal, time: Date, id: Int64)? {
        guard let bar = latestBar(symbol, at: now) else { return nil }
        return (bar.close, 100, bar.end.addingTimeInterval(-1), Int64(bar.start.timeIntervalSince1970 / 60))
    }

    public func previousDailyBar(_ symbol: String, at now: Date) -> DailyBar? {
        data.previousClose(symbol: symbol, before: MarketTime.tradingDay(of: now))
    }

    // MARK: Sessions

    public func session(on day: String) -> (open: Date, close: Date)? {
        guard Self.contains(sessionDays, day), let parts = Self.ymd(day),
              let open = MarketTime.date(year: parts.0, month: parts.1, day: parts.2, hour: 9, minute: 30),
              let close = MarketTime.date(year: parts.0, month: parts.1, day: parts.2, hour: 16) else { return nil }
        return (open, close)
    }

    public func isOpen(at now: Date) -> Bool {
        guard let session = session(on: MarketTime.tradingDay(of: now)) else { return false }
        return now >= session.open && now < session.close
    }

    /// The next session open strictly after `now` (or the current one's close).
    public func nextOpen(after now: Date) -> Date? {
        sessionsFrom(now).lazy.compactMap { session(on: $0)?.open }.first { $0 > now }
    }

    public func nextClose(after now: Date) -> Date? {
        sessionsFrom(now).lazy.compactMap { session(on: $0)?.close }.first { $0 > now }
    }

    /// Session days from the one of `now` on.
    private func sessionsFrom(_ now: Date) -> ArraySlice<String> {
        let day = MarketTime.tradingDay(of: now)
        var low = 0, high = sessionDays.count
        while low < high {
            let mid = (low + high) / 2
            if sessionDays[mid] < day { low = mid + 1 } else { high = mid }
        }
        return sessionDays[low...]
    }

    static func contains(_ sorted: [String], _ day: String) -> Bool {
        var low = 0, high = sorted.count
        while low < high {
            let mid = (low + high) / 2
            if sorted[mid] < day { low = mid + 1 } else { high = mid }
        }
        return low < sorted.count && sorted[low] == day
    }

    static func ymd(_ day: String) -> (Int, Int, Int)? {
        let parts = day.split(separator: "-").compactMap { Int($0) }
        return parts.count == 3 ? (parts[0], parts[1], parts[2]) : nil
    }

    /// Midnight New York of a day, as Alpaca stamps daily bars.
    static func midnight(_ day: String) -> Date? {
        ymd(day).flatMap { MarketTime.date(year: $0.0, month: $0.1, day: $0.2) }
    }
}
