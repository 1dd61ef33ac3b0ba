import Foundation

/// Why decoding failed, and at which byte offset of the input (the format byte of the value at fault,
/// or the first extra byte for `trailingBytes`).
public struct MessagePackError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable {
        /// The input ends inside a value: `needed` more bytes were expected, `available` were left.
        case truncated(needed: Int, available: Int)
        /// A str/bin/ext length or array/map count promises more than the rest of the input can hold.
        case lengthExceedsInput(declared: UInt64, available: Int)
        /// 0xc1, the one byte the spec never uses.
        case reservedByte(UInt8)
        /// A str whose bytes are not valid UTF-8.
        case invalidUTF8
        /// A Timestamp extension (type -1) whose payload is not 4, 8 or 12 bytes.
        case invalidTimestampLength(Int)
        /// A Timestamp extension with nanoseconds above 999 999 999.
        case invalidTimestampNanoseconds(UInt32)
        /// Arrays and maps nested deeper than `limit`.
        case depthLimitExceeded(limit: Int)
        /// A complete value was followed by `count` more bytes.
        case trailingBytes(count: Int)
    }

    public let kind: Kind
    public let offset: Int

    public init(_ kind: Kind, at offset: Int) {
        self.kind = kind
        self.offset = offset
    }

    public var description: String {
        let what: String
        switch kind {
        case let .truncated(needed, available):
            what = "input ends early: \(needed) more bytes needed, \(available) left"
        case let .lengthExceedsInput(declared, available):
            what = "declared length \(declared) exceeds the \(available) bytes left"
        case let .reservedByte(byte):
            what = "reserved byte 0x" + String(byte, radix: 16)
        case .invalidUTF8:
            what = "str is not valid UTF-8"
        case let .invalidTimestampLength(length):
            what = "timestamp extension of \(length) bytes (4, 8 or 12 expected)"
        case let .invalidTimestampNanoseconds(nanoseconds):
            what = "timestamp nanoseconds \(nanoseconds) above 999999999"
        case let .depthLimitExceeded(limit):
            what = "arrays/maps nested deeper than \(limit)"
        case let .trailingBytes(count):
            what = "\(count) trailing bytes after the value"
        }
        return "MessagePack: \(what) at byte offset \(offset)"
    }
}

extension MessagePack {
    /// How many arrays/maps may be nested in a decoded value (64 nested arrays decode, 65 throw).
    public static let maxDepth = 64

    /// Decodes exactly one value; bytes after it are an error. Never traps on malformed input.
    public static func decode(_ bytes: [UInt8]) throws(MessagePackError) -> MessagePackValue {
        var reader = Reader(bytes: bytes)
        let value = try reader.readValue(depth: 0)
        if reader.remaining > 0 {
            throw MessagePackError(.trailingBytes(count: reader.remaining), at: reader.position)
        }
        return value
    }

    /// Decodes exactly one value from any byte collection (`Data`, `ArraySlice<UInt8>`, ...); offsets count from its start.
    public static func decode<C: Collection>(_ bytes: C) throws(MessagePackError) -> MessagePackValue
    where C.Element == UInt8 {
        try decode(Array(bytes))
    }
}

/// A bounds-checked cursor over the input. Every read checks the remaining length first.
struct Reader {
    let bytes: [UInt8]
    var position = 0

    var remaining: Int { bytes.count - position }

    /// The next `count` bytes; `start` is the offset reported if they are missing.
    mutating func take(_ count: Int, start: Int) throws(MessagePackError) -> ArraySlice<UInt8> {
        guard count <= remaining else {
            throw MessagePackError(.truncated(needed: count, available: remaining), at: start)
        }
        defer { position += count }
        return bytes[position..<position + count]
    }

    mutating func readInteger<T: FixedWidthInteger & UnsignedInteger>(_: T.Type, start: Int) throws(MessagePackError) -> T {
        var number: T = 0
        for byte in try take(MemoryLayout<T>.size, start: start) {
            number = number << 8 | T(byte)
        }
        return number
    }

    /// A str/bin/ext length that must fit in what is left, checked before anything is allocated.
    mutating func readLength<T: FixedWidthInteger & UnsignedInteger>(_: T.Type, start: Int) throws(MessagePackError) -> Int {
        let declared = try readInteger(T.self, start: start)
        return try checked(UInt64(declared), start: start)
    }

    /// `declared` bytes (or items of at least `bytesEach` bytes) must fit in the rest of the input.
    func checked(_ declared: UInt64, bytesEach: UInt64 = 1, start: Int) throws(MessagePackError) -> Int {
        let (needed, overflow) = declared.multipliedReportingOverflow(by: bytesEach)
        guard !overflow, needed <= UInt64(remaining), let count = Int(exactly: declared) else {
            throw MessagePackError(.lengthExceedsInput(declared: declared, available: remaining), at: start)
        }
        return count
    }

    mutating func readValue(depth: Int) throws(MessagePackError) -> MessagePackValue {
        let start = position
        let format = try take(1, start: start).first ?? 0
        switch format {
        case 0x00...0x7f: return .int(Int64(format))
        case 0x80...0x8f: return try readMap(count: UInt64(format & 0x0f), start: start, depth: depth)
        case 0x90...0x9f: return try readArray(count: UInt64(format & 0x0f), start: start, depth: depth)
        case 0xa0...0xbf:
            return try readString(length: checked(UInt64(format & 0x1f), start: start), start: start)
        case 0xc0: return .null
        case 0xc1: throw MessagePackError(.reservedByte(format), at: start)
        case 0xc2: return .bool(false)
        case 0xc3: return .bool(true)
        case 0xc4: return try .binary(Data(take(readLength(UInt8.self, start: start), start: start)))
        case 0xc5: return try .binary(Data(take(readLength(UInt16.self, start: start), start: start)))
        case 0xc6: return try .binary(Data(take(readLength(UInt32.self, start: start), start: start)))
        case 0xc7: return try readExt(length: readLength(UInt8.self, start: start), start: start)
        case 0xc8: return try readExt(length: readLength(UInt16.self, start: start), start: start)
        case 0xc9: return try readExt(length: readLength(UInt32.self, start: start), start: start)
        case 0xca: return try .float(Float(bitPattern: readInteger(UInt32.self, start: start)))
        case 0xcb: return try .double(Double(bitPattern: readInteger(UInt64.self, start: start)))
        case 0xcc: return try .int(Int64(readInteger(UInt8.self, start: start)))
        case 0xcd: return try .int(Int64(readInteger(UInt16.self, start: start)))
        case 0xce: return try .int(Int64(readInteger(UInt32.self, start: start)))
        case 0xcf:
            let number = try readInteger(UInt64.self, start: start)
            return Int64(exactly: number).map { .int($0) } ?? .uint(number)
        case 0xd0: return try .int(Int64(Int8(bitPattern: readInteger(UInt8.self, start: start))))
        case 0xd1: return try .int(Int64(Int16(bitPattern: readInteger(UInt16.self, start: start))))
        case 0xd2: return try .int(Int64(Int32(bitPattern: readInteger(UInt32.self, start: start))))
        case 0xd3: return try .int(Int64(bitPattern: readInteger(UInt64.self, start: start)))
        case 0xd4: return try readExt(length: 1, start: start)
        case 0xd5: return try readExt(length: 2, start: start)
        case 0xd6: return try readExt(length: 4, start: start)
        case 0xd7: return try readExt(length: 8, start: start)
        case 0xd8: return try readExt(length: 16, start: start)
        case 0xd9: return try readString(length: readLength(UInt8.self, start: start), start: start)
        case 0xda: return try readString(length: readLength(UInt16.self, start: start), start: start)
        case 0xdb: return try readString(length: readLength(UInt32.self, start: start), start: start)
        case 0xdc: return try readArray(count: UInt64(readInteger(UInt16.self, start: start)), start: start, depth: depth)
        case 0xdd: return try readArray(count: UInt64(readInteger(UInt32.self, start: start)), start: start, depth: depth)
        case 0xde: return try readMap(count: UInt64(readInteger(UInt16.self, start: start)), start: start, depth: depth)
        case 0xdf: return try readMap(count: UInt64(readInteger(UInt32.self, start: start)), start: start, depth: depth)
        default: return .int(Int64(Int8(bitPattern: format)))  // 0xe0...0xff: negative fixint
        }
    }

    mutating func readString(length: Int, start: Int) throws(MessagePackError) -> MessagePackValue {
        let utf8 = try take(length, start: start)
        guard let text = String(validating: utf8, as: UTF8.self) else {
            throw MessagePackError(.invalidUTF8, at: start)
        }
        return .string(text)
    }

    mutating func readArray(count declared: UInt64, start: Int, depth: Int) throws(MessagePackError) -> MessagePackValue {
        guard depth < MessagePack.maxDepth else {
            throw MessagePackError(.depthLimitExceeded(limit: MessagePack.maxDepth), at: start)
        }
        let count = try checked(declared, start: start)  // every element takes at least one byte
        var values: [MessagePackValue] = []
        values.reserveCapacity(count)
        for _ in 0..<count {
            values.append(try readValue(depth: depth + 1))
        }
        return .array(values)
    }

    mutating func readMap(count declared: UInt64, start: Int, depth: Int) throws(MessagePackError) -> MessagePackValue {
        guard depth < MessagePack.maxDepth else {
            throw MessagePackError(.depthLimitExceeded(limit: MessagePack.maxDepth), at: start)
        }
        let count = try checked(declared, bytesEach: 2, start: start)  // a key and a value: two bytes at least
        var pairs: [(MessagePackValue, MessagePackValue)] = []
        pairs.reserveCapacity(count)
        for _ in 0..<count {
            let key = try readValue(depth: depth + 1)
            let value = try readValue(depth: depth + 1)
            pairs.append((key, value))
        }
        return .map(pairs)
    }

    /// The type byte and `length` bytes of payload; type -1 is the Timestamp extension in its three forms.
    mutating func readExt(length: Int, start: Int) throws(MessagePackError) -> MessagePackValue {
        let type = Int8(bitPattern: try readInteger(UInt8.self, start: start))
        let payload = try take(length, start: start)
        guard type == -1 else { return .ext(type: type, data: Data(payload)) }
        var stamp = Reader(bytes: Array(payload))
        let seconds: Int64
        let nanoseconds: UInt32
        switch length {
        case 4:
            seconds = Int64(try stamp.readInteger(UInt32.self, start: start))
            nanoseconds = 0
        case 8:
            let data64 = try stamp.readInteger(UInt64.self, start: start)
            seconds = Int64(data64 & 0x3_ffff_ffff)
            nanoseconds = UInt32(data64 >> 34)
        case 12:
            nanoseconds = try stamp.readInteger(UInt32.self, start: start)
            seconds = Int64(bitPattern: try stamp.readInteger(UInt64.self, start: start))
        default:
            throw MessagePackError(.invalidTimestampLength(length), at: start)
        }
        guard nanoseconds <= 999_999_999 else {
            throw MessagePackError(.invalidTimestampNanoseconds(nanoseconds), at: start)
        }
        return .timestamp(seconds: seconds, nanoseconds: nanoseconds)
    }
}
