import AlpacaClient
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
    /// The book exit rules and `position_pct` sells were judged on (lock-free read).
    var book: UserBook?
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

/// `evaluate-user`: effective config → latest snapshots → rule engine → guardrail
/// pre-check → in one transaction under a row lock on the user's trading state: expired
/// questions closed, the question, the cooldown and the `deliver-question` job. Runs of
/// this process that overlap are evaluated together (`EvaluationBatcher`). The streams and
/// the tests evaluate users through the same functions.
public struct EvaluateUserHandler: TradingJobHandler {
    public static let spec = TradingJobCatalog.evaluateUser
    let client: PostgresClient
    /// The broker's pre-flight reads the account, positions, assets and the market clock.
    let trading: any TradingAPI
    let clock: any MarketClock
    let settings: PipelineSettings
    let configCache: ConfigCache
    let batcher = EvaluationBatcher()
    let brokerFacts: BrokerFactsCache
    let logger: Logger

    public init(client: PostgresClient, trading: any TradingAPI, clock: any MarketClock, settings: PipelineSettings,
                configCache: ConfigCache, logger: Logger) {
        self.client = client
        self.trading = trading
        self.clock = clock
        self.settings = settings
        self.configCache = configCache
        self.logger = logger
        let caching = settings.preflightCacheSeconds > 0
        self.brokerFacts = BrokerFactsCache(accountSeconds: settings.preflightCacheSeconds, referenceSeconds: caching ? 60 : 0,
                                            assetListSeconds: caching ? 3600 : 0, logger: logger)
    }

    public func handle(_ job: EvaluateUser, _ context: JobContext) async throws -> JobOutcome {
        // TRADING_WORKER_EVAL_ENABLED=false or TRADING_ENABLED=false in this process: nothing is asked here.
        guard settings.evaluateEnabled && settings.tradingEnabled else {
            context.logger.debug("evaluation off in this process", metadata: ["user.uid": "\(job.firebaseUID)"])
            return .complete
        }
        let outcome = await batcher.evaluate(job.firebaseUID) { uids in
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
                let fired = user.fired.map { fired in
                    (ruleID: fired.rule.id, proposal: OrderProposal(rule: fired.rule, referencePrice: fired.evaluation.price,
                                                                    sellable: user.book?.state.sellable(fired.rule.symbol) ?? 0))
                }
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
            // Positions only for users whose rules measure from them (exits, sells by position_pct).
            let holders = configs.filter { $0.config.readsPositions }.map(\.uid)
            let books = try await PortfolioReader.books(of: holders, now: now, on: db, logger: logger)
            // Trailing stops read prices since the stored high: keep it moving forward so that
            // the read stays short however long a position is held. A cache: a failure is harmless.
            do {
                try await BookStore.keepHighWater(PortfolioReader.highWaterMarks(books, now: now), on: db, logger: logger)
            } catch {
                logger.debug("high-water marks not kept this time", metadata: ["error": "\(String(reflecting: error))"])
            }
            var pending: [PendingDecision] = []
            for (uid, view, config) in configs {
                let snapshots = config.watchlist.sorted().flatMap { bySymbol[$0] ?? [] }
                let held = books[uid]?.held ?? [:]
                var result = UserEvaluationResult()
                var fired: [(rule: Rule, evaluation: RuleEvaluation)] = []
                for rule in config.rules {
                    let evaluation = RuleEngine.evaluate(rule: rule, snapshots: snapshots, now: now, cooldown: view.context[rule: rule.id],
                                                         position: held[rule.symbol])
                    if evaluation.fired { fired.append((rule, evaluation)) }
                    result.evaluations.append(evaluation)
                }
                if fired.isEmpty && view.questionsDueToExpire == 0 {
                    outcomes[uid] = .success(result)
                } else {
                    pending.append(PendingDecision(uid: uid, view: view, snapshots: snapshots, fired: fired, book: books[uid]))
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
            // Each user's own book, under their lock: sells only of what they hold, the portfolio caps.
            let books = try await PortfolioReader.books(of: uids, now: now, on: db, logger: logger)
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
                                      openQuestions: open[user.uid] ?? 0, prior: prior[user.uid] ?? [],
                                      book: books[user.uid] ?? .empty(now: now), snapshots: snapshots,
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

    /// The effective config of stored documents, parsed once per worker (`ConfigCache`).
    func effectiveConfig(_ uid: String, view: TradingStateStore.EvaluationView) throws -> TradingConfig {
        switch try configCache.effective(uid: uid, documents: view.documents) {
        case .success(let effective): return effective
        case .failure(let error): throw PipelineError.invalidConfig(uid, error)
        }
    }

    /// Would the broker accept the order a rule proposes? Its asset, the account's buying
    /// power, the position for a sell, and the market clock (`BrokerFactsCache`).
    func preflight(_ proposal: OrderProposal, now: Date) async throws -> PreflightResult {
        BrokerPreflight.check(proposal, facts: try await brokerFacts.facts(for: proposal, trading: trading, now: now))
    }
}

extension TradingConfig {
    /// Some enabled rule measures from the user's positions (an exit, a sell by `position_pct`).
    var readsPositions: Bool {
        rules.contains { $0.enabled && ($0.type.isExit || $0.onAnswerMatch.positionPct != nil) }
    }
}
