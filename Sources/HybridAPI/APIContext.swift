import FirebaseAuth
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import TradingCore

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
    public let issues: [IssueBody]?
    /// The methods the path takes, for a 405's `Allow` header.
    public var allow: String? = nil

    public static func unauthorized(_ message: String) -> APIError { APIError(status: .unauthorized, code: "unauthorized", message: message, issues: nil) }
    public static func notFound(_ message: String) -> APIError { APIError(status: .notFound, code: "not_found", message: message, issues: nil) }
    public static func badRequest(_ message: String) -> APIError { APIError(status: .badRequest, code: "bad_request", message: message, issues: nil) }
    public static func unprocessable(_ message: String, issues: [IssueBody]? = nil) -> APIError {
        APIError(status: .unprocessableContent, code: "invalid", message: message, issues: issues)
    }
    public static func conflict(_ message: String) -> APIError { APIError(status: .conflict, code: "conflict", message: message, issues: nil) }
    public static func methodNotAllowed(allow: String) -> APIError {
        APIError(status: .methodNotAllowed, code: "method_not_allowed", message: "this path takes \(allow)", issues: nil, allow: allow)
    }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        var headers: HTTPFields = [.contentType: "application/json"]
        if status == .unauthorized { headers[.wwwAuthenticate] = "Bearer" }
        if let allow { headers[.allow] = allow }
        let body = ErrorBody(error: code, message: message, issues: issues)
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: JSONBody.data(body))))
    }
}

/// JSON in and out: the bodies of `APIBodies.swift`, encoded the one way the document spells
/// them; requests decoded into their types with the API's own 400s.
enum JSONBody {
    /// One encoder for every body and hub message (configured once; encoding does not mutate it).
    static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .custom { date, encoder in
            var container = encoder.singleValueContainer()
            try container.encode(Presentation.iso(date))
        }
        return encoder
    }()

    static func data(_ body: some Encodable) -> Data {
        (try? encoder.encode(body)) ?? Data("{}".utf8)
    }

    static func response(_ body: some Encodable, status: HTTPResponse.Status = .ok) -> Response {
        Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: data(body))))
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

    /// The request body decoded as `T`; 400 when it is not JSON or not `T`'s shape, 413 when too large.
    static func decode<T: Decodable>(_ type: T.Type, _ request: Request, context: APIContext, shape: String) async throws -> T {
        let data = try await bytes(request, context: context)
        do {
            return try JSONDecoder().decode(T.self, from: data)
        } catch {
            guard (try? JSONValue.parse(data)) != nil else { throw APIError.badRequest("the body is not valid JSON") }
            throw APIError.badRequest("send \(shape)")
        }
    }

    /// The query parameters decoded as `T` (Hummingbird's decoder); 400 when they do not fit.
    static func query<T: Decodable>(_ type: T.Type, _ request: Request, context: APIContext, help: String) throws -> T {
        do {
            return try request.uri.decodeQuery(as: T.self, context: context)
        } catch {
            throw APIError.badRequest(help)
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
