import Foundation
import HybridStore
import Logging
import PostgresNIO
import SeededRandom

/// What each chaos user's config says now; every PUT sends the whole override built from it.
struct UserVariant: Sendable, Hashable {
    var enabled = true
    var notional = 15
    var spySide = "buy"
    var synEnabled = true
    var synRemoved = false
    var synBlocked = false
}

/// An interval in which a stop was in force: no order of its scope may reach the broker.
/// `from` is taken after the stop committed (an upper bound of the commit), `to` before the
/// lift was sent (a lower bound of its commit): the window is never wider than the truth.
struct StopWindow: Sendable {
    var scope: String
    var uid: String?
    var ruleID: String?
    var symbol: String?
    var from: Date
    var to: Date?
}

/// The users' variants and the stop windows, kept for the checks.
actor Switchboard {
    private(set) var variants: [Int: UserVariant] = [:]
    private(set) var windows: [StopWindow] = []

    func variant(_ n: Int) -> UserVariant { variants[n] ?? UserVariant() }
    func set(_ n: Int, _ variant: UserVariant) { variants[n] = variant }

    func open(_ window: StopWindow) { windows.append(window) }

    /// Closes the newest open window of this scope.
    func close(scope: String, uid: String?, ruleID: String?, symbol: String?, at: Date) {
        guard let index = windows.lastIndex(where: {
            $0.scope == scope && $0.uid == uid && $0.ruleID == ruleID && $0.symbol == symbol && $0.to == nil
        }) else { return }
        windows[index].to = at
    }
}

extension ChaosLoops {
    static let synRuleID = "syn_dip"
    static let takeProfitID = "syn_take_profit"
    static let stopLossID = "syn_stop_loss"

    func synSymbol(_ n: Int) -> String { "SYN0\(1 + n % max(1, min(9, options.syntheticSymbols)))" }

    /// A user's override (through `PUT /v1/me/trading/config`): the template's SPY dip rule
    /// and a dip rule on one SYNnn, exits on what the SYNnn buys bring (take-profit +1 % selling
    /// all, stop-loss −1 % selling half), short cooldowns, and caps that bind; as the variant says.
    func override(_ n: Int, _ variant: UserVariant) -> [String: Any] {
        let syn = synSymbol(n)
        let input: [String: Any] = ["id": "primary_watchlist", "symbols": ["SPY", syn], "poll_interval_seconds": 1]
        let spy: [String: Any] = ["id": "dip_confirm", "cooldown_seconds": 90, "max_staleness_seconds": 180,
                                  "on_answer_match": ["action": "propose_order", "side": variant.spySide, "notional_usd": variant.notional]]
        let synRule: [String: Any] = [
            "id": Self.synRuleID, "type": "price_below_pct_of_ref", "symbol": syn, "threshold_pct": -1.5, "cooldown_seconds": 90,
            "max_staleness_seconds": 180, "enabled": variant.synEnabled,
            "question_template": "{{symbol}} is down {{pct}}%. Swipe +10 to buy $\(variant.notional), -10 to skip.",
            "on_answer_match": ["action": "propose_order", "side": "buy", "notional_usd": variant.notional],
        ]
        func exit(_ id: String, _ type: String, _ threshold: Double, pct: Int) -> [String: Any] {
            ["id": id, "type": type, "symbol": syn, "threshold_pct": threshold, "cooldown_seconds": 60, "max_staleness_seconds": 180,
             "question_template": "{{symbol}} is {{change_pct}}% from your entry {{ref}}. Swipe +10 to sell, -10 to keep.",
             "on_answer_match": ["action": "propose_order", "side": "sell", "position_pct": pct]]
        }
        let exits = [exit(Self.takeProfitID, "position_gain_pct", 1, pct: 100), exit(Self.stopLossID, "position_loss_pct", -1, pct: 50)]
        let guardrails: [String: Any] = ["max_orders_per_day": 2 + n % 3, "max_notional_usd_per_4h": [25, 40, 100][n % 3],
                                         "max_open_questions": 2, "symbols_blocklist": variant.synBlocked ? [syn] : []]
        return ["enabled": variant.enabled, "data_inputs": [input], "rules": (variant.synRemoved ? [spy] : [spy, synRule]) + exits,
                "guardrails": guardrails]
    }

    /// Users edit their rules while they trade: sizes, sides, a rule switched off or removed, a
    /// symbol blocklisted, trading switched off; and back. One edit every `editEvery` seconds.
    func edits() async {
        guard options.editEvery > 0 else { return }
        var random = SplitMix64(seed: options.seed &+ 3)
        while running {
            try? await Task.sleep(for: .seconds(options.editEvery * Double.random(in: 0.5...1.5, using: &random)))
            guard running else { break }
            let live = await stats.activeUsers.map(\.uid)
            guard let uid = live.isEmpty ? nil : live[Int.random(in: 0..<live.count, using: &random)],
                  let n = Int(uid.dropFirst("chaos-u".count)) else { continue }
            var variant = await switchboard.variant(n)
            let roll = Int.random(in: 0..<6, using: &random)
            let label: String
            // A stop's window opens after its PUT succeeded; a lift's closes before it is sent.
            var opens: StopWindow?
            var closes: (scope: String, ruleID: String?, symbol: String?)?
            switch roll {
            case 0:
                variant.notional = variant.notional == 15 ? 20 : 15
                label = "size"
            case 1:
                variant.spySide = variant.spySide == "buy" ? "sell" : "buy"
                label = "side"
            case 2:
                variant.synEnabled.toggle()
                label = variant.synEnabled ? "rule on" : "rule off"
                if variant.synEnabled { closes = ("rule", Self.synRuleID, nil) } else {
                    opens = StopWindow(scope: "rule", uid: uid, ruleID: Self.synRuleID, from: Date())
                }
            case 3:
                variant.synRemoved.toggle()
                label = variant.synRemoved ? "rule removed" : "rule restored"
                if variant.synRemoved { opens = StopWindow(scope: "rule", uid: uid, ruleID: Self.synRuleID, from: Date()) } else {
                    closes = ("rule", Self.synRuleID, nil)
                }
            case 4:
                variant.synBlocked.toggle()
                label = variant.synBlocked ? "symbol blocklisted" : "symbol unblocked"
                if variant.synBlocked { opens = StopWindow(scope: "blocklist", uid: uid, symbol: synSymbol(n), from: Date()) } else {
                    closes = ("blocklist", nil, synSymbol(n))
                }
            default:
                variant.enabled.toggle()
                label = variant.enabled ? "trading on" : "trading off"
                if variant.enabled { closes = ("user", nil, nil) } else { opens = StopWindow(scope: "user", uid: uid, from: Date()) }
            }
            if let closes { await switchboard.close(scope: closes.scope, uid: uid, ruleID: closes.ruleID, symbol: closes.symbol, at: Date()) }
            guard await putConfig(n, variant) else { continue }
            await stats.count("edit: \(label)")
            if var window = opens {
                window.from = Date()
                await switchboard.open(window)
            }
        }
    }

    /// The farm is halted every `haltEvery` seconds for one to three seconds, as
    /// `hybridhub-ops trading halt` does (the same statement, `HaltStore.set`).
    func halts() async {
        guard options.haltEvery > 0 else { return }
        var random = SplitMix64(seed: options.seed &+ 4)
        while running {
            try? await Task.sleep(for: .seconds(options.haltEvery * Double.random(in: 0.5...1.5, using: &random)))
            guard running else { break }
            do {
                _ = try await client.transaction(logger: logger) { db in
                    try await HaltStore.set(halted: true, reason: "chaos", by: "hybridhub-chaos", on: db, logger: logger)
                }
                await switchboard.open(StopWindow(scope: "halt", from: Date()))
                await stats.count("farm halts")
                try? await Task.sleep(for: .seconds(Double.random(in: 1...3, using: &random)))
                await switchboard.close(scope: "halt", uid: nil, ruleID: nil, symbol: nil, at: Date())
                _ = try await client.transaction(logger: logger) { db in
                    try await HaltStore.set(halted: false, reason: nil, by: "hybridhub-chaos", on: db, logger: logger)
                }
            } catch {
                logger.warning("chaos: halt or resume failed", metadata: ["error": "\(error)"])
            }
        }
    }

    /// Makes sure the farm is not left halted (the drain needs it running).
    func resumeAfterChaos() async {
        await switchboard.close(scope: "halt", uid: nil, ruleID: nil, symbol: nil, at: Date())
        _ = try? await client.transaction(logger: logger) { db in
            try await HaltStore.set(halted: false, reason: nil, by: "hybridhub-chaos", on: db, logger: logger)
        }
    }
}
