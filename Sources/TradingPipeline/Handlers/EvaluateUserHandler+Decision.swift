import AlpacaClient
import Foundation
import HybridStore
import JobEngine
import Logging
import PostgresNIO
import TradingCore
import TradingJobs

/// The decision itself: pure given what the locked transaction read (no IO), so that the
/// batch writes every user's outcome in a few statements.
extension EvaluateUserHandler {
    /// One user's decision under the lock, from what the transaction read: expired questions
    /// close their rules' cooldowns; each rule that fires asks (or explains a broker refusal)
    /// unless the open-question cap, the guardrails or a pending pre-flight hold it back.
    func decide(_ uid: String, config: TradingConfig, halt: TradingHalt = .running, state: TradingContext, expired: [StoredQuestion], openQuestions: Int,
                prior: [PlacedOrder], book: UserBook, snapshots: [SnapshotRow], preflights: [String: PreflightResult], now: Date,
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
            let evaluation = RuleEngine.evaluate(rule: rule, snapshots: snapshots, now: now, cooldown: decision.state[rule: rule.id],
                                                 position: book.held[rule.symbol])
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
            // Pre-check: never ask for an order the guardrails would refuse anyway; a sell only
            // of what this user's own book holds.
            let proposal = OrderProposal(rule: rule, referencePrice: evaluation.price, sellable: book.state.sellable(rule.symbol))
            let check = GuardrailPolicy.check(proposal: proposal, config: config, gate: settings.gate, priorOrders: prior,
                                              portfolio: book.state, questionApproved: true, now: now)
            guard check.allowed else {
                decision.result.heldBack.append(.init(ruleID: rule.id, reason: check.refusals.map(\.description).joined(separator: "; ")))
                if let breach = check.refusals.first(where: { $0.guardrail == .dailyLossLimit }),
                   decision.state.lossLimitToldOn != MarketTime.tradingDay(of: now) {
                    // Told once a day: buys stop until the next trading day.
                    decision.state.lossLimitToldOn = MarketTime.tradingDay(of: now)
                    decision.questions.append((UUID(), NewQuestion(
                        firebaseUID: uid, text: "Your daily loss limit stopped buying for today: \(breach.reason). Swipe either way to dismiss.",
                        sourceTag: "trading:guardrail:daily_loss_limit", pipelineKey: "trading", pipelineStep: "guardrail:daily_loss_limit",
                        correctAnswer: 10, metadata: .object([
                            "guardrail": .string(breach.guardrail.rawValue), "trading_day": .string(MarketTime.tradingDay(of: now)),
                            "day_pnl": book.state.dayPnL.map { .number(Money.rounded($0)) } ?? .null,
                        ]), expiresInSeconds: settings.questionTTLSeconds)))
                }
                continue
            }
            // It fired only now (the data moved since the read): pre-flight it next time.
            guard let preflight = preflights[rule.id] else {
                decision.result.heldBack.append(.init(ruleID: rule.id, reason: "the broker's pre-flight is pending"))
                continue
            }
            let ruleText = QuestionTemplate.render(rule.questionTemplate, values: values)
            // The order this question proposes, frozen: an approval executes it or nothing.
            let intent = OrderIntent(rule: rule, evaluation: evaluation, proposal: proposal, feed: Self.evaluationFeed, now: now)
            var metadata = Self.questionMetadata(evaluation, proposal: proposal, now: now)
            metadata = ConfigMerge.merge(template: metadata, override: .object(["order": intent.jsonValue]))
            let positionNote = proposal.side == .sell ? Self.positionNote(book, symbol: rule.symbol, price: evaluation.price) : nil
            if proposal.side == .sell, let position = Self.positionMetadata(book, symbol: rule.symbol, price: evaluation.price) {
                metadata = ConfigMerge.merge(template: metadata, override: .object(["position": position]))
            }
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
            let text = [ruleText, positionNote, preflight.closedMarketNote, intent.summary].compactMap { $0 }.joined(separator: " ")
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

    /// "You hold 10 SPY at an average $100.00; at $110.00 that is +$100.00 (+10.00%)."
    static func positionNote(_ book: UserBook, symbol: String, price: Decimal?) -> String? {
        guard let position = book.state.positions[symbol], position.qty > 0, let average = position.averageCost else { return nil }
        var text = "You hold \(Money.plain(position.qty)) \(symbol) at an average $\(Money.format(average))"
        if let price {
            let pnl = position.unrealizedPnL(at: price)
            let pct = position.costBasis > 0 ? pnl / position.costBasis * 100 : 0
            text += "; at $\(Money.format(price)) that is \(pnl >= 0 ? "+" : "-")$\(Money.format(abs(pnl))) (\(pct >= 0 ? "+" : "")\(Money.format(pct))%)"
        }
        return text + "."
    }

    /// The position a sell question is about: quantity, entry, P&L at the question's price, high.
    static func positionMetadata(_ book: UserBook, symbol: String, price: Decimal?) -> JSONValue? {
        guard let position = book.state.positions[symbol], position.qty > 0, let average = position.averageCost else { return nil }
        var fields: [String: JSONValue] = [
            "qty": .number(position.qty), "avg_cost": .number(Money.rounded(average, scale: 4)),
            "cost_basis": .number(Money.rounded(position.costBasis)),
        ]
        if let price { fields["unrealized_pnl"] = .number(Money.rounded(position.unrealizedPnL(at: price))) }
        if let high = book.held[symbol]?.highWater { fields["high_water"] = .number(high) }
        if let opened = position.openedAt { fields["opened_at"] = .string(opened.formatted(.iso8601)) }
        return .object(fields)
    }

    static func preflightMetadata(_ preflight: PreflightResult) -> JSONValue {
        var fields: [String: JSONValue] = ["market_open": .bool(preflight.marketOpen)]
        if let at = preflight.executesAt { fields["executes_at"] = .string(at.formatted(.iso8601)) }
        if !preflight.allowed {
            fields["refusals"] = .array(preflight.refusals.map { .object(["code": .string($0.code), "reason": .string($0.description)]) })
        }
        return .object(["preflight": .object(fields)])
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
