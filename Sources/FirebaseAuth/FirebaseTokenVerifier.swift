import AsyncHTTPClient
import Foundation
import JWTKit
import Logging
import NIOCore

/// Who a verified token belongs to.
public struct AuthenticatedUser: Sendable, Equatable {
    public var uid: String
    public var expiresAt: Date
}

/// Checks bearer tokens. The API depends on this protocol only.
public protocol TokenVerifier: Sendable {
    func verify(_ token: String) async throws(TokenRejection) -> AuthenticatedUser
}

/// Firebase ID tokens against Google's public keys (a JWKS URL, configurable; the local
/// issuer serves the same format), cached as the response's `Cache-Control: max-age` allows
/// and refetched early (at most every 30 s) when a token names a key we do not have.
public actor FirebaseTokenVerifier: TokenVerifier {
    public let projectID: String
    let jwksURL: String
    let http: HTTPClient
    let logger: Logger
    let now: @Sendable () -> Date
    /// Leeway for clocks that disagree a little (iat slightly ahead, exp just passed).
    let skewSeconds: Double

    private var keys: JWTKeyCollection?
    private var kids: Set<String> = []
    private var expiresAt = Date.distantPast
    private var lastFetch = Date.distantPast

    public init(projectID: String, jwksURL: String, http: HTTPClient = .shared, skewSeconds: Double = 30,
                logger: Logger, now: @escaping @Sendable () -> Date = { Date() }) {
        self.projectID = projectID
        self.jwksURL = jwksURL
        self.http = http
        self.logger = logger
        self.now = now
        self.skewSeconds = skewSeconds
    }

    public func verify(_ token: String) async throws(TokenRejection) -> AuthenticatedUser {
        guard !token.isEmpty else { throw .missing }
        let header = try Self.header(token)
        guard header.alg == "RS256", let kid = header.kid else { throw .malformed }
        let collection = try await keyCollection(for: kid)
        let claims: FirebaseClaims
        do {
            claims = try await collection.verify(token, as: FirebaseClaims.self)
        } catch let error as JWTError where error.errorType == .signatureVerificationFailed {
            throw .badSignature
        } catch {
            throw .malformed
        }
        return try Self.check(claims, projectID: projectID, now: now(), skewSeconds: skewSeconds)
    }

    /// The project-specific claim checks at `now` (pure; the verifier passes its clock).
    public static func check(_ claims: FirebaseClaims, projectID: String, now: Date, skewSeconds: Double = 30) throws(TokenRejection)
        -> AuthenticatedUser
    {
        guard claims.exp.value.addingTimeInterval(skewSeconds) > now else { throw .expired }
        guard claims.iat.value <= now.addingTimeInterval(skewSeconds),
              claims.authTime <= now.addingTimeInterval(skewSeconds).timeIntervalSince1970 else { throw .notYetValid }
        guard claims.iss.value == FirebaseClaims.issuer(projectID) else { throw .wrongIssuer }
        guard claims.aud.value == [projectID] else { throw .wrongAudience }
        let uid = claims.sub.value
        guard !uid.isEmpty, uid.count <= 128 else { throw .noSubject }
        return AuthenticatedUser(uid: uid, expiresAt: claims.exp.value)
    }

    struct Header: Decodable {
        var alg: String?
        var kid: String?
    }

    static func header(_ token: String) throws(TokenRejection) -> Header {
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3, let data = Base64URL.decode(String(parts[0])),
              let header = try? JSONDecoder().decode(Header.self, from: data) else { throw .malformed }
        return header
    }

    private func keyCollection(for kid: String) async throws(TokenRejection) -> JWTKeyCollection {
        let current = now()
        if let keys, current < expiresAt, kids.contains(kid) { return keys }
        // Unknown key or expired cache: refetch, but not more than every 30 s for unknown kids.
        if let keys, current < expiresAt, current.timeIntervalSince(lastFetch) < 30 {
            _ = keys
            throw .unknownKey
        }
        do {
            try await refresh()
        } catch {
            logger.warning("cannot fetch the token signing keys", metadata: ["jwks.url": "\(jwksURL)", "error": "\(error)"])
            if let keys, kids.contains(kid) { return keys }   // serve stale keys rather than lock everyone out
            throw .keysUnavailable
        }
        guard let keys, kids.contains(kid) else { throw .unknownKey }
        return keys
    }

    private func refresh() async throws {
        lastFetch = now()
        let response = try await http.execute(HTTPClientRequest(url: jwksURL), timeout: .seconds(10))
        guard response.status.code == 200 else { throw JWKSFetchError.status(Int(response.status.code)) }
        let body = try await response.body.collect(upTo: 1 << 20)
        let json = String(decoding: body.readableBytesView, as: UTF8.self)
        let jwks = try JSONDecoder().decode(JWKS.self, from: Data(json.utf8))
        let collection = JWTKeyCollection()
        _ = try await collection.add(jwks: jwks)
        keys = collection
        kids = Set(jwks.keys.compactMap { $0.keyIdentifier?.string })
        let maxAge = CacheControl.maxAge(response.headers.first(name: "Cache-Control")) ?? 300
        expiresAt = now().addingTimeInterval(maxAge)
        logger.info("token signing keys fetched", metadata: ["jwks.keys": "\(kids.count)", "jwks.max_age": "\(maxAge)"])
    }
}

enum JWKSFetchError: Error {
    case status(Int)
}

/// `Cache-Control: public, max-age=19790, must-revalidate` → 19790.
enum CacheControl {
    static func maxAge(_ header: String?) -> Double? {
        guard let header else { return nil }
        for directive in header.split(separator: ",") {
            let parts = directive.trimmingCharacters(in: .whitespaces).split(separator: "=", maxSplits: 1)
            if parts.count == 2, parts[0].lowercased() == "max-age", let seconds = Double(parts[1]), seconds >= 0 {
                return min(seconds, 24 * 3600)
            }
            if parts.first?.lowercased() == "no-store" || parts.first?.lowercased() == "no-cache" { return 0 }
        }
        return nil
    }
}

enum Base64URL {
    static func decode(_ text: String) -> Data? {
        var base64 = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while base64.count % 4 != 0 { base64 += "=" }
        return Data(base64Encoded: base64)
    }

    static func encode(_ data: Data) -> String {
        data.base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }
}
