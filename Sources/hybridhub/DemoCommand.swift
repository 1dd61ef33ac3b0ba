import ArgumentParser
import Foundation
import HybridHubApp
import HybridStore
import Logging
import PostgresNIO
import TradingCore
import TradingPipeline

/// `hybridhub demo`: the scripted side of `ops/demo.sh`. With the simulator, a scheduler and
/// two workers running (the script starts them), it seeds the plan's §17 user, waits for the
/// dip question, approves it as the app would, waits for the fill and prints the timeline.
struct DemoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo", abstract: "Seed the §17 user, approve the first question, print snapshot → rule → question → answer → order → fill.")

    @Option(help: "Seconds to wait for the rule to fire.") var waitQuestion = 120.0
    @Option(help: "Seconds to wait for the order to fill.") var waitFill = 60.0
    @Option(help: "Seconds between the question and the scripted approval, so a person on the approval page can answer first.")
    var approveAfter = 0.0
    @Flag(help: "Never answer: wait for a person to approve or skip on the approval page (see --wait-human).") var human = false
    @Option(help: "Seconds to wait for a person's answer with --human.") var waitHuman = 600.0

    static let uid = "plan17-user-u"
    static let override: JSONValue = .object([
        "data_inputs": .array([.object(["id": .string("primary_watchlist"), "symbols": .array([.string("SPY")]),
                                         "poll_interval_seconds": .number(1)])]),
        "rules": .array([.object(["id": .string("dip_confirm"), "max_staleness_seconds": .number(120)])]),
    ])

    func run() async throws {
        let runtime = try Runtime.load()
        let logger = runtime.logger
        let (waitQuestion, waitFill, approveAfter, human, waitHuman) = (self.waitQuestion, self.waitFill, self.approveAfter, self.human, self.waitHuman)
        try await PostgresClientFactory.withClient(runtime.settings.database, logger: logger) { client in
            let pipeline = TradingComposition.pipeline(settings: runtime.settings, client: client, logger: logger)
            try await client.transaction(logger: logger) { db in
                try await UserConfigStore.upsertUser(Self.uid, displayName: "Plan §17 user U", on: db, logger: logger)
                try await UserConfigStore.upsertUserConfig(Self.uid, templateName: "default_paper_watchlist", override: Self.override,
                                                        enabled: true, on: db, logger: logger)
            }
            print("demo: seeded user \(Self.uid): template default_paper_watchlist + override \(Self.override.canonicalString())")
            print("demo: waiting for the dip rule to fire (the simulator replays 2011-03-16; SPY crosses -1.5 % at 13:39 ET)…")
            // The user's first question in any state: a person on the approval page may answer
            // it before this poll sees it open.
            var question = try await poll(seconds: waitQuestion, every: 0.2, what: "a question") { () -> StoredQuestion? in
                try await client.withConnection { db in
                    let rows = try await db.query("SELECT id FROM questions WHERE firebase_uid = \(Self.uid) ORDER BY created_at LIMIT 1", logger: logger)
                    for try await id in rows.decode(UUID.self) { return try await QuestionStore.question(id, on: db, logger: logger) }
                    return nil
                }
            }
            var orderID: UUID?
            while orderID == nil {
                print("demo: question \(question.id.uuidString.lowercased()): \"\(question.text)\"")
                let questionID = question.id
                let answered = { () async throws -> StoredAnswer? in
                    try await client.withConnection { try await QuestionStore.answer(to: questionID, on: $0, logger: logger) }
                }
                if human {
                    print("demo: waiting up to \(Int(waitHuman)) s for you to approve or skip it on the approval page…")
                    _ = try await poll(seconds: waitHuman, every: 0.2, what: "an answer on the approval page") { try await answered() }
                } else if approveAfter > 0 {
                    print("demo: approving in \(Int(approveAfter)) s unless someone answers on the approval page first…")
                    let deadline = ContinuousClock.now + .seconds(approveAfter)
                    while ContinuousClock.now < deadline, try await answered() == nil { try await Task.sleep(for: .milliseconds(200)) }
                }
                // Answering again only replays the first answer: after a person's, this reports theirs.
                let answer = try await pipeline.answers.answer(questionID: question.id, firebaseUID: Self.uid, value: .number(10))
                print(answer.repeated ? "demo: answered on the approval page → \(answer.outcome.name): \(answer.detail)"
                                      : "demo: answered +10 → \(answer.outcome.name): \(answer.detail)")
                switch answer.outcome {
                case .ordered(let id, _):
                    orderID = id
                case .skipped where answer.repeated:
                    print("demo: skipped on the approval page: no order, nothing more to show")
                    return
                case .askedAgain(let next) where human, .followUp(let next) where human:
                    // A person took long enough for the price to move: the pipeline asks again.
                    guard let again = try await client.withConnection({ try await QuestionStore.question(next, on: $0, logger: logger) }) else {
                        throw CommandFailure("demo: follow-up question \(next) not found")
                    }
                    question = again
                default:
                    throw CommandFailure("demo: the approval did not place an order")
                }
            }
            guard let orderID else { return }
            let order = try await poll(seconds: waitFill, every: 0.2, what: "the fill") { () -> StoredOrder? in
                let order = try await client.withConnection { try await OrderStore.order(orderID, on: $0, logger: logger) }
                return order?.isTerminal == true ? order : nil
            }
            try await printTimeline(client: client, question: question, order: order, logger: logger)
            guard order.status == OrderStatus.filled else { throw CommandFailure("demo: the order ended \(order.status): \(order.statusReason ?? "")") }
        }
    }

    func poll<T: Sendable>(seconds: Double, every interval: Double, what: String, _ probe: () async throws -> T?) async throws -> T {
        let deadline = ContinuousClock.now + .seconds(seconds)
        var lastNote = ContinuousClock.now
        while ContinuousClock.now < deadline {
            if let value = try await probe() { return value }
            if ContinuousClock.now - lastNote > .seconds(5) {
                print("demo: still waiting for \(what)…")
                lastNote = ContinuousClock.now
            }
            try await Task.sleep(for: .seconds(interval))
        }
        throw CommandFailure("demo: no \(what) within \(Int(seconds)) s; are the simulator, scheduler and workers running? (see the logs ops/demo.sh names)")
    }

    func printTimeline(client: PostgresClient, question: StoredQuestion, order: StoredOrder, logger: Logger) async throws {
        let askedPrice: Decimal = question.metadata["price"].flatMap { if case .number(let n) = $0 { n } else { nil } } ?? 0
        let snapshot = try await client.withConnection { db -> (Decimal?, Date, Date)? in
            let rows = try await db.query("""
                SELECT price, as_of, created_at FROM market_data_snapshots
                WHERE symbol = 'SPY' AND metric = 'last_trade' AND as_of <= \(question.createdAt) + interval '1 day'
                  AND price = \(askedPrice)
                ORDER BY created_at LIMIT 1
                """, logger: logger)
            for try await row in rows.decode((Decimal?, Date, Date).self) { return row }
            return nil
        }
        let answerAt = try await client.withConnection { db -> Date? in
            for try await at in try await db.query("SELECT created_at FROM answers WHERE question_id = \(question.id)", logger: logger).decode(Date.self) { return at }
            return nil
        }
        func clock(_ date: Date?) -> String { date.map { $0.formatted(.iso8601.time(includingFractionalSeconds: true)) } ?? "-" }
        let explanation = question.metadata["explanation"].flatMap { if case .string(let s) = $0 { s } else { nil } } ?? ""
        print("")
        print("== timeline (wall clock UTC; market times are the replay's) ==")
        if let snapshot {
            print("\(clock(snapshot.2))  snapshot   SPY last_trade \(snapshot.0.map { Money.format($0) } ?? "?") as_of \(snapshot.1.formatted(.iso8601)) (market)")
        }
        let evaluatedAt = question.metadata["evaluated_at"].flatMap { if case .string(let s) = $0 { s } else { nil } } ?? "?"
        print("\(clock(question.createdAt))  rule fired \(explanation) (market \(evaluatedAt))")
        print("\(clock(question.createdAt))  question   \(question.id.uuidString.lowercased()) pipeline_step=\(question.pipelineStep ?? "")")
        print("\(clock(question.deliveredAt))  delivered  NOTIFY hybridhub_questions")
        print("\(clock(answerAt))  answer     +10 approve")
        print("\(clock(order.createdAt))  order      trade_order \(order.id.uuidString.lowercased()) client_order_id \(order.clientOrderID) rule \(order.ruleID ?? "")")
        print("\(clock(order.updatedAt))  \(order.status.padding(toLength: 10, withPad: " ", startingAt: 0)) alpaca \(order.alpacaOrderID ?? "-") qty \(order.filledQty.map { "\($0)" } ?? "-") @ \(order.filledAvgPrice.map { Money.format($0, scale: 4) } ?? "-") filled_at \(order.filledAt.map { $0.formatted(.iso8601) } ?? "-") (market)")
    }
}
