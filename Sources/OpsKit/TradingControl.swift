import Foundation
import HybridStore
import JobEngine
import Logging
import PostgresNIO
import TradingCore
import TradingJobs

/// The farm-wide halt and an operator's cancel of an unsent order (`hybridhub-ops trading`,
/// `hybridhub-ops orders cancel`).
public enum TradingControl {
    public struct HaltEvent: Sendable {
        public var halted: Bool
        public var reason: String?
        public var setBy: String
        public var at: Date
    }

    public static func status(on db: PostgresConnection, logger: Logger) async throws -> HaltReport {
        let halt = try await HaltStore.current(on: db, logger: logger)
        let rows = try await db.query("""
            SELECT halted, reason, set_by, at FROM trading_halt_events ORDER BY id DESC LIMIT 10
            """, logger: logger)
        var events: [HaltEvent] = []
        for try await (halted, reason, setBy, at) in rows.decode((Bool, String?, String, Date).self) {
            events.append(HaltEvent(halted: halted, reason: reason, setBy: setBy, at: at))
        }
        let pending = try await db.query("SELECT count(*)::int FROM trade_orders WHERE status = 'pending_submit'", logger: logger)
        var unsent = 0
        for try await n in pending.decode(Int.self) { unsent = n }
        return HaltReport(halt: halt, events: events, pendingSubmit: unsent)
    }

    /// Halts or resumes, in its own transaction. Returns once every order POST in flight has
    /// finished (they hold the halt row): from the commit on, no stage starts one.
    public static func set(halted: Bool, reason: String?, by: String, client: PostgresClient, logger: Logger) async throws -> HaltReport {
        _ = try await client.transaction(logger: logger) { db in
            try await HaltStore.set(halted: halted, reason: reason, by: by, on: db, logger: logger)
        }
        return try await client.withConnection { try await status(on: $0, logger: logger) }
    }

    /// Asks for an unsent order to be cancelled: recorded on the row (the submit attempt reads
    /// it under its lock), and a `submit-order` attempt enqueued that asks Alpaca and ends the
    /// order `canceled`, or records what Alpaca has if an earlier attempt got through.
    public static func cancel(order reference: String, reason: String, client: PostgresClient,
                              logger: Logger) async throws -> OrderCancelReport {
        try await client.transaction(logger: logger) { db in
            guard let order = try await findOrder(reference, on: db, logger: logger) else {
                return OrderCancelReport(reference: reference, order: nil, requested: false)
            }
            let marked = try await OrderStore.requestCancel(order.id, reason: reason, on: db, logger: logger)
            if marked != nil {
                _ = try await JobStore.enqueue(try TradingJobCatalog.submitOrder.job(
                    SubmitOrder(tradeOrderID: order.id, clientOrderID: order.clientOrderID)), on: db, logger: logger)
            }
            return OrderCancelReport(reference: reference, order: marked ?? order, requested: marked != nil)
        }
    }

    /// An order by its id (uuid) or its client_order_id.
    static func findOrder(_ reference: String, on db: PostgresConnection, logger: Logger) async throws -> StoredOrder? {
        if let id = UUID(uuidString: reference) { return try await OrderStore.order(id, on: db, logger: logger) }
        return try await OrderStore.order(clientOrderID: reference, on: db, logger: logger)
    }
}

public struct HaltReport: OpsReport {
    public let halt: TradingHalt
    public let events: [TradingControl.HaltEvent]
    public let pendingSubmit: Int

    public var json: JSONValue {
        .object([
            "halted": .bool(halt.halted), "reason": halt.reason.map(JSONValue.string) ?? .null,
            "set_by": halt.setBy.map(JSONValue.string) ?? .null, "set_at": halt.setAt.map { .string(Output.iso($0)) } ?? .null,
            "pending_submit_orders": .number(Decimal(pendingSubmit)),
            "events": .array(events.map { event in
                .object(["halted": .bool(event.halted), "reason": event.reason.map(JSONValue.string) ?? .null,
                         "set_by": .string(event.setBy), "at": .string(Output.iso(event.at))])
            }),
        ])
    }

    public var text: String {
        var lines = [Output.fields([
            ("trading", halt.halted ? "HALTED" : "running"), ("reason", halt.reason ?? ""), ("set by", halt.setBy ?? ""),
            ("since", halt.setAt.map(Output.iso) ?? ""), ("orders not yet sent", "\(pendingSubmit)"),
        ])]
        if !events.isEmpty {
            lines.append("")
            lines.append(Output.table(["at", "action", "by", "reason"], events.map {
                [Output.iso($0.at), $0.halted ? "halt" : "resume", $0.setBy, $0.reason ?? ""]
            }))
        }
        return lines.joined(separator: "\n")
    }
}

public struct OrderCancelReport: OpsReport {
    public let reference: String
    public let order: StoredOrder?
    /// True when the cancel was recorded (the order had not been sent).
    public let requested: Bool

    public var outcome: String {
        guard let order else { return "not_found" }
        if requested { return "cancel_requested" }
        return order.isTerminal ? "already_ended" : "already_sent"
    }

    public var json: JSONValue {
        .object([
            "reference": .string(reference), "outcome": .string(outcome),
            "trade_order_id": order.map { .string($0.id.uuidString.lowercased()) } ?? .null,
            "client_order_id": order.map { .string($0.clientOrderID) } ?? .null,
            "status": order.map { .string($0.status) } ?? .null,
        ])
    }

    public var text: String {
        switch outcome {
        case "not_found": "no order \(reference)"
        case "cancel_requested":
            "cancel requested for \(order?.clientOrderID ?? reference): its submit attempt asks Alpaca and ends it canceled (or records what Alpaca has)"
        case "already_ended": "order \(order?.clientOrderID ?? reference) has ended (\(order?.status ?? "?")); nothing to cancel"
        default: "order \(order?.clientOrderID ?? reference) was already sent (\(order?.status ?? "?")); cancel it at the broker"
        }
    }
}
