import _CryptoExtras
import Foundation
import JWTKit

/// A stand-in for Firebase in tests and the demo: an RSA key made at start-up, its JWKS (the
/// format Google serves), and RS256 ID tokens with Firebase's claims. Never used in
/// production: the API trusts whatever JWKS URL it is configured with.
public struct LocalTokenIssuer: Sendable {
    public let projectID: String
    public let kid: String
    let keys: JWTKeyCollection
    /// The public half, as `{"keys": [...]}`.
    public let jwksJSON: String

    public static func make(projectID: String) async throws -> LocalTokenIssuer {
        let key = try Insecure.RSA.PrivateKey(backing: _RSA.Signing.PrivateKey(keySize: .bits2048))
        let kid = "local-" + UUID().uuidString.prefix(8).lowercased()
        let keys = JWTKeyCollection()
        await keys.add(rsa: key, digestAlgorithm: .sha256, kid: JWKIdentifier(string: kid))
        let primitives = try key.publicKey.getKeyPrimitives()
        let jwk: [String: String] = [
            "kty": "RSA", "alg": "RS256", "use": "sig", "kid": kid,
            "n": Base64URL.encode(primitives.modulus), "e": Base64URL.encode(primitives.publicExponent),
        ]
        let data = try JSONSerialization.data(withJSONObject: ["keys": [jwk]], options: [.sortedKeys])
        return LocalTokenIssuer(projectID: projectID, kid: kid, keys: keys, jwksJSON: String(decoding: data, as: UTF8.self))
    }

    /// A token for `uid`, valid for `lifetime` seconds from `issuedAt`.
    public func token(uid: String, issuedAt: Date = Date(), lifetime: TimeInterval = 3600,
                      audience: String? = nil, issuer: String? = nil) async throws -> String {
        var claims = FirebaseClaims(projectID: projectID, uid: uid, issuedAt: issuedAt, expiresAt: issuedAt.addingTimeInterval(lifetime))
        if let audience { claims.aud = AudienceClaim(value: [audience]) }
        if let issuer { claims.iss = IssuerClaim(value: issuer) }
        return try await keys.sign(claims, kid: JWKIdentifier(string: kid))
    }
}
