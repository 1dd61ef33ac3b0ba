import AlpacaSimulator
import Foundation
import Logging
import MarketReplay
import ServiceLifecycle

/// The project's Alpaca simulator on 127.0.0.1:<free port>, for tests that talk to it over
/// real sockets (the pipeline's clients, alpaca-py, worker processes).
public struct RunningSimulator: Sendable {
    public let simulator: AlpacaSimulator
    public let url: URL
    public static let keyID = "sim-key"
    public static let secret = "sim-secret"

    public static let data: MarketDataSet? = try? MarketDataSet.loadCommitted(
        directory: TestDatabase.repositoryRoot.appendingPathComponent("data/market"))

    public static func run<T: Sendable>(
        start: Date, speed: Double = 0, keys: [SimulatorConfiguration.KeyPair] = [.init(keyID: keyID, secret: secret)],
        _ body: @Sendable (RunningSimulator) async throws -> T
    ) async throws -> T {
        guard let data else { throw CocoaError(.fileReadNoSuchFile) }
        let simulator = AlpacaSimulator(configuration: SimulatorConfiguration(keys: keys, start: start, speed: speed), data: data)
        let (ports, continuation) = AsyncStream.makeStream(of: Int.self)
        let app = simulator.application(port: 0) { continuation.yield($0) }
        let logger = Logger(label: "sim-test")
        let group = ServiceGroup(configuration: .init(services: [app], logger: logger))
        return try await withServiceGroup(group, logger: logger) {
            var port = 0
            for await value in ports { port = value; break }
            guard let url = URL(string: "http://127.0.0.1:\(port)") else { throw CocoaError(.fileReadInvalidFileName) }
            return try await body(RunningSimulator(simulator: simulator, url: url))
        }
    }

    /// Orders the simulator holds for `clientOrderID` (exactly-once checks read this).
    public func orders(clientOrderID: String) -> Int {
        simulator.exchange.ledger().ordersPerClientOrderID[clientOrderID] ?? 0
    }
}
