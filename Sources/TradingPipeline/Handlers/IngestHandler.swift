import AlpacaClient
import AlpacaModels
import Foundation
import HybridStore
import JobEngine
import PostgresNIO
import TradingCore
import TradingJobs

/// Alpaca snapshots → snapshot rows. Pure, so the mapping is tested without a network.
public enum SnapshotMapping {
    /// `as_of` comes from Alpaca's timestamps: the trade's time for `last_trade`, the previous
    /// session's bar time for `prev_close`, and for `daily_bar` (a bar that grows all day) the
    /// instant it was observed at, i.e. the latest trade's time.
    public static func rows(symbol: String, snapshot: AlpacaSnapshot, feed: String, metrics: Set<Metric>) -> [SnapshotInsert] {
        var rows: [SnapshotInsert] = []
        let tradeTime = snapshot.latestTrade.flatMap { AlpacaTime.parse($0.t) }
        if metrics.contains(.lastTrade), let trade = snapshot.latestTrade, let asOf = tradeTime {
            rows.append(SnapshotInsert(
                symbol: symbol, metric: .lastTrade, price: decimal(trade.p), volume: decimal(trade.s), asOf: asOf, feed: feed,
                raw: .object(["source": .string("alpaca snapshot latestTrade"), "t": .string(trade.t), "p": number(trade.p),
                              "s": number(trade.s), "x": .string(trade.x), "i": .number(Decimal(trade.i))])))
        }
        if metrics.contains(.dailyBar), let bar = snapshot.dailyBar,
           let asOf = tradeTime ?? snapshot.minuteBar.flatMap({ AlpacaTime.parse($0.t) }) ?? AlpacaTime.parse(bar.t) {
            rows.append(SnapshotInsert(symbol: symbol, metric: .dailyBar, price: decimal(bar.c), volume: decimal(bar.v), asOf: asOf,
                                       feed: feed, raw: raw(bar, source: "alpaca snapshot dailyBar")))
        }
        if metrics.contains(.prevClose), let bar = snapshot.prevDailyBar, let asOf = AlpacaTime.parse(bar.t) {
            rows.append(SnapshotInsert(symbol: symbol, metric: .prevClose, price: decimal(bar.c), volume: decimal(bar.v), asOf: asOf,
                                       feed: feed, raw: raw(bar, source: "alpaca snapshot prevDailyBar")))
        }
        return rows
    }

    /// The shortest decimal text of a double (`492.1` stays `492.1`, not `492.10000000000002`).
    static func decimal(_ value: Double) -> Decimal? {
        value.isFinite ? Decimal(string: "\(value)", locale: Locale(identifier: "en_US_POSIX")) : nil
    }

    static func number(_ value: Double) -> JSONValue { decimal(value).map { .number($0) } ?? .null }

    static func raw(_ bar: AlpacaBar, source: String) -> JSONValue {
        .object(["source": .string(source), "t": .string(bar.t), "o": number(bar.o), "h": number(bar.h), "l": number(bar.l),
                 "c": number(bar.c), "v": number(bar.v)])
    }
}

/// `ingest-symbol-batch`: one snapshots call for the batch → rows, idempotent per
/// (symbol, metric, feed, as_of). A symbol Alpaca has no data for is skipped and logged.
public struct IngestHandler: TradingJobHandler {
    public static let spec = TradingJobCatalog.ingestSymbolBatch
    let client: PostgresClient
    let marketData: any MarketDataAPI
    /// False (TRADING_WORKER_INGEST_ENABLED=false or TRADING_ENABLED=false in this process): no call.
    let enabled: Bool

    public init(client: PostgresClient, marketData: any MarketDataAPI, enabled: Bool) {
        self.client = client
        self.marketData = marketData
        self.enabled = enabled
    }

    public func handle(_ job: IngestSymbolBatch, _ context: JobContext) async throws -> JobOutcome {
        guard enabled else { return .complete }
        let metrics = Set(job.metrics.compactMap(Metric.init(rawValue:)))
        let snapshots = try await marketData.snapshots(symbols: job.symbols, feed: job.feed)
        var rows: [SnapshotInsert] = []
        for symbol in job.symbols {
            guard let snapshot = snapshots[symbol] else { continue }
            rows += SnapshotMapping.rows(symbol: symbol, snapshot: snapshot, feed: job.feed, metrics: metrics)
        }
        let missing = job.symbols.filter { snapshots[$0] == nil }
        let inserted = try await client.withConnection { try await SnapshotStore.insertSnapshots(rows, on: $0, logger: context.logger) }
        context.logger.info("ingested snapshots", metadata: [
            "ingest.symbols": "\(job.symbols.count)", "ingest.rows": "\(rows.count)", "ingest.new_rows": "\(inserted)",
            "ingest.missing": .string(missing.joined(separator: ",")),
        ])
        return .complete
    }
}
