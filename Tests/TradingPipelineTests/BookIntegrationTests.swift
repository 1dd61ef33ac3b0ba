import AlpacaClient
import AlpacaModels
import Foundation
import HybridStore
import HybridTestSupport
import OpsKit
import PostgresNIO
import Testing
import TradingCore
import TradingJobs
import TradingPipeline

/// Each user's own book on the farm's one account (issue 16): recorded from the broker's
/// fills, in either order, rebuildable; sells only of what the user holds.
@Suite(.serialized) struct BookIntegrationTests {
    static let a = "book-user-a"
    static let b = "book-user-b"

    /// The §17 watchlist with the dip buy and a `trim` sell of 0.05 SPY on the same dip.
    static func override(trim: JSONValue) -> JSONValue {
        .object([
            "data_inputs": .array([.object(["id": .string("primary_watchlist"), "symbols": .array([.string("SPY")]),
                                             "poll_interval_seconds": .number(1)])]),
            "rules": .array([.object(["id": .string("dip_confirm"), "max_staleness_seconds": .number(120)]), trim]),
            "guardrails": .object(["max_open_questions": .number(5)]),
        ])
    }

    static let trim: JSONValue = .object([
        "id": .string("trim"), "type": .string("price_below_pct_of_ref"), "symbol": .string("SPY"),
        "threshold_pct": .number(Decimal(string: "-1.5")!), "max_staleness_seconds": .number(120),
        "question_template": .string("{{symbol}} is down {{pct}}%: trim?"),
        "on_answer_match": .object(["action": .string("propose_order"), "side": .string("sell"), "qty": .number(Decimal(string: "0.05")!)]),
    ])

    /// Fills arrive by the trade stream and by the poller, in any order and any number of
    /// times, partly then fully, and a cancel after a partial fill: the book ends equal to what
    /// the broker filled, and the rebuild agrees with it.
    @Test(arguments: [[0, 1], [1, 0], [1, 1, 0, 1], [0, 0, 1]])
    func fillsInEitherOrderEndInTheSameBook(sequence: [Int]) async throws {
        try await Farm.run(worker: false) { farm in
            try await farm.seedUser(Self.a)
            let buy = try await farm.insertOrder(Self.a, side: "buy", qty: 2, clientOrderID: "hh1-book-buy")
            let partial = AlpacaOrder(id: "sim-buy", clientOrderID: "hh1-book-buy", updatedAt: "2011-03-16T17:40:00Z", filledQty: "0.5",
                                      filledAvgPrice: "126.5", side: "buy", status: "partially_filled")
            let full = AlpacaOrder(id: "sim-buy", clientOrderID: "hh1-book-buy", updatedAt: "2011-03-16T17:41:00Z", filledAt: "2011-03-16T17:41:00Z",
                                   filledQty: "2", filledAvgPrice: "126.53", side: "buy", status: "filled")
            for (step, index) in sequence.enumerated() {
                let update = [partial, full][index]
                if step % 2 == 0 {
                    try await farm.pipeline.orders.applyTradeUpdate(update)   // the stream
                } else {
                    try await farm.client.transaction(logger: logger) { db in   // the poller's recording
                        _ = try await OrderStore.recordBroker(buy, BrokerOrderUpdate(update), on: db, logger: logger)
                    }
                }
            }
            var book = try await farm.book(Self.a)
            #expect(book.positions.map(\.position.qty) == [2])
            #expect(book.positions.first?.position.costBasis == Decimal(string: "253.06"))
            #expect(book.positions.first?.position.openedAt == AlpacaTime.parse("2011-03-16T17:41:00Z"))

            // A sell partly filled, then cancelled: the book keeps exactly the part that filled.
            let sell = try await farm.insertOrder(Self.a, side: "sell", qty: 1, clientOrderID: "hh1-book-sell")
            for update in [
                AlpacaOrder(id: "sim-sell", clientOrderID: "hh1-book-sell", updatedAt: "2011-03-16T17:50:00Z", filledQty: "0.25",
                            filledAvgPrice: "127", side: "sell", status: "partially_filled"),
                AlpacaOrder(id: "sim-sell", clientOrderID: "hh1-book-sell", updatedAt: "2011-03-16T17:55:00Z", filledQty: "0.25",
                            filledAvgPrice: "127", side: "sell", status: "canceled"),
            ] {
                try await farm.pipeline.orders.applyTradeUpdate(update)
            }
            #expect(try await farm.order(sell)?.status == "canceled")
            book = try await farm.book(Self.a)
            let position = try #require(book.positions.first?.position)
            #expect(position.qty == Decimal(string: "1.75"))
            #expect(position.realizedPnL == Decimal(string: "0.25")! * (127 - Decimal(string: "126.53")!))
            #expect(try await farm.rows("SELECT qty::text FROM book_orders ORDER BY filled_at") == ["2", "0.25"])

            // The rebuild from trade_orders agrees; a corrupted row is found and rewritten.
            let report = try await BooksRebuild.run(apply: false, client: farm.client, logger: logger)
            #expect(report.agreed && report.positions == 1, "\(report.text)")
            _ = try await farm.rows("UPDATE user_positions SET qty = qty + 1, realized_pnl = 0 RETURNING 'x'")
            let found = try await BooksRebuild.run(apply: false, client: farm.client, logger: logger)
            #expect(found.differences.map(\.field) == ["qty", "realized_pnl"])
            let repaired = try await BooksRebuild.run(apply: true, client: farm.client, logger: logger)
            #expect(repaired.repaired == 1)
            #expect(try await BooksRebuild.run(apply: false, client: farm.client, logger: logger).agreed)
            #expect(try await farm.book(Self.a).positions.first?.position.qty == Decimal(string: "1.75"))
        }
    }

    /// Two users on the one account: A can never sell B's shares, whether at the question, at
    /// the approval or just before the POST; every book ends equal to its fills, never short,
    /// and the books add up to the account's position.
    @Test func aUserCanNeverSellAnotherUsersShares() async throws {
        try await Farm.run { farm in
            for uid in [Self.a, Self.b] { try await farm.seedUser(uid, override: Self.override(trim: Self.trim)) }
            let now = try await farm.seedDipPrices()

            // B buys on the dip; the account now holds B's shares.
            let bFirst = try await farm.pipeline.evaluation.evaluate(firebaseUID: Self.b, now: now)
            #expect(bFirst.asked.map(\.evaluation.ruleID) == ["dip_confirm"])
            let bBuy = try await farm.settled(try await farm.approve(try #require(bFirst.asked.first?.questionID), uid: Self.b).id)
            #expect(bBuy.status == "filled")
            let bShares = try #require(bBuy.filledQty)
            #expect(try await farm.trading.position(symbol: "SPY").map { Decimal(string: $0.qty) } == bShares)

            // At the question: A holds nothing, so A's trim asks nothing (the account's shares are B's).
            let aFirst = try await farm.pipeline.evaluation.evaluate(firebaseUID: Self.a, now: now)
            #expect(aFirst.asked.map(\.evaluation.ruleID) == ["dip_confirm"])
            let held = try #require(aFirst.heldBack.first { $0.ruleID == "trim" })
            #expect(held.reason.contains("needs them in your own book; you hold 0"), "\(held.reason)")

            // At the approval: a trim question A holds (asked when A had shares, say) is refused.
            let stale = try await farm.askSell(Self.a, qty: Decimal(string: "0.05")!, now: now)
            let refused = try await farm.pipeline.answers.answer(questionID: stale, firebaseUID: Self.a, value: .number(10))
            #expect(refused.outcome == .refused && refused.detail.contains("position:"), "\(refused.detail)")

            // A buys; now A's trim asks, and A approves it while the orders queue is paused.
            _ = try await farm.settled(try await farm.approve(try #require(aFirst.asked.first?.questionID), uid: Self.a).id)
            let aSecond = try await farm.pipeline.evaluation.evaluate(firebaseUID: Self.a, now: now)
            let aTrim = try #require(aSecond.asked.first { $0.evaluation.ruleID == "trim" })
            #expect(aTrim.questionText.contains("You hold 0.079"), "\(aTrim.questionText)")
            try await farm.pauseOrders()
            let aSell = try await farm.approve(aTrim.questionID, uid: Self.a)
            // B trims too (both sells wait for the POST).
            let bSecond = try await farm.pipeline.evaluation.evaluate(firebaseUID: Self.b, now: now)
            let bSell = try await farm.approve(try #require(bSecond.asked.first { $0.evaluation.ruleID == "trim" }).questionID, uid: Self.b)

            // Between A's approval and A's POST, A's book loses shares the reservations did not
            // cover (a sell of A's the books learn of from the broker): A's POST must not go out.
            let phantom = try await farm.insertOrder(Self.a, side: "sell", qty: Decimal(string: "0.05")!, clientOrderID: "hh1-book-phantom")
            let placed = try await farm.trading.submit(OrderSubmission(symbol: "SPY", side: "sell", type: "market", timeInForce: "day",
                                                                       notional: nil, qty: Decimal(string: "0.05"), clientOrderID: "hh1-book-phantom"))
            let filled = try #require(try await farm.trading.order(clientOrderID: placed.clientOrderID))
            try await farm.pipeline.orders.applyTradeUpdate(filled)
            #expect(try await farm.order(phantom)?.status == "filled")
            try await farm.resumeOrders()
            let aEnded = try await farm.settled(aSell.id)
            #expect(aEnded.status == "blocked" && aEnded.statusReason?.contains("position:") == true, "\(aEnded)")
            #expect(aEnded.alpacaOrderID == nil && farm.sim.orders(clientOrderID: aSell.clientOrderID) == 0)
            #expect(try await farm.settled(bSell.id).status == "filled")
            try await farm.drain()

            // Every book equals its fills, none is short, and they add up to the account.
            let aBook = try await farm.book(Self.a), bBook = try await farm.book(Self.b)
            let aQty = aBook.positions.first?.position.qty ?? 0, bQty = bBook.positions.first?.position.qty ?? 0
            #expect(aQty >= 0 && bQty >= 0)
            #expect(bQty == bShares - Decimal(string: "0.05")!)
            let account = try await farm.trading.position(symbol: "SPY").flatMap { Decimal(string: $0.qty) } ?? 0
            #expect(aQty + bQty == account, "books \(aQty) + \(bQty) vs account \(account)")
            #expect(try await BooksRebuild.run(apply: false, client: farm.client, logger: logger).agreed)

            // reconcile-orders checks the same sum against the account: none drifts now; a book
            // that strays (A's row says a share more) is reported with both figures.
            let clean = try await farm.pipeline.reconciliation.reconcileOrders(apply: false, logger: logger)
            #expect(!clean.findings.contains { $0.kind == .positionDrift }, "\(clean.findings)")
            _ = try await farm.rows("UPDATE user_positions SET qty = qty + 1 WHERE firebase_uid = '\(Self.a)' RETURNING 'x'")
            let drifted = try await farm.pipeline.reconciliation.reconcileOrders(apply: false, logger: logger)
            let drift = try #require(drifted.findings.first { $0.kind == .positionDrift })
            #expect(drift.detail == "SPY: the users' books hold \(aQty + bQty + 1) in sum; the account holds \(account)")
        }
    }

    /// Today is the US/Eastern day: a sell 30 s after midnight ET is today's, one 30 s before
    /// is yesterday's. Today's P&L (realized plus unrealized since the day's start) decides the
    /// daily loss limit at its edge; buys stop, the user is told once.
    @Test func theDailyLossLimitJudgesTheEasternDayAtItsEdge() async throws {
        try await Farm.run(worker: false) { farm in
            let dayStart = try #require(MarketTime.date(year: 2011, month: 3, day: 10))
            let now = dayStart.addingTimeInterval(30 * 60)
            let limited: JSONValue = .object([
                "data_inputs": .array([.object(["id": .string("primary_watchlist"), "symbols": .array([.string("SPY")])])]),
                "rules": .array([.object(["id": .string("dip_confirm"), "max_staleness_seconds": .number(120)])]),
                "guardrails": .object(["daily_loss_limit_usd": .number(45), "max_open_questions": .number(10)]),
            ])
            // Both bought 10 at 100 yesterday and sold 5 at 96 around midnight; SPY closed at 100 and trades at 95.
            for (uid, soldAt) in [(Self.a, dayStart.addingTimeInterval(30)), (Self.b, dayStart.addingTimeInterval(-30))] {
                try await farm.seedUser(uid, override: limited)
                try await farm.fill(uid, side: "buy", qty: 10, price: 100, at: dayStart.addingTimeInterval(-3600), id: "\(uid)-buy")
                try await farm.fill(uid, side: "sell", qty: 5, price: 96, at: soldAt, id: "\(uid)-sell")
            }
            _ = try await farm.client.withConnection { db in
                try await SnapshotStore.insertSnapshots([
                    SnapshotInsert(symbol: "SPY", metric: .lastTrade, price: 95, volume: 100, asOf: now.addingTimeInterval(-5)),
                    SnapshotInsert(symbol: "SPY", metric: .prevClose, price: 100, volume: 100, asOf: dayStart.addingTimeInterval(-8 * 3600)),
                ], on: db, logger: logger)
            }
            let today = try await farm.client.withConnection { try await PortfolioReader.book(of: Self.a, now: now, on: $0, logger: logger) }
            let yesterday = try await farm.client.withConnection { try await PortfolioReader.book(of: Self.b, now: now, on: $0, logger: logger) }
            // 5 × 95 − 10 × 100 (held at the start, at the close) + 480 sold today = −45.
            #expect(today.state.dayPnL == -45 && today.valuation.realizedPnL == -20)
            // The sell was yesterday's: 5 × 95 − 5 × 100 = −25.
            #expect(yesterday.state.dayPnL == -25)

            // A's loss is at the limit: the dip buy is held back, and A is told once today.
            for _ in 0..<2 {
                let result = try await farm.pipeline.evaluation.evaluate(firebaseUID: Self.a, now: now)
                #expect(result.asked.isEmpty && result.heldBack.first?.reason.contains("daily_loss_limit_usd") == true, "\(result.heldBack.map(\.reason))")
            }
            let notices = try await farm.openQuestions(Self.a).filter { $0.pipelineStep == "guardrail:daily_loss_limit" }
            #expect(notices.count == 1 && notices.first?.text.contains("-45.00") == true, "\(notices.map(\.text))")
            // B's loss is under it: B is asked.
            let asked = try await farm.pipeline.evaluation.evaluate(firebaseUID: Self.b, now: now)
            #expect(asked.asked.map(\.evaluation.ruleID) == ["dip_confirm"])
        }
    }
}

extension Farm {
    /// An order row of `uid`'s as the answer service writes it (no question), `pending_submit`.
    func insertOrder(_ uid: String, side: String, qty: Decimal, clientOrderID: String) async throws -> UUID {
        let id = UUID()
        try await client.transaction(logger: logger) { db in
            let question = try await QuestionStore.insertQuestion(NewQuestion(
                firebaseUID: uid, text: "order \(clientOrderID)", sourceTag: "test", pipelineKey: "trading", pipelineStep: "test:order",
                correctAnswer: 10, metadata: .object([:]), expiresInSeconds: 900), on: db, logger: logger)
            try await OrderStore.insert(NewOrder(id: id, firebaseUID: uid, clientOrderID: clientOrderID, symbol: "SPY", side: side,
                                                 notionalUSD: nil, qty: qty, questionID: question, ruleID: "test",
                                                 referencePrice: Decimal(string: "126.56"), decidedAt: Farm.dipInstant), on: db, logger: logger)
        }
        return id
    }

    /// A filled order of `uid`'s recorded as the broker reports it (filled `at`).
    func fill(_ uid: String, side: String, qty: Decimal, price: Decimal, at: Date, id: String) async throws {
        let order = try await insertOrder(uid, side: side, qty: qty, clientOrderID: "hh1-\(id)")
        let update = BrokerOrderUpdate(alpacaOrderID: "sim-\(id)", status: "filled", submittedAt: at, filledAt: at, filledQty: qty,
                                       filledAvgPrice: price, lastFillAt: at, raw: "{}")
        _ = try await client.transaction(logger: logger) { try await OrderStore.recordBroker(order, update, on: $0, logger: logger) }
    }

    /// `uid`'s book now (the trading clock's instant).
    func book(_ uid: String) async throws -> UserBook {
        let now = try await clock.now()
        return try await client.withConnection { try await PortfolioReader.book(of: uid, now: now, on: $0, logger: logger) }
    }

    /// An open `trim` question proposing a sell of `qty` SPY, as evaluate-user freezes it.
    func askSell(_ uid: String, qty: Decimal, now: Date) async throws -> UUID {
        try await client.transaction(logger: logger) { db in
            guard let stored = try await UserConfigStore.userConfig(uid, on: db, logger: logger),
                  case .success(let effective) = stored.effective, let rule = effective.config.rule(id: "trim") else {
                throw FarmError("\(uid) has no trim rule")
            }
            let intent = OrderIntent(symbol: "SPY", side: .sell, notionalUSD: nil, qty: qty, price: Decimal(string: "126.56"),
                                     reference: Decimal(string: "128.56"), priceMetric: .lastTrade, refMetric: .prevClose, feed: "iex",
                                     priceAsOf: now.addingTimeInterval(-5), dataAgeSeconds: 5, ruleID: rule.id, ruleDigest: rule.digest,
                                     judgedAt: now)
            return try await QuestionStore.insertQuestion(NewQuestion(
                firebaseUID: uid, text: "Trim? \(intent.summary)", sourceTag: "trading:rule:trim", pipelineKey: "trading",
                pipelineStep: "trim:await_confirm", correctAnswer: 10,
                metadata: .object(["rule_id": .string("trim"), "symbol": .string("SPY"), "order": intent.jsonValue]),
                expiresInSeconds: 900), on: db, logger: logger)
        }
    }
}
