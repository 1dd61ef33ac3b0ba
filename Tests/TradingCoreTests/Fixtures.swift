import Foundation
@testable import TradingCore

/// Shared builders for the domain tests.
enum Fixture {
    static func utc(_ text: String) -> Date {
        // "2011-03-16T15:08:00Z"
        (try? Date(text, strategy: .iso8601)) ?? Date(timeIntervalSince1970: 0)
    }

    static func eastern(_ y: Int, _ m: Int, _ d: Int, _ h: Int = 0, _ min: Int = 0, _ s: Int = 0) -> Date {
        MarketTime.date(year: y, month: m, day: d, hour: h, minute: min, second: s) ?? Date(timeIntervalSince1970: 0)
    }

    static func rule(
        type: RuleType = .priceBelowPctOfRef, threshold: Decimal = -1.5, symbol: String = "SPY",
        enabled: Bool = true, staleness: Int = 300, refMaxAge: Int = 4 * 24 * 3600
    ) -> Rule {
        Rule(id: "dip_confirm", type: type, enabled: enabled, symbol: symbol, priceMetric: .lastTrade,
             refMetric: .prevClose, thresholdPct: threshold,
             questionTemplate: "{{symbol}} is down {{pct}}%", onAnswerMatch: OrderAction(action: "propose_order", side: .buy, notionalUSD: 10, qty: nil),
             cooldownSeconds: 3600, maxStalenessSeconds: staleness, refMaxAgeSeconds: refMaxAge)
    }

    static func config(
        symbols: [String] = ["SPY", "AAPL"], perDay: Int = 3, per4h: Decimal = 100,
        requireQuestion: Bool = true, blocklist: [String] = [], mode: TradingMode = .paper
    ) -> TradingConfig {
        TradingConfig(
            version: 1, enabled: true, mode: mode,
            dataInputs: [DataInput(id: "w", source: "alpaca", assetClass: .usEquity, symbols: symbols, feed: .iex,
                                   pollIntervalSeconds: 60, metrics: Metric.allCases)],
            rules: [rule()],
            guardrails: Guardrails(maxOrdersPerDay: perDay, maxNotionalUSDPer4h: per4h,
                                   requireQuestionBeforeOrder: requireQuestion, symbolsBlocklist: blocklist,
                                   maxOpenQuestions: 3))
    }

    static let paperGate = LiveTradingGate(allowLive: false, tradingURLIsLive: false, hardMaxOrderNotionalUSD: 250)

    static func buy(_ notional: Decimal, _ symbol: String = "SPY") -> OrderProposal {
        OrderProposal(symbol: symbol, side: .buy, notionalUSD: notional, qty: nil, referencePrice: nil)
    }
}
