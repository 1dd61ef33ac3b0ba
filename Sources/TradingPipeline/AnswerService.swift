import Foundation
import HybridStore
import JobEngine
import Logging
import PostgresNIO
import TradingCore
import TradingJobs

/// What an answer led to. Answering the same question again returns the first result.
public enum AnswerOutcome: Sendable, Equatable {
    /// Approved: the order row and its `submit-order` job are committed.
    case ordered(tradeOrderID: UUID, clientOrderID: String)
    case skipped
    /// Neither approve nor skip (|value| < 8): a follow-up question asks again.
    case followUp(questionID: UUID)
    /// Approved, but the price drifted or the data went stale: a new question, no order.
    case askedAgain(questionID: UUID)
    /// Approved, but the data went stale: no order; the rule's cooldown is lifted so that it
    /// asks again as soon as fresh data fires it.
    case deferred
    /// Approved, but a guardrail refuses the order now.
    case refused
    /// No order: trading was halted or switched off, or the rule was removed, switched off or
    /// changed since the question was asked (an approval executes what the question showed,
    /// or nothing); or the question was withdrawn for one of these reasons.
    case withdrawn
    /// A question that only informs (an order rejected by the broker): noted.
    case acknowledged
    /// Too late: the question expired before this answer.
    case expired

    public var name: String {
        switch self {
        case .ordered: "ordered"
        case .skipped: "skipped"
        case .followUp: "follow_up"
        case .askedAgain: "asked_again"
        case .deferred: "deferred"
        case .refused: "refused"
        case .withdrawn: "withdrawn"
        case .acknowledged: "acknowledged"
        case .expired: "expired"
        }
    }
}

public struct AnswerResult: Sendable, Equatable {
    public var questionID: UUID
    public var decision: String
    public var outcome: AnswerOutcome
    /// Words for the user.
    public var detail: String
    /// True when the question had been answered before and this is the recorded result.
    public var repeated: Bool
}

public enum AnswerError: Error, Equatable, CustomStringConvertible {
    /// No such question for this user (another user's question is "not found" too).
    case notFound
    case invalidValue(String)
    /// Cancelled or otherwise closed without an answer.
    case notOpen(String)

    public var description: String {
        switch self {
        case .notFound: "question not found"
        case .invalidValue(let message): message
        case .notOpen(let status): "question is \(status) and takes no answer"
        }
    }
}

/// The answers of the app and the hub. Needs the database and the trading clock, nothing of
/// Alpaca: an approval writes the order row and its `submit-order` job, the worker posts it.
public struct AnswerService: Sendable {
    let client: PostgresClient
    /// The trading clock (the replayed one in a replay): the API values books by it too.
    public let clock: any MarketClock
    let settings: PipelineSettings
    let logger: Logger

    public init(client: PostgresClient, clock: any MarketClock, settings: PipelineSettings, logger: Logger) {
        self.client = client
        self.clock = clock
        self.settings = settings
        self.logger = logger
    }

    /// Plan §8.2 for one answer, in one transaction. Locks the user's trading state first (the
    /// same order as `evaluate-user`, so the two never deadlock), then the question; on
    /// approval re-checks every guardrail under that lock, so concurrent approvals in any
    /// number of processes cannot exceed the caps; the order row and its `submit-order` job
    /// commit together.
    public func answer(questionID: UUID, firebaseUID uid: String, value: JSONValue) async throws -> AnswerResult {
        let now = try await clock.now()
        let result = try await client.transaction(logger: logger) { db -> AnswerResult in
            // Not this user's (or no such) question: nothing is touched, not even their state row.
            guard try await QuestionStore.question(questionID, of: uid, on: db, logger: logger) != nil else {
                throw AnswerError.notFound
            }
            // The halt first (shared), then the user's state: the order every stage takes them in.
            let halt = try await HaltStore.current(lock: true, on: db, logger: logger)
            var state = try await TradingStateStore.lockTradingContext(uid, on: db, logger: logger)
            guard let question = try await QuestionStore.question(questionID, of: uid, lock: true, on: db, logger: logger) else {
                throw AnswerError.notFound
            }
            if let recorded = try await QuestionStore.answer(to: questionID, on: db, logger: logger) {
                var replayed = Self.replay(recorded)
                if case .ordered(let id, _) = replayed.outcome, let order = try await OrderStore.order(id, on: db, logger: logger) {
                    replayed.outcome = .ordered(tradeOrderID: id, clientOrderID: order.clientOrderID)
                }
                return replayed
            }
            if question.status == "expired" { return AnswerResult(questionID: questionID, decision: "none", outcome: .expired,
                                                                  detail: "this question expired before it was answered", repeated: true) }
            if question.status == "cancelled", case .string(let why)? = question.metadata["withdrawn_reason"] {
                return AnswerResult(questionID: questionID, decision: "none", outcome: .withdrawn,
                                    detail: "no order: this question was withdrawn: \(why)", repeated: true)
            }
            guard question.status == "open" else { throw AnswerError.notOpen(question.status) }
            // One parse: the value stored is the value decided on.
            let parsed = AnswerDecision.parse(value)
            let decision = parsed.decision
            if case .invalid(let message) = decision { throw AnswerError.invalidValue(message) }
            guard let number = parsed.value else { throw AnswerError.invalidValue("answer must be a number") }
            // Read once, under the lock: the cooldown and the decision judge by the same config.
            let config: Result<TradingConfig, any Error>
            do { config = .success(try await UserConfigs.effective(uid, on: db, logger: logger).config) } catch { config = .failure(error) }
            if question.isPastExpiry {
                try await QuestionStore.setStatus(questionID, "expired", on: db, logger: logger)
                closeCooldown(question, config: try? config.get(), state: &state, now: now)
                try await TradingStateStore.saveTradingContext(uid, state, evaluatedAt: now, on: db, logger: logger)
                PipelineMetrics.questionsExpired(1)
                return AnswerResult(questionID: questionID, decision: "none", outcome: .expired,
                                    detail: "this question expired before it was answered", repeated: false)
            }
            try await QuestionStore.setStatus(questionID, "answered", answered: true, on: db, logger: logger)
            closeCooldown(question, config: try? config.get(), state: &state, now: now)
            let (outcome, fullDetail) = try await decide(decision, question: question, uid: uid, config: config, halt: halt, state: &state,
                                                         now: now, db: db)
            let detail = String(fullDetail.prefix(1000))
            let decisionName = switch decision { case .approve: "approve"; case .skip: "skip"; default: "ambiguous" }
            var answer = StoredAnswer(questionID: questionID, value: number, decision: decisionName, outcome: outcome.name, detail: detail)
            switch outcome {
            case .ordered(let order, _): answer.tradeOrderID = order
            case .followUp(let id), .askedAgain(let id): answer.followUpQuestionID = id
            default: break
            }
            try await QuestionStore.insertAnswer(answer, firebaseUID: uid, on: db, logger: logger)
            try await TradingStateStore.saveTradingContext(uid, state, evaluatedAt: now, on: db, logger: logger)
            return AnswerResult(questionID: questionID, decision: decisionName, outcome: outcome, detail: detail, repeated: false)
        }
        if !result.repeated { PipelineMetrics.questionAnswered(outcome: result.outcome.name) }
        logger.info("answer recorded", metadata: [
            "user.uid": "\(uid)", "question.id": "\(questionID)", "answer.decision": "\(result.decision)",
            "answer.outcome": "\(result.outcome.name)", "answer.repeated": "\(result.repeated)",
        ])
        return result
    }

    private func closeCooldown(_ question: StoredQuestion, config: TradingConfig?, state: inout TradingContext, now: Date) {
        guard let ruleID = question.ruleID else { return }
        let cooldown = config?.rule(id: ruleID)?.cooldownSeconds ?? ConfigDefaults.cooldownSeconds
        state[rule: ruleID] = Cooldown.questionClosed(state[rule: ruleID], questionID: question.id.uuidString.lowercased(),
                                                      at: now, cooldownSeconds: cooldown)
    }

    private func decide(_ decision: AnswerDecision, question: StoredQuestion, uid: String, config loaded: Result<TradingConfig, any Error>,
                        halt: TradingHalt, state: inout TradingContext, now: Date, db: PostgresConnection) async throws -> (AnswerOutcome, String) {
        guard let ruleID = question.ruleID, question.phase == "await_confirm" else {
            return (.acknowledged, "noted")
        }
        if case .skip = decision { return (.skipped, "skipped: no order") }
        // The order the question showed, frozen with it: the only order an approval can place.
        guard let intent = OrderIntent(json: question.metadata["order"]), intent.ruleID == ruleID else {
            return (.refused, "no order: this question does not say which order it proposes")
        }
        let config: TradingConfig
        switch loaded {
        case .success(let value): config = value
        case .failure(let error): return (.refused, "no order: the trading config cannot be read (\(error))")
        }
        if let stop = OrderGate.switches(for: intent, config: config, halt: halt, serverEnabled: settings.tradingEnabled,
                                         requireUnchangedRule: true) {
            // A changed rule that still fires asks again, with its new order, at the next evaluation.
            if case .ruleChanged = stop { state[rule: ruleID].cooldownUntil = nil }
            PipelineMetrics.intentStopped(stage: "approval", stop)
            return (.withdrawn, "no order: \(stop)")
        }
        guard let rule = config.rule(id: ruleID) else { return (.withdrawn, "no order: rule \(ruleID) was removed") }

        if case .ambiguous = decision {
            let text = "Your answer was unclear. " + (question.text.hasPrefix("Your answer was unclear. ") ? String(question.text.dropFirst(25)) : question.text)
            let id = try await followUpQuestion(question, text: text, extra: ["follows_question_id": .string(question.id.uuidString.lowercased())],
                                                rule: rule, uid: uid, state: &state, now: now, db: db)
            return (.followUp(questionID: id), "unclear answer: asked again")
        }

        // Approve: the price the user saw must still hold, on fresh data of the same feed.
        let rows = try await SnapshotStore.latestSnapshots(symbols: [intent.symbol], feed: intent.feed, asOf: now, on: db, logger: logger)
        let latest = rows.first { $0.metric == intent.priceMetric }
        let ageSeconds = latest.map { Int(now.timeIntervalSince($0.asOf)) }
        guard let latestPrice = latest?.price, let ageSeconds, ageSeconds <= rule.maxStalenessSeconds else {
            let why = latest == nil ? "there is no price for \(intent.symbol)" : "the price data is stale (\(ageSeconds ?? -1)s old, max \(rule.maxStalenessSeconds)s)"
            state[rule: rule.id].cooldownUntil = nil
            return (.deferred, "no order yet: \(why); the rule asks again as soon as fresh data fires it")
        }
        if let askedPrice = intent.price, let drift = OrderGate.driftPct(from: askedPrice, to: latestPrice) {
            if drift.isNaN || drift > settings.approvalMaxDriftPct {
                let reference = intent.reference ?? askedPrice
                let change = reference > 0 ? Money.rounded((latestPrice - reference) / reference * 100, scale: 4) : 0
                let again = intent.rejudged(price: latestPrice, reference: reference, priceAsOf: latest?.asOf, dataAgeSeconds: ageSeconds, at: now)
                let values = QuestionTemplate.Values(symbol: rule.symbol, price: latestPrice, reference: reference, changePct: change, ruleID: rule.id)
                let text = "The price moved since you were asked (\(Money.format(askedPrice)) → \(Money.format(latestPrice))). "
                    + QuestionTemplate.render(rule.questionTemplate, values: values) + " " + again.summary
                let id = try await followUpQuestion(question, text: text, extra: [
                    "asked_again_for": .string(question.id.uuidString.lowercased()), "price": .number(latestPrice),
                    "previous_price": .number(askedPrice), "pct": .number(change), "data_age_seconds": .number(Decimal(ageSeconds)),
                    "order": again.jsonValue,
                ], rule: rule, uid: uid, state: &state, now: now, db: db)
                return (.askedAgain(questionID: id), "no order yet: the price moved \(Money.format(drift))% (more than \(settings.approvalMaxDriftPct)%); asked again")
            }
        }

        // A qty order is priced at the freshest price (the hard cap applies to that price).
        let proposal = intent.proposal(pricedAt: latestPrice)
        let prior = try await OrderStore.countedOrders(of: uid, around: now, on: db, logger: logger)
        // The user's own book under their lock: a sell only of what they still hold (another
        // sell of theirs may have filled since the question), the portfolio caps for a buy.
        let book = try await PortfolioReader.book(of: uid, now: now, highs: false, on: db, logger: logger)
        let check = GuardrailPolicy.check(proposal: proposal, config: config, gate: settings.gate, priorOrders: prior,
                                          portfolio: book.state, questionApproved: true, now: now)
        guard check.allowed else {
            return (.refused, "no order: " + check.refusals.map(\.description).joined(separator: "; "))
        }
        let clientOrderID = ClientOrderID.make(firebaseUID: uid, ruleID: rule.id, questionID: question.id.uuidString.lowercased())
        var order = NewOrder(firebaseUID: uid, clientOrderID: clientOrderID, symbol: intent.symbol, side: intent.side.rawValue,
                             notionalUSD: intent.notionalUSD, qty: intent.qty, questionID: question.id, ruleID: rule.id,
                             referencePrice: proposal.referencePrice, decidedAt: now)
        order.orderType = intent.orderType
        order.timeInForce = intent.timeInForce
        order.intent = intent.jsonValue
        try await OrderStore.insert(order, on: db, logger: logger)
        _ = try await JobStore.enqueue(try TradingJobCatalog.submitOrder.job(SubmitOrder(tradeOrderID: order.id, clientOrderID: clientOrderID)),
                                       on: db, logger: logger)
        PipelineMetrics.order(status: OrderStatus.pendingSubmit)
        return (.ordered(tradeOrderID: order.id, clientOrderID: clientOrderID), "approved: \(intent.side.rawValue) \(intent.sizeText)")
    }

    /// A new question for the same rule, carrying the old one's metadata plus `extra`.
    private func followUpQuestion(_ question: StoredQuestion, text: String, extra: [String: JSONValue], rule: Rule, uid: String,
                                  state: inout TradingContext, now: Date, db: PostgresConnection) async throws -> UUID {
        var metadata: [String: JSONValue] = [:]
        if case .object(let fields) = question.metadata { metadata = fields }
        for (key, value) in extra { metadata[key] = value }
        let id = try await Questions.ask(NewQuestion(
            firebaseUID: uid, text: text, sourceTag: "trading:rule:\(rule.id)", pipelineKey: "trading",
            pipelineStep: "\(rule.id):await_confirm", correctAnswer: 10, metadata: .object(metadata),
            expiresInSeconds: settings.questionTTLSeconds), on: db, logger: logger)
        state[rule: rule.id] = Cooldown.fired(state[rule: rule.id], questionID: id.uuidString.lowercased(), at: now,
                                              cooldownSeconds: rule.cooldownSeconds)
        return id
    }

    static func replay(_ recorded: StoredAnswer) -> AnswerResult {
        let outcome: AnswerOutcome
        switch recorded.outcome {
        case "ordered":
            outcome = recorded.tradeOrderID.map { .ordered(tradeOrderID: $0, clientOrderID: "") } ?? .refused
        case "skipped": outcome = .skipped
        case "follow_up": outcome = recorded.followUpQuestionID.map { .followUp(questionID: $0) } ?? .skipped
        case "asked_again": outcome = recorded.followUpQuestionID.map { .askedAgain(questionID: $0) } ?? .skipped
        case "acknowledged": outcome = .acknowledged
        case "deferred": outcome = .deferred
        case "withdrawn": outcome = .withdrawn
        default: outcome = .refused
        }
        return AnswerResult(questionID: recorded.questionID, decision: recorded.decision, outcome: outcome,
                            detail: recorded.detail ?? "", repeated: true)
    }
}
