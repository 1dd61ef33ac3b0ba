import AlpacaModels
import Foundation
import Testing

@Suite struct AlpacaTimeTests {
    @Test(arguments: [
        (0.0, "1970-01-01T00:00:00Z"),
        (1_300_288_080.0, "2011-03-16T15:08:00Z"),
        (1_300_288_080.5, "2011-03-16T15:08:00.500000000Z"),
        (951_782_400.0, "2000-02-29T00:00:00Z"),
        (4_107_542_399.0, "2100-02-28T23:59:59Z"),
        (-1.0, "1969-12-31T23:59:59Z"),
    ])
    func formatsUTC(seconds: Double, text: String) {
        #expect(AlpacaTime.utc(Date(timeIntervalSince1970: seconds)) == text)
    }

    @Test func agreesWithTheCalendarEverywhere() {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = .gmt
        for step in 0..<2000 {
            let date = Date(timeIntervalSince1970: Double(step) * 1_234_567.0 - 1_000_000_000)
            let p = calendar.dateComponents([.year, .month, .day, .hour, .minute, .second], from: date)
            let expected = String(format: "%04d-%02d-%02dT%02d:%02d:%02dZ", p.year ?? 0, p.month ?? 0, p.day ?? 0,
                                  p.hour ?? 0, p.minute ?? 0, p.second ?? 0)
            #expect(AlpacaTime.utc(date) == expected)
            #expect(AlpacaTime.parse(expected) == date)
        }
    }

    @Test(arguments: [
        ("2011-03-16T09:30:00-04:00", 1_300_282_200.0),
        ("2011-03-16T13:30:00%2B00:00".replacingOccurrences(of: "%2B", with: "+"), 1_300_282_200.0),
        ("2011-03-16T13:30:00.250Z", 1_300_282_200.25),
        ("2011-03-16 13:30:00z", 1_300_282_200.0),
        ("2011-03-16", 1_300_233_600.0),
        ("1969-12-31T23:59:59Z", -1.0),
    ])
    func parsesRFC3339AndDates(text: String, seconds: Double) {
        #expect(AlpacaTime.parse(text) == Date(timeIntervalSince1970: seconds), "\(text)")
    }

    @Test(arguments: ["", "yesterday", "2011-13-01", "2011-03-16T25:00:00Z", "2011-03-16T13:30:00", "2011-03-16T13:30:00+0000",
                      "2011-03-16T13:30:00.Z", "2011-03-16T13:30:00Zjunk", "2011/03/16", "２０１１-03-16"])
    func refusesWhatIsNotATime(text: String) {
        #expect(AlpacaTime.parse(text) == nil, "\(text)")
    }
}
