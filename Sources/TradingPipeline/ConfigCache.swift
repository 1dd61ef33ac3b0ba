import Foundation
import HybridStore
import Synchronization
import TradingCore

/// Parsed, merged and validated configs by the exact documents they came from: a tick
/// evaluates every user with unchanged documents, so each worker parses each one once.
/// Keyed by the stored text itself, so an edited document is simply a new key.
public final class ConfigCache: Sendable {
    private let entries = Mutex<[ConfigDocuments: Result<TradingConfig, ConfigValidationError>]>([:])
    let capacity: Int

    public init(capacity: Int = 50_000) {
        self.capacity = capacity
    }

    func effective(uid: String, documents key: ConfigDocuments) throws -> Result<TradingConfig, ConfigValidationError> {
        if let hit = entries.withLock({ $0[key] }) { return hit }
        let stored = StoredUserConfig(firebaseUID: uid, templateName: key.templateName,
                                      template: try key.templateText.map { try JSONValue.parse($0) },
                                      override: try JSONValue.parse(key.overrideText), enabled: key.enabled)
        let result = stored.effective.map(\.config)
        entries.withLock { entries in
            if entries.count >= capacity { entries.removeAll(keepingCapacity: true) }
            entries[key] = result
        }
        return result
    }
}
