import AlpacaModels
import Foundation
import NIOCore
import TradingCore

/// One page of historical bars: each symbol's series (JSON pieces in time order), the window
/// of the concatenation that this page shows, and the token of the next page.
struct BarsPage {
    /// A symbol's bars as JSON pieces, in time order (a struct, not a tuple: tuple metadata
    /// lookups showed up in profiles).
    struct Series {
        var symbol: String
        var pieces: ArraySlice<[UInt8]>
    }

    var series: [Series]
    var offset: Int
    var limit: Int
    var descending: Bool

    var total: Int { series.reduce(0) { $0 + $1.pieces.count } }

    var nextPageToken: String? {
        let next = offset + limit
        return next < total ? Data("offset:\(next)".utf8).base64EncodedString() : nil
    }

    /// `{"bars":{"SYM":[…]},"next_page_token":…}`, or with `single`
    /// `{"symbol":"SYM","bars":[…],"next_page_token":…}`. Symbols with nothing on this page are left out.
    func json(single: String?) -> ByteBuffer {
        var windows: [Series] = []
        var base = 0
        for entry in series {
            let pieces = entry.pieces
            let lower = max(offset, base) - base, upper = min(offset + limit, base + pieces.count) - base
            base += pieces.count
            guard lower < upper else { continue }
            windows.append(Series(symbol: entry.symbol, pieces: descending
                ? pieces[(pieces.endIndex - upper)..<(pieces.endIndex - lower)]
                : pieces[(pieces.startIndex + lower)..<(pieces.startIndex + upper)]))
        }
        var size = 64
        for window in windows {
            size += window.symbol.utf8.count + 8
            for piece in window.pieces { size += piece.count + 1 }
        }
        var buffer = ByteBufferAllocator().buffer(capacity: size)
        func writeArray(_ pieces: ArraySlice<[UInt8]>) {
            buffer.writeInteger(UInt8(ascii: "["))
            if descending {
                for index in pieces.indices.reversed() {
                    if index != pieces.endIndex - 1 { buffer.writeInteger(UInt8(ascii: ",")) }
                    buffer.writeBytes(pieces[index])
                }
            } else {
                for index in pieces.indices {
                    if index != pieces.startIndex { buffer.writeInteger(UInt8(ascii: ",")) }
                    buffer.writeBytes(pieces[index])
                }
            }
            buffer.writeInteger(UInt8(ascii: "]"))
        }
        if let single {
            buffer.writeStaticString("{\"symbol\":")
            MarketJSON.write(string: single, to: &buffer)
            buffer.writeStaticString(",\"bars\":")
            writeArray(windows.first?.pieces ?? [])
        } else {
            buffer.writeStaticString("{\"bars\":{")
            for (index, window) in windows.enumerated() {
                if index > 0 { buffer.writeInteger(UInt8(ascii: ",")) }
                MarketJSON.write(string: window.symbol, to: &buffer)
                buffer.writeInteger(UInt8(ascii: ":"))
                writeArray(window.pieces)
            }
            buffer.writeInteger(UInt8(ascii: "}"))
        }
        buffer.writeStaticString(",\"next_page_token\":")
        if let token = nextPageToken { MarketJSON.write(string: token, to: &buffer) } else { buffer.writeStaticString("null") }
        buffer.writeInteger(UInt8(ascii: "}"))
        return buffer
    }
}

extension AlpacaSimulator {
    /// Historical bars with Alpaca's paging: `limit` caps the total across symbols; results go
    /// symbol by symbol, then by time; the page token is an opaque offset.
    func barsPage(_ query: Query, symbols: [String], now: Date) throws -> BarsPage {
        guard let timeframe = query.value("timeframe") else { throw SimulatorError(status: 400, code: 40010001, message: "timeframe is required") }
        guard let minutes = Self.timeframeMinutes(timeframe) else {
            throw SimulatorError(status: 400, code: 40010001, message: "invalid timeframe: \(timeframe)")
        }
        let limit = try query.value("limit").map { text -> Int in
            guard let value = Int(text), (1...10_000).contains(value) else {
                throw SimulatorError(status: 400, code: 40010001, message: "invalid limit: \(text)")
            }
            return value
        } ?? 1000
        // A bare date means that whole New York day (both ends are inclusive).
        let start = try query.value("start").map { text -> Date in
            if text.count == 10, let midnight = ReplayMarket.midnight(text) { return midnight }
            guard let date = AlpacaTime.parse(text) else { throw SimulatorError(status: 400, code: 40010001, message: "invalid start: \(text)") }
            return date
        } ?? MarketTime.startOfTradingDay(now)
        let end = try query.value("end").map { text -> Date in
            if text.count == 10, let midnight = ReplayMarket.midnight(text) {
                return MarketTime.startOfTradingDay(midnight.addingTimeInterval(36 * 3600)).addingTimeInterval(-0.001)
            }
            guard let date = AlpacaTime.parse(text) else { throw SimulatorError(status: 400, code: 40010001, message: "invalid end: \(text)") }
            return date
        } ?? now
        if let sort = query.value("sort"), sort != "asc" && sort != "desc" {
            throw SimulatorError(status: 400, code: 40010001, message: "invalid sort: \(sort)")
        }
        let offset = try query.value("page_token").map { token -> Int in
            guard let data = Data(base64Encoded: token), let text = String(data: data, encoding: .utf8),
                  text.hasPrefix("offset:"), let value = Int(text.dropFirst(7)), value >= 0 else {
                throw SimulatorError(status: 400, code: 40010001, message: "invalid page_token")
            }
            return value
        } ?? 0
        let today = minutes >= 1440 ? MarketTime.tradingDay(of: now) : ""
        var series: [BarsPage.Series] = []
        for symbol in symbols.sorted() {
            guard let data = market.series[symbol] else { continue }
            let pieces: ArraySlice<[UInt8]>
            if minutes >= 1440 {
                var daily = Array(data.dailyJSON[data.dailyRange(from: start, to: end, before: today)])
                if let index = data.latestIndex(at: now), data.sameDay(index, now), let partial = data.partialDaily[index],
                   partial.start >= start, partial.start <= end, let json = data.partialDailyJSON[index] {
                    daily.append(json)
                }
                pieces = daily[...]
            } else if minutes == 1 {
                pieces = data.minuteJSON[data.minuteRange(from: start, to: end, now: now)]
            } else {
                pieces = Self.aggregate(data.minutes[data.minuteRange(from: start, to: end, now: now)], minutes: minutes).map(\.json)[...]
            }
            if !pieces.isEmpty { series.append(BarsPage.Series(symbol: symbol, pieces: pieces)) }
        }
        return BarsPage(series: series, offset: offset, limit: limit, descending: query.value("sort") == "desc")
    }

    /// "1Min", "5T", "1Hour", "2H", "1Day", "1D" → minutes (a day is 1440).
    static func timeframeMinutes(_ text: String) -> Int? {
        let digits = text.prefix { $0.isNumber }
        guard let n = Int(digits), n >= 1 else { return nil }
        switch text.dropFirst(digits.count) {
        case "Min", "T": return n <= 59 ? n : nil
        case "Hour", "H": return n <= 23 ? n * 60 : nil
        case "Day", "D": return n == 1 ? 1440 : nil
        default: return nil
        }
    }

    /// Minute bars (in time order) merged into bars of `minutes`, aligned on multiples of it.
    static func aggregate(_ bars: ArraySlice<BarFigures>, minutes: Int) -> [BarFigures] {
        var result: [BarFigures] = []
        var currentKey: Int?
        for bar in bars {
            let key = Int(bar.start.timeIntervalSince1970 / 60) / minutes
            if key == currentKey, let last = result.last {
                result[result.count - 1] = last.merged(with: bar)
            } else {
                var first = bar
                first.start = Date(timeIntervalSince1970: Double(key * minutes * 60))
                result.append(first)
                currentKey = key
            }
        }
        return result
    }
}
