import Foundation
import MarketReplay
import TradingCore

/// One symbol's replayed data prepared once, at start-up, for the hot market-data routes: for
/// every minute bar the JSON of the bar, of the trade and quote it implies, and of the whole
/// snapshot while the simulated now lies in that bar's trading day after it closed; daily bars
/// likewise. A request then costs a binary search and a copy (no Calendar, no date formatting,
/// no encoder). Only the rare cases (a now outside any replayed day, bars of N minutes) are
/// computed per request.
struct SymbolSeries: Sendable {
    /// Minute bar starts (seconds since 1970), sorted.
    let minuteStarts: [Double]
    let minutes: [BarFigures]
    let minuteJSON: [[UInt8]]
    let tradeJSON: [[UInt8]]
    let quoteJSON: [[UInt8]]
    /// The snapshot while now is after minute i closed and before its trading day ends.
    let snapshotJSON: [[UInt8]]
    /// Per minute: the end (next New York midnight) of its trading day, seconds since 1970.
    let dayEnds: [Double]
    /// Per minute: the day's regular-session bar so far (nil before 09:30), as figures and JSON.
    let partialDaily: [BarFigures?]
    let partialDailyJSON: [[UInt8]?]
    /// Daily bars: New York midnight (seconds since 1970), day, figures and JSON, sorted.
    let dailyStarts: [Double]
    let dailyDays: [String]
    let dailyJSON: [[UInt8]]

    init(minutes bars: [MinuteBar], daily: [DailyBar]) {
        let sorted = bars.sorted { $0.start < $1.start }
        minuteStarts = sorted.map(\.start.timeIntervalSince1970)
        minutes = sorted.map(BarFigures.init)
        minuteJSON = minutes.map(\.json)
        tradeJSON = sorted.map(MarketJSON.trade)
        quoteJSON = sorted.map(MarketJSON.quote)

        let dailySorted = daily.sorted { $0.day < $1.day }.compactMap { bar in ReplayMarket.midnight(bar.day).map { (bar, $0) } }
        dailyStarts = dailySorted.map(\.1.timeIntervalSince1970)
        dailyDays = dailySorted.map(\.0.day)
        dailyJSON = dailySorted.map { BarFigures($0.0, midnight: $0.1).json }

        var dayEnds: [Double] = []
        var partial: [BarFigures?] = []
        var dayOfPrevious = ""
        var dayEnd = 0.0
        var running: BarFigures?
        for bar in sorted {
            let day = bar.tradingDay
            if day != dayOfPrevious {
                dayOfPrevious = day
                running = nil
                let midnight = ReplayMarket.midnight(day) ?? MarketTime.startOfTradingDay(bar.start)
                dayEnd = MarketTime.startOfTradingDay(midnight.addingTimeInterval(36 * 3600)).timeIntervalSince1970
            }
            if MarketDataSet.isRegularHours(bar) {
                let figures = BarFigures(start: ReplayMarket.midnight(day) ?? bar.start, open: bar.open, high: bar.high,
                                         low: bar.low, close: bar.close, volume: bar.volume)
                running = running.map { $0.merged(with: figures) } ?? figures
            }
            dayEnds.append(dayEnd)
            partial.append(running)
        }
        self.dayEnds = dayEnds
        partialDaily = partial
        partialDailyJSON = partial.map { $0?.json }

        var snapshots: [[UInt8]] = []
        snapshots.reserveCapacity(sorted.count)
        for (index, bar) in sorted.enumerated() {
            var previous: [UInt8]?
            if let daily = Self.lastIndex(in: dailyDays, below: bar.tradingDay) { previous = dailyJSON[daily] }
            snapshots.append(MarketJSON.snapshot(trade: tradeJSON[index], quote: quoteJSON[index], minute: minuteJSON[index],
                                                 daily: partialDailyJSON[index], previous: previous))
        }
        snapshotJSON = snapshots
    }

    /// The last minute that had closed by `now` (its start is at least 60 s before).
    func latestIndex(at now: Date) -> Int? {
        let index = Self.upperBound(minuteStarts, now.timeIntervalSince1970 - 60)
        return index == 0 ? nil : index - 1
    }

    /// Whether `now` still lies in the trading day of minute `index`.
    func sameDay(_ index: Int, _ now: Date) -> Bool { now.timeIntervalSince1970 < dayEnds[index] }

    /// Minutes starting in [start, end] that had closed by `now`.
    func minuteRange(from start: Date, to end: Date, now: Date) -> Range<Int> {
        let lower = Self.lowerBound(minuteStarts, start.timeIntervalSince1970)
        let upper = Self.upperBound(minuteStarts, min(end.timeIntervalSince1970, now.timeIntervalSince1970 - 60))
        return lower..<max(lower, upper)
    }

    /// Daily bars stamped in [start, end] of days before `today`.
    func dailyRange(from start: Date, to end: Date, before today: String) -> Range<Int> {
        let lower = Self.lowerBound(dailyStarts, start.timeIntervalSince1970)
        let upper = min(Self.upperBound(dailyStarts, end.timeIntervalSince1970), Self.lowerBound(dailyDays, today))
        return lower..<max(lower, upper)
    }

    static func lastIndex(in days: [String], below day: String) -> Int? {
        let index = lowerBound(days, day)
        return index == 0 ? nil : index - 1
    }

    /// First index whose value is >= `value`.
    static func lowerBound<T: Comparable>(_ values: [T], _ value: T) -> Int {
        var low = 0, high = values.count
        while low < high {
            let mid = (low + high) / 2
            if values[mid] < value { low = mid + 1 } else { high = mid }
        }
        return low
    }

    /// First index whose value is > `value`.
    static func upperBound<T: Comparable>(_ values: [T], _ value: T) -> Int {
        var low = 0, high = values.count
        while low < high {
            let mid = (low + high) / 2
            if values[mid] <= value { low = mid + 1 } else { high = mid }
        }
        return low
    }
}
