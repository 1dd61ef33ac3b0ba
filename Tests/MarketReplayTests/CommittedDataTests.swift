import Foundation
import Testing
@testable import MarketReplay
import TradingCore

@Suite struct CommittedDataTests {
    static let dataDirectory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("data/market")

    @Test func loadsTheCommittedFilesWithoutShared() throws {
        #expect(!Self.dataDirectory.path.contains("/shared/"))
        let data = try MarketDataSet.loadCommitted(directory: Self.dataDirectory)
        #expect(data.minutes["SPY"]?.count == 5678)
        #expect(data.daily["SPY"]?.count == 504)
    }

    @Test func march16MatchesTheProvenanceNotes() throws {
        let data = try MarketDataSet.loadCommitted(directory: Self.dataDirectory)
        #expect(data.previousClose(symbol: "SPY", before: "2011-03-16")?.close == Decimal(string: "128.56"))
        #expect(data.previousClose(symbol: "SPY", before: "2011-03-14")?.day == "2011-03-11")
        let session = data.minuteBars(symbol: "SPY", day: "2011-03-16", regularHoursOnly: true)
        #expect(session.count == 390)
        // The 09:31 bar's open is the day's official open; the low is 125.28 in the bar ending 14:21 ET.
        #expect(session.first?.open == Decimal(string: "128.15"))
        let low = try #require(session.min { $0.low < $1.low })
        #expect(low.low == Decimal(string: "125.28"))
        #expect(MarketTime.calendar.dateComponents([.hour, .minute], from: low.end) == DateComponents(hour: 14, minute: 21))
        // First bar whose low is at or below -1.5 % ends at 11:08 ET.
        let trigger = try #require(Decimal(string: "128.56")) * (try #require(Decimal(string: "0.985")))
        let first = try #require(session.first { $0.low <= trigger })
        #expect(MarketTime.calendar.dateComponents([.hour, .minute], from: first.end) == DateComponents(hour: 11, minute: 8))
    }

    @Test func parsersNameFileAndLineOnBadInput() {
        #expect(throws: MarketDataError.self) {
            try BarParsers.ninjaTraderMinutes("20110316 150800;1;2;3;4;5\nnot a bar\n", symbol: "SPY", file: "f.csv")
        }
        do {
            _ = try BarParsers.yahooDaily("Date,Open,High,Low,Close,Volume\n2011-03-16,x,1,1,1,1\n", symbol: "SPY", file: "d.csv")
            Issue.record("accepted a bad row")
        } catch {
            #expect(error.description.hasPrefix("d.csv:2: "))
        }
    }

    @Test func ninjaTraderStampsAreBarEndsInUTC() throws {
        let bars = try BarParsers.ninjaTraderMinutes("20110316 150800;126.85;127.02;126.51;126.79;4461643", symbol: "SPY", file: "x")
        let bar = try #require(bars.first)
        #expect(bar.end == Date(timeIntervalSince1970: 1_300_288_080))
        #expect(bar.start == bar.end.addingTimeInterval(-60))
    }
}
