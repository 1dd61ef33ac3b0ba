import Foundation

/// Shared JSON spellings. REST bodies (`APIBodies.swift`) are snake_case, like the config
/// document and the tables; hub messages are camelCase, as ASP.NET SignalR clients expect.
enum Presentation {
    /// The API's time format: ISO 8601, UTC, milliseconds.
    static let isoStyle = Date.ISO8601FormatStyle.iso8601.year().month().day().time(includingFractionalSeconds: true)
        .timeZone(separator: .omitted)

    static func iso(_ date: Date) -> String { date.formatted(isoStyle) }

    /// `trade_order_id` → `tradeOrderId` (the hub's spelling of a REST key).
    static func camel(_ snake: String) -> String {
        let parts = snake.split(separator: "_")
        guard let first = parts.first else { return snake }
        return String(first) + parts.dropFirst().map { $0.prefix(1).uppercased() + $0.dropFirst() }.joined()
    }
}
