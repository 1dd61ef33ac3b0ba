import Foundation
import TradingCore

/// One minute of trading. `start` is the bar's first instant; `end` is `start + 60 s`.
public struct MinuteBar: Sendable, Hashable {
    public var symbol: String
    public var start: Date
    public var open: Decimal
    public var high: Decimal
    public var low: Decimal
    public var close: Decimal
    public var volume: Decimal

    public init(symbol: String, start: Date, open: Decimal, high: Decimal, low: Decimal, close: Decimal, volume: Decimal) {
        (self.symbol, self.start, self.open, self.high, self.low, self.close, self.volume) = (symbol, start, open, high, low, close, volume)
    }

    public var end: Date { start.addingTimeInterval(60) }
    /// The Eastern trading day the bar belongs to.
    public var tradingDay: String { MarketTime.tradingDay(of: start) }
}

/// One session's official figures.
public struct DailyBar: Sendable, Hashable {
    public var symbol: String
    /// "YYYY-MM-DD", the Eastern trading day.
    public var day: String
    public var open: Decimal
    public var high: Decimal
    public var low: Decimal
    public var close: Decimal
    public var volume: Decimal

    public init(symbol: String, day: String, open: Decimal, high: Decimal, low: Decimal, close: Decimal, volume: Decimal) {
        (self.symbol, self.day, self.open, self.high, self.low, self.close, self.volume) = (symbol, day, open, high, low, close, volume)
    }
}

public struct MarketDataError: Error, Sendable, CustomStringConvertible {
    public let file: String
    public let line: Int
    public let message: String
    public var description: String { "\(file):\(line): \(message)" }
}

/// Parsers for the formats committed under `data/market/` (see its ATTRIBUTION.md).
public enum BarParsers {
    /// NinjaTrader export: `YYYYMMDD HHMMSS;open;high;low;close;volume`, no header, UTC,
    /// stamped at the END of the minute.
    public static func ninjaTraderMinutes(_ text: String, symbol: String, file: String) throws(MarketDataError) -> [MinuteBar] {
        var bars: [MinuteBar] = []
        for (index, line) in text.split(whereSeparator: \.isNewline).enumerated() {
            let fields = line.split(separator: ";")
            guard fields.count == 6, let end = utcStamp(fields[0]),
                  let open = decimal(fields[1]), let high = decimal(fields[2]), let low = decimal(fields[3]),
                  let close = decimal(fields[4]), let volume = decimal(fields[5]) else {
                throw MarketDataError(file: file, line: index + 1, message: "expected 'YYYYMMDD HHMMSS;o;h;l;c;v', got '\(line.prefix(60))'")
            }
            bars.append(MinuteBar(symbol: symbol, start: end.addingTimeInterval(-60), open: open, high: high,
                                  low: low, close: close, volume: volume))
        }
        return bars.sorted { $0.start < $1.start }
    }

    /// Yahoo daily CSV: `Date,Open,High,Low,Close,Volume,Adj Close`, any row order. `Close` is raw.
    public static func yahooDaily(_ text: String, symbol: String, file: String) throws(MarketDataError) -> [DailyBar] {
        var bars: [DailyBar] = []
        for (index, line) in text.split(whereSeparator: \.isNewline).enumerated() where index > 0 {
            let f = line.split(separator: ",", omittingEmptySubsequences: false)
            guard f.count >= 6, f[0].count == 10, let open = decimal(f[1]), let high = decimal(f[2]),
                  let low = decimal(f[3]), let close = decimal(f[4]), let volume = decimal(f[5]) else {
                throw MarketDataError(file: file, line: index + 1, message: "expected 'Date,Open,High,Low,Close,Volume,…', got '\(line.prefix(60))'")
            }
            bars.append(DailyBar(symbol: symbol, day: String(f[0]), open: open, high: high, low: low,
                                 close: close, volume: volume))
        }
        return bars.sorted { $0.day < $1.day }
    }

    static func decimal(_ text: Substring) -> Decimal? {
        Decimal(string: String(text), locale: Locale(identifier: "en_US_POSIX"))
    }

    static func utcStamp(_ text: Substring) -> Date? {
        let digits = text.filter(\.isNumber)
        guard digits.count == 14 else { return nil }
        let chars = Array(digits)
        func number(_ range: Range<Int>) -> Int? { Int(String(chars[range])) }
        guard let y = number(0..<4), let mo = number(4..<6), let d = number(6..<8),
              let h = number(8..<10), let mi = number(10..<12), let s = number(12..<14) else { return nil }
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = .gmt
        return calendar.date(from: DateComponents(year: y, month: mo, day: d, hour: h, minute: mi, second: s))
    }
}
