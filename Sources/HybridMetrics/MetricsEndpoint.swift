import Foundation
import Hummingbird
import Logging
import Metrics
import NIOCore
import Prometheus
import Synchronization

/// swift-metrics → Prometheus, once per process, and the `/metrics` endpoint that serves it.
public enum ProcessMetrics {
    private static let registry = Mutex<PrometheusCollectorRegistry?>(nil)

    /// Bootstraps swift-metrics with a Prometheus registry (first call only; later calls
    /// return the same registry, as MetricsSystem may be bootstrapped once).
    @discardableResult
    public static func bootstrap() -> PrometheusCollectorRegistry {
        registry.withLock { current in
            if let current { return current }
            let made = PrometheusCollectorRegistry()
            MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: made))
            current = made
            return made
        }
    }

    /// The text exposition of everything recorded in this process.
    public static func exposition() -> String {
        bootstrap().emitToString()
    }

    /// A `GET /metrics` response.
    public static func response() -> Response {
        Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                 body: .init(byteBuffer: ByteBuffer(string: exposition())))
    }
}

/// A small HTTP server with `/metrics` (and `/health`) for processes that have no HTTP server
/// of their own: workers, schedulers. Port 0 picks a free port; the address is logged.
public struct MetricsEndpoint: Sendable {
    public let host: String
    public let port: Int
    let logger: Logger

    public init(host: String, port: Int, logger: Logger) {
        self.host = host
        self.port = port
        self.logger = logger
    }

    public func application() -> some ApplicationProtocol {
        ProcessMetrics.bootstrap()
        let router = Router()
        router.get("/metrics") { _, _ in ProcessMetrics.response() }
        router.get("/health") { _, _ in Response(status: .ok, body: .init(byteBuffer: ByteBuffer(string: "ok\n"))) }
        let logger = self.logger
        let host = self.host
        return Application(router: router, configuration: .init(address: .hostname(host, port: port), serverName: nil),
                           onServerRunning: { channel in
                               let port = channel.localAddress?.port ?? 0
                               logger.notice("metrics on http://\(host):\(port)/metrics", metadata: ["metrics.port": "\(port)"])
                           },
                           logger: logger)
    }
}
