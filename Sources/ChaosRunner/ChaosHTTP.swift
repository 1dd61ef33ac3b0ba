import AsyncHTTPClient
import Foundation
import NIOCore
#if canImport(Glibc)
import Glibc
#endif

/// The driver's HTTP calls (simulator control, local issuer, API) and small helpers.
enum HTTP {
    struct Reply: Sendable {
        let status: Int
        let body: Data
        var object: [String: Any] { (try? JSONSerialization.jsonObject(with: body)) as? [String: Any] ?? [:] }
        var text: String { String(decoding: body.prefix(300), as: UTF8.self) }
    }

    static func call(_ method: String, _ url: String, json: Any? = nil, token: String? = nil, timeout: Double = 10) async throws -> Reply {
        var request = HTTPClientRequest(url: url)
        switch method {
        case "POST": request.method = .POST
        case "PUT": request.method = .PUT
        case "DELETE": request.method = .DELETE
        default: request.method = .GET
        }
        if let json {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(bytes: try JSONSerialization.data(withJSONObject: json)))
        }
        if let token { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
        let response = try await HTTPClient.shared.execute(request, timeout: .milliseconds(Int64(timeout * 1000)))
        let body = try await response.body.collect(upTo: 256 << 20)
        return Reply(status: Int(response.status.code), body: Data(body.readableBytesView))
    }

    /// Polls `url` until it answers 2xx.
    static func waitReady(_ url: String, seconds: Double = 60) async throws {
        let deadline = ContinuousClock.now + .seconds(seconds)
        while ContinuousClock.now < deadline {
            if let reply = try? await call("GET", url, timeout: 1), reply.status < 300 { return }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw ChaosError("\(url) did not answer within \(Int(seconds)) s")
    }

    /// A free TCP port on loopback (bound, read, released).
    static func freePort() -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) }
        }
        guard bound == 0 else { return 0 }
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}

struct ChaosError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

func note(_ text: String) {
    let stamp = Date().formatted(.iso8601.time(includingFractionalSeconds: false))
    FileHandle.standardError.write(Data("[chaos \(stamp)] \(text)\n".utf8))
}

func percentile(_ values: [Double], _ p: Double) -> Double? {
    guard !values.isEmpty else { return nil }
    let sorted = values.sorted()
    return sorted[min(sorted.count - 1, Int((Double(sorted.count - 1) * p).rounded()))]
}

func seconds(_ value: Double?) -> String {
    value.map { String(format: "%.2f s", $0) } ?? "-"
}
