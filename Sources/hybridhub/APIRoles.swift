import ArgumentParser
import FirebaseAuth
import Foundation
import HybridAPI
import HybridHubApp
import HybridStore
import ProcessKit
import ServiceLifecycle

/// `hybridhub api`: the app's HTTP API, the SignalR hub and the approval page. Any number run
/// side by side; the hub's pushes reach every process through Postgres NOTIFY.
struct APIRole: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "api", abstract: "Run an API process: /v1/me/..., the SignalR hub at /hubs/questions, /approve, /health, /ready.")

    @Option(help: "Listen address (default API_HOST).") var host: String?
    @Option(help: "Port (default API_PORT; 0 picks a free one and prints it).") var port: Int?

    func run() async throws {
        let runtime = try Runtime.load()
        try await MigrationCommand.verify(settings: runtime.settings, logger: runtime.logger)
        let settings = runtime.settings
        let logger = runtime.logger
        let client = PostgresClientFactory.make(settings.database, logger: logger)
        let answers = TradingComposition.answers(settings: settings, client: client, logger: logger)
        let verifier = FirebaseTokenVerifier(projectID: settings.api.firebaseProjectID,
                                             jwksURL: settings.api.firebaseJWKSURL.absoluteString, logger: logger)
        let server = APIServer(client: client, answers: answers, tradingEnabled: settings.trading.enabled, verifier: verifier,
                               logger: logger)
        let host = self.host ?? settings.api.host
        let app = server.application(host: host, port: port ?? settings.api.port) { port in
            // Unbuffered: scripts and tests read the port from this line.
            FileHandle.standardOutput.write(Data("api listening on http://\(host):\(port) (hub /hubs/questions, approval page /approve)\n".utf8))
        }
        try await ProcessServices.run(client: client, services: [app] + server.backgroundServices(), logger: logger)
    }
}

/// `hybridhub local-issuer`: a stand-in for Firebase's token service on loopback (the demo
/// and tests): `GET /jwks.json` for `FIREBASE_JWKS_URL`, `POST /token {"uid"}` for a token.
struct LocalIssuerRole: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "local-issuer", abstract: "Serve a local ID-token issuer (JWKS + tokens) on loopback, for the demo and tests.")

    @Option(help: "Port (0 picks a free one and prints it).") var port = 0

    func run() async throws {
        let runtime = try Runtime.load()
        let issuer = try await LocalTokenIssuer.make(projectID: runtime.settings.api.firebaseProjectID)
        let app = LocalIssuerApp(issuer: issuer, logger: runtime.logger).application(port: port) { port in
            FileHandle.standardOutput.write(Data("local-issuer listening on http://127.0.0.1:\(port) (jwks: /jwks.json, tokens: POST /token)\n".utf8))
        }
        let group = ServiceGroup(configuration: .init(services: [app], gracefulShutdownSignals: [.sigterm, .sigint], logger: runtime.logger))
        try await group.run()
    }
}
