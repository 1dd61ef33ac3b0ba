import Foundation
import HybridStore
import HybridTestSupport
import PostgresNIO
import Testing
import TradingCore
import TradingPipeline

/// evaluate-user's transaction: one question per firing rule, cooldown, row lock.
@Suite struct EvaluationTests {
    let t0 = Date(timeIntervalSince1970: 1_300_293_540)   // 2011-03-16 16:39 UTC = 12:39 ET

    /// Seeds the §17 user with the dip rule and a firing SPY price.
    func seedFiringUser(_ client: PostgresClient, uid: String = "user-a") async throws {
        try await TradingPipelineTests.seedFiringUser(client, uid: uid, at: t0)
    }

    @Test func evaluationAsksOnceThenHoldsBack() async throws {
        try await Farm.run(worker: false) { farm in
            do {
                let client = farm.client
                try await seedFiringUser(client)
                let evaluator = farm.pipeline.evaluation
                let first = try await evaluator.evaluate(firebaseUID: "user-a", now: t0.addingTimeInterval(5))
                let asked = try #require(first.asked.first)
                #expect(first.asked.count == 1)
                // The rule's sentence, then exactly what an approval executes.
                #expect(asked.questionText == "SPY is down 1.60% vs yesterday. Swipe +10 to approve a small buy, -10 to skip. "
                    + "Approving places a market order (day) to buy $10.00 of SPY, judged at $126.50 against $128.56.")
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
        try await Farm.run(worker: false) { farm in
            do {
                let client = farm.client
                try await seedFiringUser(client)
                let evaluator = farm.pipeline.evaluation
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
        try await Farm.run(worker: false) { farm in
            do {
                let client = farm.client
                try await client.withConnection { conn in
                    try await UserConfigStore.upsertUser("user-b", displayName: nil, on: conn, logger: logger)
                    let override = JSONValue.object(["rules": .array([.object(["id": .string("dip_confirm"), "threshold_pct": .number(2)])])])
                    try await UserConfigStore.upsertUserConfig("user-b", templateName: "default_paper_watchlist", override: override,
                                                            enabled: true, on: conn, logger: logger)
                }
                do {
                    _ = try await farm.pipeline.evaluation.evaluate(firebaseUID: "user-b", now: t0)
                    Issue.record("an invalid config was evaluated")
                } catch let error as PipelineError {
                    #expect(error.description.contains("rules[0].threshold_pct: must be negative"))
                }
            }
        }
    }

    /// A batch (what a burst of crossings becomes) decides each user on its own: an invalid or
    /// missing config is that user's failure only, a user named twice is evaluated once, and
    /// each question comes with its delivery job.
    @Test func aBatchDecidesEachUserOnItsOwn() async throws {
        try await Farm.run(worker: false) { farm in
            do {
                let client = farm.client
                try await seedFiringUser(client, uid: "user-a")
                try await seedFiringUser(client, uid: "user-c")
                try await client.withConnection { conn in
                    try await UserConfigStore.upsertUser("user-b", displayName: nil, on: conn, logger: logger)
                    let override = JSONValue.object(["rules": .array([.object(["id": .string("dip_confirm"), "threshold_pct": .number(2)])])])
                    try await UserConfigStore.upsertUserConfig("user-b", templateName: "default_paper_watchlist", override: override,
                                                            enabled: true, on: conn, logger: logger)
                }
                let outcomes = try await farm.pipeline.evaluation.evaluate(users: ["user-c", "user-a", "user-b", "ghost", "user-a"],
                                                                now: t0.addingTimeInterval(5), logger: logger)
                #expect(outcomes.count == 4)
                #expect(try outcomes["user-a"]?.get().asked.count == 1)
                #expect(try outcomes["user-c"]?.get().asked.count == 1)
                if case .failure(let error as PipelineError) = outcomes["user-b"] {
                    #expect(error.description.contains("must be negative"))
                } else {
                    Issue.record("user-b's invalid config did not fail user-b: \(String(describing: outcomes["user-b"]))")
                }
                if case .failure(PipelineError.noConfig("ghost")) = outcomes["ghost"] {} else {
                    Issue.record("a user without a config was not reported: \(String(describing: outcomes["ghost"]))")
                }
                let counts = try await client.withConnection { conn in
                    var result: (Int, Int, Int) = (0, 0, 0)
                    for try await row in try await conn.query("""
                        SELECT (SELECT count(*) FROM questions)::int,
                               (SELECT count(*) FROM jobs j JOIN questions q ON j.unique_key = 'deliver-question:' || q.id)::int,
                               (SELECT count(*) FROM user_trading_state WHERE context -> 'trading' -> 'rules' ? 'dip_confirm')::int
                        """, logger: logger).decode((Int, Int, Int).self) { result = row }
                    return result
                }
                #expect(counts.0 == 2 && counts.1 == 2, "one question and one delivery job per firing user: \(counts)")
                #expect(counts.2 == 2, "both firing users' cooldowns saved: \(counts)")
            }
        }
    }

    /// Batches with overlapping users, in different orders and at once, lock in one order:
    /// no deadlock, and each user is asked exactly once.
    @Test func overlappingBatchesAskEachUserExactlyOnce() async throws {
        try await Farm.run(worker: false) { farm in
            do {
                let users = ["user-e", "user-f", "user-g", "user-h"]
                for uid in users { try await seedFiringUser(farm.client, uid: uid) }
                let evaluator = farm.pipeline.evaluation
                let asked = try await withThrowingTaskGroup(of: Int.self) { group in
                    for i in 0..<10 {
                        let batch = i % 2 == 0 ? users : users.reversed()
                        group.addTask {
                            let outcomes = try await evaluator.evaluate(users: Array(batch.dropFirst(i % 3)), now: t0.addingTimeInterval(Double(i)), logger: logger)
                            return try outcomes.values.reduce(0) { $0 + (try $1.get().asked.count) }
                        }
                    }
                    return try await group.reduce(0, +)
                }
                #expect(asked == users.count)
                let stored = try await farm.client.withConnection { conn in
                    var count = 0
                    for try await n in try await conn.query("SELECT count(*)::int FROM questions", logger: logger).decode(Int.self) { count = n }
                    return count
                }
                #expect(stored == users.count, "a double question would show up here")
            }
        }
    }
}
