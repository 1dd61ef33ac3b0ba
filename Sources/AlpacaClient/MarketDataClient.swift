import AlpacaModels
import AsyncHTTPClient
import Foundation
import Logging
import NIOCore

/// What the pipeline reads from Alpaca's market data API: one call for many symbols.
public protocol MarketDataAPI: Sendable {
    /// `GET /v2/stocks/snapshots?symbols=…&feed=…`: latest trade, quote, minute bar, daily bar
    /// and previous daily bar per symbol; symbols without data are absent.
    func snapshots(symbols: [String], feed: String) async throws -> [String: AlpacaSnapshot]
}

public struct AlpacaMarketDataClient: MarketDataAPI {
    let transport: AlpacaHTTP

    public init(baseURL: URL, credentials: AlpacaCredentials, timeoutSeconds: Double = 10,
                http: HTTPClient = .shared, logger: Logger) {
        transport = AlpacaHTTP(baseURL: baseURL, credentials: credentials,
                               timeout: .milliseconds(Int64(timeoutSeconds * 1000)), http: http, logger: logger)
    }

    public func snapshots(symbols: [String], feed: String) async throws -> [String: AlpacaSnapshot] {
        guard !symbols.isEmpty else { return [:] }
        guard symbols.allSatisfy(SymbolFormat.isValid) else {
            throw AlpacaError.invalidRequest("symbols must be 1-10 characters of A-Z, 0-9, '.' or '/'")
        }
        let path = "/v2/stocks/snapshots"
        let reply = try await transport.send(.GET, path, query: [("symbols", symbols.joined(separator: ",")), ("feed", feed)])
        return try transport.decode([String: AlpacaSnapshot].self, reply, .GET, path)
    }
}

enum SymbolFormat {
    static func isValid(_ symbol: String) -> Bool {
        (1...10).contains(symbol.count) && symbol.allSatisfy { $0.isASCII && ($0.isUppercase || $0.isNumber || $0 == "." || $0 == "/") }
    }
}
