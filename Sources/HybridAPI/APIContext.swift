import FirebaseAuth
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// The request context of the API: Hummingbird's core plus the signed-in user.
public struct APIContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    /// Set by `AuthMiddleware` on `/v1/me/...`.
    public var uid: String?

    public init(source: Source) {
        coreContext = .init(source: source)
        uid = nil
    }

    /// Bodies above this are refused (413) before they are read.
    public var maxUploadSize: Int { 64 * 1024 }

    func user() throws -> String {
        guard let uid else { throw APIError.unauthorized("sign in required") }
        return uid
    }
}

/// Errors the API answers with, as `{"error": <code>, "message": <text>}` (and `issues` for an
/// invalid config). Never a stack trace, never a secret.
public struct APIError: Error, HTTPResponseError {
    public let status: HTTPResponse.Status
    public let code: String
    public let message: String
    public let issues: [[String: String]]?
    /// The methods the path takes, for a 405's `Allow` header.
    public var allow: String? = nil

    public static func unauthorized(_ message: String) -> APIError { APIError(status: .unauthorized, code: "unauthorized", message: message, issues: nil) }
    public static func notFound(_ message: String) -> APIError { APIError(status: .notFound, code: "not_found", message: message, issues: nil) }
    public static func badRequest(_ message: String) -> APIError { APIError(status: .badRequest, code: "bad_request", message: message, issues: nil) }
    public static func unprocessable(_ message: String, issues: [[String: String]]? = nil) -> APIError {
        APIError(status: .unprocessableContent, code: "invalid", message: message, issues: issues)
    }
    public static func conflict(_ message: String) -> APIError { APIError(status: .conflict, code: "conflict", message: message, issues: nil) }
    public static func methodNotAllowed(allow: String) -> APIError {
        APIError(status: .methodNotAllowed, code: "method_not_allowed", message: "this path takes \(allow)", issues: nil, allow: allow)
    }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        var body: [String: Any] = ["error": code, "message": message]
        if let issues { body["issues"] = issues }
        var headers: HTTPFields = [.contentType: "application/json"]
        if status == .unauthorized { headers[.wwwAuthenticate] = "Bearer" }
        if let allow { headers[.allow] = allow }
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: JSONBody.data(body))))
    }
}

enum JSONBody {
    static func data(_ object: Any) -> Data {
        (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data("{}".utf8)
    }

    static func response(_ object: Any, status: HTTPResponse.Status = .ok) -> Response {
        Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: data(object))))
    }

    /// The request body's bytes; 400 when empty, 413 when too large.
    static func bytes(_ request: Request, context: APIContext) async throws -> Data {
        let buffer: ByteBuffer
        do {
            buffer = try await request.body.collect(upTo: context.maxUploadSize)
        } catch {
            throw APIError(status: .contentTooLarge, code: "too_large", message: "the body is larger than \(context.maxUploadSize) bytes", issues: nil)
        }
        guard buffer.readableBytes > 0 else { throw APIError.badRequest("the body is empty; send JSON") }
        return Data(buffer.readableBytesView)
    }

    /// The request body as a JSON value; 400 when it is not JSON, 413 when too large.
    static func read(_ request: Request, context: APIContext) async throws -> Any {
        let data = try await bytes(request, context: context)
        do {
            return try JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed])
        } catch {
            throw APIError.badRequest("the body is not valid JSON")
        }
    }
}

/// Bearer tokens from the `Authorization` header, or the `access_token` query parameter
/// (browsers cannot set headers on a WebSocket, and SignalR clients send it there).
enum BearerToken {
    static func from(authorization: String?, query: String?) -> String? {
        if let authorization, authorization.lowercased().hasPrefix("bearer ") {
            let token = authorization.dropFirst(7).trimmingCharacters(in: .whitespaces)
            if !token.isEmpty { return token }
        }
        return query.flatMap { $0.isEmpty ? nil : $0 }
    }
}

/// Signs in every request under `/v1/me`: 401 for a missing, forged, expired or
/// wrong-audience token; the uid becomes the context's user.
struct AuthMiddleware: RouterMiddleware {
    typealias Context = APIContext
    let verifier: any TokenVerifier

    func handle(_ request: Request, context: APIContext, next: (Request, APIContext) async throws -> Response) async throws -> Response {
        guard let token = BearerToken.from(authorization: request.headers[.authorization],
                                           query: request.uri.queryParameters["access_token"].map(String.init)) else {
            throw APIError.unauthorized("send Authorization: Bearer <Firebase ID token>")
        }
        var context = context
        do {
            context.uid = try await verifier.verify(token).uid
        } catch {
            throw APIError.unauthorized(error.description)
        }
        return try await next(request, context)
    }
}
