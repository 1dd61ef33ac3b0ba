import Testing
@testable import MessagePack

@Test func placeholder() { #expect(MessagePack.encode(.null) == [0xc0]) }
