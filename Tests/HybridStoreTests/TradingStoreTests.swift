import Foundation
import HybridSettings
import HybridStore
import HybridTestSupport
import PostgresNIO
import Testing
import TradingCore

@Suite struct TradingStoreTests {
    let logger = TestDatabase.logger
    let t0 = Date(timeIntervalSince1970: 1_300_293_540)   // 2011-03-16 16:39 UTC = 12:39 ET

    func withClient<T: Sendable>(_ db: DatabaseSettings, _ body: @Sendable (PostgresClient) async throws -> T) async throws -> T {
        try await PostgresClientFactory.withClient(db, logger: logger, body)
    }

    @Test func seededTemplatesPassTheValidator() async throws {
        try await TestDatabase.withMigrated { db in
            let templates = try await withClient(db) { client in
                try await client.withConnection { try await UserConfigStore.templates(on: $0, logger: logger) }
            }
            #expect(templates.map(\.name) == ["default_paper_watchlist"])
            for template in templates {
                let config = try TradingConfigDecoder.decode(template.config).get()
                #expect(config.rules.map(\.id) == ["dip_confirm"])
            }
        }
    }

    @Test func snapshotsAreIdempotentAndLatestIsPerMetric() async throws {
        try await TestDatabase.withMigrated { db in
            try await withClient(db) { client in
                try await client.withConnection { conn in
                    let rows = [
                        SnapshotInsert(symbol: "SPY", metric: .lastTrade, price: 127, volume: 10, asOf: t0.addingTimeInterval(-60)),
                        SnapshotInsert(symbol: "SPY", metric: .lastTrade, price: 126.5, volume: 10, asOf: t0),
                        SnapshotInsert(symbol: "SPY", metric: .prevClose, price: 128.56, volume: nil, asOf: t0.addingTimeInterval(-80_000),
                                       raw: .object(["source": .string("test")])),
                        SnapshotInsert(symbol: "QQQ", metric: .lastTrade, price: 50, volume: nil, asOf: t0),
                    ]
                    #expect(try await SnapshotStore.insertSnapshots(rows, on: conn, logger: logger) == 4)
                    #expect(try await SnapshotStore.insertSnapshots(rows, on: conn, logger: logger) == 0, "same facts again insert nothing")
                    let latest = try await SnapshotStore.latestSnapshots(symbols: ["SPY"], on: conn, logger: logger)
                    #expect(Set(latest) == [
                        SnapshotRow(symbol: "SPY", metric: .lastTrade, price: Decimal(string: "126.5"), asOf: t0),
                        SnapshotRow(symbol: "SPY", metric: .prevClose, price: Decimal(string: "128.56"), asOf: t0.addingTimeInterval(-80_000)),
                    ])
                    let earlier = try await SnapshotStore.latestSnapshots(symbols: ["SPY"], asOf: t0.addingTimeInterval(-1), on: conn, logger: logger)
                    #expect(earlier.first { $0.metric == .lastTrade }?.price == 127)
                }
            }
        }
    }
}
