import Foundation
import PropertyBased
import Testing
@testable import TradingCore

@Suite struct AnswerDecisionTests {
    @Test(arguments: [
        (10.0, AnswerDecision.approve), (8.0, .approve), (9.5, .approve),
        (-10.0, .skip), (-8.0, .skip),
        (7.99, .ambiguous), (0.0, .ambiguous), (-7.99, .ambiguous), (5.0, .ambiguous),
    ])
    func branches(value: Double, expected: AnswerDecision) {
        #expect(AnswerDecision.decide(value) == expected)
    }

    @Test(arguments: [10.01, -10.01, 11, -100, Double.nan, Double.infinity, -Double.infinity])
    func outOfRangeIsRefused(value: Double) {
        guard case .invalid = AnswerDecision.decide(value) else {
            Issue.record("\(value) was accepted")
            return
        }
    }

    @Test func jsonAnswers() {
        #expect(AnswerDecision.decide(JSONValue.number(10)) == .approve)
        #expect(AnswerDecision.decide(JSONValue.string(" -10 ")) == .skip)
        #expect(AnswerDecision.decide(JSONValue.string("yes")) == .invalid("answer must be a number, got 'yes'"))
        #expect(AnswerDecision.decide(JSONValue.bool(true)) == .invalid("answer must be a number, got a boolean"))
        #expect(AnswerDecision.decide(JSONValue.null) == .invalid("answer must be a number, got null"))
    }

    @Test func everyInRangeValueGetsADecision() async {
        await propertyCheck(input: Gen.int(in: -1000...1000)) { hundredths in
            let value = Double(hundredths) / 100
            let decision = AnswerDecision.decide(value)
            switch decision {
            case .approve: #expect(value >= 8)
            case .skip: #expect(value <= -8)
            case .ambiguous: #expect(value > -8 && value < 8)
            case .invalid: Issue.record("\(value) refused")
            }
        }
    }
}

@Suite struct ClientOrderIDTests {
    @Test func deterministicShortAndFreeOfPersonalData() {
        let uid = "firebase-uid-alice@example.com"
        let id = ClientOrderID.make(firebaseUID: uid, ruleID: "dip_confirm", questionID: "7bc01a34-45ba-405a-b67a-85f6d427b2a1")
        #expect(id == ClientOrderID.make(firebaseUID: uid, ruleID: "dip_confirm", questionID: "7bc01a34-45ba-405a-b67a-85f6d427b2a1"))
        #expect(id.count == 48)
        #expect(id.hasPrefix("hh1-"))
        #expect(!id.contains("alice") && !id.contains("dip"))
        #expect(ClientOrderID.isWellFormed(id))
        #expect(!ClientOrderID.isWellFormed("hh1-xyz"))
    }

    @Test func fieldBoundariesDoNotCollide() {
        let a = ClientOrderID.make(firebaseUID: "ab", ruleID: "c", questionID: "q")
        let b = ClientOrderID.make(firebaseUID: "a", ruleID: "bc", questionID: "q")
        #expect(a != b)
    }

    @Test func distinctInputsGiveDistinctIDs() async {
        await propertyCheck(count: 200, input: Gen.letterOrNumber.string(of: 1...12), Gen.letterOrNumber.string(of: 1...12), Gen.letterOrNumber.string(of: 1...12)) { uid, rule, question in
            let id = ClientOrderID.make(firebaseUID: uid, ruleID: rule, questionID: question)
            #expect(id.count <= ClientOrderID.maxLength)
            #expect(id != ClientOrderID.make(firebaseUID: uid, ruleID: rule, questionID: question + "x"))
            #expect(id != ClientOrderID.make(firebaseUID: uid + "x", ruleID: rule, questionID: question))
        }
    }
}

@Suite struct SHA256Tests {
    @Test(arguments: [
        ("", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
        ("abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
        ("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"),
        (String(repeating: "a", count: 1000), "41edece42d63e8d9bf515a9ba6932e1c20cbc9f5a5d134645adb5db1b9737ea3"),
    ])
    func standardVectors(input: String, digest: String) {
        #expect(SHA256.hex(Array(input.utf8)) == digest)
    }
}

@Suite struct JSONValueTests {
    @Test func numbersKeepTheirDigits() throws {
        let value = try JSONValue.parse(#"{"a": -1.5, "b": 0.1, "c": 100}"#)
        #expect(value["a"] == .number(Decimal(string: "-1.5") ?? 0))
        #expect(value["b"] == .number(Decimal(string: "0.1") ?? 0))
        #expect(value.canonicalString() == #"{"a":-1.5,"b":0.1,"c":100}"#)
    }

    @Test func malformedJSONIsAnError() {
        #expect(throws: JSONValue.ParseError.self) { try JSONValue.parse("{\"a\": ") }
    }
}
