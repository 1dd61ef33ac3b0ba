import Foundation
import HybridStore
import HybridTestSupport
import PostgresNIO

let logger = TestDatabase.logger

/// A user on the default template (the §17 dip rule on SPY) and SPY 1.6 % below yesterday's
/// close at `at`: their evaluation at `at` plus a few seconds asks.
func seedFiringUser(_ client: PostgresClient, uid: String, at t0: Date) async throws {
    try await client.withConnection { conn in
        try await UserConfigStore.upsertUser(uid, displayName: nil, on: conn, logger: logger)
        try await UserConfigStore.upsertUserConfig(uid, templateName: "default_paper_watchlist", override: .object([:]),
                                                enabled: true, on: conn, logger: logger)
        try await SnapshotStore.insertSnapshots([
            SnapshotInsert(symbol: "SPY", metric: .lastTrade, price: 126.5, volume: 1, asOf: t0),
            SnapshotInsert(symbol: "SPY", metric: .prevClose, price: 128.56, volume: 1, asOf: t0.addingTimeInterval(-80_000)),
        ], on: conn, logger: logger)
    }
}
