import Foundation
import HummingbirdWebSocket
import Logging
import Synchronization
import TradingCore
import TradingPipeline

/// One WebSocket connection of the hub: handshake, messages, keep-alive, timeout, close.
struct HubSession {
    let hub: Hub
    let connection: HubConnection
    let inbound: WebSocketInboundStream
    let outbound: WebSocketOutboundWriter
    let logger: Logger

    /// Seconds since the last message in each direction, on the monotonic clock.
    final class Activity: Sendable {
        let lastReceived = Mutex(ContinuousClock.now)
        let lastSent = Mutex(ContinuousClock.now)
        let handshaken = Atomic<Bool>(false)
    }

    func run() async throws {
        let activity = Activity()
        defer {
            hub.registry.remove(connection)
            connection.finish()
        }
        enum Part { case writer, keepAlive, reader }
        try await withThrowingTaskGroup(of: Part.self) { group in
            // The writer: the only task that writes frames, in queue order. It ends when the
            // outbox is finished (by the reader, the keep-alive or an overflow), after
            // writing what was queued, with a close frame.
            group.addTask {
                for await text in connection.outbox {
                    try await outbound.write(.text(text))
                    activity.lastSent.withLock { $0 = .now }
                }
                if connection.overflowed.load(ordering: .relaxed) {
                    logger.notice("hub client too slow; connection closed", metadata: ["hub.connection": "\(connection.connectionID)"])
                }
                try? await outbound.close(.normalClosure, reason: nil)
                return .writer
            }
            // Keep-alive, client timeout, handshake timeout. Sleeps until the nearest deadline
            // (not a fixed poll: with thousands of idle connections, polling every 250 ms cost
            // more CPU than delivering the questions); activity moves the deadlines later, so
            // a wake-up re-reads them and sleeps again.
            group.addTask {
                let settings = hub.settings
                let slack = Duration.milliseconds(5)
                while !Task.isCancelled {
                    let now = ContinuousClock.now
                    let received = activity.lastReceived.withLock { $0 }
                    let next: ContinuousClock.Instant
                    if !activity.handshaken.load(ordering: .relaxed) {
                        if now - received > settings.handshakeTimeout {
                            connection.send(HubProtocol.handshakeError("Handshake was canceled."))
                            break
                        }
                        // Until the handshake deadline, but soon after the handshake too: pings
                        // are due keepAlive after the handshake's reply.
                        next = min(received + settings.handshakeTimeout, now + settings.keepAlive)
                    } else {
                        if now - received > settings.clientTimeout {
                            connection.send(HubProtocol.close(error: "Server timeout elapsed without receiving a message from the client.",
                                                              allowReconnect: true))
                            break
                        }
                        var sent = activity.lastSent.withLock { $0 }
                        if now - sent >= settings.keepAlive {
                            connection.send(HubProtocol.ping)
                            activity.lastSent.withLock { $0 = now }
                            sent = now
                        }
                        next = min(received + settings.clientTimeout, sent + settings.keepAlive)
                    }
                    try await Task.sleep(until: next + slack, clock: .continuous)
                }
                connection.finish()
                return .keepAlive
            }
            // The reader.
            group.addTask {
                do {
                    try await read(activity)
                } catch {
                    logger.debug("hub connection read ended", metadata: ["error": "\(error)"])
                }
                connection.finish()
                return .reader
            }
            // Whoever ends first finishes the outbox; the connection is over once the writer
            // has flushed it and closed the socket.
            while let part = try await group.next() {
                if part == .writer { break }
            }
            group.cancelAll()
        }
    }

    private func read(_ activity: Activity) async throws {
        var reader = HubProtocol.Reader()
        for try await message in inbound.messages(maxSize: 1 << 20) {
            activity.lastReceived.withLock { $0 = .now }
            guard case .text(let text) = message else {
                connection.send(HubProtocol.close(error: "Binary frames are not supported: this hub speaks the JSON protocol.", allowReconnect: false))
                return
            }
            let messages: [HubInbound]
            do {
                messages = try reader.feed(text)
            } catch {
                connection.send(HubProtocol.close(error: "Connection closed with an error.", allowReconnect: false))
                return
            }
            for object in messages {
                if !activity.handshaken.load(ordering: .relaxed) {
                    guard handshake(object) else { return }
                    activity.handshaken.store(true, ordering: .relaxed)
                    hub.registry.add(connection)
                    logger.info("hub connection open", metadata: ["hub.connection": "\(connection.connectionID)", "user.uid": "\(connection.uid)"])
                    await hub.resendOpenQuestions(to: connection)
                    continue
                }
                guard try await handle(object) else { return }
            }
        }
    }

    /// `{"protocol":"json","version":0|1|2}`: `{}` on success, `{"error":…}` and close otherwise.
    private func handshake(_ object: HubInbound) -> Bool {
        let proto = object.protocol
        let version = object.version
        guard proto == "json" else {
            connection.send(HubProtocol.handshakeError("The protocol '\(proto ?? "")' is not supported."))
            return false
        }
        guard let version, (0...2).contains(version) else {
            connection.send(HubProtocol.handshakeError("The server does not support version \(version.map(String.init) ?? "?") of the 'json' protocol."))
            return false
        }
        connection.send(HubProtocol.handshakeOK)
        return true
    }

    /// One hub message; false ends the connection.
    private func handle(_ object: HubInbound) async throws -> Bool {
        guard let type = object.type, let kind = HubProtocol.MessageType(rawValue: type) else {
            connection.send(HubProtocol.close(error: "Connection closed with an error.", allowReconnect: false))
            return false
        }
        switch kind {
        case .ping, .cancelInvocation, .streamItem, .completion:
            return true
        case .close:
            return false
        case .streamInvocation:
            if let id = object.invocationId {
                connection.send(HubProtocol.completion(id: id, error: "Streaming is not supported by this hub."))
            }
            return true
        case .invocation:
            await invoke(object)
            return true
        }
    }

    /// Hub methods, matched case-insensitively. Calls with an `invocationId` get exactly one
    /// Completion; calls without one get nothing back.
    private func invoke(_ object: HubInbound) async {
        let invocationID = object.invocationId
        let target = object.target ?? ""
        func reply(_ result: some Encodable) { if let invocationID { connection.send(HubProtocol.completion(id: invocationID, result: result)) } }
        func fail(_ text: String) { if let invocationID { connection.send(HubProtocol.completion(id: invocationID, error: text)) } }
        switch target.lowercased() {
        case "submitanswer":
            guard let (questionID, value) = object.answerArguments else {
                fail("An unexpected error occurred invoking 'SubmitAnswer' on the server. HubException: expected (questionId, value) or ({questionId, value})")
                return
            }
            do {
                let result = try await hub.answers.answer(questionID: questionID, firebaseUID: connection.uid, value: value)
                reply(AnswerResultBody(result, camelCase: true))
            } catch let error as AnswerError {
                fail("An unexpected error occurred invoking 'SubmitAnswer' on the server. HubException: \(error)")
            } catch {
                logger.error("SubmitAnswer failed", metadata: ["error": "\(error)"])
                fail("An unexpected error occurred invoking 'SubmitAnswer' on the server.")
            }
        default:
            fail("Unknown hub method '\(target)'")
        }
    }
}
