import Foundation
import PropertyBased
import Testing
@testable import TradingCore

@Suite struct QuestionTemplateTests {
    /// SPY at 492.10 against a previous close of 500: down 1.58 %.
    func dip() throws -> QuestionTemplate.Values {
        QuestionTemplate.Values(symbol: "SPY", price: try ConfigSamples.decimal("492.1"), reference: 500,
                                changePct: try ConfigSamples.decimal("-1.58"), ruleID: "dip_confirm")
    }

    // MARK: render

    @Test(arguments: [
        ("{{symbol}} is down {{pct}}% vs {{ref}}, now {{price}}", "SPY is down 1.58% vs 500.00, now 492.10"),
        ("{{symbol}}", "SPY"),
        ("{{price}}", "492.10"),
        ("{{ref}}", "500.00"),
        ("{{pct}}", "1.58"),
        ("{{change_pct}}", "-1.58"),
        ("{{rule_id}}", "dip_confirm"),
        ("{{ pct }}%", "1.58%"),
        ("{{  symbol\t}}", "SPY"),
        ("{{pct}} and {{pct}} again, {{symbol}}{{symbol}}", "1.58 and 1.58 again, SPYSPY"),
        ("No placeholders here.", "No placeholders here."),
        ("", ""),
        ("100% } { }} done", "100% } { }} done"),
        ("📉 {{symbol}} 📉", "📉 SPY 📉"),
        ("{{unknown}} stays", "{{unknown}} stays"),
        ("down {{pct", "down {{pct"),
        ("{{pct}} then {{pct", "1.58 then {{pct"),
        ("SPY is down {{pct}}% vs yesterday. Swipe +10 to approve a small buy, -10 to skip.",
         "SPY is down 1.58% vs yesterday. Swipe +10 to approve a small buy, -10 to skip."),
    ])
    func render(template: String, expected: String) throws {
        #expect(QuestionTemplate.render(template, values: try dip()) == expected)
    }

    @Test func pctIsTheSizeAndChangePctKeepsTheSign() throws {
        var values = try dip()
        values.changePct = try ConfigSamples.decimal("2.345")
        #expect(QuestionTemplate.render("{{pct}}|{{change_pct}}", values: values) == "2.35|2.35")
        values.changePct = try ConfigSamples.decimal("-2.345")
        #expect(QuestionTemplate.render("{{pct}}|{{change_pct}}", values: values) == "2.35|-2.35")
        values.changePct = 0
        #expect(QuestionTemplate.render("{{pct}}|{{change_pct}}", values: values) == "0.00|0.00")
        values.changePct = try ConfigSamples.decimal("-0.001")
        #expect(QuestionTemplate.render("{{pct}}|{{change_pct}}", values: values) == "0.00|0.00")
    }

    @Test func everyAllowedPlaceholderIsReplaced() throws {
        for name in QuestionTemplate.placeholders {
            let rendered = QuestionTemplate.render("<{{\(name)}}>", values: try dip())
            #expect(!rendered.contains("{{"), "{{\(name)}} rendered as \(rendered)")
            #expect(rendered.count > 2)
            #expect(QuestionTemplate.problems(in: "{{\(name)}}") == [])
        }
    }

    @Test func textWithoutBracesRendersAsItself() async throws {
        let values = try dip()
        await propertyCheck(count: 200, input: Gen.letterOrNumber.string(of: 0...40), Gen.element(of: [" ", "%", "+", "-", ".", "\n"])) {
            text, separator in
            let template = text + (separator ?? "") + text
            #expect(QuestionTemplate.render(template, values: values) == template)
            #expect(QuestionTemplate.problems(in: template).allSatisfy { $0 == "must not be empty" })
        }
    }

    @Test func placeholdersAreReplacedWhereverTheyStand() async throws {
        let values = try dip()
        await propertyCheck(count: 200, input: Gen.letterOrNumber.string(of: 0...10), Gen.letterOrNumber.string(of: 0...10)) {
            prefix, suffix in
            #expect(QuestionTemplate.render("\(prefix){{symbol}}\(suffix){{pct}}", values: values) == "\(prefix)SPY\(suffix)1.58")
        }
    }

    @Test func unknownPlaceholdersAreLeftAsWritten() throws {
        let values = try dip()
        #expect(QuestionTemplate.render("{{foo}}", values: values) == "{{foo}}")
        #expect(QuestionTemplate.render("{{ foo }}", values: values) == "{{ foo }}")
    }

    // MARK: problems

    @Test(arguments: [
        ("SPY is down {{pct}}% vs yesterday.", [String]()),
        ("{{ symbol }} at {{price}} ({{change_pct}}% vs {{ref}}), rule {{rule_id}}", []),
        ("no placeholders", []),
        ("a stray }} is fine", []),
        ("", ["must not be empty"]),
        ("  \n\t", ["must not be empty"]),
        ("{{foo}}", ["unknown placeholder {{foo}}; allowed: \(ConfigSamples.allowedPlaceholders)"]),
        ("{{ foo }}", ["unknown placeholder {{foo}}; allowed: \(ConfigSamples.allowedPlaceholders)"]),
        ("{{PCT}}", ["unknown placeholder {{PCT}}; allowed: \(ConfigSamples.allowedPlaceholders)"]),
        ("{{}}", ["unknown placeholder {{}}; allowed: \(ConfigSamples.allowedPlaceholders)"]),
        ("{{foo}} and {{bar}}", ["unknown placeholder {{foo}}; allowed: \(ConfigSamples.allowedPlaceholders)",
                                 "unknown placeholder {{bar}}; allowed: \(ConfigSamples.allowedPlaceholders)"]),
        ("down {{pct", ["'{{' without a matching '}}'"]),
        ("{{foo}} and {{pct", ["unknown placeholder {{foo}}; allowed: \(ConfigSamples.allowedPlaceholders)", "'{{' without a matching '}}'"]),
    ])
    func problems(template: String, expected: [String]) {
        #expect(QuestionTemplate.problems(in: template) == expected)
    }

    @Test func lengthLimitIs500Characters() {
        #expect(QuestionTemplate.problems(in: String(repeating: "x", count: 500)) == [])
        #expect(QuestionTemplate.problems(in: String(repeating: "x", count: 501)) == ["must be at most 500 characters, got 501"])
        // Characters, not bytes.
        #expect(QuestionTemplate.problems(in: String(repeating: "é", count: 500)) == [])
        #expect(QuestionTemplate.problems(in: String(repeating: " ", count: 501))
                == ["must not be empty", "must be at most 500 characters, got 501"])
    }

    // MARK: Money

    @Test(arguments: [
        // (value, scale, text): NSDecimalRound .plain rounds halves away from zero.
        ("1.005", 2, "1.01"),
        ("-1.005", 2, "-1.01"),
        ("2.675", 2, "2.68"),
        ("0.125", 2, "0.13"),
        ("1.004", 2, "1.00"),
        ("-0.005", 2, "-0.01"),
        ("-0.004", 2, "0.00"),
        ("0", 2, "0.00"),
        ("492", 2, "492.00"),
        ("492.1", 2, "492.10"),
        ("-1.6", 2, "-1.60"),
        ("1.999", 2, "2.00"),
        ("-1.999", 2, "-2.00"),
        ("0.01", 2, "0.01"),
        ("1234567.891", 2, "1234567.89"),
        ("12345678901234567890.125", 2, "12345678901234567890.13"),
        ("2.5", 0, "3"),
        ("-2.5", 0, "-3"),
        ("0.5", 0, "1"),
        ("1.23456", 4, "1.2346"),
        ("7", 3, "7.000"),
    ])
    func moneyFormat(value: String, scale: Int, expected: String) throws {
        #expect(Money.format(try ConfigSamples.decimal(value), scale: scale) == expected)
    }

    @Test func moneyRounded() throws {
        #expect(Money.rounded(try ConfigSamples.decimal("1.005")) == (try ConfigSamples.decimal("1.01")))
        #expect(Money.rounded(try ConfigSamples.decimal("-1.005")) == (try ConfigSamples.decimal("-1.01")))
        #expect(Money.rounded(try ConfigSamples.decimal("-0.004")) == 0)
        #expect(Money.rounded(try ConfigSamples.decimal("2.5"), scale: 0) == 3)
        #expect(Money.rounded(try ConfigSamples.decimal("99.994")) == (try ConfigSamples.decimal("99.99")))
    }

    @Test func moneyFormatAlwaysHasTheScaleAndADot() async {
        await propertyCheck(count: 300, input: Gen.int(in: -10_000_000...10_000_000), Gen.int(in: 0...6)) { cents, scale in
            let value = Decimal(cents) / 1000
            let text = Money.format(value, scale: scale)
            let parts = text.split(separator: ".", omittingEmptySubsequences: false)
            #expect(parts.count == (scale == 0 ? 1 : 2))
            if scale > 0 { #expect(parts.last?.count == scale) }
            #expect(text.hasPrefix("-") == (Money.rounded(value, scale: scale) < 0))
            #expect(Decimal(string: text) == Money.rounded(value, scale: scale))
        }
    }
}
