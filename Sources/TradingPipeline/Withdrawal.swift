import Foundation
import HybridStore
import Logging
import PostgresNIO
import TradingCore

/// A user's config change, as the API's PUT and the tests make it.
public enum UserConfigChange {
    /// Stores a user's validated config, in the caller's transaction: under the user's state
    /// lock (an order POST in flight for this user finishes first, and none starts on the old
    /// config after this commits), then the open questions it no longer proposes are withdrawn.
    @discardableResult
    public static func saveUserConfig(_ uid: String, templateName: String?, override: JSONValue, config: TradingConfig,
                               on db: PostgresConnection, logger: Logger) async throws -> [UUID] {
        try await UserConfigStore.ensureUser(uid, on: db, logger: logger)
        var state = try await TradingStateStore.lockTradingContext(uid, on: db, logger: logger)
        try await UserConfigStore.upsertUserConfig(uid, templateName: templateName, override: override, enabled: config.enabled,
                                                on: db, logger: logger)
        let withdrawn = try await withdrawStaleQuestions(of: uid, config: config, on: db, logger: logger)
        guard !withdrawn.isEmpty else { return [] }
        // A withdrawn question closes its rule's turn without a cooldown: the user did not
        // answer it, and a rule switched on again (or changed) may ask at its next firing.
        for (ruleID, questionID) in withdrawn {
            guard let ruleID, state[rule: ruleID].openQuestionID == questionID.uuidString.lowercased() else { continue }
            state[rule: ruleID].openQuestionID = nil
            state[rule: ruleID].cooldownUntil = nil
        }
        try await TradingStateStore.saveTradingContext(uid, state, evaluatedAt: nil, on: db, logger: logger)
        return withdrawn.map(\.questionID)
    }

    /// After a user's config changed, in the same transaction (which holds the user's state
    /// lock): every open question whose order the config no longer proposes (the user switched
    /// trading off; its rule was switched off, removed or changed) is withdrawn, and the phone
    /// is told. An approval of it would trade nothing anyway; this takes it off the screen.
    public static func withdrawStaleQuestions(of uid: String, config: TradingConfig, on db: PostgresConnection,
                                       logger: Logger) async throws -> [(ruleID: String?, questionID: UUID)] {
        let open = try await QuestionStore.openQuestions(of: uid, on: db, logger: logger)
        var reasons: [UUID: String] = [:]
        for question in open where question.phase == "await_confirm" {
            let stop: IntentStop?
            if let intent = OrderIntent(json: question.metadata["order"]) {
                stop = OrderGate.switches(for: intent, config: config, halt: .running, serverEnabled: true, requireUnchangedRule: true)
            } else if !config.enabled {
                stop = .userOff
            } else if let ruleID = question.ruleID {
                stop = config.rule(id: ruleID).map { $0.enabled ? nil : IntentStop.ruleDisabled(ruleID) } ?? .ruleRemoved(ruleID)
            } else {
                stop = nil
            }
            if let stop { reasons[question.id] = stop.description }
        }
        let withdrawn = try await QuestionStore.withdraw(reasons, of: uid, on: db, logger: logger)
        if !withdrawn.isEmpty {
            PipelineMetrics.questionsWithdrawn(withdrawn.count)
            logger.info("questions withdrawn after a config change", metadata: ["user.uid": "\(uid)", "questions": "\(withdrawn.count)"])
        }
        let rules = Dictionary(open.map { ($0.id, $0.ruleID) }, uniquingKeysWith: { a, _ in a })
        return withdrawn.map { (rules[$0] ?? nil, $0) }
    }
}
