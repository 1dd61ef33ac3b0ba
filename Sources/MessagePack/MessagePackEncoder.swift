import Foundation

/// Entry points of the codec: `MessagePack.encode` (here) and `MessagePack.decode` (MessagePackDecoder.swift).
public enum MessagePack {
    /// The bytes of `value`, always in the smallest representation the spec allows:
    /// integers in the fewest bytes (fixints first; non-negative `.int`s use the unsigned formats like every
    /// MessagePack encoder), `.float` as float32 and `.double` as float64, str/bin/array/map/ext with the
    /// shortest length header, and `.timestamp` as timestamp 32, 64 or 96 following the spec's rule.
    /// Lengths above `UInt32.max` cannot be represented in MessagePack; such a value traps.
    public static func encode(_ value: MessagePackValue) -> [UInt8] {
        var writer = Writer()
        writer.write(value)
        return writer.bytes
    }
}

/// Appends the big-endian encoding of values to a byte array.
struct Writer {
    var bytes: [UInt8] = []

    mutating func write(_ value: MessagePackValue) {
        switch value {
        case .null: bytes.append(0xc0)
        case .bool(let flag): bytes.append(flag ? 0xc3 : 0xc2)
        case .int(let number): writeInt(number)
        case .uint(let number): writeUInt(number)
        case .float(let number):
            bytes.append(0xca)
            writeBigEndian(number.bitPattern)
        case .double(let number):
            bytes.append(0xcb)
            writeBigEndian(number.bitPattern)
        case .string(let text):
            let utf8 = text.utf8
            writeHeader(count: utf8.count, fix: (0xa0, 31), bits8: 0xd9, bits16: 0xda, bits32: 0xdb)
            bytes.append(contentsOf: utf8)
        case .binary(let data):
            writeHeader(count: data.count, fix: nil, bits8: 0xc4, bits16: 0xc5, bits32: 0xc6)
            bytes.append(contentsOf: data)
        case .array(let values):
            writeHeader(count: values.count, fix: (0x90, 15), bits8: nil, bits16: 0xdc, bits32: 0xdd)
            for element in values { write(element) }
        case .map(let pairs):
            writeHeader(count: pairs.count, fix: (0x80, 15), bits8: nil, bits16: 0xde, bits32: 0xdf)
            for (key, element) in pairs {
                write(key)
                write(element)
            }
        case .timestamp(let seconds, let nanoseconds): writeTimestamp(seconds: seconds, nanoseconds: nanoseconds)
        case .ext(let type, let data): writeExt(type: type, payload: data)
        }
    }

    mutating func writeUInt(_ number: UInt64) {
        switch number {
        case 0...0x7f: bytes.append(UInt8(number))  // positive fixint
        case 0...0xff: bytes.append(0xcc); bytes.append(UInt8(number))
        case 0...0xffff: bytes.append(0xcd); writeBigEndian(UInt16(number))
        case 0...0xffff_ffff: bytes.append(0xce); writeBigEndian(UInt32(number))
        default: bytes.append(0xcf); writeBigEndian(number)
        }
    }

    mutating func writeInt(_ number: Int64) {
        if number >= 0 {
            writeUInt(UInt64(number))
            return
        }
        switch number {
        case -32 ... -1: bytes.append(UInt8(bitPattern: Int8(number)))  // negative fixint 0xe0...0xff
        case Int64(Int8.min)...: bytes.append(0xd0); bytes.append(UInt8(bitPattern: Int8(number)))
        case Int64(Int16.min)...: bytes.append(0xd1); writeBigEndian(UInt16(bitPattern: Int16(number)))
        case Int64(Int32.min)...: bytes.append(0xd2); writeBigEndian(UInt32(bitPattern: Int32(number)))
        default: bytes.append(0xd3); writeBigEndian(UInt64(bitPattern: number))
        }
    }

    /// A length header: the fix form when `count` fits in it, else the 8-, 16- or 32-bit form that exists.
    mutating func writeHeader(count: Int, fix: (base: UInt8, max: Int)?, bits8: UInt8?, bits16: UInt8, bits32: UInt8) {
        if let fix, count <= fix.max {
            bytes.append(fix.base | UInt8(count))
        } else if let bits8, count <= 0xff {
            bytes.append(bits8)
            bytes.append(UInt8(count))
        } else if count <= 0xffff {
            bytes.append(bits16)
            writeBigEndian(UInt16(count))
        } else {
            precondition(count <= 0xffff_ffff, "MessagePack cannot encode \(count) items or bytes (at most 2^32-1)")
            bytes.append(bits32)
            writeBigEndian(UInt32(count))
        }
    }

    /// fixext 1/2/4/8/16 when the payload has exactly that size, else ext 8/16/32.
    mutating func writeExt(type: Int8, payload: Data) {
        switch payload.count {
        case 1: bytes.append(0xd4)
        case 2: bytes.append(0xd5)
        case 4: bytes.append(0xd6)
        case 8: bytes.append(0xd7)
        case 16: bytes.append(0xd8)
        default: writeHeader(count: payload.count, fix: nil, bits8: 0xc7, bits16: 0xc8, bits32: 0xc9)
        }
        bytes.append(UInt8(bitPattern: type))
        bytes.append(contentsOf: payload)
    }

    /// The Timestamp extension (type -1), choosing the form like the spec's pseudo code:
    /// 32-bit when there are no nanoseconds and the seconds fit in a `UInt32`, 64-bit when the seconds
    /// fit in 34 unsigned bits, else 96-bit. Nanoseconds of a second or more are carried into the seconds.
    mutating func writeTimestamp(seconds: Int64, nanoseconds: UInt32) {
        var seconds = seconds
        var nanoseconds = nanoseconds
        if nanoseconds >= 1_000_000_000 {
            let (carried, overflow) = seconds.addingReportingOverflow(Int64(nanoseconds / 1_000_000_000))
            (seconds, nanoseconds) = overflow ? (.max, 999_999_999) : (carried, nanoseconds % 1_000_000_000)
        }
        if seconds >> 34 == 0 {
            let data64 = UInt64(nanoseconds) << 34 | UInt64(seconds)
            if data64 & 0xffff_ffff_0000_0000 == 0 {
                bytes.append(contentsOf: [0xd6, 0xff])  // timestamp 32: fixext 4
                writeBigEndian(UInt32(data64))
            } else {
                bytes.append(contentsOf: [0xd7, 0xff])  // timestamp 64: fixext 8
                writeBigEndian(data64)
            }
        } else {
            bytes.append(contentsOf: [0xc7, 12, 0xff])  // timestamp 96: ext 8, 12 bytes
            writeBigEndian(nanoseconds)
            writeBigEndian(UInt64(bitPattern: seconds))
        }
    }

    mutating func writeBigEndian<T: FixedWidthInteger>(_ number: T) {
        withUnsafeBytes(of: number.bigEndian) { bytes.append(contentsOf: $0) }
    }
}
