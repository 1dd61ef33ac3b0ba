import Foundation

/// Per-rule memory kept in `user_trading_state.context.rules[<rule id>]`.
public struct RuleCooldownState: Sendable, Hashable, Codable {
    /// The question this rule asked that is not yet answered or expired.
    public var openQuestionID: String?
    public var lastFiredAt: Date?
    /// The rule may not fire before this instant.
    public var cooldownUntil: Date?

    public init(openQuestionID: String? = nil, lastFiredAt: Date? = nil, cooldownUntil: Date? = nil) {
        self.openQuestionID = openQuestionID
        self.lastFiredAt = lastFiredAt
        self.cooldownUntil = cooldownUntil
    }

    enum CodingKeys: String, CodingKey {
        case openQuestionID = "open_question_id"
        case lastFiredAt = "last_fired_at"
        case cooldownUntil = "cooldown_until"
    }
}

public enum CooldownBlock: Sendable, Hashable {
    case questionOpen(questionID: String)
    case coolingDown(until: Date)

    public var explanation: String {
        switch self {
        case .questionOpen(let id): "its question \(id) is still open"
        case .coolingDown(let until): "cooling down until \(until.formatted(.iso8601))"
        }
    }
}

/// A rule that fired does not fire again while its question is open, nor for
/// `cooldown_seconds` after the question closed (answered or expired).
public enum Cooldown {
    public static func block(state: RuleCooldownState, now: Date) -> CooldownBlock? {
        if let id = state.openQuestionID { return .questionOpen(questionID: id) }
        if let until = state.cooldownUntil, now < until { return .coolingDown(until: until) }
        return nil
    }

    /// State after the rule fired and asked `questionID`.
    public static func fired(_ state: RuleCooldownState, questionID: String, at now: Date,
                             cooldownSeconds: Int) -> RuleCooldownState {
        var next = state
        next.openQuestionID = questionID
        next.lastFiredAt = now
        next.cooldownUntil = now.addingTimeInterval(TimeInterval(cooldownSeconds))
        return next
    }

    /// State after the question closed; the cooldown runs from the close.
    public static func questionClosed(_ state: RuleCooldownState, questionID: String, at now: Date,
                                      cooldownSeconds: Int) -> RuleCooldownState {
        guard state.openQuestionID == questionID else { return state }
        var next = state
        next.openQuestionID = nil
        let until = now.addingTimeInterval(TimeInterval(cooldownSeconds))
        next.cooldownUntil = max(until, state.cooldownUntil ?? until)
        return next
    }
}

/// The trading part of `user_trading_state.context`.
public struct TradingContext: Sendable, Hashable, Codable {
    public var rules: [String: RuleCooldownState]
    /// The US/Eastern trading day on which the user was told that the daily loss limit stops
    /// their buys (they are told once a day).
    public var lossLimitToldOn: String?

    public init(rules: [String: RuleCooldownState] = [:]) {
        self.rules = rules
    }

    public subscript(rule id: String) -> RuleCooldownState {
        get { rules[id] ?? RuleCooldownState() }
        set { rules[id] = newValue }
    }
}
