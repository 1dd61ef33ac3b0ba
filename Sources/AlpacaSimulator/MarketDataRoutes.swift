import AlpacaModels
import Foundation
import Hummingbird
import MarketReplay
import TradingCore

extension AlpacaSimulator {
    static let feeds: Set<String> = ["iex", "sip", "delayed_sip", "boats", "overnight", "otc"]

    /// Market-data request plumbing: `api` plus the feed check and the stale-data fault.
    func data(_ request: Request, _ body: @Sendable (_ now: Date) async throws -> Response) async -> Response {
        await api(request) { _, now in
            if let feed = request.query("feed"), !Self.feeds.contains(feed) {
                throw SimulatorError(status: 400, code: 40010001, message: "invalid feed: \(feed)")
            }
            let stale = self.faults.take(method: request.method.rawValue, path: request.uri.path, kinds: [.staleData])
            return try await body(now.addingTimeInterval(-Double(stale?.staleSeconds ?? 0)))
        }
    }

    func symbols(_ request: Request) throws -> [String] {
        guard let text = request.query("symbols"), !text.isEmpty else {
            throw SimulatorError(status: 400, code: 40010001, message: "symbols is required")
        }
        return text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces).uppercased() }.filter { !$0.isEmpty }
    }

    func addMarketDataRoutes(to router: Router<BasicRequestContext>) {
        router.get("/v2/stocks/trades/latest") { request, _ in
            await self.data(request) { now in
                let trades = try self.symbols(request).reduce(into: [String: AlpacaTrade]()) { map, symbol in
                    if let trade = self.trade(symbol, now) { map[symbol] = trade }
                }
                return Self.json(["trades": trades])
            }
        }
        router.get("/v2/stocks/{symbol}/trades/latest") { request, context in
            await self.data(request) { now in
                let symbol = (context.parameters.get("symbol") ?? "").uppercased()
                guard let trade = self.trade(symbol, now) else { throw SimulatorError.notFound("no trade found for \(symbol)") }
                return Self.json(SymbolTrade(symbol: symbol, trade: trade))
            }
        }
        router.get("/v2/stocks/quotes/latest") { request, _ in
            await self.data(request) { now in
                let quotes = try self.symbols(request).reduce(into: [String: AlpacaQuote]()) { map, symbol in
                    if let quote = self.quote(symbol, now) { map[symbol] = quote }
                }
                return Self.json(["quotes": quotes])
            }
        }
        router.get("/v2/stocks/{symbol}/quotes/latest") { request, context in
            await self.data(request) { now in
                let symbol = (context.parameters.get("symbol") ?? "").uppercased()
                guard let quote = self.quote(symbol, now) else { throw SimulatorError.notFound("no quote found for \(symbol)") }
                return Self.json(SymbolQuote(symbol: symbol, quote: quote))
            }
        }
        router.get("/v2/stocks/bars/latest") { request, _ in
            await self.data(request) { now in
                let bars = try self.symbols(request).reduce(into: [String: AlpacaBar]()) { map, symbol in
                    if let bar = self.market.latestBar(symbol, at: now) { map[symbol] = Self.bar(bar) }
                }
                return Self.json(["bars": bars])
            }
        }
        router.get("/v2/stocks/snapshots") { request, _ in
            await self.data(request) { now in
                let snapshots = try self.symbols(request).reduce(into: [String: AlpacaSnapshot]()) { map, symbol in
                    if let snapshot = self.snapshot(symbol, now) { map[symbol] = snapshot }
                }
                return Self.json(snapshots)
            }
        }
        router.get("/v2/stocks/{symbol}/snapshot") { request, context in
            await self.data(request) { now in
                let symbol = (context.parameters.get("symbol") ?? "").uppercased()
                guard let snapshot = self.snapshot(symbol, now) else { throw SimulatorError.notFound("no data found for \(symbol)") }
                return Self.json(SymbolSnapshot(symbol: symbol, snapshot: snapshot))
            }
        }
        router.get("/v2/stocks/bars") { request, _ in
            await self.data(request) { now in
                let page = try self.bars(request, symbols: try self.symbols(request), now: now)
                return Self.json(BarsPage(bars: page.bars, nextPageToken: page.next))
            }
        }
        router.get("/v2/stocks/{symbol}/bars") { request, context in
            await self.data(request) { now in
                let symbol = (context.parameters.get("symbol") ?? "").uppercased()
                let page = try self.bars(request, symbols: [symbol], now: now)
                return Self.json(SymbolBarsPage(symbol: symbol, bars: page.bars[symbol] ?? [], nextPageToken: page.next))
            }
        }
    }

    // MARK: Building the answers

    func trade(_ symbol: String, _ now: Date) -> AlpacaTrade? {
        market.latestTrade(symbol, at: now).map {
            AlpacaTrade(t: AlpacaTime.utc($0.time), x: "V", p: Self.double($0.price), s: Self.double($0.size), c: ["@"], i: $0.id, z: "B")
        }
    }

    /// Not in the data: one cent either side of the last trade, stamped with it.
    func quote(_ symbol: String, _ now: Date) -> AlpacaQuote? {
        market.latestTrade(symbol, at: now).map {
            AlpacaQuote(t: AlpacaTime.utc($0.time), bx: "V", bp: Self.double($0.price - 0.01), bs: 100, ax: "V",
                        ap: Self.double($0.price + 0.01), as: 100, c: ["R"], z: "B")
        }
    }

    func snapshot(_ symbol: String, _ now: Date) -> AlpacaSnapshot? {
        guard let minute = market.latestBar(symbol, at: now) else { return nil }
        let today = market.partialDailyBar(symbol, at: now)
        let previous = market.previousDailyBar(symbol, at: now)
        return AlpacaSnapshot(latestTrade: trade(symbol, now), latestQuote: quote(symbol, now), minuteBar: Self.bar(minute),
                              dailyBar: today.flatMap { Self.bar($0) }, prevDailyBar: previous.flatMap { Self.bar($0) })
    }

    /// Via the decimal text, so 128.17 becomes the double nearest 128.17 (printed as 128.17).
    static func double(_ value: Decimal) -> Double { Double(NSDecimalNumber(decimal: value).stringValue) ?? 0 }

    static func bar(_ bar: MinuteBar) -> AlpacaBar {
        AlpacaBar(t: AlpacaTime.utc(bar.start), o: double(bar.open), h: double(bar.high), l: double(bar.low),
                  c: double(bar.close), v: double(bar.volume), n: nil, vw: nil)
    }

    static func bar(_ bar: DailyBar) -> AlpacaBar? {
        guard let midnight = ReplayMarket.midnight(bar.day) else { return nil }
        return AlpacaBar(t: AlpacaTime.utc(midnight), o: double(bar.open), h: double(bar.high), l: double(bar.low),
                         c: double(bar.close), v: double(bar.volume), n: nil, vw: nil)
    }

    /// Historical bars with Alpaca's paging: `limit` caps the total across symbols; results go
    /// symbol by symbol, then by time; the page token is an opaque offset.
    func bars(_ request: Request, symbols: [String], now: Date) throws -> (bars: [String: [AlpacaBar]], next: String?) {
        guard let timeframe = request.query("timeframe") else { throw SimulatorError(status: 400, code: 40010001, message: "timeframe is required") }
        guard let minutes = Self.timeframeMinutes(timeframe) else {
            throw SimulatorError(status: 400, code: 40010001, message: "invalid timeframe: \(timeframe)")
        }
        let limit = try request.query("limit").map { text -> Int in
            guard let value = Int(text), (1...10_000).contains(value) else {
                throw SimulatorError(status: 400, code: 40010001, message: "invalid limit: \(text)")
            }
            return value
        } ?? 1000
        // A bare date means that whole New York day (both ends are inclusive).
        let start = try request.query("start").map { text -> Date in
            if text.count == 10, let midnight = ReplayMarket.midnight(text) { return midnight }
            guard let date = AlpacaTime.parse(text) else { throw SimulatorError(status: 400, code: 40010001, message: "invalid start: \(text)") }
            return date
        } ?? MarketTime.startOfTradingDay(now)
        let end = try request.query("end").map { text -> Date in
            if text.count == 10, let midnight = ReplayMarket.midnight(text) {
                return MarketTime.startOfTradingDay(midnight.addingTimeInterval(36 * 3600)).addingTimeInterval(-0.001)
            }
            guard let date = AlpacaTime.parse(text) else { throw SimulatorError(status: 400, code: 40010001, message: "invalid end: \(text)") }
            return date
        } ?? now
        let descending = request.query("sort") == "desc"
        let offset = try request.query("page_token").map { token -> Int in
            guard let data = Data(base64Encoded: token), let text = String(data: data, encoding: .utf8),
                  text.hasPrefix("offset:"), let value = Int(text.dropFirst(7)), value >= 0 else {
                throw SimulatorError(status: 400, code: 40010001, message: "invalid page_token")
            }
            return value
        } ?? 0

        var all: [(String, AlpacaBar)] = []
        for symbol in Array(Set(symbols)).sorted() {
            var series: [AlpacaBar]
            if minutes >= 1440 {
                series = market.dailyBars(symbol, from: start, to: end, now: now).compactMap { Self.bar($0.bar) }
            } else {
                series = Self.aggregate(market.minuteBars(symbol, from: start, to: end, now: now), minutes: minutes)
            }
            if descending { series.reverse() }
            all += series.map { (symbol, $0) }
        }
        let pageItems = all.dropFirst(offset).prefix(limit)
        var bars: [String: [AlpacaBar]] = [:]
        for (symbol, bar) in pageItems { bars[symbol, default: []].append(bar) }
        let nextOffset = offset + pageItems.count
        let next = nextOffset < all.count ? Data("offset:\(nextOffset)".utf8).base64EncodedString() : nil
        return (bars, next)
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

    static func aggregate(_ bars: [MinuteBar], minutes: Int) -> [AlpacaBar] {
        guard minutes > 1 else { return bars.map { bar($0) } }
        let groups = Dictionary(grouping: bars) { Int($0.start.timeIntervalSince1970 / 60) / minutes }
        return groups.keys.sorted().compactMap { key in
            guard let group = groups[key]?.sorted(by: { $0.start < $1.start }), let first = group.first, let last = group.last else { return nil }
            return AlpacaBar(t: AlpacaTime.utc(Date(timeIntervalSince1970: Double(key * minutes * 60))), o: double(first.open),
                             h: double(group.map(\.high).max() ?? first.high), l: double(group.map(\.low).min() ?? first.low),
                             c: double(last.close), v: double(group.reduce(0) { $0 + $1.volume }), n: nil, vw: nil)
        }
    }
}

struct SymbolTrade: Encodable { let symbol: String; let trade: AlpacaTrade }
struct SymbolQuote: Encodable { let symbol: String; let quote: AlpacaQuote }

struct SymbolSnapshot: Encodable {
    let symbol: String
    let snapshot: AlpacaSnapshot
    func encode(to encoder: any Encoder) throws {
        try snapshot.encode(to: encoder)
        var container = encoder.container(keyedBy: Key.self)
        try container.encode(symbol, forKey: .symbol)
    }
    enum Key: String, CodingKey { case symbol }
}

struct BarsPage: Encodable {
    let bars: [String: [AlpacaBar]]
    let nextPageToken: String?
    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: Key.self)
        try c.encode(bars, forKey: .bars)
        try c.encode(nextPageToken, forKey: .next)
    }
    enum Key: String, CodingKey { case bars, next = "next_page_token" }
}

struct SymbolBarsPage: Encodable {
    let symbol: String
    let bars: [AlpacaBar]
    let nextPageToken: String?
    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: Key.self)
        try c.encode(symbol, forKey: .symbol)
        try c.encode(bars, forKey: .bars)
        try c.encode(nextPageToken, forKey: .next)
    }
    enum Key: String, CodingKey { case symbol, bars, next = "next_page_token" }
}
