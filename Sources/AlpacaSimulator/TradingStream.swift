import AlpacaModels
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdCore
import HummingbirdWebSocket
import NIOCore
import ServiceLifecycle
import Synchronization

/// One `/stream` session: `authenticate`, `listen` to `trade_updates`, then this account's order
/// events. JSON in binary frames, as Alpaca's paper host sends them.
final class TradingStreamSession: Sendable {
    struct Payload: Encodable {
        let stream: String
        let data: Data

        struct Data: Encodable {
            let event: String
            let executionID: String?
            let order: AlpacaOrder
            let timestamp: String
            let price: String?
            let qty: String?
            let positionQty: String?

            enum CodingKeys: String, CodingKey {
                case event, order, timestamp, price, qty
                case executionID = "execution_id", positionQty = "position_qty"
            }
        }
    }

    let simulator: AlpacaSimulator
    let outbound: WebSocketOutboundWriter
    let key = Mutex<String?>(nil)
    let listening = Mutex(false)
    /// Bounded: a client that stops reading loses its session, not the simulator's memory.
    let updates: AsyncStream<TradeUpdate>
    let continuation: AsyncStream<TradeUpdate>.Continuation

    init(simulator: AlpacaSimulator, outbound: WebSocketOutboundWriter) {
        self.simulator = simulator
        self.outbound = outbound
        (updates, continuation) = AsyncStream.makeStream(of: TradeUpdate.self, bufferingPolicy: .bufferingNewest(10_000))
    }

    func send(_ object: [String: Any]) async throws {
        let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
        try await outbound.write(.binary(ByteBuffer(bytes: data)))
    }

    func run(inbound: WebSocketInboundStream) async throws {
        let subscription = simulator.exchange.subscribe { [weak self] update in
            guard let self, self.listening.withLock({ $0 }), self.key.withLock({ $0 }) == update.accountKey else { return }
            self.continuation.yield(update)
        }
        defer {
            simulator.exchange.unsubscribe(subscription)
            continuation.finish()
            if listening.withLock({ $0 }) { simulator.streamSlots.listening(-1) }
        }
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                for try await message in inbound.messages(maxSize: 1 << 20) { try await self.handle(message) }
            }
            group.addTask {
                for await update in self.updates { try await self.write(update) }
            }
            group.addTask {
                let opened = ContinuousClock.now
                while !Task.isCancelled {
                    try await Task.sleep(for: .milliseconds(100))
                    if self.simulator.faults.take(method: "WS", path: "/stream", kinds: [.disconnectStreams]) != nil { return }
                    // As Alpaca: a connection that does not authenticate within 10 s is closed.
                    if self.key.withLock({ $0 }) == nil, ContinuousClock.now - opened > .seconds(10) { return }
                }
            }
            _ = try await group.next()
            group.cancelAll()
        }
        try? await outbound.close(.normalClosure, reason: nil)
    }

    func handle(_ message: WebSocketMessage) async throws {
        let text: String
        switch message {
        case .text(let value): text = value
        case .binary(let buffer): text = String(decoding: buffer.readableBytesView, as: UTF8.self)
        }
        guard let object = (try? JSONSerialization.jsonObject(with: Foundation.Data(text.utf8))) as? [String: Any],
              let action = object["action"] as? String else {
            return try await send(["stream": "error", "data": ["error_message": "invalid syntax"]])
        }
        let data = object["data"] as? [String: Any] ?? [:]
        switch action {
        case "authenticate", "auth":
            let pair = SimulatorConfiguration.KeyPair(keyID: data["key_id"] as? String ?? "", secret: data["secret_key"] as? String ?? "")
            let ok = simulator.configuration.keys.contains(pair)
            if ok { key.withLock { $0 = pair.keyID } }
            try await send(["stream": "authorization", "data": ["action": "authenticate", "status": ok ? "authorized" : "unauthorized"]])
        case "listen":
            guard key.withLock({ $0 }) != nil else {
                return try await send(["stream": "authorization", "data": ["action": "listen", "status": "unauthorized"]])
            }
            let streams = (data["streams"] as? [String] ?? []).filter { $0 == "trade_updates" }
            let (was, now) = listening.withLock { state -> (Bool, Bool) in
                defer { state = !streams.isEmpty }
                return (state, !streams.isEmpty)
            }
            if was != now { simulator.streamSlots.listening(now ? 1 : -1) }
            try await send(["stream": "listening", "data": ["streams": streams]])
        default:
            try await send(["stream": "error", "data": ["error_message": "unknown action \(action)"]])
        }
    }

    func write(_ update: TradeUpdate) async throws {
        let fill = update.event == "fill" || update.event == "partial_fill"
        let payload = Payload(stream: "trade_updates", data: .init(
            event: update.event, executionID: fill ? UUID().uuidString.lowercased() : nil, order: update.order,
            timestamp: AlpacaTime.utc(update.timestamp), price: update.price.map(PaperExchange.text),
            qty: update.qty.map(PaperExchange.text), positionQty: update.positionQty.map(PaperExchange.text)))
        let data = try AlpacaSimulator.encoder.encode(payload)
        try await outbound.write(.binary(ByteBuffer(bytes: data)))
    }
}

extension AlpacaSimulator {
    /// HTTP/1 with WebSocket upgrades: `/v2/{iex,sip,test}` market data, `/stream` trade updates.
    func webSocketServer() -> HTTPServerBuilder {
        .http1WebSocketUpgrade { request, _, _ in
            let path = request.path?.split(separator: "?").first.map(String.init) ?? ""
            let header = { (name: String) in request.headerFields.first { $0.name.canonicalName == name }?.value }
            if ["/v2/iex", "/v2/sip", "/v2/delayed_sip", "/v2/test"].contains(path) {
                let encoding: StreamEncoding = header("content-type")?.contains("msgpack") == true ? .msgpack : .json
                let keys = header("apca-api-key-id").flatMap { id in header("apca-api-secret-key").map { SimulatorConfiguration.KeyPair(keyID: id, secret: $0) } }
                return .upgrade([:]) { inbound, outbound, _ in
                    let session = MarketDataSession(simulator: self, path: path, encoding: encoding, outbound: outbound)
                    // A stopping simulator ends its sessions: an open stream never holds its shutdown.
                    try await cancelWhenGracefulShutdown { try await session.run(inbound: inbound, headerKeys: keys) }
                }
            }
            if path == "/stream" {
                return .upgrade([:]) { inbound, outbound, _ in
                    try await cancelWhenGracefulShutdown {
                        try await TradingStreamSession(simulator: self, outbound: outbound).run(inbound: inbound)
                    }
                }
            }
            return .dontUpgrade
        }
    }
}
