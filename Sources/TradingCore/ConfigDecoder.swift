import Foundation

/// Turns a config document (JSON) into a validated `TradingConfig`, reporting every problem
/// with its JSON path. Missing optional fields take `ConfigDefaults`; unknown keys, unknown
/// rule types, wrong types, malformed symbols and impossible values are errors.
public enum TradingConfigDecoder {
    public static func decode(_ json: JSONValue) -> Result<TradingConfig, ConfigValidationError> {
        let log = IssueLog()
        let config = readDocument(json, log: log)
        if let config, log.issues.isEmpty {
            return .success(config)
        }
        let issues = log.issues.isEmpty
            ? [ConfigIssue(path: JSONPath.root, message: "invalid document")] : log.issues
        return .failure(ConfigValidationError(issues: issues))
    }

    public static func decode(_ data: Data) -> Result<TradingConfig, ConfigValidationError> {
        do {
            return decode(try JSONValue.parse(data))
        } catch {
            return .failure(ConfigValidationError(issues: [ConfigIssue(path: JSONPath.root, message: error.message)]))
        }
    }

    // MARK: - Document

    private static func readDocument(_ json: JSONValue, log: IssueLog) -> TradingConfig? {
        guard var doc = ObjectReader(json, path: JSONPath.root, log: log) else { return nil }
        let version = doc.int("version", default: ConfigDefaults.version, minimum: 1)
        if version != 1 { log.add(doc.at("version"), "unsupported version \(version); this server reads version 1") }
        let enabled = doc.bool("enabled", default: ConfigDefaults.enabled)
        let mode: TradingMode? = doc.enumeration("mode", default: ConfigDefaults.mode)

        let rawInputs = doc.array("data_inputs") ?? []
        let inputs = rawInputs.enumerated().compactMap { index, item in
            readDataInput(item, path: JSONPath.index(doc.at("data_inputs"), index), log: log)
        }
        log.add(duplicateIDs(in: rawInputs, path: doc.at("data_inputs")))
        let distinct = Set(inputs.flatMap(\.symbols))
        if distinct.count > ConfigDefaults.maxDistinctSymbols {
            log.add(doc.at("data_inputs"),
                    "\(distinct.count) distinct symbols; Alpaca Basic allows at most \(ConfigDefaults.maxDistinctSymbols)")
        }

        // Rules are checked against what the inputs declare, even inputs that failed on some
        // other field, so one bad field does not also make every rule on them look wrong.
        let declared = rawInputs.map(declaredFeed)
        let rawRules = doc.array("rules") ?? []
        let rules = rawRules.enumerated().compactMap { index, item in
            readRule(item, path: JSONPath.index(doc.at("rules"), index), declared: declared, log: log)
        }
        log.add(duplicateIDs(in: rawRules, path: doc.at("rules")))

        let guardrails = readGuardrails(doc.take("guardrails"), path: doc.at("guardrails"), log: log)
        doc.finish()

        guard let mode, let guardrails else { return nil }
        return TradingConfig(version: version, enabled: enabled, mode: mode,
                             dataInputs: inputs, rules: rules, guardrails: guardrails)
    }

    /// Every item of an id-list (`data_inputs`, `rules`) whose `id` an earlier item already has,
    /// at the repeat's own path (`rules[2].id`). Read from the raw items, so an item broken in
    /// some other field still takes part; malformed ids are reported by `identifier` instead.
    /// One pass with a set: linear in the number of items.
    static func duplicateIDs(in items: [JSONValue], path: String) -> [ConfigIssue] {
        var seen: Set<String> = []
        var issues: [ConfigIssue] = []
        for (index, item) in items.enumerated() {
            guard case .string(let id)? = item["id"], isIdentifier(id) else { continue }
            if !seen.insert(id).inserted {
                issues.append(ConfigIssue(path: JSONPath.child(JSONPath.index(path, index), "id"), message: "duplicate id '\(id)'"))
            }
        }
        return issues
    }

    // MARK: - data_inputs[]

    private static func readDataInput(_ json: JSONValue, path: String, log: IssueLog) -> DataInput? {
        guard var obj = ObjectReader(json, path: path, log: log) else { return nil }
        let id = identifier(&obj, "id")
        let source = obj.string("source") ?? ConfigDefaults.source
        if source != "alpaca" { log.add(obj.at("source"), "unknown source '\(source)'; expected 'alpaca'") }
        let assetClass: AssetClass? = obj.enumeration("asset_class", default: ConfigDefaults.assetClass)
        let symbols = symbolList(&obj, "symbols", required: true, assetClass: assetClass ?? .usEquity)
        if let symbols, symbols.isEmpty { log.add(obj.at("symbols"), "must list at least one symbol") }
        let feed: DataFeed? = obj.enumeration("feed", default: ConfigDefaults.feed)
        let interval = obj.int("poll_interval_seconds", default: ConfigDefaults.pollIntervalSeconds,
                               minimum: 1, unit: " second")
        var metrics = ConfigDefaults.metrics
        if let items = obj.array("metrics") {
            metrics = []
            for (index, item) in items.enumerated() {
                let itemPath = JSONPath.index(obj.at("metrics"), index)
                guard case .string(let text) = item, let metric = Metric(rawValue: text) else {
                    let allowed = Metric.allCases.map { "'\($0.rawValue)'" }.joined(separator: ", ")
                    log.add(itemPath, "unknown metric \(item.canonicalString()); expected one of \(allowed)")
                    continue
                }
                if metrics.contains(metric) { log.add(itemPath, "duplicate metric '\(text)'") }
                metrics.append(metric)
            }
            if items.isEmpty { log.add(obj.at("metrics"), "must list at least one metric") }
        }
        obj.finish()
        guard let id, let assetClass, let symbols, let feed else { return nil }
        return DataInput(id: id, source: source, assetClass: assetClass, symbols: symbols,
                         feed: feed, pollIntervalSeconds: interval, metrics: metrics)
    }

    // MARK: - rules[]

    /// The symbols and metrics a raw data input declares, whatever else is wrong with it.
    private static func declaredFeed(_ json: JSONValue) -> (symbols: Set<String>, metrics: Set<Metric>) {
        var symbols: Set<String> = []
        if case .array(let items)? = json["symbols"] {
            for case .string(let text) in items { symbols.insert(text) }
        }
        var metrics = Set(ConfigDefaults.metrics)
        if case .array(let items)? = json["metrics"] {
            metrics = Set(items.compactMap { item -> Metric? in
                guard case .string(let text) = item else { return nil }
                return Metric(rawValue: text)
            })
        }
        return (symbols, metrics)
    }

    private static func readRule(_ json: JSONValue, path: String, declared: [(symbols: Set<String>, metrics: Set<Metric>)],
                                 log: IssueLog) -> Rule? {
        guard var obj = ObjectReader(json, path: path, log: log) else { return nil }
        let id = identifier(&obj, "id")
        let type: RuleType? = obj.enumeration("type", default: nil, required: true)
        let enabled = obj.bool("enabled", default: true)
        var symbol = obj.string("symbol", required: true)
        if let text = symbol, !validSymbol(text, assetClass: nil) {
            log.add(obj.at("symbol"), symbolMessage(text, assetClass: nil))
            symbol = nil
        }
        let priceMetric: Metric? = obj.enumeration("price_metric", default: ConfigDefaults.priceMetric)
        let refMetric: Metric? = obj.enumeration("ref_metric", default: ConfigDefaults.refMetric)
        let threshold = obj.decimal("threshold_pct", required: true)
        if let threshold, let type {
            switch type {
            case .priceBelowPctOfRef where !(threshold < 0 && threshold > -100):
                log.add(obj.at("threshold_pct"), "must be negative (and above -100) for \(type.rawValue), got \(threshold)")
            case .priceAbovePctOfRef where !(threshold > 0 && threshold <= 1000),
                 .positionGainPct where !(threshold > 0 && threshold <= 1000):
                log.add(obj.at("threshold_pct"), "must be positive (at most 1000) for \(type.rawValue), got \(threshold)")
            case .positionLossPct where !(threshold < 0 && threshold > -100),
                 .trailingStopPct where !(threshold < 0 && threshold > -100):
                log.add(obj.at("threshold_pct"), "must be negative (and above -100) for \(type.rawValue), got \(threshold)")
            default: break
            }
        }
        let exit = type?.isExit == true
        if exit {
            // Measured from the user's own position: a market reference would be silently unused.
            for key in ["ref_metric", "ref_max_age_seconds"] where obj.has(key) {
                log.add(obj.at(key), "\(type?.rawValue ?? "") measures from your position (its average cost or its high since it opened), not from a reference; remove \(key)")
            }
        }
        let template = obj.string("question_template", required: true)
        if let template {
            for problem in QuestionTemplate.problems(in: template) {
                log.add(obj.at("question_template"), problem)
            }
        }
        let actionJSON = obj.take("on_answer_match")
        if actionJSON == nil { obj.missing("on_answer_match") }
        let action = actionJSON.flatMap { readAction($0, path: obj.at("on_answer_match"), log: log) }
        if exit, let action, action.side != .sell {
            log.add(JSONPath.child(obj.at("on_answer_match"), "side"), "\(type?.rawValue ?? "") is an exit: it must sell, got '\(action.side.rawValue)'")
        }
        let cooldown = obj.int("cooldown_seconds", default: ConfigDefaults.cooldownSeconds, minimum: 0, unit: " seconds")
        let staleness = obj.int("max_staleness_seconds", default: ConfigDefaults.maxStalenessSeconds,
                                minimum: 1, maximum: ConfigDefaults.maxStalenessSecondsBound, unit: " second")
        let refAge = obj.int("ref_max_age_seconds", default: ConfigDefaults.refMaxAgeSeconds,
                             minimum: 1, unit: " second")

        // The rule can only see data that some input fetches.
        if let symbol, let priceMetric, let refMetric {
            let feeding = declared.filter { $0.symbols.contains(symbol) }
            if feeding.isEmpty {
                log.add(obj.at("symbol"), "'\(symbol)' is not in any data_inputs[].symbols")
            } else {
                for (key, metric) in [("price_metric", priceMetric)] + (exit ? [] : [("ref_metric", refMetric)])
                where !feeding.contains(where: { $0.metrics.contains(metric) }) {
                    log.add(obj.at(key), "no data input fetches '\(metric.rawValue)' for \(symbol)")
                }
            }
            if !exit && priceMetric == refMetric {
                log.add(obj.at("ref_metric"), "must differ from price_metric ('\(priceMetric.rawValue)')")
            }
        }
        obj.finish()
        guard let id, let type, let symbol, let priceMetric, let refMetric, let threshold,
              let template, let action else { return nil }
        return Rule(id: id, type: type, enabled: enabled, symbol: symbol, priceMetric: priceMetric,
                    refMetric: refMetric, thresholdPct: threshold, questionTemplate: template,
                    onAnswerMatch: action, cooldownSeconds: cooldown, maxStalenessSeconds: staleness,
                    refMaxAgeSeconds: refAge)
    }

    private static func readAction(_ json: JSONValue, path: String, log: IssueLog) -> OrderAction? {
        guard var obj = ObjectReader(json, path: path, log: log) else { return nil }
        let action = obj.string("action", required: true)
        if let action, action != "propose_order" {
            log.add(obj.at("action"), "unknown action '\(action)'; expected 'propose_order'")
        }
        let side: OrderSide? = obj.enumeration("side", default: nil, required: true)
        let notional = obj.decimal("notional_usd")
        let qty = obj.decimal("qty")
        let pct = obj.decimal("position_pct")
        let sizes = [("notional_usd", notional), ("qty", qty), ("position_pct", pct)].filter { $0.1 != nil }
        var valid = sizes.count == 1
        if sizes.isEmpty {
            log.add(path, "set exactly one of notional_usd, qty and position_pct")
        } else if sizes.count > 1 {
            log.add(obj.at(sizes[1].0), "set only one of notional_usd, qty and position_pct (\(sizes[0].0) is set)")
        }
        for (key, value) in sizes {
            guard let value else { continue }
            if value <= 0 || value.isNaN {
                log.add(obj.at(key), "must be greater than 0, got \(value)")
                valid = false
            } else if key == "position_pct" && value > 100 {
                log.add(obj.at(key), "must be at most 100 (all you hold), got \(value)")
                valid = false
            }
        }
        if pct != nil, let side, side != .sell {
            log.add(obj.at("position_pct"), "sizes a sell by the position held; a \(side.rawValue) is sized by notional_usd or qty")
            valid = false
        }
        obj.finish()
        guard let action, action == "propose_order", let side, valid else { return nil }
        return OrderAction(action: action, side: side, notionalUSD: notional, qty: qty, positionPct: pct)
    }

    // MARK: - guardrails

    private static func readGuardrails(_ json: JSONValue?, path: String, log: IssueLog) -> Guardrails? {
        guard let json else {
            return Guardrails(maxOrdersPerDay: ConfigDefaults.maxOrdersPerDay,
                              maxNotionalUSDPer4h: ConfigDefaults.maxNotionalUSDPer4h,
                              requireQuestionBeforeOrder: ConfigDefaults.requireQuestionBeforeOrder,
                              symbolsBlocklist: [], maxOpenQuestions: ConfigDefaults.maxOpenQuestions)
        }
        guard var obj = ObjectReader(json, path: path, log: log) else { return nil }
        let perDay = obj.int("max_orders_per_day", default: ConfigDefaults.maxOrdersPerDay, minimum: 1)
        var notional = ConfigDefaults.maxNotionalUSDPer4h
        if let value = obj.decimal("max_notional_usd_per_4h") {
            if value > 0 { notional = value } else {
                log.add(obj.at("max_notional_usd_per_4h"), "must be greater than 0, got \(value)")
            }
        }
        let requireQuestion = obj.bool("require_question_before_order",
                                       default: ConfigDefaults.requireQuestionBeforeOrder)
        let blocklist = symbolList(&obj, "symbols_blocklist", required: false, assetClass: nil) ?? []
        let openQuestions = obj.int("max_open_questions", default: ConfigDefaults.maxOpenQuestions,
                                    minimum: 1, maximum: ConfigDefaults.maxOpenQuestionsBound)
        let onRefusal: BrokerRefusalPolicy? = obj.enumeration("on_broker_refusal", default: ConfigDefaults.onBrokerRefusal)
        func positiveUSD(_ key: String) -> Decimal? {
            guard let value = obj.decimal(key) else { return nil }
            guard value > 0 else {
                log.add(obj.at(key), "must be greater than 0, got \(value) (leave it out for no limit)")
                return nil
            }
            return value
        }
        let maxPosition = positiveUSD("max_position_usd")
        let maxExposure = positiveUSD("max_exposure_usd")
        let dailyLoss = positiveUSD("daily_loss_limit_usd")
        obj.finish()
        return Guardrails(maxOrdersPerDay: perDay, maxNotionalUSDPer4h: notional,
                          requireQuestionBeforeOrder: requireQuestion, symbolsBlocklist: blocklist,
                          maxOpenQuestions: openQuestions, onBrokerRefusal: onRefusal ?? ConfigDefaults.onBrokerRefusal,
                          maxPositionUSD: maxPosition, maxExposureUSD: maxExposure, dailyLossLimitUSD: dailyLoss)
    }

    // MARK: - Shared field shapes

    /// Ids appear in `pipeline_step`, `source_tag` and logs: short, lower-case, no spaces.
    private static func identifier(_ obj: inout ObjectReader, _ key: String) -> String? {
        guard let id = obj.string(key, required: true) else { return nil }
        guard isIdentifier(id) else {
            obj.log.add(obj.at(key), "'\(id)' must be 1-40 characters of a-z, 0-9, '_' or '-'")
            return nil
        }
        return id
    }

    private static let identifierCharacters = Set("abcdefghijklmnopqrstuvwxyz0123456789_-")

    static func isIdentifier(_ id: String) -> Bool {
        (1...40).contains(id.count) && id.allSatisfy { identifierCharacters.contains($0) }
    }

    private static func symbolList(_ obj: inout ObjectReader, _ key: String, required: Bool,
                                   assetClass: AssetClass?) -> [String]? {
        guard let items = obj.array(key, required: required) else { return nil }
        var symbols: [String] = []
        var valid = true
        for (index, item) in items.enumerated() {
            let itemPath = JSONPath.index(obj.at(key), index)
            guard case .string(let text) = item else {
                obj.log.add(itemPath, "expected a symbol string, got \(item.typeName)")
                valid = false
                continue
            }
            guard validSymbol(text, assetClass: assetClass) else {
                obj.log.add(itemPath, symbolMessage(text, assetClass: assetClass))
                valid = false
                continue
            }
            if symbols.contains(text) { obj.log.add(itemPath, "duplicate symbol '\(text)'") }
            symbols.append(text)
        }
        return valid ? symbols : nil
    }

    /// US equities: 1-10 upper-case letters/digits starting with a letter, optionally a
    /// class suffix (`BRK.B`). Crypto pairs: `BTC/USD`.
    static func validSymbol(_ text: String, assetClass: AssetClass?) -> Bool {
        let upper = Set("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
        func part(_ s: Substring, _ range: ClosedRange<Int>) -> Bool {
            range.contains(s.count) && s.allSatisfy { upper.contains($0) } && s.first?.isLetter == true
        }
        let pieces = text.split(separator: ".", omittingEmptySubsequences: false)
        if pieces.count == 1 || pieces.count == 2, assetClass != .crypto {
            if part(pieces[0], 1...10), pieces.count == 1 || part(pieces[1], 1...2) { return true }
        }
        let pair = text.split(separator: "/", omittingEmptySubsequences: false)
        if pair.count == 2, assetClass != .usEquity {
            return part(pair[0], 2...10) && part(pair[1], 2...5)
        }
        return false
    }

    private static func symbolMessage(_ text: String, assetClass: AssetClass?) -> String {
        assetClass == .crypto
            ? "malformed symbol '\(text)'; use an upper-case pair such as 'BTC/USD'"
            : "malformed symbol '\(text)'; use an upper-case ticker such as 'SPY' or 'BRK.B'"
    }
}
