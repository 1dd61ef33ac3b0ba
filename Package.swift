// swift-tools-version: 6.1
import PackageDescription

// Targets are split so that the trading domain (TradingCore) compiles against Foundation only,
// each external system has one module (Postgres: HybridStore), one composition root
// (HybridHubApp) wires them, and executables stay thin.
let package = Package(
    name: "HybridHub",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "hybridhub", targets: ["hybridhub"]),
        .executable(name: "hybridhub-jobs-lab", targets: ["JobsLab"]),
        .executable(name: "alpaca-sim", targets: ["AlpacaSimCommand"]),
        .executable(name: "hybridhub-pipeline-bench", targets: ["PipelineBench"]),
        .executable(name: "hybridhub-books-bench", targets: ["BooksBench"]),
        .executable(name: "hybridhub-ops", targets: ["OpsCLI"]),
        .executable(name: "hybridhub-chaos", targets: ["ChaosRunner"]),
    ],
    dependencies: [
        .package(url: "https://github.com/vapor/postgres-nio", from: "1.33.2"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.3"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/x-sheep/swift-property-based", from: "2.0.1"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/hummingbird-project/hummingbird-websocket", from: "2.8.1"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.8.0"),
        .package(url: "https://github.com/vapor/jwt-kit", from: "5.8.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-crypto", from: "4.5.2"),
    ],
    targets: [
        // Pure domain: config document, rules, guardrails, answers. Foundation only, no IO.
        .target(name: "TradingCore"),
        // MessagePack (Alpaca's market-data stream encoding). Foundation only.
        .target(name: "MessagePack"),
        // SplitMix64, the seeded generator of the chaos runner and the randomized tests. Standard library only.
        .target(name: "SeededRandom"),
        // Environment variables of the plan (§11) and the worker flags, read in one place.
        .target(name: "HybridSettings"),
        // Loaders for the market data committed under data/market (pure parsing).
        .target(name: "MarketReplay", dependencies: ["TradingCore"]),
        // Postgres: connection settings, the local-only guard, the migration runner, queries.
        .target(
            name: "HybridStore",
            dependencies: [
                "TradingCore",
                "HybridSettings",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // The job engine: generic over job kinds, knows nothing of trading.
        .target(
            name: "JobEngine",
            dependencies: [
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        // Alpaca's JSON (trading and market data): the only code that knows it. Foundation only.
        .target(name: "AlpacaModels"),
        // The Alpaca-compatible paper exchange replaying the committed data (Hummingbird).
        .target(
            name: "AlpacaSimulator",
            dependencies: [
                "AlpacaModels", "MarketReplay", "TradingCore", "MessagePack",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdWebSocket", package: "hummingbird-websocket"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .executableTarget(
            name: "AlpacaSimCommand",
            dependencies: [
                "AlpacaSimulator", "MarketReplay", "AlpacaModels",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // Alpaca's REST APIs (async-http-client) and streams (WebSocket client): errors classified, keys kept secret.
        .target(
            name: "AlpacaClient",
            dependencies: [
                "AlpacaModels", "HybridSettings", "TradingCore",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "HummingbirdWSClient", package: "hummingbird-websocket"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
            ]
        ),
        // Sign-in: Firebase ID tokens (RS256 JWTs) checked against a JWKS; a local issuer for tests and the demo.
        .target(
            name: "FirebaseAuth",
            dependencies: [
                .product(name: "JWTKit", package: "jwt-kit"),
                .product(name: "_CryptoExtras", package: "swift-crypto"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // The five trading job kinds: payloads and specs (jobs/ states the same); handlers join them.
        .target(name: "TradingJobs", dependencies: ["JobEngine", "TradingCore"]),
        // The product: the five handlers, the tick planner and the answer service.
        .target(
            name: "TradingPipeline",
            dependencies: [
                "TradingCore", "TradingJobs", "JobEngine", "HybridStore", "AlpacaClient", "AlpacaModels",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        // The API role: /v1 for the app, the SignalR hub, the approval page (Hummingbird).
        .target(
            name: "HybridAPI",
            dependencies: [
                "FirebaseAuth", "HybridMetrics", "TradingPipeline", "HybridStore", "TradingCore",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "HummingbirdWebSocket", package: "hummingbird-websocket"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            // The OpenAPI document of /v1, served as GET /openapi.yaml: kept as a file, compiled in.
            resources: [.embedInCode("openapi.yaml")]
        ),
        // swift-metrics → Prometheus, and the /metrics endpoint of processes without an HTTP server.
        .target(
            name: "HybridMetrics",
            dependencies: [
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // What every executable does first and last: settings and logging, migrations, services run.
        .target(
            name: "ProcessKit",
            dependencies: [
                "HybridMetrics", "HybridSettings", "HybridStore",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        // Composition root: the only place that builds clients and services from settings.
        .target(
            name: "HybridHubApp",
            dependencies: [
                "HybridMetrics", "ProcessKit",
                "TradingCore", "HybridSettings", "HybridStore", "TradingPipeline", "AlpacaClient", "JobEngine",
                "TradingJobs",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .executableTarget(
            name: "hybridhub",
            dependencies: [
                "HybridHubApp", "HybridSettings", "HybridStore", "JobEngine", "TradingPipeline", "TradingCore", "HybridAPI", "FirebaseAuth",
                "ProcessKit",
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // The engine alone with lab job kinds: real worker processes for tests, chaos and benchmarks.
        .executableTarget(
            name: "JobsLab",
            dependencies: [
                "JobEngine", "HybridSettings", "HybridStore", "ProcessKit",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        // The pipeline benchmark's driver (apart from the tests; ops/bench/pipeline/run.sh).
        .executableTarget(
            name: "PipelineBench",
            dependencies: [
                "HybridHubApp", "HybridStore", "JobEngine", "TradingCore", "TradingPipeline", "ProcessKit",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
            ]
        ),
        // The books benchmark's driver (apart from the tests; ops/bench/books/run.sh).
        .executableTarget(
            name: "BooksBench",
            dependencies: [
                "HybridStore", "TradingCore", "ProcessKit",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
            ]
        ),
        // The ops CLI's queries, state transitions and reports (tables, JSON): testable in-process.
        .target(
            name: "OpsKit",
            dependencies: [
                "JobEngine", "HybridStore", "HybridSettings", "TradingCore", "TradingJobs",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // `hybridhub-ops`: the operator's CLI over OpsKit, configured like the servers.
        .executableTarget(
            name: "OpsCLI",
            dependencies: [
                "OpsKit", "ProcessKit", "HybridStore", "TradingCore",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
            ]
        ),
        // `hybridhub-chaos`: the chaos runner (ops/chaos/run.sh; shortened in the test suite).
        .executableTarget(
            name: "ChaosRunner",
            dependencies: [
                "ProcessKit", "HybridStore", "SeededRandom", "JobEngine", "TradingCore",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
            ]
        ),
        // Test-only helpers: per-suite databases cloned from a migrated template.
        .target(
            name: "HybridTestSupport",
            dependencies: [
                "HybridStore", "HybridSettings", "AlpacaSimulator", "MarketReplay", "TradingPipeline", "TradingJobs", "JobEngine",
                "AlpacaClient", "AlpacaModels", "TradingCore", "HybridHubApp",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .testTarget(
            name: "TradingCoreTests",
            dependencies: [
                "TradingCore",
                .product(name: "PropertyBased", package: "swift-property-based"),
            ]
        ),
        .testTarget(
            name: "JobEngineTests",
            dependencies: [
                "JobEngine", "HybridTestSupport", "HybridSettings",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "PropertyBased", package: "swift-property-based"),
            ]
        ),
        .testTarget(
            name: "AlpacaSimulatorTests",
            dependencies: [
                "AlpacaSimulator", "AlpacaModels", "MarketReplay", "HybridTestSupport",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .testTarget(
            name: "TradingPipelineTests",
            dependencies: [
                "TradingPipeline", "TradingJobs", "JobEngine", "HybridStore", "HybridTestSupport", "HybridSettings",
                "AlpacaClient", "AlpacaModels", "AlpacaSimulator", "TradingCore", "SeededRandom", "HybridHubApp", "OpsKit",
                "MarketReplay",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .testTarget(
            name: "HybridAPITests",
            dependencies: [
                "HybridAPI", "FirebaseAuth", "HybridTestSupport", "TradingJobs",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .testTarget(
            name: "OpsCLITests",
            dependencies: [
                "OpsKit", "JobEngine", "TradingJobs", "HybridStore", "HybridTestSupport", "HybridSettings", "TradingCore",
                "TradingPipeline",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .testTarget(name: "TradingJobsTests", dependencies: ["TradingJobs", "JobEngine"]),
        .testTarget(name: "HybridSettingsTests", dependencies: ["HybridSettings"]),
        .testTarget(
            name: "MessagePackTests",
            dependencies: ["MessagePack", "SeededRandom", .product(name: "PropertyBased", package: "swift-property-based")]
        ),
        .testTarget(name: "MarketReplayTests", dependencies: ["MarketReplay", "TradingCore"]),
        .testTarget(
            name: "HybridStoreTests",
            dependencies: [
                "HybridStore", "HybridSettings", "HybridTestSupport", "TradingCore",
                .product(name: "PostgresNIO", package: "postgres-nio"),
            ]
        ),
    ],
    swiftLanguageModes: [.v6]
)
