import Foundation

/// Merges a template document with a user's override (plan §4.1). The semantics, also in
/// docs/config-document.md:
/// - objects merge key by key, recursively;
/// - a key set to `null` in the override removes it (the default applies again);
/// - lists whose items are all objects with a string `id`, on both sides, merge by `id`:
///   items with the same id merge recursively, new ids are appended in override order
///   (`validate` refuses an override that repeats an id in `data_inputs` or `rules`);
/// - any other list, and any scalar, is replaced by the override's value.
/// The `enabled` column of `user_trading_config` is applied after the merge and wins
/// (see `EffectiveTradingConfig`).
public enum ConfigMerge {
    public static func merge(template: JSONValue, override: JSONValue) -> JSONValue {
        switch (template, override) {
        case (.object(let base), .object(let patch)):
            var merged = base
            for (key, value) in patch {
                if value == .null {
                    merged[key] = nil
                } else if let existing = base[key] {
                    merged[key] = merge(template: existing, override: value)
                } else {
                    merged[key] = value
                }
            }
            return .object(merged)
        case (.array(let base), .array(let patch)):
            guard let baseIDs = ids(of: base), let patchIDs = ids(of: patch) else { return override }
            var merged = base
            for (item, id) in zip(patch, patchIDs) {
                if let index = baseIDs.firstIndex(of: id) {
                    merged[index] = merge(template: base[index], override: item)
                } else {
                    merged.append(item)
                }
            }
            return .array(merged)
        default:
            return override
        }
    }

    /// The ids of a list of `{ "id": "…" }` objects, or nil if the list is not one.
    private static func ids(of items: [JSONValue]) -> [String]? {
        var ids: [String] = []
        for item in items {
            guard case .string(let id)? = item["id"] else { return nil }
            ids.append(id)
        }
        return ids
    }

    /// Template ⊕ override → validated config: how every stored document is checked (the
    /// workers, the API's PUT, `hybridhub validate-config`). An override that names one id
    /// twice in `data_inputs` or `rules` is refused before the merge, at the override's own
    /// path: merged by id, both items would fold into the template's item and the merged
    /// document would hide the repeat. Without a template the override is the document.
    public static func validate(template: JSONValue?, override: JSONValue) -> Result<TradingConfig, ConfigValidationError> {
        guard let template else { return TradingConfigDecoder.decode(override) }
        let repeated = idListKeys.flatMap { key -> [ConfigIssue] in
            guard case .array(let items)? = override[key] else { return [] }
            return TradingConfigDecoder.duplicateIDs(in: items, path: key)
        }
        if !repeated.isEmpty { return .failure(ConfigValidationError(issues: repeated)) }
        return TradingConfigDecoder.decode(merge(template: template, override: override))
    }

    /// The document's lists of items with ids (`data_inputs[].id`, `rules[].id`).
    static let idListKeys = ["data_inputs", "rules"]

    /// Template ⊕ override → validated effective config, with the `enabled` column applied.
    public static func effective(
        firebaseUID: String, templateName: String?, template: JSONValue?, override: JSONValue,
        enabledColumn: Bool
    ) -> Result<EffectiveTradingConfig, ConfigValidationError> {
        validate(template: template, override: override).map {
            EffectiveTradingConfig(firebaseUID: firebaseUID, templateName: templateName,
                                   config: $0, enabledColumn: enabledColumn)
        }
    }
}
