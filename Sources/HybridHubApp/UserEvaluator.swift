import Foundation
import HybridStore
import Logging
import PostgresNIO
import TradingCore

/// What one evaluation of a user's rules did.
public struct UserEvaluationResult: Sendable {
    public struct Asked: Sendable {
        public var evaluation: RuleEvaluation
        public var questionID: UUID
        public var questionText: String
    }

    public var evaluations: [RuleEvaluation]
    public var asked: [Asked]
}

public enum UserEvaluationError: Error, CustomStringConvertible {
    case noConfig(String)
    case invalidConfig(String, ConfigValidationError)

    public var description: String {
        switch self {
        case .noConfig(let uid): "user \(uid) has no trading config"
        case .invalidConfig(let uid, let error): "user \(uid) has an invalid effective config:\n\(error)"
        }
    }
}

/// Effective config → latest snapshots → rule engine → (for rules that fire) the question and
/// the cooldown, in one transaction under a row lock on the user's trading state, so two
/// evaluations of one user cannot both ask.
public struct UserEvaluator: Sendable {
    public let client: PostgresClient
    public let logger: Logger
    /// How long a trading question stays open.
    public var questionTTLSeconds: Int = 900

    public init(client: PostgresClient, logger: Logger) {
        self.client = client
        self.logger = logger
    }

    /// `now` is injected: the wall clock in production, the replayed instant in the demo.
    /// `snapshotsAsOf` reads the data as it was at `now` (replays store the whole day up front).
    public func evaluate(firebaseUID uid: String, now: Date, snapshotsAsOf: Bool = false) async throws -> UserEvaluationResult {
        try await client.transaction(logger: logger) { db in
            guard let stored = try await TradingStore.userConfig(uid, on: db, logger: logger) else {
                throw UserEvaluationError.noConfig(uid)
            }
            let effective: EffectiveTradingConfig
            switch stored.effective {
            case .success(let value): effective = value
            case .failure(let error): throw UserEvaluationError.invalidConfig(uid, error)
            }
            var context = try await TradingStore.lockTradingContext(uid, on: db, logger: logger)
            let config = effective.config
            let snapshots = try await TradingStore.latestSnapshots(
                symbols: Array(config.watchlist).sorted(), asOf: snapshotsAsOf ? now : nil, on: db, logger: logger)

            var result = UserEvaluationResult(evaluations: [], asked: [])
            for rule in config.rules {
                let evaluation = RuleEngine.evaluate(rule: rule, snapshots: snapshots, now: now, cooldown: context[rule: rule.id])
                result.evaluations.append(evaluation)
                guard evaluation.fired, let values = evaluation.templateValues else { continue }
                let text = QuestionTemplate.render(rule.questionTemplate, values: values)
                let id = try await TradingStore.insertQuestion(NewQuestion(
                    firebaseUID: uid, text: text, sourceTag: "trading:rule:\(rule.id)", pipelineKey: "trading",
                    pipelineStep: "\(rule.id):await_confirm", correctAnswer: 10,
                    metadata: Self.metadata(evaluation), expiresInSeconds: questionTTLSeconds), on: db, logger: logger)
                context[rule: rule.id] = Cooldown.fired(context[rule: rule.id], questionID: id.uuidString.lowercased(),
                                                         at: now, cooldownSeconds: rule.cooldownSeconds)
                result.asked.append(.init(evaluation: evaluation, questionID: id, questionText: text))
                logger.info("rule fired", metadata: ["user.uid": "\(uid)", "rule.id": "\(rule.id)", "question.id": "\(id)"])
            }
            try await TradingStore.saveTradingContext(uid, context, evaluatedAt: now, on: db, logger: logger)
            return result
        }
    }

    /// What the question carries for the app and the audit trail (plan §5.6).
    static func metadata(_ evaluation: RuleEvaluation) -> JSONValue {
        var fields: [String: JSONValue] = [
            "rule_id": .string(evaluation.ruleID),
            "symbol": .string(evaluation.symbol),
            "threshold_pct": .number(evaluation.thresholdPct),
            "explanation": .string(evaluation.explanation),
        ]
        if let price = evaluation.price { fields["price"] = .number(price) }
        if let reference = evaluation.reference { fields["reference"] = .number(reference) }
        if let pct = evaluation.changePct { fields["pct"] = .number(pct) }
        if let age = evaluation.priceAgeSeconds { fields["data_age_seconds"] = .number(Decimal(age)) }
        if let asOf = evaluation.priceAsOf { fields["price_as_of"] = .string(asOf.formatted(.iso8601)) }
        return .object(fields)
    }
}
