import FirebaseAuth
import Foundation
import HTTPTypes
import HybridStore
import Hummingbird
import Logging
import PostgresNIO
import TradingCore
import TradingPipeline

/// The SignalR hub at `/hubs/questions` (see ../shared/reference/signalr.md): negotiate v0 and
/// v1, WebSockets, the JSON hub protocol. Server → client `ReceiveQuestion`,
/// `ReceiveQuestionWithdrawn` and `ReceiveTradeUpdate`; client → server `SubmitAnswer`.
public struct HubSettings: Sendable {
    public var path = "/hubs/questions"
    /// Send `{"type":6}` after this much silence (clients time out after twice this).
    public var keepAlive: Duration = .seconds(15)
    /// Drop a client that sent nothing for this long.
    public var clientTimeout: Duration = .seconds(30)
    public var handshakeTimeout: Duration = .seconds(15)
    /// Messages queued per connection; a client that falls this far behind is disconnected.
    public var outboxCapacity = 256

    public init() {}
}

final class Hub: Sendable {
    let settings: HubSettings
    let registry = HubRegistry()
    let verifier: any TokenVerifier
    let client: PostgresClient
    let answers: AnswerService
    let logger: Logger

    init(settings: HubSettings, verifier: any TokenVerifier, client: PostgresClient, answers: AnswerService, logger: Logger) {
        self.settings = settings
        self.verifier = verifier
        self.client = client
        self.answers = answers
        var logger = logger
        logger[metadataKey: "component"] = "hub"
        self.logger = logger
    }

    // MARK: Negotiate

    /// `POST <hub>/negotiate[?negotiateVersion=1]`. Version 0 (signalrcore) gets no
    /// `connectionToken` and connects with `?id=<connectionId>`.
    func negotiate(_ request: Request, uid: String) -> Response {
        let requested = request.uri.queryParameters["negotiateVersion"].map(String.init)
        guard let version = requested.map({ Int($0) }) ?? 0, version >= 0 else {
            return JSONBody.response(HubProtocol.HandshakeError(error: "negotiateVersion must be a whole number"))
        }
        let negotiated = min(version, 1)
        let connectionID = Self.randomID()
        let token = negotiated >= 1 ? Self.randomID() : connectionID
        registry.addPending(token: token, connectionID: connectionID, uid: uid)
        return JSONBody.response(NegotiationBody(negotiateVersion: negotiated, connectionId: connectionID,
                                                 connectionToken: negotiated >= 1 ? token : nil))
    }

    /// 16 random bytes, base64url without padding: URL-safe (JS and Dart do not encode ids).
    static func randomID() -> String {
        var generator = SystemRandomNumberGenerator()
        let bytes = (0..<16).map { _ in UInt8.random(in: 0...255, using: &generator) }
        return Data(bytes).base64EncodedString().replacingOccurrences(of: "+", with: "-")
            .replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
    }

    // MARK: WebSocket upgrade

    /// Decides an upgrade of `GET <hub>?id=…`: the negotiated token binds the user; a token on
    /// the upgrade (header or `access_token`) must name the same user. Without `id`
    /// (skipNegotiation) the upgrade must carry a valid token.
    func upgrade(_ request: HTTPRequest) async -> (connectionID: String, uid: String)? {
        let query = Self.query(request.path)
        let token = BearerToken.from(authorization: request.headerFields[.authorization], query: query["access_token"])
        var tokenUID: String?
        if let token {
            guard let user = try? await verifier.verify(token) else { return nil }
            tokenUID = user.uid
        }
        if let id = query["id"] {
            guard let pending = registry.takePending(token: id) else { return nil }
            if let tokenUID, tokenUID != pending.uid { return nil }
            return (pending.connectionID, pending.uid)
        }
        guard let tokenUID else { return nil }
        return (Self.randomID(), tokenUID)
    }

    static func query(_ path: String?) -> [String: String] {
        guard let path, let question = path.firstIndex(of: "?") else { return [:] }
        var result: [String: String] = [:]
        for pair in path[path.index(after: question)...].split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1).map { String($0).removingPercentEncoding ?? String($0) }
            if let name = parts.first { result[name] = parts.count > 1 ? parts[1] : "" }
        }
        return result
    }

    static func pathOnly(_ path: String?) -> String {
        path.map { $0.split(separator: "?", maxSplits: 1).first.map(String.init) ?? $0 } ?? ""
    }

    // MARK: Pushes

    @discardableResult
    func sendQuestion(_ question: StoredQuestion) -> Int {
        registry.send(to: question.firebaseUID, HubProtocol.invocation("ReceiveQuestion", HubQuestionBody(question)))
    }

    /// `ReceiveQuestionWithdrawn`: the question no longer proposes anything (trading switched
    /// off, its rule switched off, removed or changed); the app takes it off the screen.
    @discardableResult
    func sendQuestionWithdrawn(uid: String, id: UUID, reason: String) -> Int {
        registry.send(to: uid, HubProtocol.invocation("ReceiveQuestionWithdrawn", QuestionWithdrawnBody(id: id.lowercased, reason: reason)))
    }

    /// `ReceiveTradeUpdate`: the trade-update NOTIFY payload (snake_case) in camelCase, without the uid.
    func sendTradeUpdate(uid: String, _ payload: [String: JSONValue]) {
        var update: [String: JSONValue] = [:]
        for (key, value) in payload where key != "firebase_uid" { update[Presentation.camel(key)] = value }
        registry.send(to: uid, HubProtocol.invocation("ReceiveTradeUpdate", JSONValue.object(update)))
    }

    /// Every open question of `uid`, again (a phone that was offline loses none).
    func resendOpenQuestions(to connection: HubConnection) async {
        do {
            let open = try await client.withConnection {
                try await QuestionStore.openQuestions(of: connection.uid, on: $0, logger: logger)
            }
            for question in open {
                connection.send(HubProtocol.invocation("ReceiveQuestion", HubQuestionBody(question)))
            }
        } catch {
            logger.warning("could not load open questions for a new connection", metadata: ["error": "\(error)"])
        }
    }
}
