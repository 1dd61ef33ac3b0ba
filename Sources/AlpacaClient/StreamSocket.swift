import Foundation
import HummingbirdWSClient
import Logging
import NIOCore
import Synchronization

/// Where Alpaca's two streams live. Market data: `wss://stream.data.alpaca.markets/v2/{feed}`;
/// trade updates: the trading host's `/stream` (`wss://paper-api.alpaca.markets/stream`).
public enum AlpacaStreamURLs {
    public static func marketData(base: URL, feed: String) -> String { websocket(base) + "/v2/\(feed)" }
    public static func tradeUpdates(tradingBase: URL) -> String { websocket(tradingBase) + "/stream" }

    static func websocket(_ url: URL) -> String {
        var text = url.absoluteString
        if text.hasSuffix("/") { text.removeLast() }
        if text.hasPrefix("https://") { return "wss://" + text.dropFirst("https://".count) }
        if text.hasPrefix("http://") { return "ws://" + text.dropFirst("http://".count) }
        return text
    }
}

/// One open stream: frames in (as JSON bytes), text out. The handler of
/// `AlpacaStreamSocket.run` owns it for the connection's life.
public struct StreamChannel: Sendable {
    let inbound: WebSocketInboundStream
    let outbound: WebSocketOutboundWriter

    /// The next whole message (text or binary) as bytes; nil when the server closed.
    public func messages() -> AsyncThrowingStream<Data, any Error> {
        let inbound = self.inbound
        return AsyncThrowingStream { continuation in
            let task = Task {
                do {
                    for try await message in inbound.messages(maxSize: 16 << 20) {
                        switch message {
                        case .text(let text): continuation.yield(Data(text.utf8))
                        case .binary(let buffer): continuation.yield(Data(buffer.readableBytesView))
                        }
                    }
                    continuation.finish()
                } catch {
                    continuation.finish(throwing: error)
                }
            }
            continuation.onTermination = { _ in task.cancel() }
        }
    }

    public func send(_ text: String) async throws {
        try await outbound.write(.text(text))
    }

    public func close() async {
        try? await outbound.close(.normalClosure, reason: nil)
    }
}

/// A WebSocket client for Alpaca's streams (hummingbird-websocket's client, TLS for `wss`).
/// The keys never appear in the URL or in errors: they travel in the auth message only.
public enum AlpacaStreamSocket {
    /// Connects, runs `body` with the channel, closes when `body` returns or throws.
    public static func run(url: String, logger: Logger, _ body: @escaping @Sendable (StreamChannel) async throws -> Void) async throws {
        let failure = Mutex<(any Error)?>(nil)
        do {
            try await WebSocketClient.connect(url: url, configuration: .init(maxFrameSize: 16 << 20, closeTimeout: .seconds(2), autoPing: .enabled(timePeriod: .seconds(20))),
                                              logger: logger) { inbound, outbound, _ in
                do {
                    try await body(StreamChannel(inbound: inbound, outbound: outbound))
                } catch {
                    failure.withLock { $0 = error }
                }
            }
        } catch {
            throw StreamError.connect(url: url, detail: String(describing: error).prefix(200).description)
        }
        if let error = failure.withLock({ $0 }) { throw error }
    }
}

/// Why a stream session ended; all of them are followed by a reconnect with backoff.
public enum StreamError: Error, Sendable, CustomStringConvertible, Equatable {
    case connect(url: String, detail: String)
    /// Alpaca's error message (`{"T": "error", "code": 406, ...}`).
    case refused(code: Int, message: String)
    case silent(seconds: Double)
    case closedByServer
    case protocolViolation(String)

    public var description: String {
        switch self {
        case .connect(let url, let detail): "cannot open \(url): \(detail)"
        case .refused(let code, let message): "the stream refused us: \(code) \(message)"
        case .silent(let seconds): "no message for \(Int(seconds)) s: the stream is treated as dead"
        case .closedByServer: "the server closed the stream"
        case .protocolViolation(let what): "unexpected message: \(what)"
        }
    }

    /// 406 (connection limit: another holder is still connected) and 402 (auth) wait longer.
    public var isConnectionLimit: Bool {
        if case .refused(406, _) = self { return true }
        return false
    }
}
