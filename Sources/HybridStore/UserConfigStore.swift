import Foundation
import Logging
import PostgresNIO
import TradingCore

/// A user's stored config: the template (if any), the override, and the `enabled` column.
public struct StoredUserConfig: Sendable {
    public var firebaseUID: String
    public var templateName: String?
    public var template: JSONValue?
    public var override: JSONValue
    public var enabled: Bool

    public init(firebaseUID: String, templateName: String?, template: JSONValue?, override: JSONValue, enabled: Bool) {
        self.firebaseUID = firebaseUID
        self.templateName = templateName
        self.template = template
        self.override = override
        self.enabled = enabled
    }

    /// Template ⊕ override, validated; errors carry JSON paths.
    public var effective: Result<EffectiveTradingConfig, ConfigValidationError> {
        ConfigMerge.effective(firebaseUID: firebaseUID, templateName: templateName, template: template,
                              override: override, enabledColumn: enabled)
    }
}

/// A user's config documents as stored: text, so that callers can cache what they parse by
/// the exact documents it came from.
public struct ConfigDocuments: Sendable, Hashable {
    public var templateName: String?
    public var templateText: String?
    public var overrideText: String
    public var enabled: Bool

    public init(templateName: String?, templateText: String?, overrideText: String, enabled: Bool) {
        self.templateName = templateName
        self.templateText = templateText
        self.overrideText = overrideText
        self.enabled = enabled
    }
}

/// `users`, `user_trading_config` and `trading_config_templates`: who trades, and the config
/// documents as stored.
public enum UserConfigStore {
    public static func upsertUser(_ uid: String, displayName: String?, on db: PostgresConnection, logger: Logger) async throws {
        try await db.query("""
            INSERT INTO users (firebase_uid, display_name) VALUES (\(uid), \(displayName))
            ON CONFLICT (firebase_uid) DO UPDATE SET display_name = EXCLUDED.display_name
            """, logger: logger)
    }

    /// Creates the user row if missing; leaves an existing one as it is.
    public static func ensureUser(_ uid: String, on db: PostgresConnection, logger: Logger) async throws {
        try await db.query("INSERT INTO users (firebase_uid) VALUES (\(uid)) ON CONFLICT (firebase_uid) DO NOTHING", logger: logger)
    }

    public static func upsertUserConfig(
        _ uid: String, templateName: String?, override: JSONValue, enabled: Bool,
        on db: PostgresConnection, logger: Logger
    ) async throws {
        try await db.query("""
            INSERT INTO user_trading_config (firebase_uid, template_name, config, enabled)
            VALUES (\(uid), \(templateName), \(override.canonicalString())::jsonb, \(enabled))
            ON CONFLICT (firebase_uid) DO UPDATE
               SET template_name = EXCLUDED.template_name, config = EXCLUDED.config,
                   enabled = EXCLUDED.enabled, updated_at = now()
            """, logger: logger)
    }

    public static func userConfig(_ uid: String, on db: PostgresConnection, logger: Logger) async throws -> StoredUserConfig? {
        let rows = try await db.query("""
            SELECT c.template_name, t.config::text, c.config::text, c.enabled
            FROM user_trading_config c
            LEFT JOIN trading_config_templates t ON t.name = c.template_name
            WHERE c.firebase_uid = \(uid)
            """, logger: logger)
        for try await (templateName, templateText, overrideText, enabled) in rows.decode((String?, String?, String, Bool).self) {
            let template = try templateText.map { try JSONValue.parse($0) }
            return StoredUserConfig(firebaseUID: uid, templateName: templateName, template: template,
                                    override: try JSONValue.parse(overrideText), enabled: enabled)
        }
        return nil
    }

    public static func templates(on db: PostgresConnection, logger: Logger) async throws -> [(name: String, config: JSONValue)] {
        var result: [(String, JSONValue)] = []
        let rows = try await db.query("SELECT name, config::text FROM trading_config_templates ORDER BY name", logger: logger)
        for try await (name, text) in rows.decode((String, String).self) { result.append((name, try JSONValue.parse(text))) }
        return result
    }

    /// Every enabled user's documents, by uid order (the tick plans from them).
    public static func enabledConfigDocuments(on db: PostgresConnection,
                                              logger: Logger) async throws -> [(uid: String, documents: ConfigDocuments)] {
        let rows = try await db.query("""
            SELECT c.firebase_uid, c.template_name, t.config::text, c.config::text
            FROM user_trading_config c LEFT JOIN trading_config_templates t ON t.name = c.template_name
            WHERE c.enabled ORDER BY c.firebase_uid
            """, logger: logger)
        var result: [(uid: String, documents: ConfigDocuments)] = []
        for try await (uid, templateName, templateText, overrideText) in rows.decode((String, String?, String?, String).self) {
            result.append((uid, ConfigDocuments(templateName: templateName, templateText: templateText, overrideText: overrideText,
                                                enabled: true)))
        }
        return result
    }
}
