import Foundation
import HybridStore
import JobEngine
import Logging
import PostgresNIO
import TradingCore
import TradingJobs

/// What one evaluation of a user's rules did.
public struct UserEvaluationResult: Sendable {
    public struct Asked: Sendable {
        public var evaluation: RuleEvaluation
        public var questionID: UUID
        public var questionText: String
    }

    /// Why a rule that fired asked nothing.
    public struct HeldBack: Sendable {
        public var ruleID: String
        public var reason: String
    }

    public var evaluations: [RuleEvaluation] = []
    public var asked: [Asked] = []
    public var heldBack: [HeldBack] = []
    public var expired: [UUID] = []
}

extension TradingPipeline {
    /// `evaluate-user`: effective config → latest snapshots → rule engine → guardrail
    /// pre-check → in one transaction under a row lock on the user's trading state: expired
    /// questions closed, the question, the cooldown and the `deliver-question` job.
    func evaluate(_ job: EvaluateUser, _ context: JobContext) async throws -> JobOutcome {
        let result = try await evaluate(firebaseUID: job.firebaseUID, now: try await clock.now(), logger: context.logger)
        if !result.asked.isEmpty || !result.heldBack.isEmpty {
            context.logger.info("user evaluated", metadata: [
                "user.uid": "\(job.firebaseUID)", "rules.fired": "\(result.asked.count)", "rules.held_back": "\(result.heldBack.count)",
            ])
        }
        return .complete
    }

    /// `now` is the trading clock's instant (the replayed one in a replay).
    ///
    /// Most evaluations fire nothing. They are settled by two reads without a transaction or a
    /// lock; only when a rule fires or a question is due to expire does the evaluation run
    /// again under the row lock, where the decision is made (and made once).
    public func evaluate(firebaseUID uid: String, now: Date, logger: Logger? = nil) async throws -> UserEvaluationResult {
        let logger = logger ?? self.logger
        if let quiet = try await quietEvaluation(uid, now: now, logger: logger) { return quiet }
        return try await client.transaction(logger: logger) { db in
            let config = try await effectiveConfig(uid, on: db).config
            var state = try await TradingStore.lockTradingContext(uid, on: db, logger: logger)
            var result = UserEvaluationResult()
            for question in try await QuestionStore.expireDue(of: uid, on: db, logger: logger) {
                result.expired.append(question.id)
                if let ruleID = question.ruleID, let rule = config.rule(id: ruleID) {
                    state[rule: ruleID] = Cooldown.questionClosed(state[rule: ruleID], questionID: question.id.uuidString.lowercased(),
                                                                   at: now, cooldownSeconds: rule.cooldownSeconds)
                }
            }
            PipelineMetrics.questionsExpired(result.expired.count)
            var openQuestions = try await QuestionStore.countOpen(of: uid, on: db, logger: logger)
            let snapshots = try await TradingStore.latestSnapshots(symbols: Array(config.watchlist).sorted(), asOf: now,
                                                                   on: db, logger: logger)
            var prior: [PlacedOrder]?
            for rule in config.rules {
                let evaluation = RuleEngine.evaluate(rule: rule, snapshots: snapshots, now: now, cooldown: state[rule: rule.id])
                result.evaluations.append(evaluation)
                RuleMetrics.evaluated(evaluation)
                guard evaluation.fired, let values = evaluation.templateValues else { continue }
                guard openQuestions < config.guardrails.maxOpenQuestions else {
                    result.heldBack.append(.init(ruleID: rule.id, reason: "\(openQuestions) open questions (max_open_questions \(config.guardrails.maxOpenQuestions))"))
                    continue
                }
                // Pre-check: never ask for an order the guardrails would refuse anyway.
                if prior == nil { prior = try await OrderStore.countedOrders(of: uid, around: now, on: db, logger: logger) }
                let proposal = OrderProposal(rule: rule, referencePrice: evaluation.price)
                let check = GuardrailPolicy.check(proposal: proposal, config: config, gate: settings.gate, priorOrders: prior ?? [],
                                                  questionApproved: true, now: now)
                guard check.allowed else {
                    result.heldBack.append(.init(ruleID: rule.id, reason: check.refusals.map(\.description).joined(separator: "; ")))
                    continue
                }
                let text = QuestionTemplate.render(rule.questionTemplate, values: values)
                let id = try await askQuestion(NewQuestion(
                    firebaseUID: uid, text: text, sourceTag: "trading:rule:\(rule.id)", pipelineKey: "trading",
                    pipelineStep: "\(rule.id):await_confirm", correctAnswer: 10,
                    metadata: Self.questionMetadata(evaluation, proposal: proposal, now: now),
                    expiresInSeconds: settings.questionTTLSeconds), on: db, logger: logger)
                state[rule: rule.id] = Cooldown.fired(state[rule: rule.id], questionID: id.uuidString.lowercased(),
                                                      at: now, cooldownSeconds: rule.cooldownSeconds)
                openQuestions += 1
                result.asked.append(.init(evaluation: evaluation, questionID: id, questionText: text))
                logger.info("rule fired", metadata: ["user.uid": "\(uid)", "rule.id": "\(rule.id)", "question.id": "\(id)"])
            }
            for held in result.heldBack {
                logger.info("rule fired but no question asked", metadata: ["user.uid": "\(uid)", "rule.id": "\(held.ruleID)", "reason": "\(held.reason)"])
            }
            try await TradingStore.saveTradingContext(uid, state, evaluatedAt: now, on: db, logger: logger)
            return result
        }
    }

    /// The lock-free read: nil when something may need writing (a rule fires, a question is
    /// due to expire), else the evaluations.
    func quietEvaluation(_ uid: String, now: Date, logger: Logger) async throws -> UserEvaluationResult? {
        try await client.withConnection { db -> UserEvaluationResult? in
            guard let view = try await TradingStore.evaluationView(uid, on: db, logger: logger) else { throw PipelineError.noConfig(uid) }
            guard view.questionsDueToExpire == 0 else { return nil }
            let config: TradingConfig
            switch try configCache.effective(uid: uid, view: view) {
            case .success(let effective): config = effective
            case .failure(let error): throw PipelineError.invalidConfig(uid, error)
            }
            let snapshots = try await TradingStore.latestSnapshots(symbols: Array(config.watchlist).sorted(), asOf: now, on: db, logger: logger)
            var result = UserEvaluationResult()
            for rule in config.rules {
                let evaluation = RuleEngine.evaluate(rule: rule, snapshots: snapshots, now: now, cooldown: view.context[rule: rule.id])
                if evaluation.fired { return nil }
                result.evaluations.append(evaluation)
            }
            return result
        }
    }

    /// Inserts a question and its `deliver-question` job in the caller's transaction.
    func askQuestion(_ question: NewQuestion, on db: PostgresConnection, logger: Logger) async throws -> UUID {
        let id = try await TradingStore.insertQuestion(question, on: db, logger: logger)
        _ = try await JobStore.enqueue(try TradingJobCatalog.deliverQuestion.job(DeliverQuestion(questionID: id)), on: db, logger: logger)
        PipelineMetrics.questionCreated(step: question.pipelineStep)
        return id
    }

    /// What the question carries for the app and the audit trail (plan §5.6).
    static func questionMetadata(_ evaluation: RuleEvaluation, proposal: OrderProposal, now: Date) -> JSONValue {
        var fields: [String: JSONValue] = [
            "rule_id": .string(evaluation.ruleID),
            "symbol": .string(evaluation.symbol),
            "threshold_pct": .number(evaluation.thresholdPct),
            "explanation": .string(evaluation.explanation),
            "side": .string(proposal.side.rawValue),
            "evaluated_at": .string(now.formatted(.iso8601)),
        ]
        if let price = evaluation.price { fields["price"] = .number(price) }
        if let reference = evaluation.reference { fields["reference"] = .number(reference) }
        if let pct = evaluation.changePct { fields["pct"] = .number(pct) }
        if let age = evaluation.priceAgeSeconds { fields["data_age_seconds"] = .number(Decimal(age)) }
        if let asOf = evaluation.priceAsOf { fields["price_as_of"] = .string(asOf.formatted(.iso8601)) }
        if let notional = proposal.notionalUSD { fields["notional_usd"] = .number(notional) }
        if let qty = proposal.qty { fields["qty"] = .number(qty) }
        return .object(fields)
    }
}

extension OrderProposal {
    /// The order a rule proposes (its `on_answer_match`), bounded by the question's price.
    init(rule: Rule, referencePrice: Decimal?) {
        self.init(symbol: rule.symbol, side: rule.onAnswerMatch.side, notionalUSD: rule.onAnswerMatch.notionalUSD,
                  qty: rule.onAnswerMatch.qty, referencePrice: referencePrice)
    }
}
