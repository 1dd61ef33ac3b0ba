import AsyncHTTPClient
import Foundation
import HybridSettings
import Logging
import NIOCore
import NIOHTTP1

/// One Alpaca host: base URL, keys and timeout; sends a request and classifies what comes back.
struct AlpacaHTTP: Sendable {
    let baseURL: URL
    let credentials: AlpacaCredentials
    let timeout: TimeAmount
    let http: HTTPClient
    let logger: Logger

    struct Reply {
        let status: Int
        let body: ByteBuffer
    }

    /// `path` starts with `/`; `query` values are percent-encoded here.
    func send(_ method: HTTPMethod, _ path: String, query: [(String, String)] = [], json: Data? = nil) async throws -> Reply {
        let base = baseURL.absoluteString.hasSuffix("/") ? String(baseURL.absoluteString.dropLast()) : baseURL.absoluteString
        var url = base + path
        if !query.isEmpty {
            url += "?" + query.map { "\(Self.encode($0.0))=\(Self.encode($0.1))" }.joined(separator: "&")
        }
        var request = HTTPClientRequest(url: url)
        request.method = method
        request.headers.add(name: "APCA-API-KEY-ID", value: credentials.keyID.reveal())
        request.headers.add(name: "APCA-API-SECRET-KEY", value: credentials.secretKey.reveal())
        request.headers.add(name: "Accept", value: "application/json")
        if let json {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(bytes: json))
        }
        let started = ContinuousClock.now
        let response: HTTPClientResponse
        let body: ByteBuffer
        do {
            response = try await http.execute(request, timeout: timeout)
            body = try await response.body.collect(upTo: 8 << 20)
        } catch let error as HTTPClientError where error == .deadlineExceeded || error == .readTimeout || error == .connectTimeout {
            AlpacaMetrics.request(method: method.rawValue, path: path, status: "timeout", started: started)
            throw AlpacaError.timeout(method: method.rawValue, path: path)
        } catch {
            AlpacaMetrics.request(method: method.rawValue, path: path, status: "error", started: started)
            throw AlpacaError.transport(method: method.rawValue, path: path,
                                        detail: credentials.scrub(String(describing: error).prefix(200).description))
        }
        let status = Int(response.status.code)
        AlpacaMetrics.request(method: method.rawValue, path: path, status: "\(status)", started: started)
        guard (200..<300).contains(status) else {
            let decoded = try? JSONDecoder().decode(ErrorBody.self, from: Data(body.readableBytesView))
            let message = decoded?.message ?? String(decoding: body.readableBytesView.prefix(300), as: UTF8.self)
            let error = AlpacaError.http(
                status: status, code: decoded?.code, message: credentials.scrub(message),
                retryAfterSeconds: RetryAfter.seconds(response.headers.first(name: "Retry-After")),
                method: method.rawValue, path: path)
            logger.debug("alpaca request failed", metadata: ["alpaca.path": "\(path)", "http.status": "\(status)"])
            throw error
        }
        return Reply(status: status, body: body)
    }

    func decode<T: Decodable>(_ type: T.Type, _ reply: Reply, _ method: HTTPMethod, _ path: String) throws -> T {
        do {
            return try JSONDecoder().decode(T.self, from: Data(reply.body.readableBytesView))
        } catch {
            throw AlpacaError.malformedResponse(method: method.rawValue, path: path, detail: "\(T.self) does not decode: \(error)".prefix(300).description)
        }
    }

    struct ErrorBody: Decodable {
        var code: Int?
        var message: String?
    }

    static let unreserved = CharacterSet(charactersIn: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")

    static func encode(_ text: String) -> String {
        text.addingPercentEncoding(withAllowedCharacters: unreserved) ?? text
    }
}
