import FirebaseAuth
import Foundation
import HybridTestSupport
import Testing

/// Sign-in: only tokens signed by the configured keys, for this project, in date, get in.
@Suite struct AuthTests {
    @Test func missingForgedExpiredAndForeignTokensGet401() async throws {
        try await APIFarm.run(worker: false) { api in
            try await api.farm.seedUser()
            let good = try await api.token()
            #expect(try await api.call(.GET, "/v1/me/questions", token: good).status == 200)

            let stranger = try await LocalTokenIssuer.make(projectID: APIFarm.projectID)
            let now = Date()
            let cases: [(String, String?)] = [
                ("no token", nil),
                ("garbage", "not-a-jwt"),
                ("another key", try await stranger.token(uid: Farm.uid)),
                ("expired", try await api.issuer.token(uid: Farm.uid, issuedAt: now.addingTimeInterval(-7200), lifetime: 3600)),
                ("issued in the future", try await api.issuer.token(uid: Farm.uid, issuedAt: now.addingTimeInterval(3600))),
                ("wrong audience", try await api.issuer.token(uid: Farm.uid, audience: "another-project")),
                ("wrong issuer", try await api.issuer.token(uid: Farm.uid, issuer: "https://securetoken.google.com/another-project")),
                ("alg none", Self.unsigned(uid: Farm.uid)),
                ("tampered payload", Self.swapPayload(good, uid: "someone-else")),
            ]
            for (name, token) in cases {
                let reply = try await api.call(.GET, "/v1/me/questions", token: token)
                #expect(reply.status == 401, "\(name): \(reply.status) \(reply.text)")
                #expect(reply.json["error"] as? String == "unauthorized", "\(name)")
                #expect(reply.headers.contains { $0.0.lowercased() == "www-authenticate" }, "\(name)")
            }
            // The access_token query parameter works as the header does (browsers, SignalR).
            #expect(try await api.call(.GET, "/v1/me/questions?access_token=\(good)", token: nil).status == 200)
        }
    }

    @Test func claimChecksOnTheInjectedClock() throws {
        let now = Date()
        let check = { (claims: FirebaseClaims) throws(TokenRejection) in
            try FirebaseTokenVerifier.check(claims, projectID: "p", now: now)
        }
        let fresh = FirebaseClaims(projectID: "p", uid: "u1", issuedAt: now.addingTimeInterval(-10), expiresAt: now.addingTimeInterval(3600))
        #expect(try check(fresh).uid == "u1")
        var claims = fresh
        claims.sub = .init(value: "")
        #expect(throws: TokenRejection.noSubject) { try check(claims) }
        claims = fresh
        claims.aud = .init(value: ["p", "q"])
        #expect(throws: TokenRejection.wrongAudience) { try check(claims) }
        claims = fresh
        claims.authTime = now.addingTimeInterval(600).timeIntervalSince1970
        #expect(throws: TokenRejection.notYetValid) { try check(claims) }
        claims = fresh
        claims.exp = .init(value: now.addingTimeInterval(-31))
        #expect(throws: TokenRejection.expired) { try check(claims) }
    }

    static func base64url(_ text: String) -> String {
        Data(text.utf8).base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    static func unsigned(uid: String) -> String {
        let now = Int(Date().timeIntervalSince1970)
        let header = base64url(#"{"alg":"none","typ":"JWT"}"#)
        let payload = base64url(#"{"iss":"https://securetoken.google.com/\#(APIFarm.projectID)","aud":"\#(APIFarm.projectID)","sub":"\#(uid)","iat":\#(now),"exp":\#(now + 3600),"auth_time":\#(now)}"#)
        return "\(header).\(payload)."
    }

    static func swapPayload(_ token: String, uid: String) -> String {
        let parts = token.split(separator: ".").map(String.init)
        let now = Int(Date().timeIntervalSince1970)
        let payload = base64url(#"{"iss":"https://securetoken.google.com/\#(APIFarm.projectID)","aud":"\#(APIFarm.projectID)","sub":"\#(uid)","iat":\#(now),"exp":\#(now + 3600),"auth_time":\#(now)}"#)
        return "\(parts[0]).\(payload).\(parts[2])"
    }
}
