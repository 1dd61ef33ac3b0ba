import FirebaseAuth
import Foundation
import HTTPTypes
import HybridMetrics
import HybridStore
import Hummingbird
import HummingbirdCore
import HummingbirdWebSocket
import Logging
import NIOCore
import PostgresNIO
import ServiceLifecycle
import TradingPipeline

/// The API role: `/v1/me/...` for the app, the SignalR hub, health and readiness, the
/// approval page. Stateless: any number run side by side (negotiate and its WebSocket must
/// reach the same process: sticky sessions, or clients that skip negotiation).
public struct APIServer: Sendable {
    let client: PostgresClient
    let answers: AnswerService
    /// `TRADING_ENABLED` of this process (shown by `/ready`).
    let tradingEnabled: Bool
    public let verifier: any TokenVerifier
    public let hubSettings: HubSettings
    let hub: Hub
    let logger: Logger

    public init(client: PostgresClient, answers: AnswerService, tradingEnabled: Bool, verifier: any TokenVerifier,
                hubSettings: HubSettings = HubSettings(), logger: Logger) {
        self.client = client
        self.answers = answers
        self.tradingEnabled = tradingEnabled
        self.verifier = verifier
        self.hubSettings = hubSettings
        self.logger = logger
        hub = Hub(settings: hubSettings, verifier: verifier, client: client, answers: answers, logger: logger)
    }

    /// The HTTP + WebSocket application on `host:port` (0: any free port, reported to `onRunning`).
    public func application(host: String = "127.0.0.1", port: Int = 8080,
                            onRunning: @escaping @Sendable (Int) async -> Void = { _ in }) -> some ApplicationProtocol {
        Application(router: router(), server: webSocketServer(),
                    configuration: .init(address: .hostname(host, port: port), serverName: nil),
                    onServerRunning: { channel in await onRunning(channel.localAddress?.port ?? port) },
                    logger: logger)
    }

    /// The services an API process runs besides the HTTP server (the hub's fan-out).
    public func backgroundServices() -> [any Service] {
        [HubFanout(hub: hub, client: client, logger: logger)]
    }

    public var connectedClients: Int { hub.registry.count }

    func router() -> Router<APIContext> {
        let router = Router(context: APIContext.self)
        // Browsers send credentialed CORS for negotiate: the exact origin is echoed, never `*`.
        router.add(middleware: CORSMiddleware(
            allowOrigin: .originBased, allowHeaders: [.authorization, .contentType] + ["x-requested-with", "x-signalr-user-agent"].compactMap { HTTPField.Name($0) },
            allowMethods: [.get, .post, .put, .delete], allowCredentials: true, maxAge: .seconds(600)))
        router.get("/health") { _, _ in JSONBody.response(HealthBody()) }
        router.get("/ready") { _, _ in try await ready() }
        router.get("/metrics") { _, _ in ProcessMetrics.response() }
        router.get(RouterPath(OpenAPIDocument.path)) { _, _ in OpenAPIDocument.response() }
        let me = router.group("/v1/me").add(middleware: AuthMiddleware(verifier: verifier))
        MeRoutes(client: client, answers: answers, logger: logger).add(to: me)
        let hubGroup = router.group(RouterPath(hubSettings.path))
        hubGroup.group("negotiate").add(middleware: AuthMiddleware(verifier: verifier)).post { request, context in
            hub.negotiate(request, uid: try context.user())
        }
        // A plain GET (not an upgrade) of the hub: explain, as ASP.NET does.
        hubGroup.get { request, _ in
            guard request.uri.queryParameters["id"] != nil else {
                return Response(status: .badRequest, headers: [.contentType: "text/plain"], body: .init(byteBuffer: ByteBuffer(string: "Connection ID required")))
            }
            return Response(status: .notFound, headers: [.contentType: "text/plain"], body: .init(byteBuffer: ByteBuffer(string: "No Connection with that ID")))
        }
        ApprovalPage.add(to: router, hubPath: hubSettings.path)
        Self.answerOtherMethods(on: router)
        return router
    }

    /// A method a known path does not take gets 405 with `Allow` (RFC 9110), not Hummingbird's
    /// empty 404. HEAD and OPTIONS (CORS preflight) are left as they were.
    static func answerOtherMethods(on router: Router<APIContext>) {
        let methods: [HTTPRequest.Method] = [.get, .put, .post, .delete, .patch, .trace] + (HTTPRequest.Method("QUERY").map { [$0] } ?? [])
        for (_, routes) in Dictionary(grouping: router.routes, by: { $0.path.description }) {
            guard let path = routes.first?.path else { continue }
            let taken = Set(routes.map(\.method))
            let allow = taken.map(\.rawValue).sorted().joined(separator: ", ")
            for method in methods where !taken.contains(method) {
                router.on(path, method: method) { _, _ -> Response in throw APIError.methodNotAllowed(allow: allow) }
            }
        }
    }

    func ready() async throws -> Response {
        do {
            // Ready to serve either way; the halt is shown so that an operator (and a load
            // balancer's dashboard) sees at once that trading is stopped, by whom and why.
            let halt = try await client.withConnection { db in
                try await Migrator.checkMigrated(on: db, logger: logger)
                return try await HaltStore.current(on: db, logger: logger)
            }
            var trading = ReadyBody.Trading(halted: halt.halted, enabled: tradingEnabled)
            if halt.halted {
                trading.reason = .some(halt.reason)
                trading.setBy = .some(halt.setBy)
                trading.setAt = .some(halt.setAt)
            }
            return JSONBody.response(ReadyBody(trading: trading))
        } catch {
            return JSONBody.response(NotReadyBody(message: "the database is not reachable or not migrated"), status: .serviceUnavailable)
        }
    }

    func webSocketServer() -> HTTPServerBuilder {
        let hub = self.hub
        let logger = self.logger
        // No WebSocket-level pings: SignalR keeps alive with its own messages, and signalrcore
        // never answers protocol pings.
        let configuration = HTTP1WebSocketUpgradeChannel.Configuration(
            ws: WebSocketServerConfiguration(maxFrameSize: 1 << 20, autoPing: .disabled))
        return .http1WebSocketUpgrade(configuration: configuration) { request, _, _ in
            guard Hub.pathOnly(request.path) == hub.settings.path, let accepted = await hub.upgrade(request) else {
                return .dontUpgrade
            }
            let connection = HubConnection(connectionID: accepted.connectionID, uid: accepted.uid, capacity: hub.settings.outboxCapacity)
            return .upgrade([:]) { inbound, outbound, _ in
                // A stopping API process ends its hub sessions (clients reconnect elsewhere):
                // an open WebSocket never holds the process's shutdown.
                try await cancelWhenGracefulShutdown {
                    try await HubSession(hub: hub, connection: connection, inbound: inbound, outbound: outbound, logger: logger).run()
                }
            }
        }
    }
}
