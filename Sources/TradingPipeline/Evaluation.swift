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

/// One user's outcome in a batch: their result, or why their evaluation failed (the job retries
/// or gives up by the error's kind; the rest of the batch is unaffected).
public typealias EvaluationOutcome = Result<UserEvaluationResult, any Error>

/// A user whose lock-free read found something to decide under the lock: rules that fired (with
/// the broker's pre-flight of their proposals) or a question due to expire; what was read, so
/// that the decision need not read it again when the documents did not change meanwhile.
struct PendingDecision {
    var uid: String
    var view: TradingStateStore.EvaluationView
    var snapshots: [SnapshotRow]
    var fired: [(rule: Rule, evaluation: RuleEvaluation)]
    var preflights: [String: PreflightResult] = [:]
}

/// What deciding one user produced: the result, the new trading context, the questions to
/// insert, and the metrics and log lines that only hold once the batch has committed.
struct UserDecision {
    var result = UserEvaluationResult()
    var state: TradingContext
    var questions: [(id: UUID, question: NewQuestion)] = []
    var afterCommit: [@Sendable () -> Void] = []
}

extension TradingPipeline {
    /// `evaluate-user`: effective config → latest snapshots → rule engine → guardrail
    /// pre-check → in one transaction under a row lock on the user's trading state: expired
    /// questions closed, the question, the cooldown and the `deliver-question` job. Runs of
    /// this process that overlap are evaluated together (`EvaluationBatcher`).
    func evaluate(_ job: EvaluateUser, _ context: JobContext) async throws -> JobOutcome {
        // TRADING_WORKER_EVAL_ENABLED=false or TRADING_ENABLED=false in this process: nothing is asked here.
        guard settings.evaluateEnabled && settings.tradingEnabled else {
            context.logger.debug("evaluation off in this process", metadata: ["user.uid": "\(job.firebaseUID)"])
            return .complete
        }
        let outcome = await evaluationBatcher.evaluate(job.firebaseUID) { uids in
            try await self.evaluateIsolatingFailures(uids, now: try await self.clock.now(), logger: self.logger)
        }
        let result = try outcome.get()
        if !result.asked.isEmpty || !result.heldBack.isEmpty {
            context.logger.info("user evaluated", metadata: [
                "user.uid": "\(job.firebaseUID)", "rules.fired": "\(result.asked.count)", "rules.held_back": "\(result.heldBack.count)",
            ])
        }
        return .complete
    }

    /// A batch that fails as a whole (a database error, one user's unreadable state) is tried
    /// again user by user: one user's trouble does not use up the others' attempts.
    func evaluateIsolatingFailures(_ uids: [String], now: Date, logger: Logger) async throws -> [String: EvaluationOutcome] {
        do {
            return try await evaluate(users: uids, now: now, logger: logger)
        } catch where uids.count > 1 {
            logger.warning("evaluation batch failed; evaluating its users one by one",
                           metadata: ["batch.users": "\(uids.count)", "error": "\(String(reflecting: error))"])
            var outcomes: [String: EvaluationOutcome] = [:]
            for uid in uids {
                do {
                    outcomes.merge(try await evaluate(users: [uid], now: now, logger: logger)) { _, new in new }
                } catch {
                    outcomes[uid] = .failure(error)
                }
            }
            return outcomes
        }
    }

    /// One user's evaluation; `now` is the trading clock's instant (the replayed one in a replay).
    public func evaluate(firebaseUID uid: String, now: Date, logger: Logger? = nil) async throws -> UserEvaluationResult {
        let outcomes = try await evaluate(users: [uid], now: now, logger: logger ?? self.logger)
        guard let outcome = outcomes[uid] else { throw PipelineError.noConfig(uid) }
        return try outcome.get()
    }

    /// Evaluates several users in a fixed number of statements, however many they are: a
    /// burst of crossings costs statements, not users.
    ///
    /// Most evaluations fire nothing. They are settled by two reads without a transaction or a
    /// lock (for the whole batch); only users with a rule that fired or a question due to
    /// expire are decided again in one transaction under their row locks, where the decision
    /// is made (and made once). A failure of one user's config or pre-flight is that user's
    /// outcome; a database error fails the batch.
    public func evaluate(users: [String], now: Date, logger: Logger) async throws -> [String: EvaluationOutcome] {
        let uids = Array(Set(users)).sorted()
        guard !uids.isEmpty else { return [:] }
        var (outcomes, pending) = try await quietEvaluation(uids, now: now, logger: logger)
        // The broker's pre-flight for what fired, before the row locks (network calls never run
        // while users' states are locked), for all users at once (the facts cache makes one
        // broker call per missing fact, however many wait for it).
        let preflights = await withTaskGroup(of: (String, Result<[String: PreflightResult], any Error>).self) { group in
            for user in pending where !user.fired.isEmpty {
                let fired = user.fired.map { (ruleID: $0.rule.id, proposal: OrderProposal(rule: $0.rule, referencePrice: $0.evaluation.price)) }
                group.addTask {
                    do {
                        var results: [String: PreflightResult] = [:]
                        for rule in fired { results[rule.ruleID] = try await self.preflight(rule.proposal, now: now) }
                        return (user.uid, .success(results))
                    } catch {
                        return (user.uid, .failure(error))
                    }
                }
            }
            return await group.reduce(into: [:]) { $0[$1.0] = $1.1 }
        }
        for index in pending.indices {
            switch preflights[pending[index].uid] {
            case .success(let results): pending[index].preflights = results
            case .failure(let error): outcomes[pending[index].uid] = .failure(error)
            case nil: break
            }
        }
        pending.removeAll { outcomes[$0.uid] != nil }
        guard !pending.isEmpty else { return outcomes }
        let decided = try await decideUnderLock(pending, now: now, logger: logger)
        return outcomes.merging(decided) { _, new in new }
    }

    /// The lock-free read of a batch: the settled users' outcomes, and the users to decide.
    func quietEvaluation(_ uids: [String], now: Date, logger: Logger) async throws -> ([String: EvaluationOutcome], [PendingDecision]) {
        try await client.withConnection { db in
            let views = try await TradingStateStore.evaluationViews(uids, on: db, logger: logger)
            var outcomes: [String: EvaluationOutcome] = [:]
            var configs: [(uid: String, view: TradingStateStore.EvaluationView, config: TradingConfig)] = []
            for uid in uids {
                guard let view = views[uid] else {
                    outcomes[uid] = .failure(PipelineError.noConfig(uid))
                    continue
                }
                do { configs.append((uid, view, try effectiveConfig(uid, view: view))) } catch { outcomes[uid] = .failure(error) }
            }
            let symbols = Set(configs.flatMap(\.config.watchlist)).sorted()
            let rows = symbols.isEmpty ? [] : try await SnapshotStore.latestSnapshots(symbols: symbols, asOf: now, on: db, logger: logger)
            let bySymbol = Dictionary(grouping: rows, by: \.symbol)
            var pending: [PendingDecision] = []
            for (uid, view, config) in configs {
                let snapshots = config.watchlist.sorted().flatMap { bySymbol[$0] ?? [] }
                var result = UserEvaluationResult()
                var fired: [(rule: Rule, evaluation: RuleEvaluation)] = []
                for rule in config.rules {
                    let evaluation = RuleEngine.evaluate(rule: rule, snapshots: snapshots, now: now, cooldown: view.context[rule: rule.id])
                    if evaluation.fired { fired.append((rule, evaluation)) }
                    result.evaluations.append(evaluation)
                }
                if fired.isEmpty && view.questionsDueToExpire == 0 {
                    outcomes[uid] = .success(result)
                } else {
                    pending.append(PendingDecision(uid: uid, view: view, snapshots: snapshots, fired: fired))
                }
            }
            return (outcomes, pending)
        }
    }

    /// One transaction for the whole batch: the users' rows locked (in uid order), expiry only
    /// for users whose read saw a question due (one that runs out meanwhile no longer counts as
    /// open, and the next evaluation closes it), open questions and counted orders read for all
    /// at once, each user decided, then every question, its `deliver-question` job and every
    /// context written in three statements. The decisions' metrics and log lines follow the
    /// commit (a batch that rolls back and is retried counts nothing twice).
    func decideUnderLock(_ pending: [PendingDecision], now: Date, logger: Logger) async throws -> [String: EvaluationOutcome] {
        let stateless = pending.filter { !$0.view.hasStateRow }.map(\.uid)
        if !stateless.isEmpty {
            try await client.withConnection { try await TradingStateStore.ensureTradingStates(stateless, on: $0, logger: logger) }
        }
        let (outcomes, afterCommit) = try await client.transaction(logger: logger) { db in
            // The halt first (shared): a halt that commits first stops this batch's questions.
            let halt = try await HaltStore.current(lock: true, on: db, logger: logger)
            let uids = pending.map(\.uid)
            // The lock, then a fresh read: under READ COMMITTED the locking statement's join sees
            // the config as it was before its wait; a config saved meanwhile (the user's switch,
            // which holds the same row lock) is visible only to the next statement.
            try await TradingStateStore.lockTradingStates(uids, on: db, logger: logger)
            let locked = try await TradingStateStore.evaluationViews(uids, on: db, logger: logger)
            let due = pending.filter { $0.view.questionsDueToExpire > 0 }.map(\.uid)
            let expired = due.isEmpty ? [:] : Dictionary(grouping: try await QuestionStore.expireDue(of: due, on: db, logger: logger),
                                                         by: \.firebaseUID)
            let open = try await QuestionStore.countOpen(of: uids, on: db, logger: logger)
            let prior = try await OrderStore.countedOrders(of: uids, around: now, on: db, logger: logger)
            var outcomes: [String: EvaluationOutcome] = [:]
            var questions: [(id: UUID, question: NewQuestion)] = []
            var contexts: [(uid: String, context: TradingContext)] = []
            var afterCommit: [@Sendable () -> Void] = []
            for user in pending {
                guard let view = locked[user.uid] else {
                    outcomes[user.uid] = .failure(PipelineError.noConfig(user.uid))
                    continue
                }
                let config: TradingConfig
                do { config = try effectiveConfig(user.uid, view: view) } catch {
                    outcomes[user.uid] = .failure(error)
                    continue
                }
                // The documents changed since the read: read the config's symbols again.
                let snapshots = view.sameDocuments(as: user.view) ? user.snapshots
                    : try await SnapshotStore.latestSnapshots(symbols: config.watchlist.sorted(), asOf: now, on: db, logger: logger)
                let decision = decide(user.uid, config: config, halt: halt, state: view.context, expired: expired[user.uid] ?? [],
                                      openQuestions: open[user.uid] ?? 0, prior: prior[user.uid] ?? [], snapshots: snapshots,
                                      preflights: user.preflights, now: now, logger: logger)
                questions += decision.questions
                afterCommit += decision.afterCommit
                contexts.append((user.uid, decision.state))
                outcomes[user.uid] = .success(decision.result)
            }
            try await QuestionStore.insertQuestions(questions, on: db, logger: logger)
            if !questions.isEmpty {
                let jobs = try questions.map { try TradingJobCatalog.deliverQuestion.job(DeliverQuestion(questionID: $0.id)) }
                _ = try await JobStore.enqueue(jobs, on: db, logger: logger)
            }
            try await TradingStateStore.saveTradingContexts(contexts, evaluatedAt: now, on: db, logger: logger)
            return (outcomes, afterCommit)
        }
        for effect in afterCommit { effect() }
        return outcomes
    }

    /// One user's decision under the lock, from what the transaction read: expired questions
    /// close their rules' cooldowns; each rule that fires asks (or explains a broker refusal)
    /// unless the open-question cap, the guardrails or a pending pre-flight hold it back.
    func decide(_ uid: String, config: TradingConfig, halt: TradingHalt = .running, state: TradingContext, expired: [StoredQuestion], openQuestions: Int,
                prior: [PlacedOrder], snapshots: [SnapshotRow], preflights: [String: PreflightResult], now: Date,
                logger: Logger) -> UserDecision {
        var decision = UserDecision(state: state)
        for question in expired {
            decision.result.expired.append(question.id)
            if let ruleID = question.ruleID, let rule = config.rule(id: ruleID) {
                decision.state[rule: ruleID] = Cooldown.questionClosed(decision.state[rule: ruleID], questionID: question.id.uuidString.lowercased(),
                                                                        at: now, cooldownSeconds: rule.cooldownSeconds)
            }
        }
        let expiredCount = decision.result.expired.count
        decision.afterCommit.append { PipelineMetrics.questionsExpired(expiredCount) }
        var openQuestions = openQuestions
        let switchedOff: IntentStop? = halt.halted ? .halted(reason: halt.reason ?? "no reason given", by: halt.setBy ?? "an operator")
            : !settings.tradingEnabled ? .serverOff : !config.enabled ? .userOff : nil
        func ask(_ rule: Rule, _ question: NewQuestion) -> UUID {
            let id = UUID()
            decision.questions.append((id, question))
            decision.state[rule: rule.id] = Cooldown.fired(decision.state[rule: rule.id], questionID: id.uuidString.lowercased(),
                                                           at: now, cooldownSeconds: rule.cooldownSeconds)
            openQuestions += 1
            let step = question.pipelineStep
            decision.afterCommit.append { PipelineMetrics.questionCreated(step: step) }
            return id
        }
        for rule in config.rules {
            let evaluation = RuleEngine.evaluate(rule: rule, snapshots: snapshots, now: now, cooldown: decision.state[rule: rule.id])
            decision.result.evaluations.append(evaluation)
            decision.afterCommit.append { RuleMetrics.evaluated(evaluation) }
            guard evaluation.fired, let values = evaluation.templateValues else { continue }
            // Off means off: a halt, this server's switch or the user's asks nothing.
            if let stop = switchedOff {
                decision.result.heldBack.append(.init(ruleID: rule.id, reason: stop.description))
                decision.afterCommit.append { PipelineMetrics.intentStopped(stage: "evaluation", stop) }
                continue
            }
            guard openQuestions < config.guardrails.maxOpenQuestions else {
                decision.result.heldBack.append(.init(ruleID: rule.id, reason: "\(openQuestions) open questions (max_open_questions \(config.guardrails.maxOpenQuestions))"))
                continue
            }
            // Pre-check: never ask for an order the guardrails would refuse anyway.
            let proposal = OrderProposal(rule: rule, referencePrice: evaluation.price)
            let check = GuardrailPolicy.check(proposal: proposal, config: config, gate: settings.gate, priorOrders: prior,
                                              questionApproved: true, now: now)
            guard check.allowed else {
                decision.result.heldBack.append(.init(ruleID: rule.id, reason: check.refusals.map(\.description).joined(separator: "; ")))
                continue
            }
            // It fired only now (the data moved since the read): pre-flight it next time.
            guard let preflight = preflights[rule.id] else {
                decision.result.heldBack.append(.init(ruleID: rule.id, reason: "the broker's pre-flight is pending"))
                continue
            }
            let ruleText = QuestionTemplate.render(rule.questionTemplate, values: values)
            // The order this question proposes, frozen: an approval executes it or nothing.
            let intent = OrderIntent(rule: rule, evaluation: evaluation, feed: Self.evaluationFeed, now: now)
            var metadata = Self.questionMetadata(evaluation, proposal: proposal, now: now)
            metadata = ConfigMerge.merge(template: metadata, override: .object(["order": intent.jsonValue]))
            metadata = ConfigMerge.merge(template: metadata, override: Self.preflightMetadata(preflight))
            if !preflight.allowed {
                let refusals = preflight.refusals
                decision.afterCommit.append { PipelineMetrics.preflightRefused(refusals) }
                let reason = preflight.refusals.map(\.description).joined(separator: "; ")
                guard config.guardrails.onBrokerRefusal == .explain else {
                    decision.result.heldBack.append(.init(ruleID: rule.id, reason: "the broker would refuse the order: \(reason)"))
                    continue
                }
                let id = ask(rule, NewQuestion(
                    firebaseUID: uid, text: String(preflight.refusalText(explanation: evaluation.explanation, proposal: proposal).prefix(600)),
                    sourceTag: "trading:rule:\(rule.id)", pipelineKey: "trading", pipelineStep: "\(rule.id):preflight_refused",
                    correctAnswer: 10, metadata: metadata, expiresInSeconds: settings.questionTTLSeconds))
                decision.result.refused.append(.init(ruleID: rule.id, questionID: id, refusals: preflight.refusals))
                let ruleID = rule.id
                decision.afterCommit.append {
                    logger.info("rule fired; the broker would refuse the order", metadata: [
                        "user.uid": "\(uid)", "rule.id": "\(ruleID)", "question.id": "\(id)", "reason": "\(reason)",
                    ])
                }
                continue
            }
            let text = [ruleText, preflight.closedMarketNote, intent.summary].compactMap { $0 }.joined(separator: " ")
            let id = ask(rule, NewQuestion(
                firebaseUID: uid, text: text, sourceTag: "trading:rule:\(rule.id)", pipelineKey: "trading",
                pipelineStep: "\(rule.id):await_confirm", correctAnswer: 10, metadata: metadata,
                expiresInSeconds: settings.questionTTLSeconds))
            decision.result.asked.append(.init(evaluation: evaluation, questionID: id, questionText: text))
            let ruleID = rule.id
            decision.afterCommit.append { logger.info("rule fired", metadata: ["user.uid": "\(uid)", "rule.id": "\(ruleID)", "question.id": "\(id)"]) }
        }
        let heldBack = decision.result.heldBack
        decision.afterCommit.append {
            for held in heldBack {
                logger.info("rule fired but no question asked", metadata: ["user.uid": "\(uid)", "rule.id": "\(held.ruleID)", "reason": "\(held.reason)"])
            }
        }
        return decision
    }

    /// The effective config of stored documents, parsed once per worker (`ConfigCache`).
    func effectiveConfig(_ uid: String, view: TradingStateStore.EvaluationView) throws -> TradingConfig {
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
        let id = try await QuestionStore.insertQuestion(question, on: db, logger: logger)
        _ = try await JobStore.enqueue(try TradingJobCatalog.deliverQuestion.job(DeliverQuestion(questionID: id)), on: db, logger: logger)
        PipelineMetrics.questionCreated(step: question.pipelineStep)
        return id
    }

    /// The feed rules read their snapshots from (`SnapshotStore.latestSnapshots`' default).
    static let evaluationFeed = "iex"

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
