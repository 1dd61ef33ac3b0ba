import Foundation
import PropertyBased
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

/// SplitMix64: a small seeded generator, so the random tests are reproducible.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9e37_79b9_7f4a_7c15
        var z = state
        z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
        z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
        return z ^ (z >> 31)
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
        switch Int.random(in: 0..<(depth < 4 ? 14 : 11), using: &rng) {
        case 0: return .null
        case 1: return .bool(Bool.random(using: &rng))
        case 2: return .int(Int64(bitPattern: rng.next()) >> Int64.random(in: 0...63, using: &rng))
        case 3: return .uint(rng.next() >> UInt64.random(in: 0...63, using: &rng))
        case 4: return .double(Double(bitPattern: rng.next()))
        case 5: return .float(Float(bitPattern: UInt32(truncatingIfNeeded: rng.next())))
        case 6: return .string(string(&rng))
        case 7: return .binary(bytes(&rng))
        case 8:
            let seconds = Int64(bitPattern: rng.next()) >> Int64.random(in: 0...63, using: &rng)
            return .timestamp(seconds: seconds, nanoseconds: Bool.random(using: &rng) ? 0 : UInt32.random(in: 0...999_999_999, using: &rng))
        case 9:
            let type = Int8.random(in: -128...127, using: &rng)
            return .ext(type: type == -1 ? 1 : type, data: bytes(&rng))
        case 10: return .string(String(repeating: "x", count: Int.random(in: 0...70_000, using: &rng)))
        case 11:
            let count = Int.random(in: 0...20, using: &rng)
            return .map((0..<count).map { _ in (value(&rng, depth: depth + 1), value(&rng, depth: depth + 1)) })
        default:
            let count = Int.random(in: 0...20, using: &rng)
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
