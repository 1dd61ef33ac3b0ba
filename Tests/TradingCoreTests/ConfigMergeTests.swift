import Foundation
import PropertyBased
import Testing
@testable import TradingCore

@Suite struct ConfigMergeTests {
    func json(_ text: String) throws -> JSONValue { try JSONValue.parse(text) }

    func merged(_ template: String, _ override: String) throws -> JSONValue {
        ConfigMerge.merge(template: try json(template), override: try json(override))
    }

    // MARK: Objects

    @Test func objectsMergeKeyByKeyRecursively() throws {
        let result = try merged(
            #"{"a": 1, "b": {"c": 1, "d": {"e": 1, "f": 2}}, "g": "x"}"#,
            #"{"b": {"d": {"f": 3, "h": 4}, "i": 5}, "j": true}"#)
        #expect(result == (try json(#"{"a": 1, "b": {"c": 1, "d": {"e": 1, "f": 3, "h": 4}, "i": 5}, "g": "x", "j": true}"#)))
    }

    @Test func nullRemovesTheKey() throws {
        let result = try merged(#"{"a": 1, "b": {"c": 1, "d": 2}, "e": [1]}"#, #"{"a": null, "b": {"c": null}, "e": null}"#)
        #expect(result == (try json(#"{"b": {"d": 2}}"#)))
    }

    @Test func nullForAKeyTheTemplateLacksAddsNothing() throws {
        #expect(try merged(#"{"a": 1}"#, #"{"z": null}"#) == (try json(#"{"a": 1}"#)))
    }

    @Test func nullInsideAnIDListItemRemovesThatField() throws {
        let result = try merged(#"{"rules": [{"id": "a", "x": 1, "y": 2}]}"#, #"{"rules": [{"id": "a", "y": null}]}"#)
        #expect(result == (try json(#"{"rules": [{"id": "a", "x": 1}]}"#)))
    }

    @Test func nullRemovalLetsTheDefaultApplyAgain() throws {
        let template = try ConfigDocEdit.set("guardrails.max_orders_per_day", json: "7")
            .apply(to: try json(ConfigSamples.planExample))
        let result = ConfigMerge.effective(firebaseUID: "u1", templateName: "t", template: template,
                                           override: try json(#"{"guardrails": {"max_orders_per_day": null}}"#),
                                           enabledColumn: true)
        #expect(try result.get().config.guardrails.maxOrdersPerDay == ConfigDefaults.maxOrdersPerDay)
    }

    // MARK: Lists

    @Test func idListsMergeByIDAndAppendNewIDsInOverrideOrder() throws {
        let result = try merged(
            #"{"rules": [{"id": "a", "x": 1, "y": 1}, {"id": "b", "x": 2}]}"#,
            #"{"rules": [{"id": "d", "x": 4}, {"id": "b", "x": 20}, {"id": "c", "x": 3}, {"id": "a", "y": 10}]}"#)
        #expect(result == (try json(#"""
            {"rules": [{"id": "a", "x": 1, "y": 10}, {"id": "b", "x": 20}, {"id": "d", "x": 4}, {"id": "c", "x": 3}]}
            """#)))
    }

    @Test func idListItemsMergeRecursively() throws {
        let result = try merged(
            #"{"rules": [{"id": "a", "on_answer_match": {"side": "buy", "notional_usd": 10}}]}"#,
            #"{"rules": [{"id": "a", "on_answer_match": {"notional_usd": 25}}]}"#)
        #expect(result == (try json(#"{"rules": [{"id": "a", "on_answer_match": {"side": "buy", "notional_usd": 25}}]}"#)))
    }

    @Test func nonIDListsAreReplaced() throws {
        #expect(try merged(#"{"s": ["AAPL", "MSFT"]}"#, #"{"s": ["SPY"]}"#) == (try json(#"{"s": ["SPY"]}"#)))
        #expect(try merged(#"{"s": ["AAPL"]}"#, #"{"s": ["SPY", "QQQ", "AAPL"]}"#) == (try json(#"{"s": ["SPY", "QQQ", "AAPL"]}"#)))
        #expect(try merged(#"{"s": ["AAPL"]}"#, #"{"s": []}"#) == (try json(#"{"s": []}"#)))
        #expect(try merged(#"{"s": [{"x": 1}]}"#, #"{"s": [{"y": 2}, {"x": 3}]}"#) == (try json(#"{"s": [{"y": 2}, {"x": 3}]}"#)))
        #expect(try merged(#"{"s": [[1], [2]]}"#, #"{"s": [[3]]}"#) == (try json(#"{"s": [[3]]}"#)))
    }

    @Test func aListWhereSomeItemsLackIDsIsReplaced() throws {
        // Override has an item without an id.
        #expect(try merged(#"{"r": [{"id": "a", "v": 1}, {"id": "b", "v": 2}]}"#, #"{"r": [{"id": "a", "v": 9}, {"v": 3}]}"#)
                == (try json(#"{"r": [{"id": "a", "v": 9}, {"v": 3}]}"#)))
        // Template has an item without an id.
        #expect(try merged(#"{"r": [{"id": "a", "v": 1}, {"v": 2}]}"#, #"{"r": [{"id": "a", "w": 9}]}"#)
                == (try json(#"{"r": [{"id": "a", "w": 9}]}"#)))
        // An id that is not a string does not count.
        #expect(try merged(#"{"r": [{"id": 1, "v": 1}]}"#, #"{"r": [{"id": 1, "w": 2}]}"#)
                == (try json(#"{"r": [{"id": 1, "w": 2}]}"#)))
        // Scalars mixed with id objects.
        #expect(try merged(#"{"r": [{"id": "a"}]}"#, #"{"r": [{"id": "a", "v": 1}, "b"]}"#)
                == (try json(#"{"r": [{"id": "a", "v": 1}, "b"]}"#)))
    }

    /// Documents today's semantics: `[]` is vacuously an id-list, so an empty override list
    /// keeps the template's items; `null` is how an override clears a list.
    @Test func emptyOverrideOfAnIDListKeepsTheTemplateItems() throws {
        #expect(try merged(#"{"r": [{"id": "a"}]}"#, #"{"r": []}"#) == (try json(#"{"r": [{"id": "a"}]}"#)))
        #expect(try merged(#"{"r": [{"id": "a"}]}"#, #"{"r": null}"#) == (try json("{}")))
        #expect(try merged(#"{"r": []}"#, #"{"r": [{"id": "a"}]}"#) == (try json(#"{"r": [{"id": "a"}]}"#)))
    }

    // MARK: Scalars and type changes

    @Test func scalarsAndTypeChangesAreReplaced() throws {
        #expect(try merged(#"{"a": 1}"#, #"{"a": 2}"#) == (try json(#"{"a": 2}"#)))
        #expect(try merged(#"{"a": "x"}"#, #"{"a": false}"#) == (try json(#"{"a": false}"#)))
        #expect(try merged(#"{"a": {"b": 1}}"#, #"{"a": 5}"#) == (try json(#"{"a": 5}"#)))
        #expect(try merged(#"{"a": 5}"#, #"{"a": {"b": 1}}"#) == (try json(#"{"a": {"b": 1}}"#)))
        #expect(try merged(#"{"a": [1]}"#, #"{"a": {"b": 1}}"#) == (try json(#"{"a": {"b": 1}}"#)))
        #expect(try merged(#"{"a": {"b": 1}}"#, #"{"a": [1]}"#) == (try json(#"{"a": [1]}"#)))
        #expect(try merged(#"{"a": -1.5}"#, #"{"a": -2.25}"#) == (try json(#"{"a": -2.25}"#)))
        #expect(ConfigMerge.merge(template: .number(1), override: .string("x")) == .string("x"))
        #expect(ConfigMerge.merge(template: .object(["a": .number(1)]), override: .array([])) == .array([]))
    }

    @Test func aTypicalUserOverrideOfThePlanTemplate() throws {
        let override = try json(#"""
        {
          "data_inputs": [{"id": "primary_watchlist", "symbols": ["SPY", "QQQ"]}],
          "rules": [
            {"id": "dip_confirm", "threshold_pct": -3, "on_answer_match": {"notional_usd": 25}},
            {"id": "qqq_pop", "type": "price_above_pct_of_ref", "symbol": "QQQ", "threshold_pct": 2,
             "question_template": "{{symbol}} is up {{pct}}%",
             "on_answer_match": {"action": "propose_order", "side": "sell", "qty": 1}}
          ],
          "guardrails": {"max_orders_per_day": 1}
        }
        """#)
        let config = try TradingConfigDecoder.decode(
            ConfigMerge.merge(template: try json(ConfigSamples.planExample), override: override)).get()
        #expect(config.dataInputs.map(\.symbols) == [["SPY", "QQQ"]])
        #expect(config.dataInputs.first?.feed == .iex)
        #expect(config.rules.map(\.id) == ["dip_confirm", "qqq_pop"])
        #expect(config.rules.first?.thresholdPct == -3)
        #expect(config.rules.first?.onAnswerMatch == OrderAction(action: "propose_order", side: .buy, notionalUSD: 25, qty: nil))
        #expect(config.rules.first?.questionTemplate.hasPrefix("SPY is down {{pct}}%") == true)
        #expect(config.guardrails.maxOrdersPerDay == 1)
        #expect(config.guardrails.maxNotionalUSDPer4h == 100)
    }

    // MARK: effective

    @Test(arguments: [
        // (document enabled, column, effective)
        (true, true, true), (true, false, false), (false, true, true), (false, false, false),
    ])
    func theEnabledColumnWinsOverTheDocument(documentEnabled: Bool, column: Bool, expected: Bool) throws {
        let override = JSONValue.object(["enabled": .bool(documentEnabled)])
        let result = ConfigMerge.effective(firebaseUID: "uid-1", templateName: "default_paper_watchlist",
                                           template: try json(ConfigSamples.planExample), override: override,
                                           enabledColumn: column)
        let effective = try result.get()
        #expect(effective.config.enabled == expected)
        #expect(effective.firebaseUID == "uid-1")
        #expect(effective.templateName == "default_paper_watchlist")
    }

    @Test func withoutATemplateTheOverrideIsTheDocument() throws {
        let effective = try ConfigMerge.effective(firebaseUID: "uid-2", templateName: nil, template: nil,
                                                  override: try json(ConfigSamples.planExample), enabledColumn: false).get()
        var expected = try TradingConfigDecoder.decode(try json(ConfigSamples.planExample)).get()
        expected.enabled = false
        #expect(effective.config == expected)
        #expect(effective.templateName == nil)
        #expect(effective == EffectiveTradingConfig(firebaseUID: "uid-2", templateName: nil, config: expected, enabledColumn: false))
    }

    @Test func anEmptyOverrideGivesTheTemplate() throws {
        let effective = try ConfigMerge.effective(firebaseUID: "u", templateName: "t", template: try json(ConfigSamples.planExample),
                                                  override: .object([:]), enabledColumn: true).get()
        #expect(effective.config == (try TradingConfigDecoder.decode(try json(ConfigSamples.planExample)).get()))
    }

    @Test func mergeErrorsComeBackWithPaths() throws {
        let override = try json(#"""
        {
          "rules": [
            {"id": "dip_confirm", "threshold_pct": 2},
            {"id": "new_rule", "type": "price_above_pct_of_ref", "symbol": "AAPL", "threshold_pct": -3,
             "question_template": "{{symbol}} up", "on_answer_match": {"action": "propose_order", "side": "sell", "qty": 1}}
          ],
          "guardrails": {"max_orders_per_day": 0, "max_order_per_day": 2}
        }
        """#)
        let result = ConfigMerge.effective(firebaseUID: "u", templateName: "t", template: try json(ConfigSamples.planExample),
                                           override: override, enabledColumn: true)
        guard case .failure(let error) = result else {
            Issue.record("the merged document decoded")
            return
        }
        #expect(Set(error.issues.map(\.description)) == [
            "rules[0].threshold_pct: must be negative (and above -100) for price_below_pct_of_ref, got 2",
            "rules[1].threshold_pct: must be positive (at most 1000) for price_above_pct_of_ref, got -3",
            "guardrails.max_orders_per_day: must be at least 1, got 0",
            "guardrails.max_order_per_day: unknown key; did you mean 'max_orders_per_day'?",
        ])
        #expect(error.issues.count == 4)
    }

    @Test func anInvalidTemplateIsReportedThroughEffective() throws {
        let result = ConfigMerge.effective(firebaseUID: "u", templateName: "t", template: try json(#"{"mode": "yolo"}"#),
                                           override: .object([:]), enabledColumn: true)
        #expect(result.map(\.config) == .failure(ConfigValidationError(issues: [
            ConfigIssue(path: "mode", message: "unknown value 'yolo'; expected one of 'paper', 'live'"),
        ])))
    }

    // MARK: Property tests

    @Test func mergingWithAnEmptyOverrideIsTheIdentity() async {
        await propertyCheck(count: 300, input: RandomJSON.object) { document in
            #expect(ConfigMerge.merge(template: document, override: .object([:])) == document)
        }
    }

    @Test func mergingADocumentWithItselfIsTheIdentity() async {
        await propertyCheck(count: 300, input: RandomJSON.object) { document in
            #expect(ConfigMerge.merge(template: document, override: document) == document)
        }
    }

    @Test func mergingIntoAnEmptyTemplateGivesTheOverride() async {
        await propertyCheck(count: 300, input: RandomJSON.object) { document in
            #expect(ConfigMerge.merge(template: .object([:]), override: document) == document)
        }
    }

    @Test func theMergeContainsEveryKeyOfTheOverride() async {
        await propertyCheck(count: 500, input: RandomJSON.object, RandomJSON.object) { template, override in
            let result = ConfigMerge.merge(template: template, override: override)
            #expect(RandomJSON.contains(result, override), "\(result.canonicalString()) ⊉ \(override.canonicalString())")
            // Keys of the template the override does not mention are untouched.
            guard case .object(let base) = template, case .object(let patch) = override,
                  case .object(let fields) = result else {
                Issue.record("objects expected")
                return
            }
            for (key, value) in base where patch[key] == nil {
                #expect(fields[key] == value)
            }
            #expect(Set(fields.keys) == Set(base.keys).union(patch.keys))
        }
    }

    @Test func nullsInTheOverrideRemoveTopLevelKeys() async {
        await propertyCheck(count: 300, input: RandomJSON.object, Gen.element(of: RandomJSON.keys).array(of: 0...4)) {
            template, removed in
            let keys = Set(removed.compactMap { $0 })
            let override = JSONValue.object(Dictionary(uniqueKeysWithValues: keys.map { ($0, JSONValue.null) }))
            guard case .object(var expected) = template else {
                Issue.record("object expected")
                return
            }
            for key in keys { expected[key] = nil }
            #expect(ConfigMerge.merge(template: template, override: override) == .object(expected))
        }
    }

    @Test func idListMergeKeepsTemplateOrderAndAppendsNewIDs() async {
        let ids = Gen.int(in: 0...9).array(of: 0...8).map { numbers in
            var seen: Set<Int> = []
            return numbers.filter { seen.insert($0).inserted }.map { "id\($0)" }
        }
        await propertyCheck(count: 500, input: ids, ids, Gen.int(in: -100...100)) { templateIDs, overrideIDs, value in
            let template = JSONValue.array(templateIDs.map { .object(["id": .string($0), "from_template": .bool(true), "v": .number(0)]) })
            let override = JSONValue.array(overrideIDs.map { .object(["id": .string($0), "v": .number(Decimal(value))]) })
            guard case .array(let items) = ConfigMerge.merge(template: template, override: override) else {
                Issue.record("an array expected")
                return
            }
            let mergedIDs = items.compactMap { item -> String? in
                if case .string(let id)? = item["id"] { return id }
                return nil
            }
            #expect(mergedIDs.count == Set(templateIDs).union(overrideIDs).count)
            #expect(Array(mergedIDs.prefix(templateIDs.count)) == templateIDs)
            #expect(Array(mergedIDs.dropFirst(templateIDs.count)) == overrideIDs.filter { !templateIDs.contains($0) })
            for item in items {
                guard case .string(let id)? = item["id"] else { continue }
                // Items named by the override take its value; template fields survive the merge.
                #expect(item["v"] == .number(overrideIDs.contains(id) ? Decimal(value) : 0))
                #expect(item["from_template"] == (templateIDs.contains(id) ? .bool(true) : nil))
            }
        }
    }
}

/// Small random JSON documents (depth ≤ 3) for the merge properties. Objects never hold
/// `null` (it means "remove" in an override) and id-lists always have distinct ids.
enum RandomJSON {
    static let keys = ["a", "b", "c", "d", "e", "rules"]

    static let object = Generator<JSONValue, Shrink.None<JSONValue>> { rng in
        randomObject(depth: 3, using: &rng)
    }

    static func randomObject(depth: Int, using rng: inout any SeededRandomNumberGenerator) -> JSONValue {
        var fields: [String: JSONValue] = [:]
        for _ in 0..<Int.random(in: 0...4, using: &rng) {
            fields[keys[Int.random(in: keys.indices, using: &rng)]] = randomValue(depth: depth - 1, using: &rng)
        }
        return .object(fields)
    }

    static func randomValue(depth: Int, using rng: inout any SeededRandomNumberGenerator) -> JSONValue {
        switch depth <= 0 ? 0 : Int.random(in: 0...4, using: &rng) {
        case 0, 1:
            return randomScalar(using: &rng)
        case 2:
            return .array((0..<Int.random(in: 0...3, using: &rng)).map { _ in randomScalar(using: &rng) })
        case 3:
            // An id-list with distinct ids.
            let ids = ["x", "y", "z", "w"].shuffled(using: &rng).prefix(Int.random(in: 0...3, using: &rng))
            return .array(ids.map { id in
                guard case .object(var fields) = randomObject(depth: depth - 1, using: &rng) else { return .null }
                fields["id"] = .string(id)
                return .object(fields)
            })
        default:
            return randomObject(depth: depth, using: &rng)
        }
    }

    static func randomScalar(using rng: inout any SeededRandomNumberGenerator) -> JSONValue {
        switch Int.random(in: 0...3, using: &rng) {
        case 0: .bool(Bool.random(using: &rng))
        case 1: .number(Decimal(Int.random(in: -1000...1000, using: &rng)))
        case 2: .number(Decimal(Int.random(in: -10_000...10_000, using: &rng)) / 100)
        default: .string(["", "x", "SPY", "a b", "{{pct}}"][Int.random(in: 0...4, using: &rng)])
        }
    }

    /// The ids of a list of `{"id": "…"}` objects, or nil (the rule of `ConfigMerge`).
    static func ids(_ items: [JSONValue]) -> [String]? {
        var ids: [String] = []
        for item in items {
            guard case .string(let id)? = item["id"] else { return nil }
            ids.append(id)
        }
        return ids
    }

    /// Whether `merged` carries everything `patch` says: scalars and replaced lists equal,
    /// objects key by key, id-list items by id.
    static func contains(_ merged: JSONValue?, _ patch: JSONValue) -> Bool {
        switch patch {
        case .object(let fields):
            guard case .object(let result)? = merged else { return false }
            return fields.allSatisfy { key, value in value == .null ? result[key] == nil : contains(result[key], value) }
        case .array(let items):
            guard case .array(let result)? = merged else { return false }
            if let patchIDs = ids(items), let resultIDs = ids(result), !items.isEmpty {
                return zip(items, patchIDs).allSatisfy { item, id in
                    resultIDs.firstIndex(of: id).map { contains(result[$0], item) } ?? false
                }
            }
            return items.isEmpty ? true : result == items
        default:
            return merged == patch
        }
    }
}
