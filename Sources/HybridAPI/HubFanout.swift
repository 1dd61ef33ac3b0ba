import Foundation
import HybridStore
import Logging
import PostgresNIO
import ServiceLifecycle
import TradingCore
import TradingPipeline

/// Cross-process fan-out: every API process LISTENs on the pipeline's channels and delivers
/// to the connections it holds. After a reconnect of the listener (notifications may have
/// been missed meanwhile) every local user's open questions are sent again.
final class HubFanout: Service, Sendable {
    let hub: Hub
    let client: PostgresClient
    let logger: Logger

    init(hub: Hub, client: PostgresClient, logger: Logger) {
        self.hub = hub
        self.client = client
        self.logger = logger
    }

    func run() async throws {
        await cancelWhenGracefulShutdown {
            await withTaskGroup(of: Void.self) { group in
                group.addTask { await self.listen(NotifyChannels.questions, concurrently: true) { try await self.question($0) } }
                group.addTask { await self.listen(NotifyChannels.tradeUpdates, concurrently: false) { try await self.tradeUpdate($0) } }
            }
        }
    }

    /// Questions are handled `concurrently` (each reads its row: a burst of questions must not
    /// queue behind one another's round trips), at most `maxInFlight` at once; trade updates in
    /// order, as they carry the order's successive states.
    static let maxInFlight = 32

    private func listen(_ channel: String, concurrently: Bool, _ handle: @escaping @Sendable (String) async throws -> Void) async {
        var first = true
        while !Task.isCancelled {
            do {
                try await client.withConnection { db in
                    try await db.listen(on: channel) { notifications in
                        self.logger.info("hub fan-out listening", metadata: ["channel": "\(channel)"])
                        if !first { await self.resendEverything() }
                        first = false
                        let deliver: @Sendable (String) async -> Void = { payload in
                            do { try await handle(payload) } catch {
                                self.logger.warning("hub fan-out could not deliver", metadata: ["channel": "\(channel)", "error": "\(error)"])
                            }
                        }
                        guard concurrently else {
                            for try await notification in notifications { await deliver(notification.payload) }
                            return
                        }
                        try await withThrowingTaskGroup(of: Void.self) { group in
                            var inFlight = 0
                            for try await notification in notifications {
                                if inFlight == Self.maxInFlight {
                                    try await group.next()
                                    inFlight -= 1
                                }
                                let payload = notification.payload
                                group.addTask { await deliver(payload) }
                                inFlight += 1
                            }
                        }
                    }
                }
            } catch {
                if Task.isCancelled { return }
                logger.warning("hub listener lost its connection; reconnecting", metadata: ["channel": "\(channel)", "error": "\(error)"])
            }
            try? await Task.sleep(for: .seconds(1))
        }
    }

    /// A `hybridhub_questions` notification (`QuestionStore.markDelivered` and `withdraw` write them).
    struct QuestionNotice: Decodable {
        var questionID: UUID
        var firebaseUID: String
        var withdrawn: Bool?
        var reason: String?

        enum CodingKeys: String, CodingKey {
            case withdrawn, reason
            case questionID = "question_id"
            case firebaseUID = "firebase_uid"
        }
    }

    private func question(_ payload: String) async throws {
        guard let notice = try? JSONDecoder().decode(QuestionNotice.self, from: Data(payload.utf8)) else {
            logger.warning("hub fan-out: a question notification without question_id and firebase_uid")
            return
        }
        let (uid, id) = (notice.firebaseUID, notice.questionID)
        guard !hub.registry.connections(of: uid).isEmpty else { return }
        if notice.withdrawn == true {
            let reached = hub.sendQuestionWithdrawn(uid: uid, id: id, reason: notice.reason ?? "")
            logger.info("question withdrawal pushed", metadata: ["question.id": "\(id)", "hub.connections": "\(reached)"])
            return
        }
        let question = try await client.withConnection { try await QuestionStore.question(id, on: $0, logger: logger) }
        guard let question, question.status == "open", question.firebaseUID == uid else { return }
        let reached = hub.sendQuestion(question)
        logger.info("question pushed", metadata: ["question.id": "\(id)", "hub.connections": "\(reached)"])
    }

    private func tradeUpdate(_ payload: String) async throws {
        guard case .object(let object)? = try? JSONValue.parse(payload), case .string(let uid)? = object["firebase_uid"] else { return }
        hub.sendTradeUpdate(uid: uid, object)
    }

    private func resendEverything() async {
        for uid in hub.registry.users {
            for connection in hub.registry.connections(of: uid) { await hub.resendOpenQuestions(to: connection) }
        }
    }
}
