import Foundation
import HybridSettings
import HybridStore
import Logging
import MarketReplay
import PostgresNIO
import TradingCore

/// The demo of the foundation: the plan's §17 user, their dip rule, and the committed
/// 2011-03-16 SPY minute bars replayed minute by minute on a simulated clock. Each bar becomes
/// a `last_trade` snapshot; the user is evaluated at the bar's close; the demo prints when the
/// rule fires and why, and that the open question holds it back afterwards (cooldown).
public struct ReplayDemo: Sendable {
    public static let userUID = "plan17-user-u"
    public static let templateName = "default_paper_watchlist"
    /// The §17 override: watch only SPY (data inputs merge by id), keep the template's rule.
    public static let override: JSONValue = .object([
        "data_inputs": .array([.object(["id": .string("primary_watchlist"), "symbols": .array([.string("SPY")])])]),
        "rules": .array([.object(["id": .string("dip_confirm"), "max_staleness_seconds": .number(120)])]),
    ])

    public var day: String = "2011-03-16"
    public var symbol: String = "SPY"
    public let client: PostgresClient
    public let market: MarketDataSet
    public let logger: Logger
    public let output: @Sendable (String) -> Void

    public init(client: PostgresClient, market: MarketDataSet, logger: Logger, output: @escaping @Sendable (String) -> Void) {
        self.client = client
        self.market = market
        self.logger = logger
        self.output = output
    }

    public struct Summary: Sendable {
        public var barsReplayed: Int
        public var firstFire: RuleEvaluation?
        public var firstFireAt: Date?
        public var questionID: UUID?
        public var questionText: String?
        public var heldBackByCooldown: Int
        public var questionsAsked: Int
    }

    public func run() async throws -> Summary {
        let bars = market.minuteBars(symbol: symbol, day: day, regularHoursOnly: true)
        guard !bars.isEmpty, let previous = market.previousClose(symbol: symbol, before: day) else {
            throw DemoError.noData("no \(symbol) minute bars or previous close for \(day) in data/market")
        }
        output("== HybridHub replay demo: \(symbol) on \(day), \(bars.count) regular-session minute bars ==")
        try await seedUser()
        output("seeded user \(Self.userUID): template \(Self.templateName) + override \(Self.override.canonicalString())")

        // The previous close, stamped at that session's 16:00 ET close.
        let ymd = previous.day.split(separator: "-").compactMap { Int($0) }
        guard ymd.count == 3, let closeTime = MarketTime.date(year: ymd[0], month: ymd[1], day: ymd[2], hour: 16) else {
            throw DemoError.noData("bad daily bar date \(previous.day)")
        }
        let prevClose = SnapshotInsert(symbol: symbol, metric: .prevClose, price: previous.close, volume: previous.volume,
                                       asOf: closeTime, raw: .object(["source": .string("yahoo daily"), "day": .string(previous.day)]))
        _ = try await client.withConnection { try await TradingStore.insertSnapshots([prevClose], on: $0, logger: logger) }
        output("prev_close \(symbol) \(Money.format(previous.close)) (session \(previous.day))")

        let evaluator = UserEvaluator(client: client, logger: logger)
        var summary = Summary(barsReplayed: 0, heldBackByCooldown: 0, questionsAsked: 0)
        for bar in bars {
            let snapshot = SnapshotInsert(
                symbol: symbol, metric: .lastTrade, price: bar.close, volume: bar.volume, asOf: bar.end,
                raw: .object(["o": .number(bar.open), "h": .number(bar.high), "l": .number(bar.low),
                              "c": .number(bar.close), "v": .number(bar.volume), "source": .string("pyalgotrade nt-spy-minute")]))
            _ = try await client.withConnection { try await TradingStore.insertSnapshots([snapshot], on: $0, logger: logger) }
            let result = try await evaluator.evaluate(firebaseUID: Self.userUID, now: bar.end, snapshotsAsOf: true)
            summary.barsReplayed += 1
            let clock = Self.easternClock(bar.end)
            for asked in result.asked {
                summary.questionsAsked += 1
                if summary.firstFire == nil {
                    summary.firstFire = asked.evaluation
                    summary.firstFireAt = bar.end
                    summary.questionID = asked.questionID
                    summary.questionText = asked.questionText
                }
                output("\(clock) ET  FIRED  \(asked.evaluation.explanation)")
                output("             question \(asked.questionID.uuidString.lowercased()) pipeline_step=\(asked.evaluation.ruleID):await_confirm")
                output("             \"\(asked.questionText)\"")
            }
            for evaluation in result.evaluations {
                if case .blockedByCooldown = evaluation.outcome { summary.heldBackByCooldown += 1 }
            }
            if Self.isHalfHour(bar.end), let evaluation = result.evaluations.first, result.asked.isEmpty {
                output("\(clock) ET  \(evaluation.explanation)")
            }
        }
        output("== \(summary.barsReplayed) bars replayed; \(summary.questionsAsked) question(s) asked; "
               + "\(summary.heldBackByCooldown) later evaluation(s) crossed the threshold but were held back by the open question (cooldown) ==")
        return summary
    }

    /// Resets and seeds the §17 user so the demo can run again and again.
    private func seedUser() async throws {
        try await client.transaction(logger: logger) { db in
            try await db.query("DELETE FROM user_trading_state WHERE firebase_uid = \(Self.userUID)", logger: logger)
            try await db.query("DELETE FROM questions WHERE firebase_uid = \(Self.userUID)", logger: logger)
            try await TradingStore.upsertUser(Self.userUID, displayName: "Plan §17 user U", on: db, logger: logger)
            try await TradingStore.upsertUserConfig(Self.userUID, templateName: Self.templateName,
                                                    override: Self.override, enabled: true, on: db, logger: logger)
        }
    }

    static func easternClock(_ date: Date) -> String {
        let parts = MarketTime.calendar.dateComponents([.hour, .minute], from: date)
        return String(format: "%02d:%02d", parts.hour ?? 0, parts.minute ?? 0)
    }

    static func isHalfHour(_ date: Date) -> Bool {
        (MarketTime.calendar.dateComponents([.minute], from: date).minute ?? 1) % 30 == 0
    }
}

public enum DemoError: Error, CustomStringConvertible {
    case noData(String)
    public var description: String {
        switch self {
        case .noData(let message): message
        }
    }
}
