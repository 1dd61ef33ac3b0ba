import Foundation
import JWTKit

/// The claims of a Firebase ID token that we check
/// (https://firebase.google.com/docs/auth/admin/verify-id-tokens, "Verify ID tokens using a
/// third-party JWT library"): RS256 over one of Google's keys, `iss` and `aud` naming the
/// project, `exp` in the future, `iat` and `auth_time` in the past, `sub` non-empty (the uid).
public struct FirebaseClaims: JWTPayload, Equatable {
    public var iss: IssuerClaim
    public var aud: AudienceClaim
    public var sub: SubjectClaim
    public var exp: ExpirationClaim
    public var iat: IssuedAtClaim
    public var authTime: Double

    public init(projectID: String, uid: String, issuedAt: Date, expiresAt: Date, authTime: Date? = nil) {
        iss = IssuerClaim(value: FirebaseClaims.issuer(projectID))
        aud = AudienceClaim(value: [projectID])
        sub = SubjectClaim(value: uid)
        exp = ExpirationClaim(value: expiresAt)
        iat = IssuedAtClaim(value: issuedAt)
        self.authTime = (authTime ?? issuedAt).timeIntervalSince1970
    }

    enum CodingKeys: String, CodingKey {
        case iss, aud, sub, exp, iat
        case authTime = "auth_time"
    }

    public static func issuer(_ projectID: String) -> String { "https://securetoken.google.com/\(projectID)" }

    /// Signature checks happen in the key collection; the project-specific checks in
    /// `FirebaseTokenVerifier.check` (they need the project id and the clock).
    public func verify(using algorithm: some JWTAlgorithm) async throws {}
}

/// Why a token was refused. The text is safe to log: it never contains the token.
public enum TokenRejection: Error, Equatable, CustomStringConvertible {
    case missing
    case malformed
    case badSignature
    case unknownKey
    case expired
    case notYetValid
    case wrongIssuer
    case wrongAudience
    case noSubject
    case keysUnavailable

    public var description: String {
        switch self {
        case .missing: "no bearer token"
        case .malformed: "the token is not a well-formed RS256 JWT"
        case .badSignature: "the token's signature does not verify"
        case .unknownKey: "the token is signed by an unknown key"
        case .expired: "the token has expired"
        case .notYetValid: "the token was issued in the future"
        case .wrongIssuer: "the token's issuer is not this project"
        case .wrongAudience: "the token's audience is not this project"
        case .noSubject: "the token has no subject (uid)"
        case .keysUnavailable: "the signing keys cannot be fetched right now"
        }
    }
}
