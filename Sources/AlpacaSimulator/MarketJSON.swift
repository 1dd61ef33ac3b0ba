import AlpacaModels
import Foundation
import MarketReplay
import NIOCore
import TradingCore

/// One bar's figures as Alpaca reports them. The committed data has neither a trade count nor a
/// VWAP, which the OpenAPI document requires (`n`, `vw`) and alpaca-py reads: both are
/// synthesised. `vw` is the volume-weighted typical price (high + low + close) / 3 of the
/// minutes inside the bar; `n` counts one trade per 100 shares (at least one when anything traded).
struct BarFigures: Sendable, Equatable {
    var start: Date
    var open: Decimal
    var high: Decimal
    var low: Decimal
    var close: Decimal
    var volume: Decimal
    var trades: Int
    /// Σ typical price × volume, so that merged bars keep a volume-weighted `vw`.
    var turnover: Decimal

    init(start: Date, open: Decimal, high: Decimal, low: Decimal, close: Decimal, volume: Decimal) {
        (self.start, self.open, self.high, self.low, self.close, self.volume) = (start, open, high, low, close, volume)
        trades = Self.estimatedTrades(volume)
        turnover = (high + low + close) / 3 * volume
    }

    init(_ bar: MinuteBar) {
        self.init(start: bar.start, open: bar.open, high: bar.high, low: bar.low, close: bar.close, volume: bar.volume)
    }

    init(_ bar: DailyBar, midnight: Date) {
        self.init(start: midnight, open: bar.open, high: bar.high, low: bar.low, close: bar.close, volume: bar.volume)
    }

    static func estimatedTrades(_ volume: Decimal) -> Int {
        guard volume > 0 else { return 0 }
        return max(1, NSDecimalNumber(decimal: Money.rounded(volume / 100, scale: 0)).intValue)
    }

    /// This bar followed by `later` (same interval, later start).
    func merged(with later: BarFigures) -> BarFigures {
        var bar = self
        bar.high = max(high, later.high)
        bar.low = min(low, later.low)
        bar.close = later.close
        bar.volume += later.volume
        bar.trades += later.trades
        bar.turnover += later.turnover
        return bar
    }

    var vwap: Decimal { volume > 0 ? Money.rounded(turnover / volume, scale: 6) : Money.rounded((high + low + close) / 3, scale: 6) }

    /// `{"t":…,"o":…,"h":…,"l":…,"c":…,"v":…,"n":…,"vw":…}`: every key the document requires.
    var json: [UInt8] {
        var text = #"{"t":""# + AlpacaTime.utc(start) + #"","o":"# + MarketJSON.number(open)
        text += #","h":"# + MarketJSON.number(high) + #","l":"# + MarketJSON.number(low)
        text += #","c":"# + MarketJSON.number(close) + #","v":"# + MarketJSON.number(Money.rounded(volume, scale: 0))
        text += #","n":"# + String(trades) + #","vw":"# + MarketJSON.number(vwap) + "}"
        return Array(text.utf8)
    }
}

/// Hand-written JSON for the market-data answers: the hot routes concatenate pieces prepared
/// once per bar (see `SymbolSeries`) into one buffer, with no encoder and no date formatting.
enum MarketJSON {
    /// Via the decimal text, so 128.17 becomes the double nearest 128.17 (printed as 128.17).
    static func double(_ value: Decimal) -> Double { Double(number(value)) ?? 0 }

    /// A decimal as a JSON number with its own digits ("128.17", "100").
    static func number(_ value: Decimal) -> String { NSDecimalNumber(decimal: value).stringValue }

    /// The latest trade of a minute: its closing print, stamped in its last second.
    static func trade(_ bar: MinuteBar) -> [UInt8] {
        let time = AlpacaTime.utc(bar.end.addingTimeInterval(-1))
        let id = Int64(bar.start.timeIntervalSince1970 / 60)
        return Array((#"{"t":""# + time + #"","x":"V","p":"# + number(bar.close) + #","s":100,"c":["@"],"i":"# + String(id)
            + #","z":"B"}"#).utf8)
    }

    /// Quotes are not in the data: one cent either side of the last trade, stamped with it.
    static func quote(_ bar: MinuteBar) -> [UInt8] {
        let time = AlpacaTime.utc(bar.end.addingTimeInterval(-1))
        let cent = Decimal(string: "0.01") ?? 0
        return Array((#"{"t":""# + time + #"","bx":"V","bp":"# + number(bar.close - cent) + #","bs":100,"ax":"V","ap":"#
            + number(bar.close + cent) + #","as":100,"c":["R"],"z":"B"}"#).utf8)
    }

    /// `{"latestTrade":…,"latestQuote":…,"minuteBar":…[,"dailyBar":…][,"prevDailyBar":…]}`.
    static func snapshot(trade: [UInt8], quote: [UInt8], minute: [UInt8], daily: [UInt8]?, previous: [UInt8]?) -> [UInt8] {
        var out = Array(#"{"latestTrade":"#.utf8) + trade + Array(#","latestQuote":"#.utf8) + quote
        out += Array(#","minuteBar":"#.utf8) + minute
        if let daily { out += Array(#","dailyBar":"#.utf8) + daily }
        if let previous { out += Array(#","prevDailyBar":"#.utf8) + previous }
        out.append(UInt8(ascii: "}"))
        return out
    }

    /// A JSON string literal (symbols come from the request, so they are escaped).
    static func write(string: String, to buffer: inout ByteBuffer) {
        buffer.writeInteger(UInt8(ascii: "\""))
        for byte in string.utf8 {
            switch byte {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"):
                buffer.writeInteger(UInt8(ascii: "\\"))
                buffer.writeInteger(byte)
            case 0..<0x20:
                let hex = Array("0123456789abcdef".utf8)
                buffer.writeBytes([UInt8(ascii: "\\"), UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0"),
                                   hex[Int(byte >> 4)], hex[Int(byte & 15)]])
            default:
                buffer.writeInteger(byte)
            }
        }
        buffer.writeInteger(UInt8(ascii: "\""))
    }

    /// `{"<wrapper>":{"SYM":<piece>,…}}` for the latest-trade/quote/bar maps (unknown symbols left out).
    static func map(wrapper: StaticString?, entries: [(String, [UInt8])]) -> ByteBuffer {
        var buffer = ByteBufferAllocator().buffer(capacity: entries.reduce(32) { $0 + $1.0.utf8.count + $1.1.count + 4 })
        if let wrapper {
            buffer.writeStaticString("{\"")
            buffer.writeStaticString(wrapper)
            buffer.writeStaticString("\":")
        }
        buffer.writeInteger(UInt8(ascii: "{"))
        for (index, entry) in entries.enumerated() {
            if index > 0 { buffer.writeInteger(UInt8(ascii: ",")) }
            write(string: entry.0, to: &buffer)
            buffer.writeInteger(UInt8(ascii: ":"))
            buffer.writeBytes(entry.1)
        }
        buffer.writeInteger(UInt8(ascii: "}"))
        if wrapper != nil { buffer.writeInteger(UInt8(ascii: "}")) }
        return buffer
    }

    /// `{"symbol":"SYM",<the members of piece>}` (piece is a JSON object).
    static func withSymbol(_ symbol: String, key: StaticString?, piece: [UInt8]) -> ByteBuffer {
        var buffer = ByteBufferAllocator().buffer(capacity: piece.count + symbol.utf8.count + 32)
        buffer.writeStaticString("{\"symbol\":")
        write(string: symbol, to: &buffer)
        if let key {
            buffer.writeStaticString(",\"")
            buffer.writeStaticString(key)
            buffer.writeStaticString("\":")
            buffer.writeBytes(piece)
            buffer.writeInteger(UInt8(ascii: "}"))
        } else if piece.count > 2 {
            buffer.writeInteger(UInt8(ascii: ","))
            buffer.writeBytes(piece.dropFirst())
        } else {
            buffer.writeInteger(UInt8(ascii: "}"))
        }
        return buffer
    }
}
