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
            guard let object = (try? JSONSerialization.jsonObject(with: Data(body.readableBytesView))) as? [String: Any],
                  let uid = object["uid"] as? String, (1...128).contains(uid.count) else {
                return Response(status: .badRequest, headers: [.contentType: "application/json"],
                                body: .init(byteBuffer: ByteBuffer(string: #"{"error":"bad_request","message":"send {\"uid\": \"...\"}"}"#)))
            }
            let lifetime = (object["lifetime_seconds"] as? Double) ?? 3600
            let token = try await issuer.token(uid: uid, lifetime: lifetime)
            return JSONBody.response(["token": token, "uid": uid, "expires_in": lifetime])
        }
        return Application(router: router, configuration: .init(address: .hostname(host, port: port), serverName: nil),
                           onServerRunning: { channel in await onRunning(channel.localAddress?.port ?? port) }, logger: logger)
    }
}
