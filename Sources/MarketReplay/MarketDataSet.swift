import Foundation
import TradingCore

/// The committed market data, loaded: minute bars and daily bars per symbol.
public struct MarketDataSet: Sendable {
    public private(set) var minutes: [String: [MinuteBar]] = [:]
    public private(set) var daily: [String: [DailyBar]] = [:]

    public init(minutes: [MinuteBar], daily: [DailyBar]) {
        self.minutes = Dictionary(grouping: minutes, by: \.symbol).mapValues { $0.sorted { $0.start < $1.start } }
        self.daily = Dictionary(grouping: daily, by: \.symbol).mapValues { $0.sorted { $0.day < $1.day } }
    }

    /// The official close of the last session before `day` ("YYYY-MM-DD").
    public func previousClose(symbol: String, before day: String) -> DailyBar? {
        daily[symbol]?.last { $0.day < day }
    }

    /// Minute bars of one Eastern trading day; `regularHoursOnly` keeps 09:30-16:00 ET.
    public func minuteBars(symbol: String, day: String, regularHoursOnly: Bool = false) -> [MinuteBar] {
        let bars = minutes[symbol, default: []].filter { $0.tradingDay == day }
        guard regularHoursOnly else { return bars }
        return bars.filter { Self.isRegularHours($0) }
    }

    public static func isRegularHours(_ bar: MinuteBar) -> Bool {
        let parts = MarketTime.calendar.dateComponents([.hour, .minute], from: bar.start)
        let minute = (parts.hour ?? 0) * 60 + (parts.minute ?? 0)
        return minute >= 9 * 60 + 30 && minute < 16 * 60
    }

    /// Loads the files committed under `directory` (the repo's `data/market`).
    public static func loadCommitted(directory: URL) throws -> MarketDataSet {
        let folder = directory.appendingPathComponent("pyalgotrade")
        func read(_ name: String) throws -> (String, String) {
            let url = folder.appendingPathComponent(name)
            return (try String(contentsOf: url, encoding: .utf8), url.path)
        }
        let (minuteText, minuteFile) = try read("nt-spy-minute-2011-03-09_17.csv")
        var daily: [DailyBar] = []
        for name in ["spy-2010-yahoofinance.csv", "spy-2011-yahoofinance.csv"] {
            let (text, file) = try read(name)
            daily += try BarParsers.yahooDaily(text, symbol: "SPY", file: file)
        }
        let minutes = try BarParsers.ninjaTraderMinutes(minuteText, symbol: "SPY", file: minuteFile)
        return MarketDataSet(minutes: minutes, daily: daily)
    }

    /// `data/market` found from HYBRIDHUB_DATA_DIR, the working directory or its parents.
    public static func locateCommittedData(environment: [String: String]) -> URL? {
        if let explicit = environment["HYBRIDHUB_DATA_DIR"], !explicit.isEmpty {
            return URL(fileURLWithPath: explicit)
        }
        var folder = URL(fileURLWithPath: FileManager.default.currentDirectoryPath)
        for _ in 0..<5 {
            let candidate = folder.appendingPathComponent("data/market")
            if FileManager.default.fileExists(atPath: candidate.appendingPathComponent("ATTRIBUTION.md").path) {
                return candidate
            }
            folder.deleteLastPathComponent()
        }
        return nil
    }
}

extension MarketDataSet {
    /// For load tests that need many symbols: `count` copies of `base`'s bars named
    /// `SYN01`, `SYN02`, …, each price scaled by `1 + n/100`. Synthetic, and named so.
    public func addingSyntheticSymbols(_ count: Int, basedOn base: String = "SPY") -> MarketDataSet {
        guard count > 0 else { return self }
        var allMinutes = minutes.values.flatMap { $0 }
        var allDaily = daily.values.flatMap { $0 }
        for n in 1...count {
            let symbol = "SYN" + (n < 10 ? "0\(n)" : "\(n)")
            let factor = 1 + Decimal(n) / 100
            allMinutes += (minutes[base] ?? []).map {
                MinuteBar(symbol: symbol, start: $0.start, open: $0.open * factor, high: $0.high * factor, low: $0.low * factor,
                          close: $0.close * factor, volume: $0.volume)
            }
            allDaily += (daily[base] ?? []).map {
                DailyBar(symbol: symbol, day: $0.day, open: $0.open * factor, high: $0.high * factor, low: $0.low * factor,
                         close: $0.close * factor, volume: $0.volume)
            }
        }
        return MarketDataSet(minutes: allMinutes, daily: allDaily)
    }
}
