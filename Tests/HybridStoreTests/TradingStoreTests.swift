import Foundation
import HybridHubApp
import HybridSettings
import HybridStore
import HybridTestSupport
import Logging
import MarketReplay
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
                try await client.withConnection { try await TradingStore.templates(on: $0, logger: logger) }
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
                    #expect(try await TradingStore.insertSnapshots(rows, on: conn, logger: logger) == 4)
                    #expect(try await TradingStore.insertSnapshots(rows, on: conn, logger: logger) == 0, "same facts again insert nothing")
                    let latest = try await TradingStore.latestSnapshots(symbols: ["SPY"], on: conn, logger: logger)
                    #expect(Set(latest) == [
                        SnapshotRow(symbol: "SPY", metric: .lastTrade, price: Decimal(string: "126.5"), asOf: t0),
                        SnapshotRow(symbol: "SPY", metric: .prevClose, price: Decimal(string: "128.56"), asOf: t0.addingTimeInterval(-80_000)),
                    ])
                    let earlier = try await TradingStore.latestSnapshots(symbols: ["SPY"], asOf: t0.addingTimeInterval(-1), on: conn, logger: logger)
                    #expect(earlier.first { $0.metric == .lastTrade }?.price == 127)
                }
            }
        }
    }

    /// Seeds the §17 user with the dip rule and a firing SPY price.
    func seedFiringUser(_ client: PostgresClient, uid: String = "user-a") async throws {
        try await client.withConnection { conn in
            try await TradingStore.upsertUser(uid, displayName: nil, on: conn, logger: logger)
            try await TradingStore.upsertUserConfig(uid, templateName: "default_paper_watchlist", override: .object([:]),
                                                    enabled: true, on: conn, logger: logger)
            try await TradingStore.insertSnapshots([
                SnapshotInsert(symbol: "SPY", metric: .lastTrade, price: 126.5, volume: 1, asOf: t0),
                SnapshotInsert(symbol: "SPY", metric: .prevClose, price: 128.56, volume: 1, asOf: t0.addingTimeInterval(-80_000)),
            ], on: conn, logger: logger)
        }
    }

    @Test func evaluationAsksOnceThenHoldsBack() async throws {
        try await TestDatabase.withMigrated { db in
            try await withClient(db) { client in
                try await seedFiringUser(client)
                let evaluator = UserEvaluator(client: client, logger: logger)
                let first = try await evaluator.evaluate(firebaseUID: "user-a", now: t0.addingTimeInterval(5))
                let asked = try #require(first.asked.first)
                #expect(first.asked.count == 1)
                #expect(asked.questionText == "SPY is down 1.60% vs yesterday. Swipe +10 to approve a small buy, -10 to skip.")
                let second = try await evaluator.evaluate(firebaseUID: "user-a", now: t0.addingTimeInterval(10))
                #expect(second.asked.isEmpty)
                #expect(second.evaluations.first?.outcome == .blockedByCooldown(.questionOpen(questionID: asked.questionID.uuidString.lowercased())))

                let row = try await client.withConnection { conn in
                    let rows = try await conn.query("""
                        SELECT pipeline_key, pipeline_step, source_tag, correct_answer, metadata->>'symbol', (metadata->>'price')::numeric,
                               (metadata->>'reference')::numeric, metadata->>'data_age_seconds', expires_at > created_at
                        FROM questions WHERE id = \(asked.questionID)
                        """, logger: logger)
                    var found: (String, String, String, Decimal, String, Decimal, Decimal, String, Bool)?
                    for try await r in rows.decode((String, String, String, Decimal, String, Decimal, Decimal, String, Bool).self) { found = r }
                    return found
                }
                let question = try #require(row)
                #expect(question.0 == "trading" && question.1 == "dip_confirm:await_confirm" && question.2 == "trading:rule:dip_confirm")
                #expect(question.3 == 10 && question.4 == "SPY" && question.5 == Decimal(string: "126.5") && question.6 == Decimal(string: "128.56"))
                #expect(question.7 == "5" && question.8)
            }
        }
    }

    @Test func concurrentEvaluationsOfOneUserAskExactlyOnce() async throws {
        try await TestDatabase.withMigrated { db in
            var settings = db
            settings.poolSize = 12
            try await PostgresClientFactory.withClient(settings, logger: logger) { client in
                try await seedFiringUser(client)
                let evaluator = UserEvaluator(client: client, logger: logger)
                let askedCounts = try await withThrowingTaskGroup(of: Int.self) { group in
                    for i in 0..<12 {
                        group.addTask { try await evaluator.evaluate(firebaseUID: "user-a", now: t0.addingTimeInterval(Double(i))).asked.count }
                    }
                    return try await group.reduce(0, +)
                }
                #expect(askedCounts == 1)
                let stored = try await client.withConnection { conn in
                    var count = 0
                    for try await n in try await conn.query("SELECT count(*)::int FROM questions WHERE firebase_uid = 'user-a'", logger: logger).decode(Int.self) { count = n }
                    return count
                }
                #expect(stored == 1, "a double question would show up here")
            }
        }
    }

    @Test func invalidStoredConfigIsReportedWithPaths() async throws {
        try await TestDatabase.withMigrated { db in
            try await withClient(db) { client in
                try await client.withConnection { conn in
                    try await TradingStore.upsertUser("user-b", displayName: nil, on: conn, logger: logger)
                    let override = JSONValue.object(["rules": .array([.object(["id": .string("dip_confirm"), "threshold_pct": .number(2)])])])
                    try await TradingStore.upsertUserConfig("user-b", templateName: "default_paper_watchlist", override: override,
                                                            enabled: true, on: conn, logger: logger)
                }
                do {
                    _ = try await UserEvaluator(client: client, logger: logger).evaluate(firebaseUID: "user-b", now: t0)
                    Issue.record("an invalid config was evaluated")
                } catch let error as UserEvaluationError {
                    #expect(error.description.contains("rules[0].threshold_pct: must be negative"))
                }
            }
        }
    }

    @Test func theDemoReplayFiresOnceOnMarch16() async throws {
        let data = try MarketDataSet.loadCommitted(directory: TestDatabase.repositoryRoot.appendingPathComponent("data/market"))
        try await TestDatabase.withMigrated { db in
            try await withClient(db) { client in
                let lines = LineCollector()
                let summary = try await ReplayDemo(client: client, market: data, logger: logger) { lines.append($0) }.run()
                #expect(summary.barsReplayed == 390)
                #expect(summary.questionsAsked == 1)
                let fired = try #require(summary.firstFireAt)
                #expect(MarketTime.calendar.dateComponents([.hour, .minute], from: fired) == DateComponents(hour: 13, minute: 39))
                #expect(summary.firstFire?.price == Decimal(string: "126.56"))
                #expect(summary.heldBackByCooldown > 0)
                #expect(lines.all.contains { $0.hasPrefix("13:39 ET  FIRED  rule dip_confirm fired: SPY 126.56 vs ref 128.56 = -1.56%") })
                // Running it again starts from a clean user and gives the same answer.
                let again = try await ReplayDemo(client: client, market: data, logger: logger) { _ in }.run()
                #expect(again.questionsAsked == 1 && again.firstFireAt == summary.firstFireAt)
            }
        }
    }
}

final class LineCollector: @unchecked Sendable {
    private let lock = NSLock()
    private var lines: [String] = []
    func append(_ line: String) { lock.withLock { lines.append(line) } }
    var all: [String] { lock.withLock { lines } }
}
