import Foundation
import Hummingbird
import HummingbirdCore
import MarketReplay
import NIOCore
/// A request's query, parsed (and percent-decoded) once.
typealias Query = FlatDictionary<Substring, Substring>

extension Query {
    func value(_ name: String) -> String? { self[Substring(name)].map(String.init) }
}

extension AlpacaSimulator {
    static let feeds: Set<String> = ["iex", "sip", "delayed_sip", "boats", "overnight", "otc"]

    /// Market-data request plumbing: `api` plus the query, the feed check and the stale-data fault.
    func data(_ request: Request, _ body: @Sendable (_ now: Date, _ query: Query) async throws -> Response) async -> Response {
        await api(request) { _, now in
            let query = request.uri.queryParameters
            if let feed = query.value("feed"), !Self.feeds.contains(feed) {
                throw SimulatorError(status: 400, code: 40010001, message: "invalid feed: \(feed)")
            }
            let stale = self.faults.isEmpty ? nil : self.faults.take(method: request.method.rawValue, path: request.uri.path, kinds: [.staleData])
            return try await body(stale.map { now.addingTimeInterval(-Double($0.staleSeconds ?? 0)) } ?? now, query)
        }
    }

    /// `symbols=A,B`: upper-cased, blanks dropped, duplicates dropped, in the request's order.
    func symbols(_ query: Query) throws -> [String] {
        guard let text = query[Substring("symbols")], !text.isEmpty else {
            throw SimulatorError(status: 400, code: 40010001, message: "symbols is required")
        }
        var symbols: [String] = []
        for part in text.split(separator: ",") {
            // Plain upper-case symbols (the usual case) are taken as they are.
            let plain = part.utf8.allSatisfy { (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains($0) || $0 == UInt8(ascii: ".") }
            let symbol = plain ? String(part) : part.trimmingCharacters(in: .whitespaces).uppercased()
            if !symbol.isEmpty && !symbols.contains(symbol) { symbols.append(symbol) }
        }
        return symbols
    }

    static func jsonBody(_ buffer: ByteBuffer) -> Response {
        Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: buffer))
    }

    func addMarketDataRoutes(to router: Router<BasicRequestContext>) {
        router.get("/v2/stocks/trades/latest") { request, _ in
            await self.data(request) { now, query in
                Self.jsonBody(MarketJSON.map(wrapper: "trades", entries: try self.latest(query, now) { $0.tradeJSON[$1] }))
            }
        }
        router.get("/v2/stocks/quotes/latest") { request, _ in
            await self.data(request) { now, query in
                Self.jsonBody(MarketJSON.map(wrapper: "quotes", entries: try self.latest(query, now) { $0.quoteJSON[$1] }))
            }
        }
        router.get("/v2/stocks/bars/latest") { request, _ in
            await self.data(request) { now, query in
                Self.jsonBody(MarketJSON.map(wrapper: "bars", entries: try self.latest(query, now) { $0.minuteJSON[$1] }))
            }
        }
        router.get("/v2/stocks/snapshots") { request, _ in
            await self.data(request) { now, query in
                let entries = try self.symbols(query).compactMap { symbol in self.snapshot(symbol, now).map { (symbol, $0) } }
                return Self.jsonBody(MarketJSON.map(wrapper: nil, entries: entries))
            }
        }
        router.get("/v2/stocks/{symbol}/trades/latest") { request, context in
            await self.data(request) { now, _ in
                let symbol = (context.parameters.get("symbol") ?? "").uppercased()
                guard let series = self.market.series[symbol], let index = series.latestIndex(at: now) else {
                    throw SimulatorError.noData("trade", symbol)
                }
                return Self.jsonBody(MarketJSON.withSymbol(symbol, key: "trade", piece: series.tradeJSON[index]))
            }
        }
        router.get("/v2/stocks/{symbol}/quotes/latest") { request, context in
            await self.data(request) { now, _ in
                let symbol = (context.parameters.get("symbol") ?? "").uppercased()
                guard let series = self.market.series[symbol], let index = series.latestIndex(at: now) else {
                    throw SimulatorError.noData("quote", symbol)
                }
                return Self.jsonBody(MarketJSON.withSymbol(symbol, key: "quote", piece: series.quoteJSON[index]))
            }
        }
        router.get("/v2/stocks/{symbol}/bars/latest") { request, context in
            await self.data(request) { now, _ in
                let symbol = (context.parameters.get("symbol") ?? "").uppercased()
                guard let series = self.market.series[symbol], let index = series.latestIndex(at: now) else {
                    throw SimulatorError.noData("bar", symbol)
                }
                return Self.jsonBody(MarketJSON.withSymbol(symbol, key: "bar", piece: series.minuteJSON[index]))
            }
        }
        router.get("/v2/stocks/{symbol}/snapshot") { request, context in
            await self.data(request) { now, _ in
                let symbol = (context.parameters.get("symbol") ?? "").uppercased()
                guard let snapshot = self.snapshot(symbol, now) else { throw SimulatorError.noData("data", symbol) }
                return Self.jsonBody(MarketJSON.withSymbol(symbol, key: nil, piece: snapshot))
            }
        }
        router.get("/v2/stocks/bars") { request, _ in
            await self.data(request) { now, query in
                Self.jsonBody(try self.barsPage(query, symbols: try self.symbols(query), now: now).json(single: nil))
            }
        }
        router.get("/v2/stocks/{symbol}/bars") { request, context in
            await self.data(request) { now, query in
                let symbol = (context.parameters.get("symbol") ?? "").uppercased()
                return Self.jsonBody(try self.barsPage(query, symbols: [symbol], now: now).json(single: symbol))
            }
        }
    }

    // MARK: Building the answers

    /// The latest piece of each requested symbol that has data by `now`.
    func latest(_ query: Query, _ now: Date, _ piece: (SymbolSeries, Int) -> [UInt8]) throws -> [(String, [UInt8])] {
        try symbols(query).compactMap { symbol in
            guard let series = market.series[symbol], let index = series.latestIndex(at: now) else { return nil }
            return (symbol, piece(series, index))
        }
    }

    /// Prepared while now lies in the latest minute's trading day; built here otherwise
    /// (no bar of today yet: no `dailyBar`, and the previous day counted from now's day).
    func snapshot(_ symbol: String, _ now: Date) -> [UInt8]? {
        guard let series = market.series[symbol], let index = series.latestIndex(at: now) else { return nil }
        if series.sameDay(index, now) { return series.snapshotJSON[index] }
        let previous = market.previousDailyBar(symbol, at: now).flatMap { bar in
            ReplayMarket.midnight(bar.day).map { BarFigures(bar, midnight: $0).json }
        }
        return MarketJSON.snapshot(trade: series.tradeJSON[index], quote: series.quoteJSON[index],
                                   minute: series.minuteJSON[index], daily: nil, previous: previous)
    }
}
