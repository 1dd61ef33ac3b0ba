import Foundation
import HybridSettings
import HybridStore
import PostgresNIO
import TradingCore

/// A client on `db`, with a pool of at most `poolSize` connections, for the duration of `body`.
public func withClient<T: Sendable>(_ db: DatabaseSettings, poolSize: Int = 10,
                                    _ body: @Sendable (PostgresClient) async throws -> T) async throws -> T {
    var settings = db
    settings.poolSize = poolSize
    return try await PostgresClientFactory.withClient(settings, logger: TestDatabase.logger, body)
}

extension PostgresClient {
    /// One integer from a query (counts in assertions); 0 when it returns no row.
    public func int(_ query: PostgresQuery) async throws -> Int {
        try await withConnection { db in
            var value = 0
            for try await n in try await db.query(query, logger: TestDatabase.logger).decode(Int.self) { value = n }
            return value
        }
    }

    public func exec(_ query: PostgresQuery) async throws {
        _ = try await withConnection { try await $0.query(query, logger: TestDatabase.logger) }
    }
}

/// Reading a JSON document in assertions: the wrong case reads as empty (or nil).
extension JSONValue {
    public var array: [JSONValue] { if case .array(let items) = self { items } else { [] } }
    public var int: Int? { if case .number(let n) = self { NSDecimalNumber(decimal: n).intValue } else { nil } }
    public var string: String? { if case .string(let s) = self { s } else { nil } }
    public var bool: Bool? { if case .bool(let b) = self { b } else { nil } }
    public subscript(index: Int) -> JSONValue? { index < array.count ? array[index] : nil }
}
