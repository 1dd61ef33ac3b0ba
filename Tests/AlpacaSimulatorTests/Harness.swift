import AlpacaSimulator
import AsyncHTTPClient
import Foundation
import HybridTestSupport
import Hummingbird
import MarketReplay
import NIOCore
import ServiceLifecycle

/// A simulator on 127.0.0.1:<free port>, talked to over real sockets.
struct Sim {
    let simulator: AlpacaSimulator
    let base: String

    static let data: MarketDataSet? = try? MarketDataSet.loadCommitted(
        directory: TestDatabase.repositoryRoot.appendingPathComponent("data/market"))

    /// 2011-03-16 09:31 ET, the clock stepped (speed 0) unless asked otherwise.
    static let marketOpen = Date(timeIntervalSince1970: 1_300_282_260)

    struct Reply {
        let status: Int
        let body: Data
        let headers: [(String, String)]

        func json<T: Decodable>(_ type: T.Type) throws -> T { try JSONDecoder().decode(T.self, from: body) }
        var object: [String: Any] { ((try? JSONSerialization.jsonObject(with: body)) as? [String: Any]) ?? [:] }
        var text: String { String(decoding: body, as: UTF8.self) }
        func header(_ name: String) -> String? { headers.first { $0.0.lowercased() == name.lowercased() }?.1 }
    }

    enum Method: String { case GET, POST, DELETE, PATCH }

    func call(_ method: Method, _ path: String, json: String? = nil, key: String? = "sim-key",
              secret: String? = "sim-secret", timeout: TimeAmount = .seconds(10)) async throws -> Reply {
        var request = HTTPClientRequest(url: base + path)
        request.method = .init(rawValue: method.rawValue)
        if let key { request.headers.add(name: "APCA-API-KEY-ID", value: key) }
        if let secret { request.headers.add(name: "APCA-API-SECRET-KEY", value: secret) }
        if let json {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(string: json))
        }
        let response = try await HTTPClient.shared.execute(request, timeout: timeout)
        let body = try await response.body.collect(upTo: 16 << 20)
        return Reply(status: Int(response.status.code), body: Data(body.readableBytesView),
                     headers: response.headers.map { ($0.name, $0.value) })
    }

    func control(_ path: String, _ json: String) async throws -> Reply {
        try await call(.POST, path, json: json, key: nil, secret: nil)
    }

    static func run<T: Sendable>(
        start: Date = marketOpen, speed: Double = 0, slippage: Decimal = 0,
        _ body: @Sendable (Sim) async throws -> T
    ) async throws -> T {
        guard let data else { throw CocoaError(.fileReadNoSuchFile) }
        let configuration = SimulatorConfiguration(
            keys: [.init(keyID: "sim-key", secret: "sim-secret"), .init(keyID: "other-key", secret: "other-secret")],
            slippageBasisPoints: slippage, start: start, speed: speed)
        let simulator = AlpacaSimulator(configuration: configuration, data: data)
        let (ports, continuation) = AsyncStream.makeStream(of: Int.self)
        let app = simulator.application(port: 0) { continuation.yield($0) }
        let group = ServiceGroup(configuration: .init(services: [app], logger: .init(label: "sim-test")))
        return try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            var port = 0
            for await value in ports { port = value; break }
            do {
                let result = try await body(Sim(simulator: simulator, base: "http://127.0.0.1:\(port)"))
                await group.triggerGracefulShutdown()
                return result
            } catch {
                await group.triggerGracefulShutdown()
                throw error
            }
        }
    }
}
