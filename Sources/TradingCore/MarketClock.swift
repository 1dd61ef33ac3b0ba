import Foundation

/// "Now" for trading decisions (rule staleness, guardrail windows, cooldowns). Leases and
/// schedules use the database's clock instead; this is the injected one.
public protocol MarketClock: Sendable {
    func now() async throws -> Date
}

public struct SystemMarketClock: MarketClock {
    public init() {}
    public func now() async throws -> Date { Date() }
}
