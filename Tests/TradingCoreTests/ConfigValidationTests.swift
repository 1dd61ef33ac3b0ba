import Foundation
import PropertyBased
import Testing
@testable import TradingCore

// MARK: - Sample documents and editing helpers (shared by the config test files)

/// Config documents used by the validation and merge tests.
enum ConfigSamples {
    /// Plan §4.2's example, as seeded by migrations/0004_seed_default_template.sql.
    static let planExample = #"""
    {
      "version": 1,
      "enabled": true,
      "mode": "paper",
      "data_inputs": [
        {
          "id": "primary_watchlist",
          "source": "alpaca",
          "asset_class": "us_equity",
          "symbols": ["AAPL", "MSFT", "SPY"],
          "feed": "iex",
          "poll_interval_seconds": 60,
          "metrics": ["last_trade", "daily_bar", "prev_close"]
        }
      ],
      "rules": [
        {
          "id": "dip_confirm",
          "type": "price_below_pct_of_ref",
          "symbol": "SPY",
          "ref_metric": "prev_close",
          "threshold_pct": -1.5,
          "question_template": "SPY is down {{pct}}% vs yesterday. Swipe +10 to approve a small buy, -10 to skip.",
          "on_answer_match": { "action": "propose_order", "side": "buy", "notional_usd": 10 }
        }
      ],
      "guardrails": {
        "max_orders_per_day": 3,
        "max_notional_usd_per_4h": 100,
        "require_question_before_order": true,
        "symbols_blocklist": []
      }
    }
    """#

    /// A valid document that the invalid cases mutate. `data_inputs[1]` ("extra", QQQ) is
    /// used by no rule, so breaking it does not also break a rule.
    static let base = #"""
    {
      "version": 1,
      "enabled": true,
      "mode": "paper",
      "data_inputs": [
        {
          "id": "primary_watchlist",
          "source": "alpaca",
          "asset_class": "us_equity",
          "symbols": ["AAPL", "MSFT", "SPY"],
          "feed": "iex",
          "poll_interval_seconds": 60,
          "metrics": ["last_trade", "daily_bar", "prev_close"]
        },
        { "id": "extra", "symbols": ["QQQ"] }
      ],
      "rules": [
        {
          "id": "dip_confirm",
          "type": "price_below_pct_of_ref",
          "symbol": "SPY",
          "ref_metric": "prev_close",
          "threshold_pct": -1.5,
          "question_template": "SPY is down {{pct}}% vs yesterday. Swipe +10 to approve a small buy, -10 to skip.",
          "on_answer_match": { "action": "propose_order", "side": "buy", "notional_usd": 10 }
        },
        {
          "id": "rally_trim",
          "type": "price_above_pct_of_ref",
          "symbol": "AAPL",
          "threshold_pct": 2,
          "question_template": "{{symbol}} is up {{pct}}% at {{price}}. Trim one share?",
          "on_answer_match": { "action": "propose_order", "side": "sell", "qty": 1 },
          "cooldown_seconds": 600
        }
      ],
      "guardrails": {
        "max_orders_per_day": 3,
        "max_notional_usd_per_4h": 100,
        "require_question_before_order": true,
        "symbols_blocklist": ["TSLA"],
        "max_open_questions": 2
      }
    }
    """#

    /// Only the required parts; everything else takes its default.
    static let minimal = #"""
    {
      "data_inputs": [ { "id": "w", "symbols": ["SPY"] } ],
      "rules": [
        {
          "id": "r",
          "type": "price_below_pct_of_ref",
          "symbol": "SPY",
          "threshold_pct": -2,
          "question_template": "{{symbol}} is down {{pct}}%",
          "on_answer_match": { "action": "propose_order", "side": "buy", "notional_usd": 5 }
        }
      ]
    }
    """#

    static let allowedPlaceholders = "{{symbol}}, {{price}}, {{pct}}, {{change_pct}}, {{ref}}, {{rule_id}}"
    static let symbolHint = "use an upper-case ticker such as 'SPY' or 'BRK.B'"

    static func json(_ text: String) throws -> JSONValue {
        try JSONValue.parse(text)
    }

    static func decimal(_ text: String) throws -> Decimal {
        try #require(Decimal(string: text), "not a decimal: \(text)")
    }

    /// The issue descriptions of a document, empty when it decodes.
    static func issues(_ json: JSONValue) -> [String] {
        switch TradingConfigDecoder.decode(json) {
        case .success: []
        case .failure(let error): error.issues.map(\.description)
        }
    }

    static func issuePaths(_ json: JSONValue) -> [String] {
        switch TradingConfigDecoder.decode(json) {
        case .success: []
        case .failure(let error): error.issues.map(\.path)
        }
    }

    /// `count` distinct valid tickers that are not in `base` ("X1", "X2", ...).
    static func extraSymbols(_ count: Int) -> [JSONValue] {
        (0..<count).map { JSONValue.string("X\($0 + 1)") }
    }
}

/// One change to a document, addressed by a decoder-style path (`rules[0].threshold_pct`,
/// `$` for the whole document). Setting the index one past the end of an array appends.
struct ConfigDocEdit: Sendable, CustomStringConvertible {
    enum Change: Sendable {
        case json(String)
        case value(JSONValue)
        case remove
    }

    let path: String
    let change: Change

    static func set(_ path: String, json: String) -> ConfigDocEdit { .init(path: path, change: .json(json)) }
    static func set(_ path: String, string: String) -> ConfigDocEdit { .init(path: path, change: .value(.string(string))) }
    static func set(_ path: String, value: JSONValue) -> ConfigDocEdit { .init(path: path, change: .value(value)) }
    static func remove(_ path: String) -> ConfigDocEdit { .init(path: path, change: .remove) }

    var description: String {
        switch change {
        case .json(let text): "\(path) = \(text)"
        case .value(let value): "\(path) = \(value.canonicalString())"
        case .remove: "remove \(path)"
        }
    }

    enum Step: Equatable {
        case key(String)
        case index(Int)
    }

    static func steps(_ path: String) -> [Step]? {
        if path == "$" { return [] }
        var steps: [Step] = []
        for segment in path.split(separator: ".", omittingEmptySubsequences: false) {
            var rest = segment[...]
            let keyEnd = rest.firstIndex(of: "[") ?? rest.endIndex
            guard keyEnd > rest.startIndex else { return nil }
            steps.append(.key(String(rest[..<keyEnd])))
            rest = rest[keyEnd...]
            while !rest.isEmpty {
                guard rest.first == "[", let close = rest.firstIndex(of: "]"),
                      let index = Int(rest[rest.index(after: rest.startIndex)..<close]) else { return nil }
                steps.append(.index(index))
                rest = rest[rest.index(after: close)...]
            }
        }
        return steps
    }

    /// The edited value, or nil when the path does not lead anywhere.
    static func edited(_ value: JSONValue, _ steps: ArraySlice<Step>, _ newValue: JSONValue?) -> JSONValue? {
        guard let step = steps.first else { return newValue }
        let rest = steps.dropFirst()
        switch (value, step) {
        case (.object(var fields), .key(let key)):
            if rest.isEmpty {
                fields[key] = newValue
            } else {
                guard let child = fields[key], let updated = edited(child, rest, newValue) else { return nil }
                fields[key] = updated
            }
            return .object(fields)
        case (.array(var items), .index(let index)):
            if rest.isEmpty {
                if let newValue, index == items.count {
                    items.append(newValue)
                } else if items.indices.contains(index) {
                    if let newValue { items[index] = newValue } else { items.remove(at: index) }
                } else {
                    return nil
                }
            } else {
                guard items.indices.contains(index), let updated = edited(items[index], rest, newValue) else {
                    return nil
                }
                items[index] = updated
            }
            return .array(items)
        default:
            return nil
        }
    }

    func apply(to document: JSONValue) throws -> JSONValue {
        let newValue: JSONValue?
        switch change {
        case .json(let text): newValue = try JSONValue.parse(text)
        case .value(let value): newValue = value
        case .remove: newValue = nil
        }
        let steps = try #require(Self.steps(path), "malformed edit path \(path)")
        return try #require(Self.edited(document, steps[...], newValue), "edit path \(path) does not exist")
    }
}

/// A named mutation of `ConfigSamples.base` and the exact issues it must produce (in order).
struct ConfigEditCase: Sendable, CustomTestStringConvertible {
    let name: String
    let edits: [ConfigDocEdit]
    let expected: [String]

    init(_ name: String, _ edits: [ConfigDocEdit], _ expected: [String]) {
        self.name = name
        self.edits = edits
        self.expected = expected
    }

    init(_ name: String, _ edit: ConfigDocEdit, _ expected: String) {
        self.init(name, [edit], [expected])
    }

    init(_ name: String, _ edit: ConfigDocEdit, _ expected: [String]) {
        self.init(name, [edit], expected)
    }

    var testDescription: String { name }

    func document() throws -> JSONValue {
        try edits.reduce(try ConfigSamples.json(ConfigSamples.base)) { try $1.apply(to: $0) }
    }
}

// MARK: - Invalid cases

extension ConfigEditCase {
    private static let hint = ConfigSamples.symbolHint
    private static let placeholders = ConfigSamples.allowedPlaceholders

    static let unknownKeys: [ConfigEditCase] = [
        ConfigEditCase("top-level near miss 'guardrail'",
                       [.remove("guardrails"), .set("guardrail", json: #"{"max_orders_per_day": 3}"#)],
                       ["guardrail: unknown key; did you mean 'guardrails'?"]),
        ConfigEditCase("top-level unrelated key", .set("colour", json: #""blue""#), "colour: unknown key"),
        ConfigEditCase("top-level unknown key set to null", .set("colour", json: "null"), "colour: unknown key"),
        ConfigEditCase("unknown key in a rule", .set("rules[0].note", json: #""hi""#), "rules[0].note: unknown key"),
        ConfigEditCase("misspelt key in a rule",
                       [.remove("rules[0].threshold_pct"), .set("rules[0].thresold_pct", json: "-1.5")],
                       ["rules[0].threshold_pct: required field is missing",
                        "rules[0].thresold_pct: unknown key; did you mean 'threshold_pct'?"]),
        ConfigEditCase("near miss in a data input", .set("data_inputs[0].feeds", json: #""sip""#),
                       "data_inputs[0].feeds: unknown key; did you mean 'feed'?"),
        ConfigEditCase("misspelt symbols in a data input",
                       [.remove("data_inputs[1].symbols"), .set("data_inputs[1].symbol", json: #"["QQQ"]"#)],
                       ["data_inputs[1].symbols: required field is missing",
                        "data_inputs[1].symbol: unknown key; did you mean 'symbols'?"]),
        ConfigEditCase("unknown key in on_answer_match", .set("rules[0].on_answer_match.limit_price", json: "5"),
                       "rules[0].on_answer_match.limit_price: unknown key"),
        ConfigEditCase("near miss in on_answer_match",
                       [.remove("rules[0].on_answer_match.side"), .set("rules[0].on_answer_match.sid", json: #""buy""#)],
                       ["rules[0].on_answer_match.side: required field is missing",
                        "rules[0].on_answer_match.sid: unknown key; did you mean 'side'?"]),
        ConfigEditCase("unknown key in guardrails", .set("guardrails.max_orders_per_week", json: "3"),
                       "guardrails.max_orders_per_week: unknown key"),
        ConfigEditCase("unknown keys are reported in sorted order",
                       [.set("zeta", json: "1"), .set("alpha", json: "1")],
                       ["alpha: unknown key", "zeta: unknown key"]),
    ]

    static let missingFields: [ConfigEditCase] = [
        ConfigEditCase("rule without id", .remove("rules[0].id"), "rules[0].id: required field is missing"),
        ConfigEditCase("rule without type", .remove("rules[0].type"), "rules[0].type: required field is missing"),
        ConfigEditCase("rule without symbol", .remove("rules[0].symbol"), "rules[0].symbol: required field is missing"),
        ConfigEditCase("rule without threshold_pct", .remove("rules[1].threshold_pct"),
                       "rules[1].threshold_pct: required field is missing"),
        ConfigEditCase("rule without question_template", .remove("rules[0].question_template"),
                       "rules[0].question_template: required field is missing"),
        ConfigEditCase("rule without on_answer_match", .remove("rules[0].on_answer_match"),
                       "rules[0].on_answer_match: required field is missing"),
        ConfigEditCase("required field given as null", .set("rules[0].symbol", json: "null"),
                       "rules[0].symbol: required field is missing"),
        ConfigEditCase("data input without symbols", .remove("data_inputs[1].symbols"),
                       "data_inputs[1].symbols: required field is missing"),
        ConfigEditCase("data input without id", .remove("data_inputs[1].id"),
                       "data_inputs[1].id: required field is missing"),
        ConfigEditCase("action without side", .remove("rules[0].on_answer_match.side"),
                       "rules[0].on_answer_match.side: required field is missing"),
        ConfigEditCase("action without action", .remove("rules[0].on_answer_match.action"),
                       "rules[0].on_answer_match.action: required field is missing"),
    ]

    static let wrongTypes: [ConfigEditCase] = [
        ConfigEditCase("string where a number is expected", .set("rules[0].threshold_pct", json: #""-1.5""#),
                       "rules[0].threshold_pct: expected a number, got a string"),
        ConfigEditCase("string cap", .set("guardrails.max_orders_per_day", json: #""3""#),
                       "guardrails.max_orders_per_day: expected a number, got a string"),
        ConfigEditCase("boolean cap", .set("guardrails.max_notional_usd_per_4h", json: "true"),
                       "guardrails.max_notional_usd_per_4h: expected a number, got a boolean"),
        ConfigEditCase("string poll interval", .set("data_inputs[0].poll_interval_seconds", json: #""60""#),
                       "data_inputs[0].poll_interval_seconds: expected a number, got a string"),
        ConfigEditCase("number where a boolean is expected", .set("enabled", json: "1"),
                       "enabled: expected true or false, got a number"),
        ConfigEditCase("string rule enabled", .set("rules[1].enabled", json: #""yes""#),
                       "rules[1].enabled: expected true or false, got a string"),
        ConfigEditCase("number guardrail flag", .set("guardrails.require_question_before_order", json: "0"),
                       "guardrails.require_question_before_order: expected true or false, got a number"),
        ConfigEditCase("object where an array is expected", .set("rules", json: "{}"),
                       "rules: expected an array, got an object"),
        ConfigEditCase("object blocklist", .set("guardrails.symbols_blocklist", json: #"{"TSLA": true}"#),
                       "guardrails.symbols_blocklist: expected an array, got an object"),
        ConfigEditCase("string symbols", .set("data_inputs[1].symbols", json: #""QQQ""#),
                       "data_inputs[1].symbols: expected an array, got a string"),
        ConfigEditCase("number symbol", .set("data_inputs[1].symbols", json: "[1]"),
                       "data_inputs[1].symbols[0]: expected a symbol string, got a number"),
        ConfigEditCase("number in blocklist", .set("guardrails.symbols_blocklist", json: "[1]"),
                       "guardrails.symbols_blocklist[0]: expected a symbol string, got a number"),
        ConfigEditCase("number mode", .set("mode", json: "1"), "mode: expected a string, got a number"),
        ConfigEditCase("number rule id", .set("rules[0].id", json: "7"), "rules[0].id: expected a string, got a number"),
        ConfigEditCase("array guardrails", .set("guardrails", json: "[]"), "guardrails: expected an object, got an array"),
        ConfigEditCase("string on_answer_match", .set("rules[0].on_answer_match", json: #""buy""#),
                       "rules[0].on_answer_match: expected an object, got a string"),
        ConfigEditCase("string rule", .set("rules[1]", json: #""rally_trim""#), "rules[1]: expected an object, got a string"),
        ConfigEditCase("array data input", .set("data_inputs[1]", json: "[]"),
                       "data_inputs[1]: expected an object, got an array"),
        ConfigEditCase("number metric", .set("data_inputs[1].metrics", json: "[5]"),
                       "data_inputs[1].metrics[0]: unknown metric 5; expected one of 'last_trade', 'daily_bar', 'prev_close'"),
        ConfigEditCase("string version", .set("version", json: #""1""#), "version: expected a number, got a string"),
    ]

    static let symbols: [ConfigEditCase] = [
        ConfigEditCase("lower-case symbol in a data input", .set("data_inputs[1].symbols", json: #"["qqq"]"#),
                       "data_inputs[1].symbols[0]: malformed symbol 'qqq'; \(hint)"),
        ConfigEditCase("symbol too long", .set("data_inputs[1].symbols", json: #"["ABCDEFGHIJK"]"#),
                       "data_inputs[1].symbols[0]: malformed symbol 'ABCDEFGHIJK'; \(hint)"),
        ConfigEditCase("symbol with a space", .set("data_inputs[1].symbols", json: #"["QQ Q"]"#),
                       "data_inputs[1].symbols[0]: malformed symbol 'QQ Q'; \(hint)"),
        ConfigEditCase("empty symbol", .set("data_inputs[1].symbols", json: #"[""]"#),
                       "data_inputs[1].symbols[0]: malformed symbol ''; \(hint)"),
        ConfigEditCase("symbol starting with a digit", .set("data_inputs[1].symbols", json: #"["1QQ"]"#),
                       "data_inputs[1].symbols[0]: malformed symbol '1QQ'; \(hint)"),
        ConfigEditCase("class suffix too long", .set("data_inputs[1].symbols", json: #"["BRK.BBB"]"#),
                       "data_inputs[1].symbols[0]: malformed symbol 'BRK.BBB'; \(hint)"),
        ConfigEditCase("crypto pair in a us_equity input", .set("data_inputs[1].symbols", json: #"["BTC/USD"]"#),
                       "data_inputs[1].symbols[0]: malformed symbol 'BTC/USD'; \(hint)"),
        ConfigEditCase("every malformed symbol is reported", .set("data_inputs[1].symbols", json: #"["qqq", "QQQ", "a b"]"#),
                       ["data_inputs[1].symbols[0]: malformed symbol 'qqq'; \(hint)",
                        "data_inputs[1].symbols[2]: malformed symbol 'a b'; \(hint)"]),
        ConfigEditCase("lower-case rule symbol", .set("rules[0].symbol", string: "spy"),
                       "rules[0].symbol: malformed symbol 'spy'; \(hint)"),
        ConfigEditCase("empty rule symbol", .set("rules[0].symbol", string: ""),
                       "rules[0].symbol: malformed symbol ''; \(hint)"),
        ConfigEditCase("rule symbol with spaces", .set("rules[0].symbol", string: " SPY "),
                       "rules[0].symbol: malformed symbol ' SPY '; \(hint)"),
        ConfigEditCase("rule symbol too long", .set("rules[0].symbol", string: "ABCDEFGHIJK"),
                       "rules[0].symbol: malformed symbol 'ABCDEFGHIJK'; \(hint)"),
        ConfigEditCase("blocklist symbol with a space", .set("guardrails.symbols_blocklist", json: #"["TS LA"]"#),
                       "guardrails.symbols_blocklist[0]: malformed symbol 'TS LA'; \(hint)"),
        ConfigEditCase("lower-case blocklist symbol", .set("guardrails.symbols_blocklist", json: #"["tsla"]"#),
                       "guardrails.symbols_blocklist[0]: malformed symbol 'tsla'; \(hint)"),
        ConfigEditCase("long blocklist symbol", .set("guardrails.symbols_blocklist", json: #"["TSLA", "TOOLONGSYMBOL"]"#),
                       "guardrails.symbols_blocklist[1]: malformed symbol 'TOOLONGSYMBOL'; \(hint)"),
        ConfigEditCase("empty blocklist symbol", .set("guardrails.symbols_blocklist", json: #"[""]"#),
                       "guardrails.symbols_blocklist[0]: malformed symbol ''; \(hint)"),
        ConfigEditCase("duplicate symbol in one input", .set("data_inputs[0].symbols", json: #"["AAPL", "MSFT", "SPY", "MSFT"]"#),
                       "data_inputs[0].symbols[3]: duplicate symbol 'MSFT'"),
        ConfigEditCase("duplicate blocklist symbol", .set("guardrails.symbols_blocklist", json: #"["TSLA", "TSLA"]"#),
                       "guardrails.symbols_blocklist[1]: duplicate symbol 'TSLA'"),
        ConfigEditCase("input with no symbols", .set("data_inputs[1].symbols", json: "[]"),
                       "data_inputs[1].symbols: must list at least one symbol"),
    ]

    static let identifiers: [ConfigEditCase] = [
        ConfigEditCase("duplicate rule ids", .set("rules[1].id", string: "dip_confirm"),
                       "rules[1].id: duplicate id 'dip_confirm'"),
        ConfigEditCase("duplicate data input ids", .set("data_inputs[1].id", string: "primary_watchlist"),
                       "data_inputs[1].id: duplicate id 'primary_watchlist'"),
        ConfigEditCase("duplicate rule id whose first holder is broken",
                       [.set("rules[0].threshold_pct", json: "1.5"), .set("rules[1].id", string: "dip_confirm")],
                       ["rules[0].threshold_pct: must be negative (and above -100) for price_below_pct_of_ref, got 1.5",
                        "rules[1].id: duplicate id 'dip_confirm'"]),
        ConfigEditCase("duplicate rule id on a rule broken elsewhere",
                       [.set("rules[1].id", string: "dip_confirm"), .set("rules[1].cooldown_seconds", json: "-1")],
                       ["rules[1].cooldown_seconds: must be at least 0 seconds, got -1",
                        "rules[1].id: duplicate id 'dip_confirm'"]),
        ConfigEditCase("duplicate data input id on an input broken elsewhere",
                       [.set("data_inputs[1].id", string: "primary_watchlist"), .set("data_inputs[1].feed", string: "delayed")],
                       ["data_inputs[1].feed: unknown value 'delayed'; expected one of 'iex', 'sip'",
                        "data_inputs[1].id: duplicate id 'primary_watchlist'"]),
        ConfigEditCase("every repeat of an id is reported, not only the first",
                       [.set("data_inputs[1].id", string: "primary_watchlist"),
                        .set("data_inputs[2]", json: #"{"id": "primary_watchlist", "symbols": ["IWM"]}"#)],
                       ["data_inputs[1].id: duplicate id 'primary_watchlist'", "data_inputs[2].id: duplicate id 'primary_watchlist'"]),
        ConfigEditCase("rule id with upper case and a space", .set("rules[0].id", string: "Dip Confirm"),
                       "rules[0].id: 'Dip Confirm' must be 1-40 characters of a-z, 0-9, '_' or '-'"),
        ConfigEditCase("rule id with a dot", .set("rules[0].id", string: "dip.confirm"),
                       "rules[0].id: 'dip.confirm' must be 1-40 characters of a-z, 0-9, '_' or '-'"),
        ConfigEditCase("empty rule id", .set("rules[0].id", string: ""),
                       "rules[0].id: '' must be 1-40 characters of a-z, 0-9, '_' or '-'"),
        ConfigEditCase("rule id of 41 characters", .set("rules[0].id", string: String(repeating: "a", count: 41)),
                       "rules[0].id: '\(String(repeating: "a", count: 41))' must be 1-40 characters of a-z, 0-9, '_' or '-'"),
        ConfigEditCase("data input id with upper case", .set("data_inputs[1].id", string: "Extra"),
                       "data_inputs[1].id: 'Extra' must be 1-40 characters of a-z, 0-9, '_' or '-'"),
    ]

    static let numbers: [ConfigEditCase] = [
        ConfigEditCase("max_orders_per_day 0", .set("guardrails.max_orders_per_day", json: "0"),
                       "guardrails.max_orders_per_day: must be at least 1, got 0"),
        ConfigEditCase("max_orders_per_day -1", .set("guardrails.max_orders_per_day", json: "-1"),
                       "guardrails.max_orders_per_day: must be at least 1, got -1"),
        ConfigEditCase("max_orders_per_day 1.5", .set("guardrails.max_orders_per_day", json: "1.5"),
                       "guardrails.max_orders_per_day: must be a whole number, got 1.5"),
        ConfigEditCase("max_notional_usd_per_4h 0", .set("guardrails.max_notional_usd_per_4h", json: "0"),
                       "guardrails.max_notional_usd_per_4h: must be greater than 0, got 0"),
        ConfigEditCase("max_notional_usd_per_4h negative", .set("guardrails.max_notional_usd_per_4h", json: "-50.5"),
                       "guardrails.max_notional_usd_per_4h: must be greater than 0, got -50.5"),
        ConfigEditCase("max_open_questions 0", .set("guardrails.max_open_questions", json: "0"),
                       "guardrails.max_open_questions: must be at least 1, got 0"),
        ConfigEditCase("max_open_questions 21", .set("guardrails.max_open_questions", json: "21"),
                       "guardrails.max_open_questions: must be at most 20, got 21"),
        ConfigEditCase("max_open_questions huge", .set("guardrails.max_open_questions", json: "1e20"),
                       "guardrails.max_open_questions: must be at most 20, got 100000000000000000000"),
        ConfigEditCase("on_broker_refusal unknown", .set("guardrails.on_broker_refusal", json: "\"ask\""),
                       "guardrails.on_broker_refusal: unknown value 'ask'; expected one of 'explain', 'wait'"),
        ConfigEditCase("on_broker_refusal not a string", .set("guardrails.on_broker_refusal", json: "true"),
                       "guardrails.on_broker_refusal: expected a string, got a boolean"),
        ConfigEditCase("poll interval 0.5", .set("data_inputs[0].poll_interval_seconds", json: "0.5"),
                       "data_inputs[0].poll_interval_seconds: must be at least 1 second, got 0.5"),
        ConfigEditCase("poll interval 0", .set("data_inputs[0].poll_interval_seconds", json: "0"),
                       "data_inputs[0].poll_interval_seconds: must be at least 1 second, got 0"),
        ConfigEditCase("poll interval 2.5", .set("data_inputs[0].poll_interval_seconds", json: "2.5"),
                       "data_inputs[0].poll_interval_seconds: must be a whole number, got 2.5"),
        ConfigEditCase("poll interval negative", .set("data_inputs[1].poll_interval_seconds", json: "-30"),
                       "data_inputs[1].poll_interval_seconds: must be at least 1 second, got -30"),
        ConfigEditCase("negative cooldown", .set("rules[1].cooldown_seconds", json: "-1"),
                       "rules[1].cooldown_seconds: must be at least 0 seconds, got -1"),
        ConfigEditCase("fractional cooldown", .set("rules[1].cooldown_seconds", json: "1.5"),
                       "rules[1].cooldown_seconds: must be a whole number, got 1.5"),
        ConfigEditCase("max_staleness_seconds 0", .set("rules[0].max_staleness_seconds", json: "0"),
                       "rules[0].max_staleness_seconds: must be at least 1 second, got 0"),
        ConfigEditCase("max_staleness_seconds 3601", .set("rules[1].max_staleness_seconds", json: "3601"),
                       "rules[1].max_staleness_seconds: must be at most 3600 seconds, got 3601"),
        ConfigEditCase("max_staleness_seconds a day", .set("rules[0].max_staleness_seconds", json: "86400"),
                       "rules[0].max_staleness_seconds: must be at most 3600 seconds, got 86400"),
        ConfigEditCase("max_staleness_seconds above the bound and fractional", .set("rules[0].max_staleness_seconds", json: "3600.5"),
                       "rules[0].max_staleness_seconds: must be at most 3600 seconds, got 3600.5"),
        ConfigEditCase("ref_max_age_seconds 0", .set("rules[0].ref_max_age_seconds", json: "0"),
                       "rules[0].ref_max_age_seconds: must be at least 1 second, got 0"),
        ConfigEditCase("threshold positive for below", .set("rules[0].threshold_pct", json: "1.5"),
                       "rules[0].threshold_pct: must be negative (and above -100) for price_below_pct_of_ref, got 1.5"),
        ConfigEditCase("threshold zero for below", .set("rules[0].threshold_pct", json: "0"),
                       "rules[0].threshold_pct: must be negative (and above -100) for price_below_pct_of_ref, got 0"),
        ConfigEditCase("threshold -100 for below", .set("rules[0].threshold_pct", json: "-100"),
                       "rules[0].threshold_pct: must be negative (and above -100) for price_below_pct_of_ref, got -100"),
        ConfigEditCase("threshold negative for above", .set("rules[1].threshold_pct", json: "-2"),
                       "rules[1].threshold_pct: must be positive (at most 1000) for price_above_pct_of_ref, got -2"),
        ConfigEditCase("threshold zero for above", .set("rules[1].threshold_pct", json: "0"),
                       "rules[1].threshold_pct: must be positive (at most 1000) for price_above_pct_of_ref, got 0"),
        ConfigEditCase("threshold above 1000 for above", .set("rules[1].threshold_pct", json: "1000.01"),
                       "rules[1].threshold_pct: must be positive (at most 1000) for price_above_pct_of_ref, got 1000.01"),
        ConfigEditCase("version 2", .set("version", json: "2"), "version: unsupported version 2; this server reads version 1"),
        ConfigEditCase("version 0", .set("version", json: "0"), "version: must be at least 1, got 0"),
    ]

    static let templates: [ConfigEditCase] = [
        ConfigEditCase("unknown placeholder", .set("rules[1].question_template", string: "{{ticker}} is up"),
                       "rules[1].question_template: unknown placeholder {{ticker}}; allowed: \(placeholders)"),
        ConfigEditCase("unclosed braces", .set("rules[0].question_template", string: "SPY is down {{pct% today"),
                       "rules[0].question_template: '{{' without a matching '}}'"),
        ConfigEditCase("empty template", .set("rules[0].question_template", string: ""),
                       "rules[0].question_template: must not be empty"),
        ConfigEditCase("blank template", .set("rules[0].question_template", string: " \n "),
                       "rules[0].question_template: must not be empty"),
        ConfigEditCase("template of 501 characters", .set("rules[0].question_template", string: String(repeating: "x", count: 501)),
                       "rules[0].question_template: must be at most 500 characters, got 501"),
        ConfigEditCase("two template problems", .set("rules[0].question_template", string: "{{sym}} down {{pct"),
                       ["rules[0].question_template: unknown placeholder {{sym}}; allowed: \(placeholders)",
                        "rules[0].question_template: '{{' without a matching '}}'"]),
    ]

    static let crossReferences: [ConfigEditCase] = [
        ConfigEditCase("rule symbol in no data input", .set("rules[0].symbol", string: "NVDA"),
                       "rules[0].symbol: 'NVDA' is not in any data_inputs[].symbols"),
        ConfigEditCase("rule symbol only in the blocklist", .set("rules[0].symbol", string: "TSLA"),
                       "rules[0].symbol: 'TSLA' is not in any data_inputs[].symbols"),
        ConfigEditCase("price_metric equal to ref_metric", .set("rules[0].price_metric", string: "prev_close"),
                       "rules[0].ref_metric: must differ from price_metric ('prev_close')"),
        ConfigEditCase("ref_metric equal to the default price_metric", .set("rules[1].ref_metric", string: "last_trade"),
                       "rules[1].ref_metric: must differ from price_metric ('last_trade')"),
        ConfigEditCase("ref_metric not fetched", .set("data_inputs[0].metrics", json: #"["last_trade", "daily_bar"]"#),
                       ["rules[0].ref_metric: no data input fetches 'prev_close' for SPY",
                        "rules[1].ref_metric: no data input fetches 'prev_close' for AAPL"]),
        ConfigEditCase("price_metric not fetched",
                       [.set("data_inputs[0].metrics", json: #"["last_trade", "prev_close"]"#),
                        .set("rules[0].price_metric", string: "daily_bar")],
                       ["rules[0].price_metric: no data input fetches 'daily_bar' for SPY"]),
        ConfigEditCase("metric fetched only by an input of another symbol",
                       [.set("data_inputs[0].metrics", json: #"["last_trade"]"#)],
                       ["rules[0].ref_metric: no data input fetches 'prev_close' for SPY",
                        "rules[1].ref_metric: no data input fetches 'prev_close' for AAPL"]),
    ]

    static let actions: [ConfigEditCase] = [
        ConfigEditCase("both notional_usd and qty", .set("rules[0].on_answer_match.qty", json: "1"),
                       "rules[0].on_answer_match.qty: set only one of notional_usd, qty and position_pct (notional_usd is set)"),
        ConfigEditCase("neither notional_usd nor qty", .remove("rules[0].on_answer_match.notional_usd"),
                       "rules[0].on_answer_match: set exactly one of notional_usd, qty and position_pct"),
        ConfigEditCase("notional 0", .set("rules[0].on_answer_match.notional_usd", json: "0"),
                       "rules[0].on_answer_match.notional_usd: must be greater than 0, got 0"),
        ConfigEditCase("negative notional", .set("rules[0].on_answer_match.notional_usd", json: "-10"),
                       "rules[0].on_answer_match.notional_usd: must be greater than 0, got -10"),
        ConfigEditCase("qty 0", .set("rules[1].on_answer_match.qty", json: "0"),
                       "rules[1].on_answer_match.qty: must be greater than 0, got 0"),
        ConfigEditCase("string notional", .set("rules[0].on_answer_match.notional_usd", json: #""10""#),
                       ["rules[0].on_answer_match.notional_usd: expected a number, got a string",
                        "rules[0].on_answer_match: set exactly one of notional_usd, qty and position_pct"]),
        ConfigEditCase("unknown action", .set("rules[0].on_answer_match.action", string: "buy_now"),
                       "rules[0].on_answer_match.action: unknown action 'buy_now'; expected 'propose_order'"),
        ConfigEditCase("unknown side", .set("rules[0].on_answer_match.side", string: "hold"),
                       "rules[0].on_answer_match.side: unknown value 'hold'; expected one of 'buy', 'sell'"),
    ]

    static let enumerations: [ConfigEditCase] = [
        ConfigEditCase("unknown rule type", .set("rules[0].type", string: "price_crosses"),
                       "rules[0].type: unknown value 'price_crosses'; expected one of 'price_below_pct_of_ref', 'price_above_pct_of_ref', 'position_gain_pct', 'position_loss_pct', 'trailing_stop_pct'"),
        ConfigEditCase("unknown mode", .set("mode", string: "yolo"), "mode: unknown value 'yolo'; expected one of 'paper', 'live'"),
        ConfigEditCase("unknown feed", .set("data_inputs[1].feed", string: "delayed"),
                       "data_inputs[1].feed: unknown value 'delayed'; expected one of 'iex', 'sip'"),
        ConfigEditCase("unknown asset_class", .set("data_inputs[1].asset_class", string: "forex"),
                       "data_inputs[1].asset_class: unknown value 'forex'; expected one of 'us_equity', 'crypto'"),
        ConfigEditCase("unknown source", .set("data_inputs[1].source", string: "polygon"),
                       "data_inputs[1].source: unknown source 'polygon'; expected 'alpaca'"),
        ConfigEditCase("unknown metric", .set("data_inputs[0].metrics", json: #"["last_trade", "daily_bar", "prev_close", "volume"]"#),
                       #"data_inputs[0].metrics[3]: unknown metric "volume"; expected one of 'last_trade', 'daily_bar', 'prev_close'"#),
        ConfigEditCase("duplicate metric", .set("data_inputs[0].metrics", json: #"["last_trade", "last_trade", "prev_close"]"#),
                       "data_inputs[0].metrics[1]: duplicate metric 'last_trade'"),
        ConfigEditCase("empty metrics", .set("data_inputs[1].metrics", json: "[]"),
                       "data_inputs[1].metrics: must list at least one metric"),
        ConfigEditCase("unknown rule price_metric", .set("rules[0].price_metric", string: "mid"),
                       "rules[0].price_metric: unknown value 'mid'; expected one of 'last_trade', 'daily_bar', 'prev_close'"),
        ConfigEditCase("upper-case mode", .set("mode", string: "PAPER"),
                       "mode: unknown value 'PAPER'; expected one of 'paper', 'live'"),
    ]

    static let documents: [ConfigEditCase] = [
        ConfigEditCase("document is an array", .set("$", json: "[]"), "$: expected an object, got an array"),
        ConfigEditCase("document is a string", .set("$", json: #""config""#), "$: expected an object, got a string"),
        ConfigEditCase("document is null", .set("$", json: "null"), "$: expected an object, got null"),
    ]

    static let valid: [ConfigEditCase] = [
        ConfigEditCase("unchanged base", [], []),
        ConfigEditCase("guardrails null takes the defaults", [.set("guardrails", json: "null")], []),
        ConfigEditCase("optional rule field null takes its default", [.set("rules[0].ref_metric", json: "null")], []),
        ConfigEditCase("crypto pairs in a crypto input",
                       [.set("data_inputs[1]", json: #"{"id": "coins", "asset_class": "crypto", "symbols": ["BTC/USD", "ETH/USDT"]}"#)], []),
        ConfigEditCase("class suffix symbol", [.set("data_inputs[1].symbols", json: #"["BRK.B", "QQQ"]"#)], []),
        ConfigEditCase("ten-letter symbol", [.set("data_inputs[1].symbols", json: #"["ABCDEFGHIJ"]"#)], []),
        ConfigEditCase("threshold just above -100", [.set("rules[0].threshold_pct", json: "-99.99")], []),
        ConfigEditCase("threshold 1000 for above", [.set("rules[1].threshold_pct", json: "1000")], []),
        ConfigEditCase("small thresholds", [.set("rules[0].threshold_pct", json: "-0.01"), .set("rules[1].threshold_pct", json: "0.01")], []),
        ConfigEditCase("poll interval 1", [.set("data_inputs[0].poll_interval_seconds", json: "1")], []),
        ConfigEditCase("poll interval written as 60.0", [.set("data_inputs[0].poll_interval_seconds", json: "60.0")], []),
        ConfigEditCase("cooldown 0", [.set("rules[1].cooldown_seconds", json: "0")], []),
        ConfigEditCase("max_staleness_seconds at its bound", [.set("rules[0].max_staleness_seconds", json: "3600")], []),
        ConfigEditCase("max_open_questions at its bound", [.set("guardrails.max_open_questions", json: "20")], []),
        ConfigEditCase("max_open_questions 1", [.set("guardrails.max_open_questions", json: "1")], []),
        ConfigEditCase("ref_max_age_seconds of thirty days", [.set("rules[0].ref_max_age_seconds", json: "2592000")], []),
        ConfigEditCase("tiny notional cap", [.set("guardrails.max_notional_usd_per_4h", json: "0.01")], []),
        ConfigEditCase("fractional qty", [.set("rules[1].on_answer_match.qty", json: "0.5")], []),
        ConfigEditCase("every placeholder", [.set("rules[0].question_template",
                                                 string: "{{symbol}} {{price}} {{pct}} {{change_pct}} {{ref}} {{rule_id}}")], []),
        ConfigEditCase("rule on a symbol of the second input", [.set("rules[1].symbol", string: "QQQ")], []),
        ConfigEditCase("daily_bar as the price", [.set("rules[0].price_metric", string: "daily_bar")], []),
        ConfigEditCase("metrics split over two inputs of the same symbol",
                       [.set("data_inputs[0].metrics", json: #"["last_trade"]"#),
                        .set("data_inputs[1].symbols", json: #"["QQQ", "SPY", "AAPL"]"#),
                        .set("data_inputs[1].metrics", json: #"["prev_close"]"#)], []),
        ConfigEditCase("disabled rule and document", [.set("rules[0].enabled", json: "false"), .set("enabled", json: "false")], []),
        ConfigEditCase("live mode and sip feed", [.set("mode", string: "live"), .set("data_inputs[0].feed", string: "sip")], []),
        ConfigEditCase("no rules", [.set("rules", json: "[]")], []),
        ConfigEditCase("empty blocklist", [.set("guardrails.symbols_blocklist", json: "[]")], []),
    ]
}

// MARK: - Tests

@Suite struct ConfigValidationTests {
    @Test func planExampleDecodes() throws {
        let result = TradingConfigDecoder.decode(Data(ConfigSamples.planExample.utf8))
        let config = try result.get()
        #expect(config.version == 1)
        #expect(config.enabled)
        #expect(config.mode == .paper)
        #expect(config.dataInputs == [
            DataInput(id: "primary_watchlist", source: "alpaca", assetClass: .usEquity, symbols: ["AAPL", "MSFT", "SPY"],
                      feed: .iex, pollIntervalSeconds: 60, metrics: [.lastTrade, .dailyBar, .prevClose]),
        ])
        #expect(config.watchlist == ["AAPL", "MSFT", "SPY"])
        let rule = try #require(config.rule(id: "dip_confirm"))
        #expect(config.rule(id: "missing") == nil)
        #expect(rule.type == .priceBelowPctOfRef)
        #expect(rule.enabled)
        #expect(rule.symbol == "SPY")
        #expect(rule.priceMetric == .lastTrade)
        #expect(rule.refMetric == .prevClose)
        #expect(rule.thresholdPct == (try ConfigSamples.decimal("-1.5")))
        #expect(rule.questionTemplate.hasPrefix("SPY is down {{pct}}% vs yesterday."))
        #expect(rule.onAnswerMatch == OrderAction(action: "propose_order", side: .buy, notionalUSD: 10, qty: nil))
        #expect(rule.cooldownSeconds == ConfigDefaults.cooldownSeconds)
        #expect(rule.maxStalenessSeconds == ConfigDefaults.maxStalenessSeconds)
        #expect(rule.refMaxAgeSeconds == ConfigDefaults.refMaxAgeSeconds)
        #expect(config.guardrails == Guardrails(maxOrdersPerDay: 3, maxNotionalUSDPer4h: 100, requireQuestionBeforeOrder: true,
                                                symbolsBlocklist: [], maxOpenQuestions: ConfigDefaults.maxOpenQuestions))
    }

    @Test func theMutationBaseIsValid() throws {
        let config = try TradingConfigDecoder.decode(try ConfigSamples.json(ConfigSamples.base)).get()
        #expect(config.rules.map(\.id) == ["dip_confirm", "rally_trim"])
        #expect(config.rules[1].onAnswerMatch == OrderAction(action: "propose_order", side: .sell, notionalUSD: nil, qty: 1))
        #expect(config.rules[1].cooldownSeconds == 600)
        #expect(config.dataInputs[1] == DataInput(id: "extra", source: "alpaca", assetClass: .usEquity, symbols: ["QQQ"],
                                                  feed: .iex, pollIntervalSeconds: 60, metrics: Metric.allCases))
        #expect(config.guardrails.symbolsBlocklist == ["TSLA"])
        #expect(config.guardrails.maxOpenQuestions == 2)
    }

    @Test func defaultsFillAMinimalDocument() throws {
        let config = try TradingConfigDecoder.decode(try ConfigSamples.json(ConfigSamples.minimal)).get()
        #expect(config.version == 1)
        #expect(config.enabled == true)
        #expect(config.mode == .paper)
        let input = try #require(config.dataInputs.first)
        #expect(input.source == "alpaca")
        #expect(input.assetClass == .usEquity)
        #expect(input.feed == .iex)
        #expect(input.pollIntervalSeconds == 60)
        #expect(input.metrics == [.lastTrade, .dailyBar, .prevClose])
        let rule = try #require(config.rules.first)
        #expect(rule.enabled == true)
        #expect(rule.priceMetric == .lastTrade)
        #expect(rule.refMetric == .prevClose)
        #expect(rule.cooldownSeconds == 3600)
        #expect(rule.maxStalenessSeconds == 300)
        #expect(rule.refMaxAgeSeconds == 4 * 24 * 3600)
        #expect(config.guardrails == Guardrails(
            maxOrdersPerDay: ConfigDefaults.maxOrdersPerDay, maxNotionalUSDPer4h: ConfigDefaults.maxNotionalUSDPer4h,
            requireQuestionBeforeOrder: ConfigDefaults.requireQuestionBeforeOrder, symbolsBlocklist: [],
            maxOpenQuestions: ConfigDefaults.maxOpenQuestions))
        #expect(config.guardrails.maxOrdersPerDay == 3)
        #expect(config.guardrails.maxNotionalUSDPer4h == 100)
    }

    @Test func anEmptyObjectIsAValidEmptyConfig() throws {
        let config = try TradingConfigDecoder.decode(JSONValue.object([:])).get()
        #expect(config.dataInputs.isEmpty)
        #expect(config.rules.isEmpty)
        #expect(config.mode == ConfigDefaults.mode)
    }

    @Test(arguments: [ConfigSamples.planExample, ConfigSamples.base, ConfigSamples.minimal])
    func jsonValueRoundTrips(document: String) throws {
        let config = try TradingConfigDecoder.decode(try ConfigSamples.json(document)).get()
        let written = config.jsonValue
        #expect(TradingConfigDecoder.decode(written) == .success(config))

        // Canonical text: equal configs give equal bytes, and reading the text back changes nothing.
        let canonical = written.canonicalString()
        #expect(canonical.hasPrefix(#"{"data_inputs":[{"asset_class":"us_equity","feed":"#))
        #expect(TradingConfigDecoder.decode(Data(canonical.utf8)) == .success(config))
        #expect(try JSONValue.parse(canonical).canonicalString() == canonical)
        let again = try TradingConfigDecoder.decode(Data(canonical.utf8)).get()
        #expect(again.jsonValue.canonicalString() == canonical)
        #expect(written.canonicalData() == again.jsonValue.canonicalData())
    }

    @Test func jsonValueWritesEveryDefaultOut() throws {
        let config = try TradingConfigDecoder.decode(try ConfigSamples.json(ConfigSamples.minimal)).get()
        let written = config.jsonValue
        #expect(written["version"] == .number(1))
        #expect(written["enabled"] == .bool(true))
        #expect(written["mode"] == .string("paper"))
        #expect(written["guardrails"] == .object([
            "max_orders_per_day": .number(3), "max_notional_usd_per_4h": .number(100),
            "require_question_before_order": .bool(true), "symbols_blocklist": .array([]), "max_open_questions": .number(3),
            "on_broker_refusal": .string("explain"),
        ]))
        guard case .array(let inputs)? = written["data_inputs"], case .array(let rules)? = written["rules"] else {
            Issue.record("data_inputs and rules must be arrays")
            return
        }
        #expect(inputs.first?["poll_interval_seconds"] == .number(60))
        #expect(inputs.first?["metrics"] == .array([.string("last_trade"), .string("daily_bar"), .string("prev_close")]))
        #expect(inputs.first?["source"] == .string("alpaca"))
        #expect(rules.first?["cooldown_seconds"] == .number(3600))
        #expect(rules.first?["price_metric"] == .string("last_trade"))
        #expect(rules.first?["on_answer_match"] == .object([
            "action": .string("propose_order"), "side": .string("buy"), "notional_usd": .number(5),
        ]))
    }

    @Test(arguments: ConfigEditCase.valid)
    func validVariantsDecode(_ example: ConfigEditCase) throws {
        let document = try example.document()
        #expect(ConfigSamples.issues(document) == [])
        let config = try TradingConfigDecoder.decode(document).get()
        #expect(TradingConfigDecoder.decode(config.jsonValue) == .success(config))
    }

    @Test(arguments: ConfigEditCase.unknownKeys + ConfigEditCase.missingFields + ConfigEditCase.wrongTypes)
    func invalidStructureIsReportedExactly(_ example: ConfigEditCase) throws {
        #expect(ConfigSamples.issues(try example.document()) == example.expected)
    }

    @Test(arguments: ConfigEditCase.symbols + ConfigEditCase.identifiers)
    func invalidSymbolsAndIDsAreReportedExactly(_ example: ConfigEditCase) throws {
        #expect(ConfigSamples.issues(try example.document()) == example.expected)
    }

    @Test(arguments: ConfigEditCase.numbers + ConfigEditCase.templates)
    func invalidValuesAreReportedExactly(_ example: ConfigEditCase) throws {
        #expect(ConfigSamples.issues(try example.document()) == example.expected)
    }

    @Test(arguments: ConfigEditCase.crossReferences + ConfigEditCase.actions + ConfigEditCase.enumerations
          + ConfigEditCase.documents)
    func invalidReferencesActionsAndEnumsAreReportedExactly(_ example: ConfigEditCase) throws {
        #expect(ConfigSamples.issues(try example.document()) == example.expected)
    }

    @Test func thirtyDistinctSymbolsAreAllowed() throws {
        let document = try ConfigDocEdit.set("data_inputs[1].symbols", value: .array(ConfigSamples.extraSymbols(27)))
            .apply(to: try ConfigSamples.json(ConfigSamples.base))
        let config = try TradingConfigDecoder.decode(document).get()
        #expect(config.watchlist.count == ConfigDefaults.maxDistinctSymbols)
    }

    @Test func symbolsSharedByTwoInputsCountOnce() throws {
        let shared: [JSONValue] = ConfigSamples.extraSymbols(27) + [.string("SPY"), .string("AAPL")]
        let document = try ConfigDocEdit.set("data_inputs[1].symbols", value: .array(shared))
            .apply(to: try ConfigSamples.json(ConfigSamples.base))
        #expect(ConfigSamples.issues(document) == [])
    }

    @Test func thirtyOneDistinctSymbolsAcrossTwoInputsAreRejected() throws {
        let document = try ConfigDocEdit.set("data_inputs[1].symbols", value: .array(ConfigSamples.extraSymbols(28)))
            .apply(to: try ConfigSamples.json(ConfigSamples.base))
        #expect(ConfigSamples.issues(document) == ["data_inputs: 31 distinct symbols; Alpaca Basic allows at most 30"])
    }

    @Test func malformedJSONTextIsOneIssueAtTheRoot() throws {
        let texts = [#"{"version": 1,"#, "", "{'mode': 'paper'}", #"{"rules": [}"#]
        for text in texts {
            let result = TradingConfigDecoder.decode(Data(text.utf8))
            guard case .failure(let error) = result else {
                Issue.record("\(text) decoded")
                continue
            }
            #expect(error.issues.count == 1)
            let issue = try #require(error.issues.first)
            #expect(issue.path == "$")
            #expect(issue.message.hasPrefix("malformed JSON"))
            #expect(error.description == issue.description)
        }
    }

    @Test func everyProblemOfADocumentIsReported() throws {
        let edits: [ConfigDocEdit] = [
            .set("mode", string: "yolo"),
            .set("data_inputs[1].symbols", json: #"["qqq"]"#),
            .set("rules[0].threshold_pct", json: "1.5"),
            .set("rules[1].on_answer_match.notional_usd", json: "5"),
            .set("rules[1].question_template", string: "{{ticker}}"),
            .set("guardrails.max_orders_per_day", json: "0"),
            .set("guardrails.max_open_questions", json: "2.5"),
            .set("colour", json: #""blue""#),
        ]
        let document = try edits.reduce(try ConfigSamples.json(ConfigSamples.base)) { try $1.apply(to: $0) }
        let expected: Set<String> = [
            "mode: unknown value 'yolo'; expected one of 'paper', 'live'",
            "data_inputs[1].symbols[0]: malformed symbol 'qqq'; \(ConfigSamples.symbolHint)",
            "rules[0].threshold_pct: must be negative (and above -100) for price_below_pct_of_ref, got 1.5",
            "rules[1].on_answer_match.qty: set only one of notional_usd, qty and position_pct (notional_usd is set)",
            "rules[1].question_template: unknown placeholder {{ticker}}; allowed: \(ConfigSamples.allowedPlaceholders)",
            "guardrails.max_orders_per_day: must be at least 1, got 0",
            "guardrails.max_open_questions: must be a whole number, got 2.5",
            "colour: unknown key",
        ]
        let issues = ConfigSamples.issues(document)
        #expect(issues.count == expected.count)
        #expect(Set(issues) == expected)

        guard case .failure(let error) = TradingConfigDecoder.decode(document) else {
            Issue.record("the document decoded")
            return
        }
        #expect(error.description == issues.joined(separator: "\n"))
    }

    @Test func issueDescriptionIsPathColonMessage() {
        let issue = ConfigIssue(path: "rules[1].threshold_pct", message: "must be negative")
        #expect(issue.description == "rules[1].threshold_pct: must be negative")
        #expect(String(describing: issue) == "rules[1].threshold_pct: must be negative")
    }

    // MARK: Property tests

    @Test func randomValidDocumentsDecodeAndRoundTrip() async {
        let symbols = Gen.uppercaseLetter.string(of: 1...5).array(of: 1...40)
            .map { names in
                var seen: Set<String> = []
                return Array(names.filter { seen.insert($0).inserted }.prefix(30))
            }
        await propertyCheck(
            count: 200,
            input: symbols, Gen.int(in: 0...30), Gen.int(in: 1...9900), Gen.int(in: 1...1000),
            Gen.int(in: 1...10_000_000), Gen.int(in: 1...ConfigDefaults.maxOpenQuestionsBound), Gen.int(in: 1...86_400)
        ) { symbols, split, hundredths, perDay, notionalCents, openQuestions, poll in
            let threshold = Decimal(hundredths) / -100
            let notional = Decimal(notionalCents) / 100
            let document = RandomConfigDocument.make(
                symbols: symbols, split: split, threshold: threshold, perDay: perDay, notional: notional,
                openQuestions: openQuestions, poll: poll)
            let result = TradingConfigDecoder.decode(document)
            #expect(ConfigSamples.issues(document) == [])
            guard case .success(let config) = result else { return }
            #expect(config.watchlist == Set(symbols))
            #expect(config.rules.first?.thresholdPct == threshold)
            #expect(config.guardrails.maxOrdersPerDay == perDay)
            #expect(config.guardrails.maxNotionalUSDPer4h == notional)
            #expect(config.guardrails.maxOpenQuestions == openQuestions)
            #expect(config.dataInputs.allSatisfy { $0.pollIntervalSeconds == poll })
            #expect(TradingConfigDecoder.decode(config.jsonValue) == result)
            #expect(TradingConfigDecoder.decode(config.jsonValue.canonicalData()) == result)
        }
    }

    @Test func nonPositiveMaxOrdersPerDayIsRejectedAtItsPath() async throws {
        let base = try ConfigSamples.json(ConfigSamples.base)
        await propertyCheck(input: Gen.int(in: -1_000_000_000...0)) { value in
            let document = try ConfigDocEdit.set("guardrails.max_orders_per_day", value: .number(Decimal(value)))
                .apply(to: base)
            #expect(ConfigSamples.issuePaths(document) == ["guardrails.max_orders_per_day"])
            #expect(ConfigSamples.issues(document) == ["guardrails.max_orders_per_day: must be at least 1, got \(value)"])
        }
    }

    // MARK: Behaviour the decoder gets wrong today (see the report); each states the correct behaviour.

    @Test func oneMalformedSymbolDoesNotHideTheInputsOtherSymbolsFromRules() throws {
        let document = try ConfigDocEdit.set("data_inputs[0].symbols", json: #"["AAPL", "msft", "SPY"]"#)
            .apply(to: try ConfigSamples.json(ConfigSamples.base))
        #expect(ConfigSamples.issues(document) == [
            "data_inputs[0].symbols[1]: malformed symbol 'msft'; \(ConfigSamples.symbolHint)",
        ])
    }

    @Test func anUnknownFeedDoesNotHideTheInputsSymbolsFromRules() throws {
        let document = try ConfigDocEdit.set("data_inputs[0].feed", string: "delayed")
            .apply(to: try ConfigSamples.json(ConfigSamples.base))
        #expect(ConfigSamples.issues(document) == [
            "data_inputs[0].feed: unknown value 'delayed'; expected one of 'iex', 'sip'",
        ])
    }

    @Test func duplicateIDPathPointsAtTheDuplicateEvenAfterABrokenItem() throws {
        // rules[0] is broken (unknown type); rules[2] repeats the id of rules[1].
        let edits: [ConfigDocEdit] = [
            .set("rules[0].type", string: "price_crosses"),
            .set("rules[2]", json: #"""
                {"id": "rally_trim", "type": "price_above_pct_of_ref", "symbol": "MSFT", "threshold_pct": 3,
                 "question_template": "{{symbol}} up {{pct}}%", "on_answer_match": {"action": "propose_order", "side": "sell", "qty": 1}}
                """#),
        ]
        let document = try edits.reduce(try ConfigSamples.json(ConfigSamples.base)) { try $1.apply(to: $0) }
        let typeIssue = "rules[0].type: unknown value 'price_crosses'; expected one of 'price_below_pct_of_ref', 'price_above_pct_of_ref', 'position_gain_pct', 'position_loss_pct', 'trailing_stop_pct'"
        #expect(ConfigSamples.issues(document) == [typeIssue, "rules[2].id: duplicate id 'rally_trim'"])
    }

    @Test func theBoundsAreTheDocumentedOnes() {
        #expect(ConfigDefaults.maxOpenQuestionsBound == 20)
        #expect(ConfigDefaults.maxStalenessSecondsBound == 3600)
        #expect(ConfigDefaults.maxOpenQuestions <= ConfigDefaults.maxOpenQuestionsBound)
        #expect(ConfigDefaults.maxStalenessSeconds <= ConfigDefaults.maxStalenessSecondsBound)
    }

    @Test func maxOpenQuestionsAboveTheBoundIsRejectedAtItsPath() async throws {
        let base = try ConfigSamples.json(ConfigSamples.base)
        let bound = ConfigDefaults.maxOpenQuestionsBound
        await propertyCheck(input: Gen.int(in: (bound + 1)...1_000_000_000)) { value in
            let document = try ConfigDocEdit.set("guardrails.max_open_questions", value: .number(Decimal(value))).apply(to: base)
            #expect(ConfigSamples.issues(document) == ["guardrails.max_open_questions: must be at most \(bound), got \(value)"])
        }
    }

    /// Duplicate detection is one pass with a set: thousands of rules with one id cost no more
    /// than reading them, and every repeat is named at its own index.
    @Test func manyRepeatedRuleIDsAreEachReported() throws {
        let rule = try ConfigSamples.json(#"""
            {"id": "same", "type": "price_below_pct_of_ref", "symbol": "SPY", "threshold_pct": -1,
             "question_template": "{{symbol}}", "on_answer_match": {"action": "propose_order", "side": "buy", "notional_usd": 1}}
            """#)
        let count = 5000
        let document = try ConfigDocEdit.set("rules", value: .array(Array(repeating: rule, count: count)))
            .apply(to: try ConfigSamples.json(ConfigSamples.base))
        let issues = ConfigSamples.issues(document)
        #expect(issues.count == count - 1)
        #expect(issues.first == "rules[1].id: duplicate id 'same'")
        #expect(issues.last == "rules[\(count - 1)].id: duplicate id 'same'")
    }

    // MARK: Overrides merged onto a template

    /// Merged by id, two override items with the template's id would fold into one rule and the
    /// effective document would show no repeat; the override is refused at its own path.
    @Test func anOverrideThatRepeatsARuleIDIsRefusedAtItsPath() throws {
        let template = try ConfigSamples.json(ConfigSamples.base)
        let override = try ConfigSamples.json(#"""
            {"rules": [{"id": "dip_confirm", "enabled": false}, {"id": "rally_trim", "cooldown_seconds": 60},
                       {"id": "dip_confirm", "threshold_pct": -3}]}
            """#)
        let result = ConfigMerge.validate(template: template, override: override)
        #expect(result.issueDescriptions == ["rules[2].id: duplicate id 'dip_confirm'"])
        let effective = ConfigMerge.effective(firebaseUID: "u", templateName: "t", template: template, override: override,
                                              enabledColumn: true)
        guard case .failure(let error) = effective else {
            Issue.record("an override with a repeated rule id was accepted")
            return
        }
        #expect(error.issues == [ConfigIssue(path: "rules[2].id", message: "duplicate id 'dip_confirm'")])
    }

    @Test func anOverrideThatRepeatsADataInputIDIsRefusedAtItsPath() throws {
        let template = try ConfigSamples.json(ConfigSamples.base)
        let override = try ConfigSamples.json(#"""
            {"data_inputs": [{"id": "extra", "symbols": ["QQQ", "IWM"]}, {"id": "extra", "feed": "sip"}]}
            """#)
        #expect(ConfigMerge.validate(template: template, override: override).issueDescriptions
                == ["data_inputs[1].id: duplicate id 'extra'"])
    }

    @Test func anOverrideWithDistinctIDsStillMerges() throws {
        let template = try ConfigSamples.json(ConfigSamples.base)
        let override = try ConfigSamples.json(#"""
            {"rules": [{"id": "dip_confirm", "enabled": false}, {"id": "rally_trim", "cooldown_seconds": 60}]}
            """#)
        let config = try ConfigMerge.validate(template: template, override: override).get()
        #expect(config.rules.map(\.id) == ["dip_confirm", "rally_trim"])
        #expect(config.rules.first?.enabled == false && config.rules.last?.cooldownSeconds == 60)
        // Without a template the override is the whole document and the decoder reports repeats.
        #expect(ConfigMerge.validate(template: nil, override: try ConfigDocEdit.set("rules[1].id", string: "dip_confirm")
            .apply(to: template)).issueDescriptions == ["rules[1].id: duplicate id 'dip_confirm'"])
    }

    @Test(arguments: ["100000000000000000000", "1e20", "18446744073709551617", "9223372036854775808"])
    func integersBeyondInt64AreRejected(text: String) throws {
        let document = try ConfigDocEdit.set("guardrails.max_orders_per_day", json: text)
            .apply(to: try ConfigSamples.json(ConfigSamples.base))
        #expect(ConfigSamples.issuePaths(document) == ["guardrails.max_orders_per_day"])
        #expect(!ConfigSamples.issues(document).contains { $0.contains("got -") })
    }

    @Test func cryptoSymbolHintDescribesAPair() throws {
        let document = try ConfigDocEdit.set(
            "data_inputs[1]", json: #"{"id": "coins", "asset_class": "crypto", "symbols": ["SPY"]}"#
        ).apply(to: try ConfigSamples.json(ConfigSamples.base))
        let issues = ConfigSamples.issues(document)
        #expect(issues.count == 1)
        #expect(issues.first?.hasPrefix("data_inputs[1].symbols[0]: malformed symbol 'SPY'") == true)
        #expect(issues.first?.contains("BTC/USD") == true)
    }
}

/// Builds a valid document from random parts, for the property tests.
enum RandomConfigDocument {
    static func make(symbols: [String], split: Int, threshold: Decimal, perDay: Int, notional: Decimal,
                     openQuestions: Int, poll: Int) -> JSONValue {
        func input(_ id: String, _ symbols: ArraySlice<String>) -> JSONValue {
            .object(["id": .string(id), "symbols": .array(symbols.map(JSONValue.string)),
                     "poll_interval_seconds": .number(Decimal(poll))])
        }
        let inputs: [JSONValue] = (1..<symbols.count).contains(split)
            ? [input("first", symbols[..<split]), input("second", symbols[split...])]
            : [input("only", symbols[...])]
        let rules: [JSONValue] = symbols.prefix(3).enumerated().map { index, symbol in
            let below = index.isMultiple(of: 2)
            return .object([
                "id": .string("rule_\(index)"),
                "type": .string(below ? "price_below_pct_of_ref" : "price_above_pct_of_ref"),
                "symbol": .string(symbol),
                "threshold_pct": .number(below ? threshold : -threshold),
                "question_template": .string("{{symbol}} moved {{change_pct}}% to {{price}}"),
                "on_answer_match": .object(["action": .string("propose_order"), "side": .string(below ? "buy" : "sell"),
                                            "notional_usd": .number(notional)]),
            ])
        }
        return .object([
            "data_inputs": .array(inputs),
            "rules": .array(rules),
            "guardrails": .object([
                "max_orders_per_day": .number(Decimal(perDay)),
                "max_notional_usd_per_4h": .number(notional),
                "max_open_questions": .number(Decimal(openQuestions)),
                "symbols_blocklist": .array(symbols.suffix(1).map { .string($0) }),
            ]),
        ])
    }
}

extension Result where Success == TradingConfig, Failure == ConfigValidationError {
    /// The issues as `path: message`, empty when the document is valid.
    var issueDescriptions: [String] {
        switch self {
        case .success: []
        case .failure(let error): error.issues.map(\.description)
        }
    }
}
