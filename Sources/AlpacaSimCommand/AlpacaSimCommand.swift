import AlpacaModels
import AlpacaSimulator
import ArgumentParser
import Foundation
import Hummingbird
import Logging
import MarketReplay

/// `alpaca-sim`: the Alpaca-compatible paper exchange on its own. Point any Alpaca client at
/// `http://HOST:PORT` (trading and market data share the port).
@main
struct AlpacaSimCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "alpaca-sim",
        abstract: "An Alpaca-compatible paper exchange replaying the committed market data.")

    @Option(help: "Address to listen on (loopback by default).") var host = "127.0.0.1"
    @Option(help: "Port (0 picks a free one and prints it).") var port = 8765
    @Option(help: "Replay start, RFC 3339 (default: 2011-03-16 09:30 ET).") var start = "2011-03-16T13:30:00Z"
    @Option(help: "Simulated seconds per real second (0: stepped through POST /_sim/clock).") var speed = 1.0
    @Option(help: "Key pairs KEY:SECRET, comma-separated.") var keys = "sim-key:sim-secret"
    @Option(help: "Market-order slippage in basis points.") var slippageBps = 0.0
    @Option(help: "Folder of the committed market data (default: data/market of the repository).") var data: String?
    @Option(help: "Add N synthetic symbols SYN01… (SPY's bars scaled, tradable) for load tests.") var syntheticSymbols = 0

    func run() async throws {
        guard let startDate = AlpacaTime.parse(start) else { throw ValidationError("--start is not RFC 3339: \(start)") }
        let pairs = try keys.split(separator: ",").map { pair -> SimulatorConfiguration.KeyPair in
            let parts = pair.split(separator: ":", maxSplits: 1)
            guard parts.count == 2 else { throw ValidationError("--keys takes KEY:SECRET pairs") }
            return .init(keyID: String(parts[0]), secret: String(parts[1]))
        }
        let environment = ProcessInfo.processInfo.environment
        guard let folder = data.map({ URL(fileURLWithPath: $0) }) ?? MarketDataSet.locateCommittedData(environment: environment) else {
            throw ValidationError("data/market not found; run from the repository or pass --data")
        }
        let market = try MarketDataSet.loadCommitted(directory: folder).addingSyntheticSymbols(syntheticSymbols)
        // Synthetic symbols trade too (the chaos runner's users buy them), not only quote.
        let synthetic = (0..<syntheticSymbols).map { n in
            SimulatorConfiguration.Asset(symbol: "SYN" + (n + 1 < 10 ? "0\(n + 1)" : "\(n + 1)"), name: "Synthetic \(n + 1) (SPY scaled)")
        }
        let configuration = SimulatorConfiguration(keys: pairs, assets: SimulatorConfiguration.defaultAssets + synthetic,
                                                   slippageBasisPoints: Decimal(slippageBps), start: startDate, speed: speed)
        var logger = Logger(label: "alpaca-sim")
        logger.logLevel = .notice
        let simulator = AlpacaSimulator(configuration: configuration, data: market, logger: logger)
        let app = simulator.application(host: host, port: port) { port in
            print("alpaca-sim listening on http://\(host):\(port) (replay from \(startDate), speed \(speed))")
        }
        try await app.runService()
    }
}
