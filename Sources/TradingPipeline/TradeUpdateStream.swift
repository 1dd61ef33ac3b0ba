import AlpacaClient
import AlpacaModels
import Foundation
import HybridStore
import Logging
import PostgresNIO

/// One connection of the trading stream (`/stream`): authenticate, listen to
/// `trade_updates`, apply each order event. `poll-order-status` stays the safety net.
struct TradeUpdateStreamSession: Sendable {
    let orders: OrderRecorder
    let options: StreamOptions
    let logger: Logger

    func run(_ channel: StreamChannel) async throws {
        try await channel.send(Self.authMessage(options.credentials))
        let handshakeDeadline = ContinuousClock.now + .seconds(10)
        var listening = false
        let silence = Task {
            // Alpaca answers the handshake at once; no answer means a dead host.
            try await Task.sleep(until: handshakeDeadline)
            await channel.close()
        }
        defer { silence.cancel() }
        for try await frame in channel.messages() {
            switch TradeStreamMessage.decode(frame) {
            case .authorization(let authorized):
                guard authorized else { throw StreamError.refused(code: 401, message: "trading stream: unauthorized") }
                try await channel.send(#"{"action":"listen","data":{"streams":["trade_updates"]}}"#)
            case .listening(let streams):
                guard streams.contains("trade_updates") else { throw StreamError.protocolViolation("not listening to trade_updates") }
                listening = true
                silence.cancel()
                StreamMetrics.connected(true, stream: "trade_updates")
                logger.notice("trade-update stream listening")
            case .tradeUpdate(let event, let order):
                StreamMetrics.tradeUpdate(event: event)
                do {
                    let ours = try await orders.applyTradeUpdate(order, logger: logger)
                    logger.info("trade update", metadata: [
                        "order.client_order_id": "\(order.clientOrderID)", "order.event": "\(event)",
                        "order.status": "\(order.status)", "order.ours": "\(ours)",
                    ])
                } catch {
                    // The poller will record it; the stream goes on.
                    logger.warning("trade update not recorded", metadata: ["order.client_order_id": "\(order.clientOrderID)", "error": "\(error)"])
                }
            case .error(let message):
                throw StreamError.refused(code: 0, message: message)
            case .other:
                break
            }
        }
        throw listening ? StreamError.closedByServer : StreamError.protocolViolation("closed before listening")
    }

    static func authMessage(_ credentials: AlpacaCredentials) -> String {
        let object: [String: Any] = ["action": "authenticate",
                                     "data": ["key_id": credentials.keyID.reveal(), "secret_key": credentials.secretKey.reveal()]]
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data()
        return String(decoding: data, as: UTF8.self)
    }
}
