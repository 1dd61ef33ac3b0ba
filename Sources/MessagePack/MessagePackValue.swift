import Foundation

/// One MessagePack value (https://github.com/msgpack/msgpack/blob/master/spec.md) as plain data.
///
/// - `null` is MessagePack `nil` (named like `JSONValue.null`).
/// - Integers: `int` and `uint` compare (and hash) by numeric value, so `.int(5) == .uint(5)`.
///   The decoder yields `.int` for every integer that fits in `Int64` and `.uint` only above `Int64.max`.
/// - `double` and `float` compare by bit pattern: `.double(.nan) == .double(.nan)`, `.double(0) != .double(-0.0)`,
///   and `.float(1) != .double(1)` (they encode differently: float32 vs float64).
/// - `map` keeps its pairs in order (duplicates allowed); two maps are equal when their pair lists are.
/// - `timestamp` is the Timestamp extension (type -1). Encoding normalizes `nanoseconds >= 1e9` into seconds;
///   the decoder rejects such timestamps like the spec (and Python's `msgpack`) do.
/// - `ext` is any other extension. A raw `.ext(type: -1, ...)` is encoded as given, but decodes as `.timestamp`.
///
/// Equal values encode to identical bytes.
public enum MessagePackValue: Sendable {
    case null
    case bool(Bool)
    case int(Int64)
    case uint(UInt64)
    case double(Double)
    case float(Float)
    case string(String)
    case binary(Data)
    case array([MessagePackValue])
    case map([(MessagePackValue, MessagePackValue)])
    case timestamp(seconds: Int64, nanoseconds: UInt32)
    case ext(type: Int8, data: Data)
}

// MARK: - Equality and hashing

extension MessagePackValue: Hashable {
    public static func == (lhs: MessagePackValue, rhs: MessagePackValue) -> Bool {
        switch (lhs, rhs) {
        case (.null, .null): return true
        case let (.bool(a), .bool(b)): return a == b
        case let (.int(a), .int(b)): return a == b
        case let (.uint(a), .uint(b)): return a == b
        case let (.int(a), .uint(b)), let (.uint(b), .int(a)): return a >= 0 && UInt64(a) == b
        case let (.double(a), .double(b)): return a.bitPattern == b.bitPattern
        case let (.float(a), .float(b)): return a.bitPattern == b.bitPattern
        case let (.string(a), .string(b)): return a == b
        case let (.binary(a), .binary(b)): return a == b
        case let (.array(a), .array(b)): return a == b
        case let (.map(a), .map(b)):
            guard a.count == b.count else { return false }
            for (x, y) in zip(a, b) where x.0 != y.0 || x.1 != y.1 { return false }
            return true
        case let (.timestamp(s1, n1), .timestamp(s2, n2)): return s1 == s2 && n1 == n2
        case let (.ext(t1, d1), .ext(t2, d2)): return t1 == t2 && d1 == d2
        default: return false
        }
    }

    public func hash(into hasher: inout Hasher) {
        switch self {
        case .null: hasher.combine(0 as UInt8)
        case .bool(let value): hasher.combine(1 as UInt8); hasher.combine(value)
        case .int(let value):
            // Same hash as `.uint` for the same non-negative number (they are equal).
            hasher.combine(2 as UInt8)
            hasher.combine(UInt64(bitPattern: value))
            hasher.combine(value < 0)
        case .uint(let value): hasher.combine(2 as UInt8); hasher.combine(value); hasher.combine(false)
        case .double(let value): hasher.combine(3 as UInt8); hasher.combine(value.bitPattern)
        case .float(let value): hasher.combine(4 as UInt8); hasher.combine(value.bitPattern)
        case .string(let value): hasher.combine(5 as UInt8); hasher.combine(value)
        case .binary(let value): hasher.combine(6 as UInt8); hasher.combine(value)
        case .array(let values): hasher.combine(7 as UInt8); hasher.combine(values)
        case .map(let pairs):
            hasher.combine(8 as UInt8)
            hasher.combine(pairs.count)
            for (key, value) in pairs {
                hasher.combine(key)
                hasher.combine(value)
            }
        case .timestamp(let seconds, let nanoseconds):
            hasher.combine(9 as UInt8); hasher.combine(seconds); hasher.combine(nanoseconds)
        case .ext(let type, let data): hasher.combine(10 as UInt8); hasher.combine(type); hasher.combine(data)
        }
    }
}

// MARK: - Conveniences

extension MessagePackValue {
    /// The value of the first pair whose key is the string `key`; nil when absent or when this is not a map.
    public subscript(key: String) -> MessagePackValue? {
        guard case .map(let pairs) = self else { return nil }
        for (candidate, value) in pairs {
            if case .string(let name) = candidate, name == key { return value }
        }
        return nil
    }

    public var stringValue: String? {
        if case .string(let value) = self { return value }
        return nil
    }

    public var boolValue: Bool? {
        if case .bool(let value) = self { return value }
        return nil
    }

    public var arrayValue: [MessagePackValue]? {
        if case .array(let values) = self { return values }
        return nil
    }

    public var mapValue: [(MessagePackValue, MessagePackValue)]? {
        if case .map(let pairs) = self { return pairs }
        return nil
    }

    /// From `.int`, or from `.uint` when it fits in `Int64`.
    public var int64Value: Int64? {
        switch self {
        case .int(let value): return value
        case .uint(let value): return Int64(exactly: value)
        default: return nil
        }
    }

    /// From `.double`, `.float`, `.int` or `.uint` (large integers are rounded to the nearest `Double`).
    public var doubleValue: Double? {
        switch self {
        case .double(let value): return value
        case .float(let value): return Double(value)
        case .int(let value): return Double(value)
        case .uint(let value): return Double(value)
        default: return nil
        }
    }
}

// MARK: - Dates

extension MessagePackValue {
    /// Seconds from 1970-01-01 to 2001-01-01, the reference date of `Date`.
    static let unixToReferenceDate: Int64 = 978_307_200

    /// A `.timestamp` for `date`: `seconds` is the floor of the Unix time (also for dates before 1970),
    /// `nanoseconds` the fraction rounded to the nearest nanosecond (`0...999_999_999`).
    /// `Date` is a `Double`, so the nanoseconds are only as exact as the `Date` (about 0.1 µs today).
    /// Non-finite dates give the Unix epoch; dates beyond the `Int64` range of seconds are clamped.
    public init(date: Date) {
        // Split the reference-date interval (what `Date` stores) so no precision is lost before rounding.
        let interval = date.timeIntervalSinceReferenceDate
        guard interval.isFinite else {
            self = .timestamp(seconds: 0, nanoseconds: 0)
            return
        }
        var whole = interval.rounded(.down)
        var nanoseconds = ((interval - whole) * 1_000_000_000).rounded()
        if nanoseconds >= 1_000_000_000 {
            whole += 1
            nanoseconds = 0
        }
        guard let sinceReference = Int64(exactly: whole) else {
            self = whole > 0 ? .timestamp(seconds: .max, nanoseconds: 999_999_999) : .timestamp(seconds: .min, nanoseconds: 0)
            return
        }
        let (seconds, overflow) = sinceReference.addingReportingOverflow(Self.unixToReferenceDate)
        self = overflow
            ? .timestamp(seconds: .max, nanoseconds: 999_999_999)
            : .timestamp(seconds: seconds, nanoseconds: UInt32(nanoseconds))
    }

    /// The instant of a `.timestamp` (nil for any other case), as exact as a `Date` can hold it.
    public var dateValue: Date? {
        guard case .timestamp(let seconds, let nanoseconds) = self else { return nil }
        let fraction = Double(nanoseconds) / 1_000_000_000
        let (sinceReference, overflow) = seconds.subtractingReportingOverflow(Self.unixToReferenceDate)
        if overflow {
            return Date(timeIntervalSince1970: Double(seconds) + fraction)
        }
        return Date(timeIntervalSinceReferenceDate: Double(sinceReference) + fraction)
    }
}

// MARK: - Literals

extension MessagePackValue: ExpressibleByBooleanLiteral, ExpressibleByIntegerLiteral, ExpressibleByFloatLiteral,
    ExpressibleByStringLiteral, ExpressibleByArrayLiteral, ExpressibleByDictionaryLiteral
{
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    public init(integerLiteral value: Int64) { self = .int(value) }
    /// A float literal is a `.double` (float64).
    public init(floatLiteral value: Double) { self = .double(value) }
    public init(stringLiteral value: String) { self = .string(value) }
    public init(arrayLiteral elements: MessagePackValue...) { self = .array(elements) }
    /// Keeps the order of the literal: `["T": "success", "msg": "connected"]` encodes `T` first.
    public init(dictionaryLiteral elements: (MessagePackValue, MessagePackValue)...) { self = .map(elements) }
}
