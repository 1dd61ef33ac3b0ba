import Foundation
import HybridStore
import Synchronization
import TradingCore

/// Parsed, merged and validated configs by the exact documents they came from: a tick
/// evaluates every user with unchanged documents, so each worker parses each one once.
/// Keyed by the stored text itself, so an edited document is simply a new key.
public final class ConfigCache: Sendable {
    struct Key: Hashable {
        var templateName: String?
        var templateText: String?
        var overrideText: String
        var enabled: Bool
    }

    private let entries = Mutex<[Key: Result<TradingConfig, ConfigValidationError>]>([:])
    let capacity: Int

    public init(capacity: Int = 50_000) {
        self.capacity = capacity
    }

    func effective(uid: String, view: TradingStateStore.EvaluationView) throws -> Result<TradingConfig, ConfigValidationError> {
        let key = Key(templateName: view.templateName, templateText: view.templateText, overrideText: view.overrideText, enabled: view.enabled)
        if let hit = entries.withLock({ $0[key] }) { return hit }
        let stored = StoredUserConfig(firebaseUID: uid, templateName: view.templateName,
                                      template: try view.templateText.map { try JSONValue.parse($0) },
                                      override: try JSONValue.parse(view.overrideText), enabled: view.enabled)
        let result = stored.effective.map(\.config)
        entries.withLock { entries in
            if entries.count >= capacity { entries.removeAll(keepingCapacity: true) }
            entries[key] = result
        }
        return result
    }
}
