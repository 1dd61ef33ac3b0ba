import FirebaseAuth
import Foundation
import Hummingbird
import Logging
import NIOCore

/// The local stand-in for Google's token service (tests and the demo only, loopback):
/// `GET /jwks.json` (what `FIREBASE_JWKS_URL` points at) and `POST /token {"uid": …}` → a
/// signed ID token for that uid. Keys are made at start-up and never leave the process.
public struct LocalIssuerApp: Sendable {
    public let issuer: LocalTokenIssuer
    let logger: Logger

    public init(issuer: LocalTokenIssuer, logger: Logger) {
        self.issuer = issuer
        self.logger = logger
    }

    public func application(host: String = "127.0.0.1", port: Int = 0,
                            onRunning: @escaping @Sendable (Int) async -> Void = { _ in }) -> some ApplicationProtocol {
        let router = Router()
        let issuer = self.issuer
        router.get("/jwks.json") { _, _ in
            Response(status: .ok, headers: [.contentType: "application/json", .cacheControl: "public, max-age=3600"],
                     body: .init(byteBuffer: ByteBuffer(string: issuer.jwksJSON)))
        }
        router.post("/token") { request, _ in
            let body = try await request.body.collect(upTo: 4096)
            guard let asked = try? JSONDecoder().decode(TokenRequest.self, from: Data(body.readableBytesView)),
                  (1...128).contains(asked.uid.count) else {
                return Response(status: .badRequest, headers: [.contentType: "application/json"],
                                body: .init(byteBuffer: ByteBuffer(string: #"{"error":"bad_request","message":"send {\"uid\": \"...\"}"}"#)))
            }
            let lifetime = asked.lifetimeSeconds ?? 3600
            let token = try await issuer.token(uid: asked.uid, lifetime: lifetime)
            return JSONBody.response(TokenResponse(token: token, uid: asked.uid, expiresIn: lifetime))
        }
        return Application(router: router, configuration: .init(address: .hostname(host, port: port), serverName: nil),
                           onServerRunning: { channel in await onRunning(channel.localAddress?.port ?? port) }, logger: logger)
    }
}

/// `POST /token`: `{"uid", "lifetime_seconds"?}` → `{"token", "uid", "expires_in"}`.
struct TokenRequest: Decodable {
    var uid: String
    var lifetimeSeconds: Double?

    enum CodingKeys: String, CodingKey {
        case uid
        case lifetimeSeconds = "lifetime_seconds"
    }
}

struct TokenResponse: Encodable {
    var token: String
    var uid: String
    var expiresIn: Double

    enum CodingKeys: String, CodingKey {
        case token, uid
        case expiresIn = "expires_in"
    }
}
