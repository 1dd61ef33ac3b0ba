import Foundation
import TradingCore

/// What every ops command prints: an aligned table for people, or one JSON document (stable
/// snake_case keys, sorted, nulls kept) for scripts.
public protocol OpsReport: Sendable {
    /// The `--json` document.
    var json: JSONValue { get }
    /// The human rendering (tables and lines), ending without a newline.
    var text: String { get }
}

extension OpsReport {
    public func rendered(json asJSON: Bool) -> String {
        asJSON ? Output.jsonText(json) : text
    }
}

public enum Output {
    /// Pretty, sorted JSON (one document).
    public static func jsonText(_ value: JSONValue) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        guard let data = try? encoder.encode(value) else { return "null" }
        return String(decoding: data, as: UTF8.self)
    }

    /// An aligned table: a header row of upper-case names, two spaces between columns,
    /// `-` for empty cells. Long cells are cut at `maxWidth` characters with `…`.
    public static func table(_ headers: [String], _ rows: [[String]], maxWidth: Int = 60) -> String {
        let cells = rows.map { row in row.map { cell -> String in
            let text = cell.isEmpty ? "-" : cell.replacingOccurrences(of: "\n", with: " ")
            return text.count > maxWidth ? String(text.prefix(maxWidth - 1)) + "…" : text
        } }
        var widths = headers.map(\.count)
        for row in cells {
            for (i, cell) in row.enumerated() where i < widths.count { widths[i] = max(widths[i], cell.count) }
        }
        func line(_ values: [String]) -> String {
            var parts: [String] = []
            for (i, value) in values.enumerated() {
                let last = i == values.count - 1
                parts.append(last ? value : value.padding(toLength: widths[i], withPad: " ", startingAt: 0))
            }
            return parts.joined(separator: "  ")
        }
        return ([line(headers.map { $0.uppercased() })] + cells.map(line)).joined(separator: "\n")
    }

    /// `label: value` lines, labels aligned.
    public static func fields(_ pairs: [(String, String)]) -> String {
        let width = pairs.map(\.0.count).max() ?? 0
        return pairs.map { "\(($0.0 + ":").padding(toLength: width + 1, withPad: " ", startingAt: 0)) \($0.1.isEmpty ? "-" : $0.1)" }
            .joined(separator: "\n")
    }

    private static let isoStyle = Date.ISO8601FormatStyle(includingFractionalSeconds: true)

    /// ISO 8601 UTC with milliseconds (the JSON form of every timestamp).
    public static func iso(_ date: Date) -> String {
        isoStyle.format(date)
    }

    /// `2025-05-01 12:00:03Z` (tables), or `2025-05-01 12:00:03.042Z` with `millis`.
    public static func time(_ date: Date?, millis: Bool = false) -> String {
        guard let date else { return "-" }
        let text = iso(date)
        return String(text.prefix(millis ? 23 : 19)).replacingOccurrences(of: "T", with: " ") + "Z"
    }

    /// A duration in seconds as `42s`, `4m05s`, `2h10m`, `3d04h` (negative: `in 4s`).
    public static func age(_ seconds: Double?) -> String {
        guard let seconds else { return "-" }
        if seconds < 0 { return "in " + age(-seconds) }
        let s = Int(seconds.rounded(.down))
        if s < 60 { return seconds < 10 ? String(format: "%.1fs", seconds) : "\(s)s" }
        if s < 3600 { return String(format: "%dm%02ds", s / 60, s % 60) }
        if s < 86400 { return String(format: "%dh%02dm", s / 3600, (s % 3600) / 60) }
        return String(format: "%dd%02dh", s / 86400, (s % 86400) / 3600)
    }
}

/// Small builders for the JSON documents (nulls kept so keys are stable).
enum J {
    static func str(_ value: String?) -> JSONValue { value.map { .string($0) } ?? .null }
    static func int<I: BinaryInteger>(_ value: I?) -> JSONValue { value.map { .number(Decimal(Int64($0))) } ?? .null }
    static func bool(_ value: Bool?) -> JSONValue { value.map { .bool($0) } ?? .null }
    static func date(_ value: Date?) -> JSONValue { value.map { .string(Output.iso($0)) } ?? .null }
    static func dec(_ value: Decimal?) -> JSONValue { value.map { .number($0) } ?? .null }
    /// Seconds, to the millisecond.
    static func seconds(_ value: Double?) -> JSONValue {
        guard let value else { return .null }
        return .number(Decimal(string: String(format: "%.3f", value), locale: Locale(identifier: "en_US_POSIX")) ?? 0)
    }
}
