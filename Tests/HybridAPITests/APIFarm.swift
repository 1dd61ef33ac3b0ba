import AsyncHTTPClient
import FirebaseAuth
import Foundation
import HybridAPI
import HybridTestSupport
import Hummingbird
import NIOCore
import NIOHTTP1
import ServiceLifecycle
let logger = TestDatabase.logger

/// A Farm plus the local token issuer (its JWKS on a real socket) and an API server on
/// 127.0.0.1:0 that trusts it. Hub timings are short so keep-alive checks run in seconds.
struct APIFarm: Sendable {
    static let python = TestDatabase.repositoryRoot.appendingPathComponent(".venv-test/bin/python")

    static func script(_ name: String) -> String {
        TestDatabase.repositoryRoot.appendingPathComponent("Tests/python/\(name)").path
    }

    let farm: Farm
    let issuer: LocalTokenIssuer
    let issuerURL: String
    let base: String

    static let projectID = "hybridhub-test"

    /// Short hub timings (ping after 1 s, drop after 2 s silent) for the keep-alive checks.
    static let quickHub: HubSettings = {
        var hub = HubSettings()
        hub.keepAlive = .seconds(1)
        hub.clientTimeout = .seconds(2)
        return hub
    }()

    static func run<T: Sendable>(worker: Bool = true, hub: HubSettings = HubSettings(),
                                 _ body: @Sendable (APIFarm) async throws -> T) async throws -> T {
        try await Farm.run(worker: worker) { farm in
            let issuer = try await LocalTokenIssuer.make(projectID: projectID)
            let (issuerPorts, issuerPort) = AsyncStream.makeStream(of: Int.self)
            let (apiPorts, apiPort) = AsyncStream.makeStream(of: Int.self)
            let issuerApp = LocalIssuerApp(issuer: issuer, logger: logger).application(port: 0) { issuerPort.yield($0) }
            return try await withThrowingTaskGroup(of: Void.self) { tasks in
                let issuerGroup = ServiceGroup(configuration: .init(services: [issuerApp], logger: logger))
                tasks.addTask { try await issuerGroup.run() }
                var port = 0
                for await value in issuerPorts { port = value; break }
                let issuerURL = "http://127.0.0.1:\(port)"
                let verifier = FirebaseTokenVerifier(projectID: projectID, jwksURL: issuerURL + "/jwks.json", logger: logger)
                let server = APIServer(client: farm.client, answers: farm.pipeline.answers, tradingEnabled: true, verifier: verifier,
                                       hubSettings: hub, logger: logger)
                let app = server.application(port: 0) { apiPort.yield($0) }
                let apiGroup = ServiceGroup(configuration: .init(services: [app] + server.backgroundServices(), logger: logger))
                tasks.addTask { try await apiGroup.run() }
                var apiPortNumber = 0
                for await value in apiPorts { apiPortNumber = value; break }
                let api = APIFarm(farm: farm, issuer: issuer, issuerURL: issuerURL, base: "http://127.0.0.1:\(apiPortNumber)")
                do {
                    let result = try await body(api)
                    await apiGroup.triggerGracefulShutdown()
                    await issuerGroup.triggerGracefulShutdown()
                    try await tasks.waitForAll()
                    return result
                } catch {
                    await apiGroup.triggerGracefulShutdown()
                    await issuerGroup.triggerGracefulShutdown()
                    try? await tasks.waitForAll()
                    throw error
                }
            }
        }
    }

    func token(_ uid: String = Farm.uid) async throws -> String {
        try await issuer.token(uid: uid)
    }

    struct Reply: Sendable {
        let status: Int
        let body: Data
        let headers: [(String, String)]
        var json: [String: Any] { ((try? JSONSerialization.jsonObject(with: body)) as? [String: Any]) ?? [:] }
        var text: String { String(decoding: body, as: UTF8.self) }
    }

    func callAbsolute(_ url: String) async throws -> String {
        let response = try await HTTPClient.shared.execute(HTTPClientRequest(url: url), timeout: .seconds(10))
        let body = try await response.body.collect(upTo: 1 << 22)
        return String(decoding: body.readableBytesView, as: UTF8.self)
    }

    func call(_ method: HTTPMethod, _ path: String, token: String?, json: String? = nil) async throws -> Reply {
        var request = HTTPClientRequest(url: base + path)
        request.method = method
        if let token { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
        if let json {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(string: json))
        }
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(10))
        let body = try await response.body.collect(upTo: 1 << 22)
        return Reply(status: Int(response.status.code), body: Data(body.readableBytesView), headers: response.headers.map { ($0.name, $0.value) })
    }
}
