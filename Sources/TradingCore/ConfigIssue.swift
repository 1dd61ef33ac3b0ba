import Foundation

/// One problem in a config document, located by its JSON path
/// (`rules[1].threshold_pct: must be negative for price_below_pct_of_ref`).
public struct ConfigIssue: Error, Sendable, Hashable, CustomStringConvertible {
    public let path: String
    public let message: String

    public init(path: String, message: String) {
        self.path = path
        self.message = message
    }

    public var description: String { "\(path): \(message)" }
}

/// Every problem found in a document (validation does not stop at the first).
public struct ConfigValidationError: Error, Sendable, Hashable, CustomStringConvertible {
    public let issues: [ConfigIssue]

    public var description: String {
        issues.map(\.description).joined(separator: "\n")
    }
}

/// Collects issues while a document is walked. Reference type so nested readers share it.
final class IssueLog {
    private(set) var issues: [ConfigIssue] = []

    func add(_ path: String, _ message: String) {
        issues.append(ConfigIssue(path: path, message: message))
    }

    func add(_ more: [ConfigIssue]) {
        issues.append(contentsOf: more)
    }
}

enum JSONPath {
    static let root = "$"

    static func child(_ parent: String, _ key: String) -> String {
        parent == root ? key : "\(parent).\(key)"
    }

    static func index(_ parent: String, _ index: Int) -> String {
        "\(parent)[\(index)]"
    }
}

/// Reads the fields of one JSON object, reporting wrong types, missing fields and,
/// in `finish()`, keys nobody asked for.
struct ObjectReader {
    let path: String
    let fields: [String: JSONValue]
    let log: IssueLog
    private var consumed: Set<String> = []

    init?(_ value: JSONValue?, path: String, log: IssueLog) {
        guard case .object(let fields)? = value else {
            log.add(path, "expected an object, got \(value?.typeName ?? "nothing")")
            return nil
        }
        self.path = path
        self.fields = fields
        self.log = log
    }

    /// The field, or nil when absent or JSON null (null means "use the default").
    mutating func take(_ key: String) -> JSONValue? {
        consumed.insert(key)
        guard let value = fields[key], value != .null else { return nil }
        return value
    }

    func at(_ key: String) -> String { JSONPath.child(path, key) }

    /// The document sets the field (to something other than null).
    func has(_ key: String) -> Bool {
        fields[key].map { $0 != .null } ?? false
    }

    mutating func missing(_ key: String) {
        log.add(at(key), "required field is missing")
    }

    mutating func string(_ key: String, required: Bool = false) -> String? {
        guard let value = take(key) else {
            if required { missing(key) }
            return nil
        }
        guard case .string(let text) = value else {
            log.add(at(key), "expected a string, got \(value.typeName)")
            return nil
        }
        return text
    }

    mutating func bool(_ key: String, default fallback: Bool) -> Bool {
        guard let value = take(key) else { return fallback }
        guard case .bool(let flag) = value else {
            log.add(at(key), "expected true or false, got \(value.typeName)")
            return fallback
        }
        return flag
    }

    mutating func decimal(_ key: String, required: Bool = false) -> Decimal? {
        guard let value = take(key) else {
            if required { missing(key) }
            return nil
        }
        guard case .number(let number) = value else {
            log.add(at(key), "expected a number, got \(value.typeName)")
            return nil
        }
        return number
    }

    /// Largest integer any field accepts: counts and seconds, never near Int64's edge.
    static let maximumInteger: Decimal = 1_000_000_000

    /// An integer field; `minimum` and `maximum` (when the field has a bound of its own, below
    /// `maximumInteger`) name the accepted range in the message, with `unit` (" second") after
    /// the number, plural unless the number is 1.
    mutating func int(_ key: String, default fallback: Int, minimum: Int, maximum: Int? = nil, unit: String = "") -> Int {
        guard let number = decimal(key) else { return fallback }
        if number < Decimal(minimum) {
            log.add(at(key), "must be at least \(Self.quantity(minimum, unit)), got \(number)")
            return fallback
        }
        if let maximum, number > Decimal(maximum) {
            log.add(at(key), "must be at most \(Self.quantity(maximum, unit)), got \(number)")
            return fallback
        }
        if number > Self.maximumInteger {
            log.add(at(key), "must be at most \(Self.maximumInteger), got \(number)")
            return fallback
        }
        var rounded = Decimal()
        var copy = number
        NSDecimalRound(&rounded, &copy, 0, .plain)
        // In range, so the conversion below is exact.
        guard rounded == number else {
            log.add(at(key), "must be a whole number, got \(number)")
            return fallback
        }
        return NSDecimalNumber(decimal: number).intValue
    }

    /// `1 second`, `3600 seconds`, `0 seconds`; a unit already plural stays as it is.
    static func quantity(_ value: Int, _ unit: String) -> String {
        guard !unit.isEmpty, value != 1, !unit.hasSuffix("s") else { return "\(value)\(unit)" }
        return "\(value)\(unit)s"
    }

    mutating func enumeration<E: RawRepresentable & CaseIterable>(
        _ key: String, default fallback: E?, required: Bool = false
    ) -> E? where E.RawValue == String {
        guard let text = string(key, required: required && fallback == nil) else { return fallback }
        guard let value = E(rawValue: text) else {
            let allowed = E.allCases.map { "'\($0.rawValue)'" }.joined(separator: ", ")
            log.add(at(key), "unknown value '\(text)'; expected one of \(allowed)")
            return nil
        }
        return value
    }

    mutating func array(_ key: String, required: Bool = false) -> [JSONValue]? {
        guard let value = take(key) else {
            if required { missing(key) }
            return nil
        }
        guard case .array(let items) = value else {
            log.add(at(key), "expected an array, got \(value.typeName)")
            return nil
        }
        return items
    }

    /// Reports every key that no reader asked for, with a suggestion for near misses.
    func finish() {
        for key in fields.keys.sorted() where !consumed.contains(key) {
            var message = "unknown key"
            if let close = suggestion(for: key) { message += "; did you mean '\(close)'?" }
            log.add(at(key), message)
        }
    }

    /// The closest known key: one or two edits away (one for short keys), or one the unknown
    /// key is a prefix of (`notional` → `notional_usd`). Ties go alphabetically.
    private func suggestion(for key: String) -> String? {
        let allowed = key.count >= 5 ? 2 : 1
        let ranked = consumed.map { (name: $0, distance: editDistance($0, key)) }
            .filter { $0.distance <= allowed || (key.count >= 4 && $0.name.hasPrefix(key)) }
            .sorted { ($0.distance, $0.name) < ($1.distance, $1.name) }
        return ranked.first?.name
    }
}

/// Levenshtein distance, for "did you mean" hints on misspelt keys.
func editDistance(_ a: String, _ b: String) -> Int {
    let a = Array(a), b = Array(b)
    if a.isEmpty { return b.count }
    if b.isEmpty { return a.count }
    var previous = Array(0...b.count)
    for i in 1...a.count {
        var current = [i] + Array(repeating: 0, count: b.count)
        for j in 1...b.count {
            let cost = a[i - 1] == b[j - 1] ? 0 : 1
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
        }
        previous = current
    }
    return previous[b.count]
}
