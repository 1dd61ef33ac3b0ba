import Foundation
import HummingbirdWebSocket
import MarketReplay
import MessagePack
import NIOCore
import Synchronization

/// Which (endpoint, key) pairs hold a stream: Alpaca allows one connection per account and
/// endpoint, and answers a second with error 406.
/// Also what the control API reports, so tests wait for a stream to be ready instead of sleeping.
final class StreamSlots: Sendable {
    private let held = Mutex<Set<String>>([])
    private let subscriptions = Mutex<[String: [String: [String]]]>([:])
    private let listeners = Mutex(0)

    func claim(_ slot: String) -> Bool { held.withLock { $0.insert(slot).inserted } }

    func release(_ slot: String) {
        held.withLock { _ = $0.remove(slot) }
        subscriptions.withLock { _ = $0.removeValue(forKey: slot) }
    }

    func subscribed(_ slot: String, _ channels: [String: [String]]) { subscriptions.withLock { $0[slot] = channels } }
    func listening(_ delta: Int) { listeners.withLock { $0 += delta } }

    var report: [String: Any] {
        ["market_data": subscriptions.withLock { $0 }, "trade_update_listeners": listeners.withLock { $0 }]
    }
}

/// One market-data WebSocket session (`/v2/{feed}`): Alpaca's greeting, auth, subscriptions
/// (30 symbols at most), error codes, and the replayed trades, quotes and minute bars as the
/// simulated clock passes them.
final class MarketDataSession: Sendable {
    struct State {
        var key: String?
        var trades: Set<String> = []
        var quotes: Set<String> = []
        var bars: Set<String> = []
        var emittedUntil: Date
        var silentUntil: ContinuousClock.Instant?
        var closing = false
    }

    static let symbolLimit = 30
    let simulator: AlpacaSimulator
    let path: String
    let encoding: StreamEncoding
    let outbound: WebSocketOutboundWriter
    let state: Mutex<State>

    init(simulator: AlpacaSimulator, path: String, encoding: StreamEncoding, outbound: WebSocketOutboundWriter) {
        self.simulator = simulator
        self.path = path
        self.encoding = encoding
        self.outbound = outbound
        self.state = Mutex(State(emittedUntil: simulator.clock.now()))
    }

    var slot: String? { state.withLock { $0.key }.map { "\(path)|\($0)" } }

    func send(_ messages: [MessagePackValue]) async throws {
        let frame = encoding.frame(.array(messages))
        if let binary = frame.binary { try await outbound.write(.binary(binary)) }
        if let text = frame.text { try await outbound.write(.text(text)) }
    }

    func error(_ code: Int, _ message: String) async throws {
        try await send([.object(["T": "error", "code": .int(Int64(code)), "msg": .string(message)])])
    }

    func run(inbound: WebSocketInboundStream, headerKeys: SimulatorConfiguration.KeyPair?) async throws {
        defer { if let slot { simulator.streamSlots.release(slot) } }
        try await send([.object(["T": "success", "msg": "connected"])])
        if let headerKeys, try await authenticate(headerKeys) == false { return }
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await self.pump() }
            group.addTask {
                for try await message in inbound.messages(maxSize: 1 << 20) {
                    try await self.handle(message)
                    if self.state.withLock({ $0.closing }) { break }
                }
            }
            _ = try await group.next()
            group.cancelAll()
        }
        state.withLock { $0.closing = true }
        try? await outbound.close(.normalClosure, reason: nil)
    }

    /// True when authenticated; on failure the error is sent and the session closes.
    func authenticate(_ keys: SimulatorConfiguration.KeyPair) async throws -> Bool {
        guard state.withLock({ $0.key }) == nil else {
            try await error(403, "already authenticated")
            return true
        }
        guard simulator.configuration.keys.contains(keys) else {
            try await error(402, "auth failed")
            state.withLock { $0.closing = true }
            return false
        }
        guard simulator.streamSlots.claim("\(path)|\(keys.keyID)") else {
            try await error(406, "connection limit exceeded")
            state.withLock { $0.closing = true }
            return false
        }
        state.withLock { $0.key = keys.keyID }
        try await send([.object(["T": "success", "msg": "authenticated"])])
        return true
    }

    func handle(_ message: WebSocketMessage) async throws {
        let value: MessagePackValue?
        switch message {
        case .text(let text): value = StreamJSON.parse(text)
        case .binary(let buffer): value = try? MessagePack.decode(buffer.readableBytesView)
        }
        guard let value, let action = value["action"]?.stringValue else { return try await error(400, "invalid syntax") }
        switch action {
        case "auth":
            guard let key = value["key"]?.stringValue, let secret = value["secret"]?.stringValue else {
                return try await error(400, "invalid syntax")
            }
            _ = try await authenticate(.init(keyID: key, secret: secret))
        case "subscribe", "unsubscribe":
            guard state.withLock({ $0.key }) != nil else { return try await error(401, "not authenticated") }
            var lists: [String: [String]] = [:]
            for channel in ["trades", "quotes", "bars", "updatedBars", "dailyBars", "statuses", "lulds", "corrections", "cancelErrors"] {
                guard let entry = value[channel] else { continue }
                guard let items = entry.arrayValue?.compactMap(\.stringValue), items.count == entry.arrayValue?.count,
                      items.allSatisfy(Self.validSymbol) else { return try await error(400, "invalid syntax") }
                lists[channel] = items.map { $0.uppercased() }
            }
            let accepted = state.withLock { s -> Bool in
                var next = s
                for (channel, symbols) in lists {
                    func apply(_ set: inout Set<String>) {
                        if action == "subscribe" { set.formUnion(symbols) } else { set.subtract(symbols) }
                    }
                    switch channel {
                    case "trades": apply(&next.trades)
                    case "quotes": apply(&next.quotes)
                    case "bars": apply(&next.bars)
                    default: break
                    }
                }
                let distinct = next.trades.union(next.quotes).union(next.bars).subtracting(["*"])
                guard distinct.count <= Self.symbolLimit else { return false }
                s.trades = next.trades
                s.quotes = next.quotes
                s.bars = next.bars
                return true
            }
            if !accepted { try await error(405, "symbol limit exceeded") }
            try await sendSubscription()
        default:
            try await error(400, "invalid syntax")
        }
    }

    static func validSymbol(_ s: String) -> Bool {
        s == "*" || (1...12).contains(s.count) && s.allSatisfy { $0.isLetter || $0.isNumber || $0 == "." || $0 == "/" }
    }

    func sendSubscription() async throws {
        let (trades, quotes, bars) = state.withLock { ($0.trades.sorted(), $0.quotes.sorted(), $0.bars.sorted()) }
        if let slot { simulator.streamSlots.subscribed(slot, ["trades": trades, "quotes": quotes, "bars": bars]) }
        try await send([.object([
            "T": "subscription", "trades": .strings(trades), "quotes": .strings(quotes), "bars": .strings(bars),
            "updatedBars": .strings([]), "dailyBars": .strings([]), "statuses": .strings([]), "lulds": .strings([]),
            "corrections": .strings(trades), "cancelErrors": .strings(trades),
        ])])
    }

    /// Emits what the simulated clock has passed since the last tick; applies stream faults;
    /// enforces the auth window.
    func pump() async throws {
        let opened = ContinuousClock.now
        while !Task.isCancelled {
            try await Task.sleep(for: .milliseconds(100))
            if state.withLock({ $0.key }) == nil {
                if ContinuousClock.now - opened > .seconds(10) {
                    try await error(404, "auth timeout")
                    state.withLock { $0.closing = true }
                    return
                }
                continue
            }
            if simulator.faults.take(method: "WS", path: path, kinds: [.disconnectStreams]) != nil {
                return   // the session ends without a goodbye: the client sees the stream drop
            }
            if let silence = simulator.faults.take(method: "WS", path: path, kinds: [.staleData]) {
                state.withLock { $0.silentUntil = ContinuousClock.now + .seconds(silence.staleSeconds ?? 30) }
            }
            let now = simulator.clock.now()
            let (from, trades, quotes, bars, silent) = state.withLock { s in
                defer { s.emittedUntil = max(s.emittedUntil, now) }
                return (s.emittedUntil, s.trades, s.quotes, s.bars, s.silentUntil.map { ContinuousClock.now < $0 } ?? false)
            }
            guard now > from, !silent else { continue }
            let messages = self.messages(from: from, to: now, trades: trades, quotes: quotes, bars: bars)
            for chunk in stride(from: 0, to: messages.count, by: 500) {
                try await send(Array(messages[chunk..<min(chunk + 500, messages.count)]))
            }
        }
    }

    func messages(from: Date, to: Date, trades: Set<String>, quotes: Set<String>, bars: Set<String>) -> [MessagePackValue] {
        let all = simulator.market.symbols
        func expand(_ set: Set<String>) -> Set<String> { set.contains("*") ? Set(all) : set }
        let (t, q, b) = (expand(trades), expand(quotes), expand(bars))
        var out: [MessagePackValue] = []
        for symbol in t.union(q).union(b).sorted() {
            let closed = (simulator.market.data.minutes[symbol] ?? []).filter { $0.end > from && $0.end <= to }
            for bar in closed.suffix(2000) {
                let price = AlpacaSimulator.double(bar.close)
                let time = MessagePackValue(date: bar.end.addingTimeInterval(-1))
                if b.contains(symbol) {
                    let figures = BarFigures(bar)   // n and vw synthesised as in the REST answers
                    out.append(.object(["T": "b", "S": .string(symbol), "o": .double(AlpacaSimulator.double(bar.open)),
                                        "h": .double(AlpacaSimulator.double(bar.high)), "l": .double(AlpacaSimulator.double(bar.low)),
                                        "c": .double(price), "v": .double(AlpacaSimulator.double(bar.volume)),
                                        "t": MessagePackValue(date: bar.start), "n": .int(Int64(figures.trades)),
                                        "vw": .double(AlpacaSimulator.double(figures.vwap))]))
                }
                if t.contains(symbol) {
                    out.append(.object(["T": "t", "S": .string(symbol), "i": .int(Int64(bar.start.timeIntervalSince1970 / 60)),
                                        "x": "V", "p": .double(price), "s": .int(100), "c": .strings(["@"]), "t": time, "z": "B"]))
                }
                if q.contains(symbol) {
                    out.append(.object(["T": "q", "S": .string(symbol), "bx": "V", "bp": .double(AlpacaSimulator.double(bar.close - 0.01)),
                                        "bs": .int(100), "ax": "V", "ap": .double(AlpacaSimulator.double(bar.close + 0.01)),
                                        "as": .int(100), "c": .strings(["R"]), "t": time, "z": "B"]))
                }
            }
        }
        return out
    }
}
