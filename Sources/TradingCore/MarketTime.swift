import Foundation

/// US equity market time: trading days are calendar days in America/New_York.
public enum MarketTime {
    public static let eastern: TimeZone = TimeZone(identifier: "America/New_York") ?? .gmt

    public static let calendar: Calendar = {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = eastern
        return calendar
    }()

    /// The Eastern calendar date of an instant, as "YYYY-MM-DD".
    public static func tradingDay(of date: Date) -> String {
        let parts = calendar.dateComponents([.year, .month, .day], from: date)
        return String(format: "%04d-%02d-%02d", parts.year ?? 0, parts.month ?? 0, parts.day ?? 0)
    }

    /// Midnight Eastern that starts the trading day of `date`.
    public static func startOfTradingDay(_ date: Date) -> Date {
        calendar.startOfDay(for: date)
    }

    /// The instant for a wall-clock time in New York (DST applied by the time zone database).
    public static func date(year: Int, month: Int, day: Int, hour: Int = 0, minute: Int = 0, second: Int = 0) -> Date? {
        calendar.date(from: DateComponents(year: year, month: month, day: day, hour: hour, minute: minute, second: second))
    }
}
