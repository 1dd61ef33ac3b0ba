import Foundation

/// How a simulator instance behaves. Tests build one directly; the executable from flags.
public struct SimulatorConfiguration: Sendable {
    public struct KeyPair: Sendable, Hashable {
        public var keyID: String
        public var secret: String
        public init(keyID: String, secret: String) {
            self.keyID = keyID
            self.secret = secret
        }
    }

    public struct Asset: Sendable, Hashable {
        public var symbol: String
        public var name: String
        public var exchange: String
        public var tradable: Bool
        public var fractionable: Bool
        public init(symbol: String, name: String, exchange: String = "ARCA", tradable: Bool = true, fractionable: Bool = true) {
            self.symbol = symbol
            self.name = name
            self.exchange = exchange
            self.tradable = tradable
            self.fractionable = fractionable
        }
    }

    /// Each key pair is its own paper account.
    public var keys: [KeyPair]
    public var assets: [Asset]
    public var startingCash: Decimal
    /// Market orders fill this many basis points worse than the replayed price.
    public var slippageBasisPoints: Decimal
    /// Where the replay starts and how fast it runs (0 = stepped only).
    public var start: Date
    public var speed: Double

    public init(keys: [KeyPair] = [KeyPair(keyID: "sim-key", secret: "sim-secret")],
                assets: [Asset] = SimulatorConfiguration.defaultAssets, startingCash: Decimal = 100_000,
                slippageBasisPoints: Decimal = 0, start: Date, speed: Double = 0) {
        self.keys = keys
        self.assets = assets
        self.startingCash = startingCash
        self.slippageBasisPoints = slippageBasisPoints
        self.start = start
        self.speed = speed
    }

    /// SPY has data; the others exist so pre-flight refusals can be exercised.
    public static let defaultAssets: [Asset] = [
        Asset(symbol: "SPY", name: "SPDR S&P 500 ETF Trust"),
        Asset(symbol: "AAPL", name: "Apple Inc.", exchange: "NASDAQ"),
        Asset(symbol: "MSFT", name: "Microsoft Corporation", exchange: "NASDAQ"),
        Asset(symbol: "QQQ", name: "Invesco QQQ Trust", exchange: "NASDAQ"),
        Asset(symbol: "NOFRAC", name: "Simulated non-fractionable asset", exchange: "NYSE", fractionable: false),
        Asset(symbol: "HALTED", name: "Simulated untradable asset", exchange: "NYSE", tradable: false, fractionable: false),
    ]
}
