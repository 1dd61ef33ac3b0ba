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

    // MARK: One parse: the value decided on is the value stored

    static func decimal(_ text: String) throws -> Decimal {
        try #require(Decimal(string: text, locale: Locale(identifier: "en_US_POSIX")), "not a decimal: \(text)")
    }

    @Test(arguments: [
        (" 10 ", "10", AnswerDecision.approve), ("10", "10", .approve), ("+10", "10", .approve), ("\t8\t", "8", .approve),
        ("-10", "-10", .skip), ("-8", "-8", .skip), ("-8E0", "-8", .skip), ("-0.8e1", "-8", .skip),
        ("1e1", "10", .approve), ("1E+1", "10", .approve), ("80e-1", "8", .approve), ("10.", "10", .approve),
        (".5", "0.5", .ambiguous), ("-.5", "-0.5", .ambiguous), ("0", "0", .ambiguous), ("-0", "0", .ambiguous),
        ("7.99", "7.99", .ambiguous), ("007", "7", .ambiguous),
        // Double reads this as 8 and approved it; the Decimal stored is below 8.
        ("7.99999999999999999999", "7.99999999999999999999", .ambiguous),
        ("-7.99999999999999999999", "-7.99999999999999999999", .ambiguous),
    ])
    func numericStringsAreDecidedOnTheDecimalStored(text: String, stored: String, expected: AnswerDecision) throws {
        let parsed = AnswerDecision.parse(.string(text))
        #expect(parsed.decision == expected, "\(text)")
        #expect(parsed.value == (try Self.decimal(stored)), "\(text)")
        #expect(AnswerDecision.decide(.string(text)) == parsed.decision)
    }

    @Test(arguments: [
        "0x1p3", "0x8", "0X1P3", "0x1.0p3", "nan", "NaN", "-nan", "inf", "-inf", "+inf", "infinity", "Infinity",
        "", " ", "\t", "+", "-", ".", "e1", "1e", "1e+", "--1", "+-1", "1..0", "1.0.0", "1 0", "1,5", "10,000", "1_000",
        "10 points", "ten", "٨", "８", "1e1.5", "0b1000", "\n10\n",
    ])
    func stringsThatAreNotPlainDecimalNumeralsAreRefused(text: String) {
        let parsed = AnswerDecision.parse(.string(text))
        #expect(parsed.value == nil, "\(text.debugDescription) gave \(String(describing: parsed.value))")
        #expect(parsed.decision == .invalid("answer must be a number, got '\(text)'"), "\(text.debugDescription)")
    }

    /// "0x1p3" is 8 to `Double(_:)` and 0 to `Decimal(string:)`: approved, then stored as 0.
    @Test func aHexFloatIsNeitherApprovedNorStored() {
        let parsed = AnswerDecision.parse(.string("0x1p3"))
        #expect(parsed.value == nil)
        guard case .invalid = AnswerDecision.decide(.string("0x1p3")) else {
            Issue.record("0x1p3 was decided as \(AnswerDecision.decide(.string("0x1p3")))")
            return
        }
    }

    @Test(arguments: ["1e200", "-1e200", "1e166", "1e99999", "-1e99999999999999999999", "1" + String(repeating: "0", count: 200),
                      "10.01", "-10.01", "11", "1e2", "100000000000000000000000000000000000000000000000000"])
    func numeralsBeyondTheRangeAreRefused(text: String) {
        let parsed = AnswerDecision.parse(.string(text))
        #expect(parsed.value == nil)
        guard case .invalid(let message) = parsed.decision else {
            Issue.record("\(text) was decided as \(parsed.decision)")
            return
        }
        #expect(message.hasPrefix("answer must be between -10 and 10, got "))
    }

    /// Existing behaviour kept: a finite number too small for `Decimal` counts as 0.
    @Test(arguments: ["1e-200", "-1e-300", "1e-129", "0." + String(repeating: "0", count: 140) + "1", "0e99999"])
    func numeralsTooSmallForDecimalAreZero(text: String) {
        let parsed = AnswerDecision.parse(.string(text))
        #expect(parsed.value == 0, "\(text)")
        #expect(parsed.decision == .ambiguous)
    }

    @Test func numbersAreDecidedExactly() throws {
        #expect(AnswerDecision.parse(.number(10)) == ParsedAnswer(value: 10, decision: .approve))
        #expect(AnswerDecision.parse(.number(-8)) == ParsedAnswer(value: -8, decision: .skip))
        #expect(AnswerDecision.parse(.number(0)) == ParsedAnswer(value: 0, decision: .ambiguous))
        let almostEight = try Self.decimal("7.99999999999999999999")
        #expect(AnswerDecision.parse(.number(almostEight)) == ParsedAnswer(value: almostEight, decision: .ambiguous))
        let overTen = try Self.decimal("10.000000000000001")
        #expect(AnswerDecision.parse(.number(overTen)).value == nil)
        #expect(AnswerDecision.parse(.number(overTen)).decision == .invalid("answer must be between -10 and 10, got 10.000000000000001"))
        #expect(AnswerDecision.parse(.number(.nan)).decision == .invalid("answer must be a finite number"))
        #expect(AnswerDecision.parse(.bool(true)) == ParsedAnswer(value: nil, decision: .invalid("answer must be a number, got a boolean")))
        #expect(AnswerDecision.parse(.null).value == nil)
        #expect(AnswerDecision.parse(.array([.number(10)])).value == nil)
    }

    /// Every hundredth in [-10, 10], written as a JSON number or as a string (with spaces, a
    /// `+`, an exponent): one value, exactly the hundredth, and one decision.
    @Test func numberAndStringFormsAgreeAndKeepTheExactValue() async {
        await propertyCheck(count: 300, input: Gen.int(in: -1000...1000), Gen.int(in: 0...3)) { hundredths, form in
            let exact = Decimal(hundredths) / 100
            let text: String = switch form {
            case 0: "\(exact)"
            case 1: " \(exact) "
            case 2: hundredths >= 0 ? "+\(exact)" : "\(exact)"
            default: "\(hundredths)e-2"
            }
            let fromNumber = AnswerDecision.parse(.number(exact))
            let fromString = AnswerDecision.parse(.string(text))
            #expect(fromNumber.value == exact)
            #expect(fromString == fromNumber, "\(text)")
            switch fromNumber.decision {
            case .approve: #expect(exact >= 8)
            case .skip: #expect(exact <= -8)
            case .ambiguous: #expect(exact > -8 && exact < 8)
            case .invalid: Issue.record("\(text) refused")
            }
        }
    }

    /// Whatever the string, a value comes back exactly when the decision is not `.invalid`,
    /// and that value decides the same way as a number.
    @Test func aValueComesBackExactlyWhenTheAnswerIsValid() async {
        let characters = Array("0123456789+-.eExp ni")
        await propertyCheck(count: 500, input: Gen.int(in: 0..<characters.count).array(of: 0...8)) { indices in
            let text = String(indices.map { characters[$0] })
            let parsed = AnswerDecision.parse(.string(text))
            if case .invalid = parsed.decision {
                #expect(parsed.value == nil, "\(text)")
            } else {
                let value = parsed.value
                #expect(value != nil, "\(text)")
                if let value { #expect(AnswerDecision.parse(.number(value)) == parsed, "\(text)") }
            }
        }
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
