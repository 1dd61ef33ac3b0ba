import AlpacaModels
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

    /// A fired rule whose order the broker would refuse, explained in a question instead.
    public struct Refused: Sendable {
        public var ruleID: String
        public var questionID: UUID
        public var refusals: [PreflightRefusal]
    }

    public var evaluations: [RuleEvaluation] = []
    public var asked: [Asked] = []
    public var heldBack: [HeldBack] = []
    public var refused: [Refused] = []
    public var expired: [UUID] = []
}

/// The lock-free read's verdict: settled, or something to decide under the lock.
enum QuietRead {
    case settled(UserEvaluationResult)
    /// Rules fired (with the proposals to pre-flight) or a question is due to expire; what was
    /// read, so that the decision need not read it again when nothing changed meanwhile.
    case decide(fired: [(rule: Rule, evaluation: RuleEvaluation)], view: TradingStore.EvaluationView, snapshots: [SnapshotRow])
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
        let fired: [(rule: Rule, evaluation: RuleEvaluation)]
        let quietView: TradingStore.EvaluationView
        let quietSnapshots: [SnapshotRow]
        switch try await quietEvaluation(uid, now: now, logger: logger) {
        case .settled(let result): return result
        case .decide(let rules, let view, let snapshots): (fired, quietView, quietSnapshots) = (rules, view, snapshots)
        }
        // The broker's pre-flight for what fired, before the row lock: network calls never
        // run while the user's state is locked.
        var preflights: [String: PreflightResult] = [:]
        for (rule, evaluation) in fired {
            preflights[rule.id] = try await preflight(OrderProposal(rule: rule, referencePrice: evaluation.price), now: now)
        }
        // Few statements, as a burst of crossings runs hundreds of these at once: the lock and
        // the config in one, expiry only when the read saw a question due (one that runs out
        // meanwhile does not count as open, and the next evaluation closes it), and the read's
        // snapshots when its documents are still the stored ones.
        return try await client.transaction(logger: logger) { db in
            guard let locked = try await TradingStore.lockEvaluationView(uid, on: db, logger: logger) else { throw PipelineError.noConfig(uid) }
            let config = try effectiveConfig(uid, view: locked)
            var state = locked.context
            var result = UserEvaluationResult()
            if quietView.questionsDueToExpire > 0 {
                for question in try await QuestionStore.expireDue(of: uid, on: db, logger: logger) {
                    result.expired.append(question.id)
                    if let ruleID = question.ruleID, let rule = config.rule(id: ruleID) {
                        state[rule: ruleID] = Cooldown.questionClosed(state[rule: ruleID], questionID: question.id.uuidString.lowercased(),
                                                                       at: now, cooldownSeconds: rule.cooldownSeconds)
                    }
                }
                PipelineMetrics.questionsExpired(result.expired.count)
            }
            var openQuestions = try await QuestionStore.countOpen(of: uid, on: db, logger: logger)
            let snapshots = locked.sameDocuments(as: quietView) ? quietSnapshots
                : try await TradingStore.latestSnapshots(symbols: Array(config.watchlist).sorted(), asOf: now, on: db, logger: logger)
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
                // It fired only now (the data moved since the read): pre-flight it next time.
                guard let preflight = preflights[rule.id] else {
                    result.heldBack.append(.init(ruleID: rule.id, reason: "the broker's pre-flight is pending"))
                    continue
                }
                let ruleText = QuestionTemplate.render(rule.questionTemplate, values: values)
                var metadata = Self.questionMetadata(evaluation, proposal: proposal, now: now)
                metadata = ConfigMerge.merge(template: metadata, override: Self.preflightMetadata(preflight))
                if !preflight.allowed {
                    PipelineMetrics.preflightRefused(preflight.refusals)
                    let reason = preflight.refusals.map(\.description).joined(separator: "; ")
                    guard config.guardrails.onBrokerRefusal == .explain else {
                        result.heldBack.append(.init(ruleID: rule.id, reason: "the broker would refuse the order: \(reason)"))
                        continue
                    }
                    let id = try await askQuestion(NewQuestion(
                        firebaseUID: uid, text: String(preflight.refusalText(explanation: evaluation.explanation, proposal: proposal).prefix(600)),
                        sourceTag: "trading:rule:\(rule.id)", pipelineKey: "trading", pipelineStep: "\(rule.id):preflight_refused",
                        correctAnswer: 10, metadata: metadata, expiresInSeconds: settings.questionTTLSeconds), on: db, logger: logger)
                    state[rule: rule.id] = Cooldown.fired(state[rule: rule.id], questionID: id.uuidString.lowercased(),
                                                          at: now, cooldownSeconds: rule.cooldownSeconds)
                    openQuestions += 1
                    result.refused.append(.init(ruleID: rule.id, questionID: id, refusals: preflight.refusals))
                    logger.info("rule fired; the broker would refuse the order", metadata: [
                        "user.uid": "\(uid)", "rule.id": "\(rule.id)", "question.id": "\(id)", "reason": "\(reason)",
                    ])
                    continue
                }
                let text = [ruleText, preflight.closedMarketNote].compactMap { $0 }.joined(separator: " ")
                let id = try await askQuestion(NewQuestion(
                    firebaseUID: uid, text: text, sourceTag: "trading:rule:\(rule.id)", pipelineKey: "trading",
                    pipelineStep: "\(rule.id):await_confirm", correctAnswer: 10, metadata: metadata,
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

    /// The lock-free read: settled when nothing needs writing, else the rules that fired (a
    /// question due to expire also needs the lock).
    func quietEvaluation(_ uid: String, now: Date, logger: Logger) async throws -> QuietRead {
        try await client.withConnection { db -> QuietRead in
            guard let view = try await TradingStore.evaluationView(uid, on: db, logger: logger) else { throw PipelineError.noConfig(uid) }
            let config = try effectiveConfig(uid, view: view)
            let snapshots = try await TradingStore.latestSnapshots(symbols: Array(config.watchlist).sorted(), asOf: now, on: db, logger: logger)
            var result = UserEvaluationResult()
            var fired: [(rule: Rule, evaluation: RuleEvaluation)] = []
            for rule in config.rules {
                let evaluation = RuleEngine.evaluate(rule: rule, snapshots: snapshots, now: now, cooldown: view.context[rule: rule.id])
                if evaluation.fired { fired.append((rule, evaluation)) }
                result.evaluations.append(evaluation)
            }
            return fired.isEmpty && view.questionsDueToExpire == 0 ? .settled(result) : .decide(fired: fired, view: view, snapshots: snapshots)
        }
    }

    /// The effective config of stored documents, parsed once per worker (`ConfigCache`).
    func effectiveConfig(_ uid: String, view: TradingStore.EvaluationView) throws -> TradingConfig {
        switch try configCache.effective(uid: uid, view: view) {
        case .success(let effective): return effective
        case .failure(let error): throw PipelineError.invalidConfig(uid, error)
        }
    }

    /// Would the broker accept the order a rule proposes? Its asset, the account's buying
    /// power, the position for a sell, and the market clock (`BrokerFactsCache`).
    func preflight(_ proposal: OrderProposal, now: Date) async throws -> PreflightResult {
        BrokerPreflight.check(proposal, facts: try await brokerFacts.facts(for: proposal, trading: trading, now: now))
    }

    static func preflightMetadata(_ preflight: PreflightResult) -> JSONValue {
        var fields: [String: JSONValue] = ["market_open": .bool(preflight.marketOpen)]
        if let at = preflight.executesAt { fields["executes_at"] = .string(at.formatted(.iso8601)) }
        if !preflight.allowed {
            fields["refusals"] = .array(preflight.refusals.map { .object(["code": .string($0.code), "reason": .string($0.description)]) })
        }
        return .object(["preflight": .object(fields)])
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
