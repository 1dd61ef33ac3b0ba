import Foundation

extension TradingConfig {
    /// The complete document, every default written out. Decoding it gives back an equal
    /// config (round trip), which is how the effective config is shown to users.
    public var jsonValue: JSONValue {
        .object([
            "version": .number(Decimal(version)),
            "enabled": .bool(enabled),
            "mode": .string(mode.rawValue),
            "data_inputs": .array(dataInputs.map(\.jsonValue)),
            "rules": .array(rules.map(\.jsonValue)),
            "guardrails": guardrails.jsonValue,
        ])
    }
}

extension DataInput {
    var jsonValue: JSONValue {
        .object([
            "id": .string(id),
            "source": .string(source),
            "asset_class": .string(assetClass.rawValue),
            "symbols": .array(symbols.map(JSONValue.string)),
            "feed": .string(feed.rawValue),
            "poll_interval_seconds": .number(Decimal(pollIntervalSeconds)),
            "metrics": .array(metrics.map { .string($0.rawValue) }),
        ])
    }
}

extension Rule {
    var jsonValue: JSONValue {
        var fields: [String: JSONValue] = [
            "id": .string(id),
            "type": .string(type.rawValue),
            "enabled": .bool(enabled),
            "symbol": .string(symbol),
            "price_metric": .string(priceMetric.rawValue),
            "threshold_pct": .number(thresholdPct),
            "question_template": .string(questionTemplate),
            "on_answer_match": onAnswerMatch.jsonValue,
            "cooldown_seconds": .number(Decimal(cooldownSeconds)),
            "max_staleness_seconds": .number(Decimal(maxStalenessSeconds)),
        ]
        // An exit rule measures from the position, not from a market reference.
        if !type.isExit {
            fields["ref_metric"] = .string(refMetric.rawValue)
            fields["ref_max_age_seconds"] = .number(Decimal(refMaxAgeSeconds))
        }
        return .object(fields)
    }
}

extension OrderAction {
    var jsonValue: JSONValue {
        var fields: [String: JSONValue] = ["action": .string(action), "side": .string(side.rawValue)]
        if let notionalUSD { fields["notional_usd"] = .number(notionalUSD) }
        if let qty { fields["qty"] = .number(qty) }
        if let positionPct { fields["position_pct"] = .number(positionPct) }
        return .object(fields)
    }
}

extension Guardrails {
    var jsonValue: JSONValue {
        .object([
            "max_orders_per_day": .number(Decimal(maxOrdersPerDay)),
            "max_notional_usd_per_4h": .number(maxNotionalUSDPer4h),
            "require_question_before_order": .bool(requireQuestionBeforeOrder),
            "symbols_blocklist": .array(symbolsBlocklist.map(JSONValue.string)),
            "max_open_questions": .number(Decimal(maxOpenQuestions)),
            "on_broker_refusal": .string(onBrokerRefusal.rawValue),
        ].merging([
            ("max_position_usd", maxPositionUSD), ("max_exposure_usd", maxExposureUSD), ("daily_loss_limit_usd", dailyLossLimitUSD),
        ].compactMap { key, value in value.map { (key, JSONValue.number($0)) } }) { first, _ in first })
    }
}
