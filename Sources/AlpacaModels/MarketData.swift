import Foundation

/// Alpaca Market Data v2 JSON: single-letter keys, numbers as JSON numbers, RFC 3339 times.
public struct AlpacaBar: Codable, Sendable, Equatable {
    public var t: String
    public var o: Double
    public var h: Double
    public var l: Double
    public var c: Double
    public var v: Double
    /// Trade count and VWAP: alpaca-py requires both keys (they may be null).
    public var n: Int?
    public var vw: Double?

    public init(t: String, o: Double, h: Double, l: Double, c: Double, v: Double, n: Int?, vw: Double?) {
        (self.t, self.o, self.h, self.l, self.c, self.v, self.n, self.vw) = (t, o, h, l, c, v, n, vw)
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(t, forKey: .t); try c.encode(o, forKey: .o); try c.encode(h, forKey: .h)
        try c.encode(l, forKey: .l); try c.encode(self.c, forKey: .c); try c.encode(v, forKey: .v)
        try c.encode(n, forKey: .n); try c.encode(vw, forKey: .vw)
    }
}

public struct AlpacaTrade: Codable, Sendable, Equatable {
    public var t: String
    public var x: String
    public var p: Double
    public var s: Double
    public var c: [String]
    public var i: Int64
    public var z: String

    public init(t: String, x: String, p: Double, s: Double, c: [String], i: Int64, z: String) {
        (self.t, self.x, self.p, self.s, self.c, self.i, self.z) = (t, x, p, s, c, i, z)
    }
}

public struct AlpacaQuote: Codable, Sendable, Equatable {
    public var t: String
    public var bx: String
    public var bp: Double
    public var bs: Double
    public var ax: String
    public var ap: Double
    public var `as`: Double
    public var c: [String]
    public var z: String

    public init(t: String, bx: String, bp: Double, bs: Double, ax: String, ap: Double, as askSize: Double, c: [String], z: String) {
        (self.t, self.bx, self.bp, self.bs, self.ax, self.ap, self.as, self.c, self.z) = (t, bx, bp, bs, ax, ap, askSize, c, z)
    }
}

public struct AlpacaSnapshot: Codable, Sendable, Equatable {
    public var latestTrade: AlpacaTrade?
    public var latestQuote: AlpacaQuote?
    public var minuteBar: AlpacaBar?
    public var dailyBar: AlpacaBar?
    public var prevDailyBar: AlpacaBar?

    public init(latestTrade: AlpacaTrade?, latestQuote: AlpacaQuote?, minuteBar: AlpacaBar?, dailyBar: AlpacaBar?, prevDailyBar: AlpacaBar?) {
        (self.latestTrade, self.latestQuote, self.minuteBar, self.dailyBar, self.prevDailyBar) = (latestTrade, latestQuote, minuteBar, dailyBar, prevDailyBar)
    }
}

/// RFC 3339 in UTC with nanoseconds, as Alpaca's market data writes them.
public enum AlpacaTime {
    public static func utc(_ date: Date) -> String {
        // Civil-from-days (H. Hinnant) and hand-made padding: no Calendar, no String(format:),
        // because every market-data answer formats several of these.
        let interval = date.timeIntervalSince1970
        let seconds = Int64(interval.rounded(.down))
        let nanos = min(999_999_999, max(0, Int(((interval - Double(seconds)) * 1e9).rounded())))
        let days = seconds >= 0 ? seconds / 86_400 : (seconds - 86_399) / 86_400
        let secondOfDay = Int(seconds - days * 86_400)
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let mp = (5 * dayOfYear + 2) / 153
        let day = Int(dayOfYear - (153 * mp + 2) / 5 + 1)
        let month = Int(mp < 10 ? mp + 3 : mp - 9)
        let year = Int(yearOfEra + era * 400 + (month <= 2 ? 1 : 0))
        func pad(_ value: Int, _ width: Int) -> String {
            let text = String(value)
            return text.count >= width ? text : String(repeating: "0", count: width - text.count) + text
        }
        var out = pad(year, 4) + "-" + pad(month, 2) + "-" + pad(day, 2) + "T"
        out += pad(secondOfDay / 3600, 2) + ":" + pad(secondOfDay / 60 % 60, 2) + ":" + pad(secondOfDay % 60, 2)
        return nanos == 0 ? out + "Z" : out + "." + pad(nanos, 9) + "Z"
    }

    /// RFC 3339 with the New York offset (the trading clock's style).
    public static func newYork(_ date: Date) -> String {
        var calendar = Calendar(identifier: .gregorian)
        let zone = TimeZone(identifier: "America/New_York") ?? .gmt
        calendar.timeZone = zone
        let p = calendar.dateComponents([.year, .month, .day, .hour, .minute, .second], from: date)
        let offset = zone.secondsFromGMT(for: date)
        let sign = offset < 0 ? "-" : "+"
        return String(format: "%04d-%02d-%02dT%02d:%02d:%02d%@%02d:%02d", p.year ?? 0, p.month ?? 0, p.day ?? 0,
                      p.hour ?? 0, p.minute ?? 0, p.second ?? 0, sign, abs(offset) / 3600, abs(offset) % 3600 / 60)
    }

    /// A timestamp Alpaca may leave out or send as `null` (an order's `submitted_at`): nil then.
    public static func parse(_ text: String?) -> Date? {
        text.flatMap { parse($0) }
    }

    /// Parses RFC 3339 (any offset, up to nanoseconds) or `YYYY-MM-DD` (midnight UTC).
    /// Byte by byte with civil-date arithmetic, no Calendar: every bars request parses two.
    public static func parse(_ text: String) -> Date? {
        let bytes = Array(text.utf8)
        func number(_ from: Int, _ count: Int) -> Int? {
            guard from + count <= bytes.count else { return nil }
            var value = 0
            for index in from..<(from + count) {
                let digit = bytes[index] &- UInt8(ascii: "0")
                guard digit < 10 else { return nil }
                value = value * 10 + Int(digit)
            }
            return value
        }
        func byte(_ index: Int, is expected: Unicode.Scalar) -> Bool { index < bytes.count && bytes[index] == UInt8(ascii: expected) }
        guard bytes.count >= 10, let year = number(0, 4), let month = number(5, 2), let day = number(8, 2),
              byte(4, is: "-"), byte(7, is: "-"), (1...12).contains(month), (1...31).contains(day) else { return nil }
        let midnight = Double(daysFromCivil(year: year, month: month, day: day) * 86_400)
        guard bytes.count > 10 else { return Date(timeIntervalSince1970: midnight) }
        guard byte(10, is: "T") || byte(10, is: "t") || byte(10, is: " "), let hour = number(11, 2), let minute = number(14, 2),
              let second = number(17, 2), byte(13, is: ":"), byte(16, is: ":"), hour < 24, minute < 60, second <= 60 else { return nil }
        var index = 19
        var fraction = 0.0
        if byte(index, is: ".") {
            let first = index + 1
            index = first
            while index < bytes.count, bytes[index] &- UInt8(ascii: "0") < 10 { index += 1 }
            guard index > first else { return nil }
            fraction = Double("0." + String(decoding: bytes[first..<index], as: UTF8.self)) ?? 0
        }
        var offset = 0
        if byte(index, is: "Z") || byte(index, is: "z") {
            index += 1
        } else if byte(index, is: "+") || byte(index, is: "-"), let h = number(index + 1, 2), let m = number(index + 4, 2),
                  byte(index + 3, is: ":") {
            offset = (h * 3600 + m * 60) * (byte(index, is: "-") ? -1 : 1)
            index += 6
        } else {
            return nil
        }
        guard index == bytes.count else { return nil }
        let base = Date(timeIntervalSince1970: midnight + Double(hour * 3600 + minute * 60 + second))
        return base.addingTimeInterval(fraction - Double(offset))
    }

    /// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil).
    static func daysFromCivil(year: Int, month: Int, day: Int) -> Int {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yearOfEra = y - era * 400
        let dayOfYear = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }
}
