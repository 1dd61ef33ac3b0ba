import AlpacaClient
import Foundation
import HybridStore
import JobEngine
import Logging
import PostgresNIO
import ServiceLifecycle

/// The farm's Alpaca streams. Alpaca allows one market-data connection per account, so
/// exactly one process holds them: leadership `alpaca-streams` (a lease row on database time,
/// the engine's `LeaderElector`). Every `hybridhub streams` process runs this service; the
/// leader connects, the others stand by and take over within about `lease + renew` seconds of
/// its death. Each stream reconnects with exponential backoff and jitter for as long as the
/// process leads; losing the lease closes both at once.
/// What the streams use: the database, the market-data API (REST backfill), the pipeline's
/// switches, the users' configs (which symbols to stream) and the order recorder (trade updates).
public struct StreamParts: Sendable {
    public var client: PostgresClient
    public var marketData: any MarketDataAPI
    public var settings: PipelineSettings
    public var tick: TradingTick
    public var orders: OrderRecorder

    public init(client: PostgresClient, marketData: any MarketDataAPI, settings: PipelineSettings, tick: TradingTick,
                orders: OrderRecorder) {
        self.client = client
        self.marketData = marketData
        self.settings = settings
        self.tick = tick
        self.orders = orders
    }
}

public final class StreamsService: Service, Sendable {
    public static let leadershipName = "alpaca-streams"

    let parts: StreamParts
    let options: StreamOptions
    public let elector: LeaderElector
    let tradeUpdates: Bool
    let logger: Logger

    public init(parts: StreamParts, options: StreamOptions, holderID: String, leaseSeconds: Double = 5,
                renewSeconds: Double = 1, tradeUpdates: Bool = true, logger: Logger) {
        self.parts = parts
        self.options = options
        self.elector = LeaderElector(name: Self.leadershipName, holderID: holderID, leaseSeconds: leaseSeconds, renewSeconds: renewSeconds)
        self.tradeUpdates = tradeUpdates
        var logger = logger
        logger[metadataKey: "streams.id"] = .string(holderID)
        self.logger = logger
    }

    public func run() async throws {
        await cancelWhenGracefulShutdown { await self.contend() }
        // Step down at once so a standby connects without waiting for the lease to lapse.
        try? await parts.client.withConnection { db in
            try await MarketStreamStore.lapse(feed: self.options.feed, holder: self.elector.holderID, on: db, logger: self.logger)
            try await self.elector.resign(on: db, logger: self.logger)
        }
        logger.notice("streams stopped")
    }

    /// Tries for the leadership every `renewSeconds`; leads while it holds.
    func contend() async {
        while !Task.isCancelled {
            let leadership = try? await parts.client.withConnection { try await self.elector.refresh(on: $0, logger: self.logger) }
            if let leadership {
                await lead(leadership)
                try? await parts.client.withConnection { db in
                    try await MarketStreamStore.lapse(feed: self.options.feed, holder: self.elector.holderID, on: db, logger: self.logger)
                }
            }
            try? await Task.sleep(for: .seconds(elector.renewSeconds))
        }
    }

    struct LeadershipLost: Error {}

    func lead(_ leadership: LeaderElector.Leadership) async {
        logger.notice("leading the Alpaca streams", metadata: ["leader.epoch": "\(leadership.epoch)"])
        // TRADING_ENABLED=false or TRADING_WORKER_INGEST_ENABLED=false: no market data from this
        // role (the tick polls nothing either); order tracking goes on, the books need it.
        let ingest = parts.settings.tradingEnabled && parts.settings.ingestEnabled
        if !ingest {
            logger.notice("market-data stream off: TRADING_ENABLED and TRADING_WORKER_INGEST_ENABLED must both be true")
        }
        await withTaskGroup(of: Void.self) { group in
            if ingest {
                group.addTask {
                    await self.keepConnected("market_data", url: self.options.marketDataURL) { channel in
                        try await MarketDataStreamSession(parts: self.parts, options: self.options,
                                                          holderID: self.elector.holderID, logger: self.logger).run(channel)
                    }
                }
            }
            if tradeUpdates {
                group.addTask {
                    await self.keepConnected("trade_updates", url: self.options.tradeUpdatesURL) { channel in
                        try await TradeUpdateStreamSession(orders: self.parts.orders, options: self.options, logger: self.logger).run(channel)
                    }
                }
            }
            group.addTask {
                // The lease: renewed every `renewSeconds`; any doubt ends the leadership here.
                while !Task.isCancelled {
                    guard (try? await Task.sleep(for: .seconds(self.elector.renewSeconds))) != nil else { return }
                    let now = try? await self.parts.client.withConnection { try await self.elector.refresh(on: $0, logger: self.logger) }
                    if now?.epoch != leadership.epoch {
                        self.logger.warning("lost the streams' leadership; closing the streams")
                        return
                    }
                }
            }
            await group.next()
            group.cancelAll()
        }
        StreamMetrics.connected(false)
        StreamMetrics.connected(false, stream: "trade_updates")
    }

    /// Connects, runs the session, and after it ends waits (backoff with jitter) and connects
    /// again, until cancelled.
    func keepConnected(_ stream: String, url: String, session: @escaping @Sendable (StreamChannel) async throws -> Void) async {
        var backoff = ReconnectBackoff(maxSeconds: options.backoffMaxSeconds)
        while !Task.isCancelled {
            let began = ContinuousClock.now
            var reason = "closed"
            do {
                try await AlpacaStreamSocket.run(url: url, logger: logger, session)
            } catch let error as StreamError {
                reason = Self.reason(error)
                if !Task.isCancelled {
                    logger.warning("stream ended; reconnecting", metadata: ["stream": "\(stream)", "error": "\(error)"])
                }
            } catch {
                if !Task.isCancelled {
                    logger.warning("stream ended; reconnecting", metadata: ["stream": "\(stream)", "error": "\(error)"])
                }
            }
            guard !Task.isCancelled else { return }
            StreamMetrics.connected(false, stream: stream)
            StreamMetrics.reconnect(stream: stream, reason: reason)
            if stream == "market_data" {
                // Polling covers the symbols again from the next tick until the stream is back.
                try? await parts.client.withConnection { db in
                    try await MarketStreamStore.lapse(feed: self.options.feed, holder: self.elector.holderID, on: db, logger: self.logger)
                }
            }
            if ContinuousClock.now - began > .seconds(60) { backoff.reset() }
            let wait = backoff.next(random: Double.random(in: 0..<1))
            guard (try? await Task.sleep(for: .seconds(wait))) != nil else { return }
        }
    }

    static func reason(_ error: StreamError) -> String {
        switch error {
        case .connect: "connect"
        case .refused(let code, _): code == 406 ? "connection_limit" : "refused"
        case .silent: "silence"
        case .closedByServer: "closed"
        case .protocolViolation: "protocol"
        }
    }
}
