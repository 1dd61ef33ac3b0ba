import Foundation
import PropertyBased
import SeededRandom
import Testing
@testable import MessagePack

// MARK: - Helpers

/// Bytes from spaced hex ("82 a7 63"). A malformed pair becomes 0xc1, which no golden vector contains.
func hex(_ text: String) -> [UInt8] {
    text.split(whereSeparator: \.isWhitespace).map { UInt8($0, radix: 16) ?? 0xc1 }
}

func roundTrip(_ value: MessagePackValue) throws -> MessagePackValue {
    try MessagePack.decode(MessagePack.encode(value))
}

/// The error decoding `bytes` throws, or nil when it decodes.
func decodeError(_ bytes: [UInt8]) -> MessagePackError? {
    do {
        _ = try MessagePack.decode(bytes)
        return nil
    } catch {
        return error
    }
}

enum RandomValue {
    static let lengths = [0, 1, 2, 3, 4, 8, 15, 16, 17, 31, 32, 255, 256]

    static func string(_ rng: inout SplitMix64) -> String {
        let count = Bool.random(using: &rng) ? Int.random(in: 0...40, using: &rng) : lengths.randomElement(using: &rng) ?? 0
        let planes: [ClosedRange<UInt32>] = [0x20...0x7e, 0x00...0x7f, 0xa0...0x7ff, 0x4e00...0x9fff, 0x1f600...0x1f64f]
        var text = ""
        for _ in 0..<count {
            let plane = planes.randomElement(using: &rng) ?? 0x20...0x7e
            text.unicodeScalars.append(Unicode.Scalar(UInt32.random(in: plane, using: &rng)) ?? "?")
        }
        return text
    }

    static func bytes(_ rng: inout SplitMix64) -> Data {
        let count = Bool.random(using: &rng) ? Int.random(in: 0...300, using: &rng) : lengths.randomElement(using: &rng) ?? 0
        return Data((0..<count).map { _ in UInt8.random(in: 0...255, using: &rng) })
    }

    static func value(_ rng: inout SplitMix64, depth: Int = 0) -> MessagePackValue {
        switch Int.random(in: 0..<(depth < 3 ? 12 : 10), using: &rng) {
        case 0: return .null
        case 1: return .bool(Bool.random(using: &rng))
        case 2: return .int(Int64(bitPattern: rng.next()) >> Int64.random(in: 0...63, using: &rng))
        case 3: return .uint(rng.next() >> UInt64.random(in: 0...63, using: &rng))
        case 4: return .double(Double(bitPattern: rng.next()))
        case 5: return .float(Float(bitPattern: UInt32(truncatingIfNeeded: rng.next())))
        case 6:
            // Now and then a string past the 16-bit length header.
            if Int.random(in: 0..<40, using: &rng) == 0 { return .string(String(repeating: "x", count: 65_536)) }
            return .string(string(&rng))
        case 7: return .binary(bytes(&rng))
        case 8:
            let seconds = Int64(bitPattern: rng.next()) >> Int64.random(in: 0...63, using: &rng)
            return .timestamp(seconds: seconds, nanoseconds: Bool.random(using: &rng) ? 0 : UInt32.random(in: 0...999_999_999, using: &rng))
        case 9:
            let type = Int8.random(in: -128...127, using: &rng)
            return .ext(type: type == -1 ? 1 : type, data: bytes(&rng))
        case 10:
            let count = Int.random(in: 0...(depth == 0 ? 20 : 5), using: &rng)
            return .map((0..<count).map { _ in (value(&rng, depth: depth + 1), value(&rng, depth: depth + 1)) })
        default:
            let count = Int.random(in: 0...(depth == 0 ? 20 : 5), using: &rng)
            return .array((0..<count).map { _ in value(&rng, depth: depth + 1) })
        }
    }
}

// MARK: - Golden bytes

@Suite struct GoldenBytesTests {
    @Test func specExampleMap() {
        let value: MessagePackValue = .map([(.string("compact"), .bool(true)), (.string("schema"), .int(0))])
        #expect(MessagePack.encode(value) == hex("82 a7 63 6f 6d 70 61 63 74 c3 a6 73 63 68 65 6d 61 00"))
    }

    @Test func scalars() {
        #expect(MessagePack.encode(.null) == [0xc0])
        #expect(MessagePack.encode(.bool(false)) == [0xc2])
        #expect(MessagePack.encode(.bool(true)) == [0xc3])
        #expect(MessagePack.encode(.float(1.5)) == hex("ca 3f c0 00 00"))
        #expect(MessagePack.encode(.double(1.5)) == hex("cb 3f f8 00 00 00 00 00 00"))
        #expect(MessagePack.encode(.double(-0.0)) == hex("cb 80 00 00 00 00 00 00 00"))
        #expect(MessagePack.encode(.double(.infinity)) == hex("cb 7f f0 00 00 00 00 00 00"))
        #expect(MessagePack.encode(.string("é€😀")) == hex("a9 c3 a9 e2 82 ac f0 9f 98 80"))
        #expect(MessagePack.encode(.binary(Data())) == hex("c4 00"))
        #expect(MessagePack.encode(.binary(Data([1, 1, 1]))) == hex("c4 03 01 01 01"))
        #expect(MessagePack.encode(["a": [1, 2, ["b": .null]]]) == hex("81 a1 61 93 01 02 81 a1 62 c0"))
    }

    /// Every integer boundary, against the bytes Python's msgpack 1.2.4 produces for the same number.
    @Test(arguments: [
        (Int64(0), "00"), (127, "7f"), (128, "cc 80"), (255, "cc ff"), (256, "cd 01 00"), (65535, "cd ff ff"),
        (65536, "ce 00 01 00 00"), (4_294_967_295, "ce ff ff ff ff"), (4_294_967_296, "cf 00 00 00 01 00 00 00 00"),
        (.max, "cf 7f ff ff ff ff ff ff ff"), (-1, "ff"), (-32, "e0"), (-33, "d0 df"), (-128, "d0 80"),
        (-129, "d1 ff 7f"), (-32768, "d1 80 00"), (-32769, "d2 ff ff 7f ff"), (-2_147_483_648, "d2 80 00 00 00"),
        (-2_147_483_649, "d3 ff ff ff ff 7f ff ff ff"), (.min, "d3 80 00 00 00 00 00 00 00"),
    ])
    func integers(number: Int64, bytes: String) throws {
        #expect(MessagePack.encode(.int(number)) == hex(bytes))
        if number >= 0 { #expect(MessagePack.encode(.uint(UInt64(number))) == hex(bytes)) }
        #expect(try MessagePack.decode(hex(bytes)) == .int(number))
    }

    @Test func unsignedAboveInt64() throws {
        #expect(MessagePack.encode(.uint(1 << 63)) == hex("cf 80 00 00 00 00 00 00 00"))
        #expect(MessagePack.encode(.uint(.max)) == hex("cf ff ff ff ff ff ff ff ff"))
        #expect(try MessagePack.decode(hex("cf ff ff ff ff ff ff ff ff")) == .uint(.max))
        guard case .uint = try MessagePack.decode(hex("cf 80 00 00 00 00 00 00 00")) else {
            Issue.record("uint64 above Int64.max must decode as .uint")
            return
        }
    }

    @Test func extensionHeaders() {
        func header(_ size: Int, _ count: Int) -> [UInt8] {
            Array(MessagePack.encode(.ext(type: 5, data: Data(repeating: 0, count: size))).prefix(count))
        }
        #expect(header(1, 2) == hex("d4 05"))
        #expect(header(2, 2) == hex("d5 05"))
        #expect(header(4, 2) == hex("d6 05"))
        #expect(header(8, 2) == hex("d7 05"))
        #expect(header(16, 2) == hex("d8 05"))
        #expect(header(0, 3) == hex("c7 00 05"))
        #expect(header(3, 3) == hex("c7 03 05"))
        #expect(header(17, 3) == hex("c7 11 05"))
        #expect(header(255, 3) == hex("c7 ff 05"))
        #expect(header(256, 4) == hex("c8 01 00 05"))
        #expect(header(65535, 4) == hex("c8 ff ff 05"))
        #expect(header(65536, 6) == hex("c9 00 01 00 00 05"))
        #expect(MessagePack.encode(.ext(type: -128, data: Data([0xab]))) == hex("d4 80 ab"))
    }

    @Test func lengthHeaders() {
        func prefix(_ value: MessagePackValue, _ count: Int) -> [UInt8] { Array(MessagePack.encode(value).prefix(count)) }
        func text(_ count: Int) -> MessagePackValue { .string(String(repeating: "a", count: count)) }
        func blob(_ count: Int) -> MessagePackValue { .binary(Data(count: count)) }
        func list(_ count: Int) -> MessagePackValue { .array(Array(repeating: .null, count: count)) }
        func dict(_ count: Int) -> MessagePackValue { .map(Array(repeating: (.null, .null), count: count)) }
        #expect(prefix(text(0), 1) == [0xa0])
        #expect(prefix(text(31), 1) == [0xbf])
        #expect(prefix(text(32), 2) == hex("d9 20"))
        #expect(prefix(text(255), 2) == hex("d9 ff"))
        #expect(prefix(text(256), 3) == hex("da 01 00"))
        #expect(prefix(text(65535), 3) == hex("da ff ff"))
        #expect(prefix(text(65536), 5) == hex("db 00 01 00 00"))
        #expect(prefix(blob(255), 2) == hex("c4 ff"))
        #expect(prefix(blob(256), 3) == hex("c5 01 00"))
        #expect(prefix(blob(65535), 3) == hex("c5 ff ff"))
        #expect(prefix(blob(65536), 5) == hex("c6 00 01 00 00"))
        #expect(prefix(list(15), 1) == [0x9f])
        #expect(prefix(list(16), 3) == hex("dc 00 10"))
        #expect(prefix(list(65535), 3) == hex("dc ff ff"))
        #expect(prefix(list(65536), 5) == hex("dd 00 01 00 00"))
        #expect(prefix(dict(15), 1) == [0x8f])
        #expect(prefix(dict(16), 3) == hex("de 00 10"))
        #expect(prefix(dict(65535), 3) == hex("de ff ff"))
        #expect(prefix(dict(65536), 5) == hex("df 00 01 00 00"))
    }

    /// The three timestamp forms, against Python's `msgpack.packb(msgpack.Timestamp(s, ns))`.
    @Test(arguments: [
        (Int64(0), UInt32(0), "d6 ff 00 00 00 00"),
        (4_294_967_295, 0, "d6 ff ff ff ff ff"),
        (1_300_288_080, 0, "d6 ff 4d 80 d2 50"),
        (4_294_967_296, 0, "d7 ff 00 00 00 01 00 00 00 00"),
        (0, 1, "d7 ff 00 00 00 04 00 00 00 00"),
        (4_294_967_296, 1, "d7 ff 00 00 00 05 00 00 00 00"),
        (1_300_288_080, 123_456_789, "d7 ff 1d 6f 34 54 4d 80 d2 50"),
        (17_179_869_183, 999_999_999, "d7 ff ee 6b 27 ff ff ff ff ff"),
        (17_179_869_184, 0, "c7 0c ff 00 00 00 00 00 00 00 04 00 00 00 00"),
        (-1, 500_000_000, "c7 0c ff 1d cd 65 00 ff ff ff ff ff ff ff ff"),
        (.min, 999_999_999, "c7 0c ff 3b 9a c9 ff 80 00 00 00 00 00 00 00"),
    ])
    func timestamps(seconds: Int64, nanoseconds: UInt32, bytes: String) throws {
        let value = MessagePackValue.timestamp(seconds: seconds, nanoseconds: nanoseconds)
        #expect(MessagePack.encode(value) == hex(bytes))
        #expect(try MessagePack.decode(hex(bytes)) == value)
    }

    @Test func timestampNanosecondsOfASecondOrMoreAreCarried() {
        #expect(MessagePack.encode(.timestamp(seconds: 0, nanoseconds: 1_500_000_000))
            == MessagePack.encode(.timestamp(seconds: 1, nanoseconds: 500_000_000)))
        #expect(MessagePack.encode(.timestamp(seconds: .max, nanoseconds: 2_000_000_000))
            == MessagePack.encode(.timestamp(seconds: .max, nanoseconds: 999_999_999)))
    }
}

// MARK: - Python cross-check (bytes from msgpack 1.2.4, see the report of the change)

@Suite struct PythonInteropTests {
    /// `msgpack.packb([{"T":"t","S":"SPY","p":126.5,"s":100,"t":msgpack.Timestamp(1300288080, 123456789)}])`;
    /// `msgpack.unpackb(b, timestamp=3)` reads these bytes as 2011-03-16 15:08:00.123456+00:00.
    static let tradeFrame = hex("""
        91 85 a1 54 a1 74 a1 53 a3 53 50 59 a1 70 cb 40 5f a0 00 00 00 00 00 a1 73 64 a1 74 d7 ff 1d 6f 34 54 4d 80 d2 50
        """)

    @Test func tradeFrameEncodesLikePython() throws {
        let frame: MessagePackValue = [[
            "T": "t", "S": "SPY", "p": 126.5, "s": 100, "t": .timestamp(seconds: 1_300_288_080, nanoseconds: 123_456_789),
        ]]
        #expect(MessagePack.encode(frame) == Self.tradeFrame)
        let decoded = try MessagePack.decode(Self.tradeFrame)
        #expect(decoded == frame)
        let trade = try #require(decoded.arrayValue?.first)
        let date = try #require(trade["t"]?.dateValue)
        #expect(abs(date.timeIntervalSince1970 - 1_300_288_080.123456789) < 1e-6)
    }

    @Test func connectedFrame() {
        let frame: MessagePackValue = [["T": "success", "msg": "connected"]]
        #expect(MessagePack.encode(frame) == hex("91 82 a1 54 a7 73 75 63 63 65 73 73 a3 6d 73 67 a9 63 6f 6e 6e 65 63 74 65 64"))
    }

    /// `msgpack.packb({"action":"subscribe","trades":["AAPL"],"bars":["*"]})`.
    @Test func pythonSubscribeDecodes() throws {
        let bytes = hex("""
            83 a6 61 63 74 69 6f 6e a9 73 75 62 73 63 72 69 62 65 a6 74 72 61 64 65 73 91 a4 41 41 50 4c a4 62 61 72 73 91 a1 2a
            """)
        let message = try MessagePack.decode(bytes)
        #expect(message == ["action": "subscribe", "trades": ["AAPL"], "bars": ["*"]])
        #expect(message["action"]?.stringValue == "subscribe")
        #expect(message["trades"]?.arrayValue == ["AAPL"])
        #expect(message["bars"]?.arrayValue?.compactMap(\.stringValue) == ["*"])
        #expect(message["quotes"] == nil)
        #expect(MessagePack.encode(message) == bytes)
    }

    /// `msgpack.packb({"action":"auth","key":"k","secret":"s"})`.
    @Test func pythonAuthDecodes() throws {
        let message = try MessagePack.decode(hex("83 a6 61 63 74 69 6f 6e a4 61 75 74 68 a3 6b 65 79 a1 6b a6 73 65 63 72 65 74 a1 73"))
        #expect(message["action"]?.stringValue == "auth")
        #expect(message["key"]?.stringValue == "k")
        #expect(message["secret"]?.stringValue == "s")
    }
}

// MARK: - Round trips at every size boundary

@Suite struct RoundTripTests {
    static let integers: [Int64] = [
        0, 1, 127, 128, 255, 256, 65535, 65536, 4_294_967_295, 4_294_967_296, .max,
        -1, -32, -33, -128, -129, -32768, -32769, -2_147_483_648, -2_147_483_649, .min,
    ]

    @Test(arguments: integers) func signed(number: Int64) throws {
        #expect(try roundTrip(.int(number)) == .int(number))
        #expect(try roundTrip(.int(number)).int64Value == number)
    }

    @Test(arguments: [UInt64(0), 127, 128, 255, 256, 65535, 65536, 4_294_967_295, 4_294_967_296, 1 << 63, .max])
    func unsigned(number: UInt64) throws {
        #expect(try roundTrip(.uint(number)) == .uint(number))
    }

    @Test func floatingPoint() throws {
        let doubles: [Double] = [0, -0.0, 1.5, -126.5, .infinity, -.infinity, .nan, .leastNonzeroMagnitude, .greatestFiniteMagnitude, .pi]
        for number in doubles {
            let decoded = try roundTrip(.double(number))
            #expect(decoded == .double(number))
            if case .double(let back) = decoded { #expect(back.bitPattern == number.bitPattern) }
        }
        let floats: [Float] = [0, -0.0, 1.5, .infinity, -.infinity, .nan, .leastNonzeroMagnitude, .greatestFiniteMagnitude]
        for number in floats {
            #expect(try roundTrip(.float(number)) == .float(number))
        }
    }

    @Test(arguments: [0, 1, 31, 32, 255, 256, 65535, 65536])
    func stringsBinariesArraysMaps(count: Int) throws {
        let text = MessagePackValue.string(String(repeating: "a", count: count))
        #expect(try roundTrip(text) == text)
        let blob = MessagePackValue.binary(Data((0..<count).map { UInt8(truncatingIfNeeded: $0) }))
        #expect(try roundTrip(blob) == blob)
        let list = MessagePackValue.array((0..<count).map { .int(Int64($0)) })
        #expect(try roundTrip(list) == list)
        let dict = MessagePackValue.map((0..<count).map { (.int(Int64($0)), .bool($0 % 2 == 0)) })
        #expect(try roundTrip(dict) == dict)
    }

    @Test(arguments: [15, 16, 17]) func smallCollections(count: Int) throws {
        let list = MessagePackValue.array(Array(repeating: "x", count: count))
        #expect(try roundTrip(list) == list)
        let dict = MessagePackValue.map((0..<count).map { (.string("k\($0)"), .null) })
        #expect(try roundTrip(dict) == dict)
    }

    @Test func unicodeStrings() throws {
        for text in ["", "é", "€", "😀", "a\u{0}b", "Größe 日本語 🇨🇭", String(repeating: "€", count: 21_846)] {
            #expect(try roundTrip(.string(text)) == .string(text))
        }
    }

    @Test(arguments: [0, 1, 2, 3, 4, 5, 8, 16, 17, 255, 256, 65535, 65536])
    func extensions(size: Int) throws {
        for type: Int8 in [0, 1, 127, -2, -128] {
            let value = MessagePackValue.ext(type: type, data: Data((0..<size).map { UInt8(truncatingIfNeeded: $0 * 7) }))
            #expect(try roundTrip(value) == value)
        }
    }

    @Test func timestampBoundaries() throws {
        let seconds: [Int64] = [0, 1, 4_294_967_295, 4_294_967_296, 17_179_869_183, 17_179_869_184, -1, .min, .max]
        for second in seconds {
            for nanoseconds: UInt32 in [0, 1, 999_999_999] {
                let value = MessagePackValue.timestamp(seconds: second, nanoseconds: nanoseconds)
                #expect(try roundTrip(value) == value)
            }
        }
    }

    @Test func nestedMixedValue() throws {
        let value: MessagePackValue = [
            "null": .null, "list": [1, -1, 2.5, .float(0.25), "x", .binary(Data([0, 255]))],
            .int(7): ["inner": [.timestamp(seconds: -5, nanoseconds: 7), .ext(type: 9, data: Data([1, 2, 3]))]],
            .uint(.max): .bool(false),
        ]
        #expect(try roundTrip(value) == value)
    }

    @Test func decodesAnyByteCollection() throws {
        let bytes = MessagePack.encode(["a": [1, 2, 3]])
        #expect(try MessagePack.decode(Data(bytes)) == ["a": [1, 2, 3]])
        let framed = [0xff, 0xff] + bytes + [0xff]
        #expect(try MessagePack.decode(framed[2..<framed.count - 1]) == ["a": [1, 2, 3]])
        #expect(try MessagePack.decode(bytes.reversed().reversed()) == ["a": [1, 2, 3]])
    }
}

// MARK: - Decoding every format, including the non-minimal ones other encoders may send

@Suite struct DecodeFormatTests {
    static let vectors: [(String, MessagePackValue)] = [
        ("cc 05", .int(5)), ("cd 00 05", 5), ("ce 00 00 00 05", 5), ("cf 00 00 00 00 00 00 00 05", 5),
        ("d0 05", 5), ("d1 00 05", 5), ("d2 00 00 00 05", 5), ("d3 00 00 00 00 00 00 00 05", 5),
        ("d0 ff", -1), ("d1 ff ff", -1), ("d2 ff ff ff ff", -1), ("d3 ff ff ff ff ff ff ff ff", -1), ("e0", -32),
        ("c0", .null), ("c2", false), ("c3", true), ("ca 3f c0 00 00", .float(1.5)), ("cb 3f f8 00 00 00 00 00 00", 1.5),
        ("d9 00", ""), ("da 00 01 61", "a"), ("db 00 00 00 01 61", "a"), ("a3 e2 82 ac", "€"),
        ("c4 01 07", .binary(Data([7]))), ("c5 00 01 07", .binary(Data([7]))), ("c6 00 00 00 00", .binary(Data())),
        ("90", []), ("dc 00 01 c0", [.null]), ("dd 00 00 00 02 01 02", [1, 2]),
        ("80", [:]), ("de 00 01 a1 61 c3", ["a": true]), ("df 00 00 00 01 01 02", [1: 2]),
        ("d4 07 aa", .ext(type: 7, data: Data([0xaa]))), ("d5 07 aa bb", .ext(type: 7, data: Data([0xaa, 0xbb]))),
        ("d6 80 01 02 03 04", .ext(type: -128, data: Data([1, 2, 3, 4]))),
        ("d7 7f 01 02 03 04 05 06 07 08", .ext(type: 127, data: Data([1, 2, 3, 4, 5, 6, 7, 8]))),
        ("d8 07 00 01 02 03 04 05 06 07 08 09 0a 0b 0c 0d 0e 0f", .ext(type: 7, data: Data(0..<16))),
        ("c7 00 07", .ext(type: 7, data: Data())), ("c8 00 01 07 aa", .ext(type: 7, data: Data([0xaa]))),
        ("c9 00 00 00 02 07 aa bb", .ext(type: 7, data: Data([0xaa, 0xbb]))),
        // Timestamps in any ext container of 4, 8 or 12 bytes.
        ("c7 04 ff 00 00 00 01", .timestamp(seconds: 1, nanoseconds: 0)),
        ("c8 00 08 ff 00 00 00 04 00 00 00 00", .timestamp(seconds: 0, nanoseconds: 1)),
        ("c9 00 00 00 0c ff 00 00 00 01 ff ff ff ff ff ff ff fe", .timestamp(seconds: -2, nanoseconds: 1)),
    ]

    @Test(arguments: vectors)
    func decodes(bytes: String, expected: MessagePackValue) throws {
        #expect(try MessagePack.decode(hex(bytes)) == expected)
    }
}

// MARK: - Malformed and malicious input

@Suite struct MalformedInputTests {
    @Test(arguments: [
        ("", MessagePackError.Kind.truncated(needed: 1, available: 0), 0),
        ("c1", .reservedByte(0xc1), 0),
        ("92 c0 c1", .reservedByte(0xc1), 2),
        ("cd 01", .truncated(needed: 2, available: 1), 0),
        ("cb 00 00 00 00 00 00 00", .truncated(needed: 8, available: 7), 0),
        ("91 d3 00", .truncated(needed: 8, available: 1), 1),
        ("d6 ff 00", .truncated(needed: 4, available: 1), 0),
        ("d9", .truncated(needed: 1, available: 0), 0),
        ("db ff ff ff ff 61 62 63", .lengthExceedsInput(declared: 0xffff_ffff, available: 3), 0),
        ("c6 ff ff ff ff 61 62 63", .lengthExceedsInput(declared: 0xffff_ffff, available: 3), 0),
        ("c9 ff ff ff ff 01 61 62 63", .lengthExceedsInput(declared: 0xffff_ffff, available: 4), 0),
        ("dd ff ff ff ff c0 c0 c0", .lengthExceedsInput(declared: 0xffff_ffff, available: 3), 0),
        ("df ff ff ff ff c0 c0 c0", .lengthExceedsInput(declared: 0xffff_ffff, available: 3), 0),
        ("df 00 00 00 03 c0 c0 c0 c0 c0", .lengthExceedsInput(declared: 3, available: 5), 0),
        ("a5 61 62", .lengthExceedsInput(declared: 5, available: 2), 0),
        ("93 c0 c0", .lengthExceedsInput(declared: 3, available: 2), 0),
        ("93 c0 c0 cd", .truncated(needed: 2, available: 0), 3),
        ("a2 c3 28", .invalidUTF8, 0),
        ("a3 ed a0 80", .invalidUTF8, 0),
        ("a2 c0 80", .invalidUTF8, 0),
        ("92 c0 a1 ff", .invalidUTF8, 2),
        ("c0 c0", .trailingBytes(count: 1), 1),
        ("91 01 02 03", .trailingBytes(count: 2), 2),
        ("d5 ff 00 00", .invalidTimestampLength(2), 0),
        ("d8 ff 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00", .invalidTimestampLength(16), 0),
        ("c7 00 ff", .invalidTimestampLength(0), 0),
        ("d7 ff ee 6b 28 00 00 00 00 00", .invalidTimestampNanoseconds(1_000_000_000), 0),
        ("c7 0c ff 3b 9a ca 00 00 00 00 00 00 00 00 00", .invalidTimestampNanoseconds(1_000_000_000), 0),
    ])
    func rejects(bytes: String, kind: MessagePackError.Kind, offset: Int) {
        let error = decodeError(hex(bytes))
        #expect(error == MessagePackError(kind, at: offset))
        #expect(error?.description.contains("at byte offset \(offset)") == true)
    }

    @Test func nestingDepthIsLimited() throws {
        let deepest = [UInt8](repeating: 0x91, count: MessagePack.maxDepth) + [0xc0]
        #expect(try MessagePack.decode(deepest).arrayValue != nil)
        let tooDeep = [UInt8](repeating: 0x91, count: MessagePack.maxDepth + 1) + [0xc0]
        #expect(decodeError(tooDeep) == MessagePackError(.depthLimitExceeded(limit: 64), at: 64))
        let maps = [UInt8](Array(repeating: [0x81, 0xc0], count: 65).joined()) + [0xc0]
        #expect(decodeError(maps) == MessagePackError(.depthLimitExceeded(limit: 64), at: 128))
        // Far deeper than any stack would allow if it recursed without a limit.
        #expect(decodeError([UInt8](repeating: 0xdc, count: 1) + [0x00, 0x01] + [UInt8](repeating: 0x91, count: 1_000_000))?.kind
            == .depthLimitExceeded(limit: 64))
    }

    @Test func everyPrefixOfAValidEncodingThrows() throws {
        let bytes = MessagePack.encode([
            ["T": "t", "S": "SPY", "p": 126.5, "f": .float(2), "s": 100, "c": ["@", "I"], "b": .binary(Data(count: 300)),
             "t": .timestamp(seconds: -1, nanoseconds: 5), "u": .uint(.max), "n": -40_000, "e": .ext(type: 3, data: Data(count: 20))],
        ])
        for length in 0..<bytes.count {
            #expect(decodeError(Array(bytes[0..<length])) != nil, "prefix of \(length) bytes decoded")
        }
        #expect(decodeError(bytes) == nil)
    }

    /// Random bytes and random corruptions of valid encodings: the decoder returns or throws, never traps.
    @Test func randomAndCorruptedInputNeverTraps() {
        var rng = SplitMix64(seed: 0xdec0de)
        var decoded = 0
        for _ in 0..<3000 {
            let noise = (0..<Int.random(in: 0...48, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
            if decodeError(noise) == nil { decoded += 1 }
            var bytes = MessagePack.encode(RandomValue.value(&rng))
            for _ in 0..<Int.random(in: 1...4, using: &rng) where !bytes.isEmpty {
                bytes[Int.random(in: 0..<bytes.count, using: &rng)] = UInt8.random(in: 0...255, using: &rng)
            }
            if Bool.random(using: &rng) { bytes.removeLast(Int.random(in: 0...min(3, bytes.count), using: &rng)) }
            if decodeError(bytes) == nil { decoded += 1 }
        }
        #expect(decoded > 0)
    }
}

// MARK: - Properties over random values

@Suite struct PropertyTests {
    /// A fixed seed, so a failure here is reproducible run after run.
    @Test func seededRandomValuesRoundTrip() throws {
        var rng = SplitMix64(seed: 20_110_316)
        for _ in 0..<1500 {
            let value = RandomValue.value(&rng)
            let bytes = MessagePack.encode(value)
            let decoded = try MessagePack.decode(bytes)
            #expect(decoded == value)
            #expect(MessagePack.encode(decoded) == bytes)
            #expect(decoded.hashValue == value.hashValue)
        }
    }

    @Test func randomValuesRoundTrip() async {
        await propertyCheck(count: 300, input: Gen.uint64()) { seed throws in
            var rng = SplitMix64(seed: seed)
            let value = RandomValue.value(&rng)
            #expect(try roundTrip(value) == value)
        }
    }

    @Test func integersRoundTripInTheSmallestForm() async {
        await propertyCheck(count: 1000, input: Gen.int64(), Gen.uint64()) { signed, unsigned throws in
            #expect(try roundTrip(.int(signed)) == .int(signed))
            #expect(try roundTrip(.uint(unsigned)) == .uint(unsigned))
            let size = MessagePack.encode(.int(signed)).count
            let expected = switch signed {
            case -32...127: 1
            case -128...255: 2
            case -32768...65535: 3
            case -2_147_483_648...4_294_967_295: 5
            default: 9
            }
            #expect(size == expected)
        }
    }

    @Test func timestampsRoundTrip() async {
        await propertyCheck(count: 1000, input: Gen.int64(), Gen.uint32(in: 0...999_999_999)) { seconds, nanoseconds throws in
            let value = MessagePackValue.timestamp(seconds: seconds, nanoseconds: nanoseconds)
            #expect(try roundTrip(value) == value)
        }
    }
}

// MARK: - Value semantics and conveniences

@Suite struct ValueTests {
    @Test func integersCompareByValue() {
        #expect(MessagePackValue.int(5) == .uint(5))
        #expect(MessagePackValue.uint(5) == .int(5))
        #expect(MessagePackValue.int(5).hashValue == MessagePackValue.uint(5).hashValue)
        #expect(MessagePackValue.int(-1) != .uint(.max))
        #expect(Set<MessagePackValue>([.int(1), .uint(1), .int(-1), .uint(.max)]).count == 3)
    }

    @Test func floatsCompareByBits() {
        #expect(MessagePackValue.double(.nan) == .double(.nan))
        #expect(MessagePackValue.double(0) != .double(-0.0))
        #expect(MessagePackValue.float(1) != .double(1))
        #expect(MessagePackValue.int(1) != .double(1))
    }

    @Test func mapsAreOrderedPairs() {
        let ab: MessagePackValue = ["a": 1, "b": 2]
        let ba: MessagePackValue = ["b": 2, "a": 1]
        #expect(ab != ba)
        #expect(ab == .map([(.string("a"), .int(1)), (.string("b"), .int(2))]))
        #expect(MessagePack.encode(ab) == hex("82 a1 61 01 a1 62 02"))
        let duplicated: MessagePackValue = .map([("k", 1), ("k", 2)])
        #expect(duplicated["k"] == .int(1))
    }

    @Test func accessors() {
        let message: MessagePackValue = ["s": "x", "n": 7, "u": .uint(.max), "d": 1.5, "f": .float(0.5), "b": true, "a": [1]]
        #expect(message["s"]?.stringValue == "x")
        #expect(message["n"]?.int64Value == 7)
        #expect(message["n"]?.doubleValue == 7)
        #expect(message["u"]?.int64Value == nil)
        #expect(message["u"]?.doubleValue == 0x1p64)
        #expect(MessagePackValue.uint(9).int64Value == 9)
        #expect(message["d"]?.doubleValue == 1.5)
        #expect(message["f"]?.doubleValue == 0.5)
        #expect(message["b"]?.boolValue == true)
        #expect(message["a"]?.arrayValue == [1])
        #expect(message.mapValue?.count == 7)
        #expect(message["missing"] == nil)
        #expect(MessagePackValue.array([1])["s"] == nil)
        #expect(message["s"]?.int64Value == nil)
        #expect(message["n"]?.stringValue == nil)
        #expect(MessagePackValue.string("x").dateValue == nil)
    }

    @Test func errorsDescribeWhatAndWhere() {
        let error = MessagePackError(.lengthExceedsInput(declared: 4_294_967_295, available: 3), at: 0)
        #expect(error.description == "MessagePack: declared length 4294967295 exceeds the 3 bytes left at byte offset 0")
        #expect(MessagePackError(.reservedByte(0xc1), at: 9).description == "MessagePack: reserved byte 0xc1 at byte offset 9")
    }
}

// MARK: - Dates

@Suite struct DateTests {
    @Test(arguments: [
        (1.5, Int64(1), UInt32(500_000_000)), (0, 0, 0), (-1.5, -2, 500_000_000), (-0.25, -1, 750_000_000),
        (-1, -1, 0), (1_300_288_080, 1_300_288_080, 0), (20_000_000_000.25, 20_000_000_000, 250_000_000),
    ])
    func fromDate(unixTime: Double, seconds: Int64, nanoseconds: UInt32) {
        let value = MessagePackValue(date: Date(timeIntervalSince1970: unixTime))
        #expect(value == .timestamp(seconds: seconds, nanoseconds: nanoseconds))
        #expect(value.dateValue == Date(timeIntervalSince1970: unixTime))
    }

    @Test func nanosecondsAreRoundedToTheNearest() throws {
        // 2011-03-16T15:08:00.123456Z: a Double holds it only to ~0.1 µs, the nanoseconds round to the closest.
        let value = MessagePackValue(date: Date(timeIntervalSince1970: 1_300_288_080.123456))
        guard case .timestamp(let seconds, let nanoseconds) = value else {
            Issue.record("a timestamp expected")
            return
        }
        #expect(seconds == 1_300_288_080)
        #expect(abs(Int(nanoseconds) - 123_456_000) < 100)
        // A fraction that rounds up to a whole second carries into the seconds.
        #expect(MessagePackValue(date: Date(timeIntervalSinceReferenceDate: 0.999_999_999_9))
            == .timestamp(seconds: 978_307_201, nanoseconds: 0))
        #expect(MessagePackValue(date: Date(timeIntervalSinceReferenceDate: -0.000_000_000_1))
            == .timestamp(seconds: 978_307_200, nanoseconds: 0))
    }

    @Test func datesRoundTripThroughBytes() throws {
        let dates = [Date(timeIntervalSince1970: 1_300_288_080.123456), Date(timeIntervalSince1970: -2_208_988_800.5),
                     .distantPast, .distantFuture, Date(timeIntervalSinceReferenceDate: 0)]
        for date in dates {
            let decoded = try roundTrip(MessagePackValue(date: date)).dateValue
            let back = try #require(decoded)
            #expect(abs(back.timeIntervalSince(date)) < 1e-6, "\(date)")
        }
    }

    @Test func extremeDatesAreClamped() {
        #expect(MessagePackValue(date: Date(timeIntervalSinceReferenceDate: .infinity)) == .timestamp(seconds: 0, nanoseconds: 0))
        #expect(MessagePackValue(date: Date(timeIntervalSinceReferenceDate: .nan)) == .timestamp(seconds: 0, nanoseconds: 0))
        #expect(MessagePackValue(date: Date(timeIntervalSinceReferenceDate: 1e300)) == .timestamp(seconds: .max, nanoseconds: 999_999_999))
        #expect(MessagePackValue(date: Date(timeIntervalSinceReferenceDate: -1e300)) == .timestamp(seconds: .min, nanoseconds: 0))
        #expect(MessagePackValue.timestamp(seconds: .min, nanoseconds: 0).dateValue != nil)
        #expect(MessagePackValue.timestamp(seconds: .max, nanoseconds: 0).dateValue != nil)
    }
}
