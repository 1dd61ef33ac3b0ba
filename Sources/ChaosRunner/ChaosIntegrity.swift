import Foundation
import PostgresNIO
import TradingCore

/// The order-integrity assertions: the books equal the simulator's ledger, every order at the
/// simulator is an intent a user approved, none was sent inside a stop window, none older
/// than the maximum approval age.
extension ChaosChecks {
    struct BookOrder: Sendable {
        var clientOrderID: String
        var uid: String
        var ruleID: String?
        var status: String
        var filledQty: Decimal?
        var alpacaOrderID: String?
        var intentSymbol: String?
        var intentSide: String?
        var intentNotional: Decimal?
        var intentQty: Decimal?
        var decidedAt: Date
        var approved: Bool
        /// Workers that died holding this order's submit (their POST may have been in flight).
        var diedWorkers: [String]
    }

    func bookOrders() async throws -> [String: BookOrder] {
        try await client.withConnection { db in
            var result: [String: BookOrder] = [:]
            let rows = try await db.query("""
                SELECT t.client_order_id, t.firebase_uid, t.rule_id, t.status, t.filled_qty, t.alpaca_order_id,
                       t.intent->>'symbol', t.intent->>'side', (t.intent->>'notional_usd')::numeric, (t.intent->>'qty')::numeric,
                       t.decided_at,
                       EXISTS (SELECT 1 FROM answers a WHERE a.question_id = t.question_id AND a.decision = 'approve'
                                                          AND a.trade_order_id = t.id),
                       coalesce((SELECT string_agg(substring(e->>'message' FROM 'worker ([^ ]+) stopped renewing'), ',')
                                   FROM jobs j, jsonb_array_elements(j.errors) e
                                  WHERE j.unique_key = 'submit-order:' || t.client_order_id AND e->>'message' LIKE 'lease expired%'), '')
                FROM trade_orders t
                """, logger: logger)
            for try await row in rows.decode((String, String, String?, String, Decimal?, String?, String?, String?, Decimal?, Decimal?,
                                              Date, Bool, String).self) {
                result[row.0] = BookOrder(clientOrderID: row.0, uid: row.1, ruleID: row.2, status: row.3, filledQty: row.4,
                                          alpacaOrderID: row.5, intentSymbol: row.6, intentSide: row.7, intentNotional: row.8,
                                          intentQty: row.9, decidedAt: row.10, approved: row.11,
                                          diedWorkers: row.12.split(separator: ",").map(String.init))
            }
            return result
        }
    }

    /// The farm's ALPACA_HTTP_TIMEOUT_SECONDS: the longest one of its POSTs is in flight.
    static let inFlightSeconds = 2.0

    func integrity(_ report: inout ChaosReport, ledger: [String: Any], switchboard: Switchboard, tracker: Tracker,
                   options: ChaosOptions) async throws {
        let books = try await bookOrders()
        let killedAt = Dictionary(grouping: await tracker.kills, by: \.id).mapValues { $0.map(\.at) }
        let entries = (ledger["orders"] as? [[String: Any]]) ?? []
        let windows = await switchboard.windows
        var mismatched: [String] = [], notApproved: [String] = [], afterStop: [String] = [], tooOld: [String] = []
        var inFlightAtKill: [String] = []
        let iso = Date.ISO8601FormatStyle(includingFractionalSeconds: true)
        for entry in entries {
            guard let order = entry["order"] as? [String: Any], let clientOrderID = order["client_order_id"] as? String else { continue }
            guard let book = books[clientOrderID] else { continue }   // counted apart: unknown to trade_orders
            // The books equal the broker: status and filled quantity.
            let status = order["status"] as? String ?? "?"
            let filled = (order["filled_qty"] as? String).flatMap { Decimal(string: $0) } ?? 0
            if book.status != status || (book.filledQty ?? 0) != filled || book.alpacaOrderID != order["id"] as? String {
                mismatched.append("\(clientOrderID): books \(book.status) \(book.filledQty ?? 0), broker \(status) \(filled)")
            }
            // What was placed is what was approved.
            let notional = (entry["requested_notional"] as? String).flatMap { Decimal(string: $0) }
            let qty = (entry["requested_qty"] as? String).flatMap { Decimal(string: $0) }
            let same = book.approved && book.intentSymbol == order["symbol"] as? String && book.intentSide == order["side"] as? String
                && book.intentNotional == notional && (book.intentNotional != nil || book.intentQty == qty)
            if !same {
                notApproved.append("\(clientOrderID): placed \(order["side"] ?? "?") \(notional.map { "$\($0)" } ?? "\(qty ?? 0)") of \(order["symbol"] ?? "?"), "
                                   + "approved \(book.approved ? "" : "NOT ")\(book.intentSide ?? "?") \(book.intentNotional.map { "$\($0)" } ?? "\(book.intentQty ?? 0)") of \(book.intentSymbol ?? "?")")
            }
            // Nothing reaches the broker inside a stop window of its scope.
            if let received = (entry["received_at"] as? String).flatMap({ try? Date($0, strategy: iso) }) {
                for window in windows where window.from < received && received < (window.to ?? .distantFuture) {
                    let applies = switch window.scope {
                    case "halt": true
                    case "user": window.uid == book.uid
                    case "rule": window.uid == book.uid && window.ruleID == book.ruleID
                    case "blocklist": window.uid == book.uid && window.symbol == book.intentSymbol
                    default: false
                    }
                    guard applies else { continue }
                    let line = "\(clientOrderID) received \(received.formatted(iso)) inside \(window.scope) stop from \(window.from.formatted(iso))"
                    // A POST already on the wire when its worker was killed: the kill released the
                    // locks (so the stop could commit) while the broker was still to act on it. The
                    // stop guarantees that no POST *starts* after it commits; such a request (its
                    // worker killed before the stop committed, the order at the broker within the
                    // client timeout of the kill) was sent before the stop.
                    let sentBeforeAKill = book.diedWorkers.contains { worker in
                        (killedAt[worker] ?? []).contains { kill in
                            kill <= window.from.addingTimeInterval(0.5) && received.timeIntervalSince(kill) < Self.inFlightSeconds
                        }
                    }
                    if sentBeforeAKill {
                        inFlightAtKill.append(line)
                    } else {
                        afterStop.append(line)
                    }
                }
            }
            // No approval older than the maximum age was sent (the replayed clock, with two
            // clock steps of tolerance for a worker's cached instant). The driver's own jump over
            // the gap is not time that passed: an order approved just before it and sent within
            // a step after it (the worker's clock had not seen the jump yet) is young.
            if let created = (order["created_at"] as? String).flatMap({ try? Date($0, strategy: .iso8601) }) {
                let skipped = book.decidedAt < ChaosFarm.gapStart && created >= ChaosFarm.gapEnd
                    ? ChaosFarm.gapEnd.timeIntervalSince(ChaosFarm.gapStart) : 0
                let age = created.timeIntervalSince(book.decidedAt) - skipped
                if age > Double(ChaosFarm.approvalMaxAgeSeconds) + 2 * options.clockRate {
                    tooOld.append("\(clientOrderID): sent \(Int(age)) s after its approval")
                }
            }
        }
        report.check("orders whose books differ from the broker (status, filled quantity)", "\(mismatched.count)", mismatched.isEmpty)
        report.check("orders at the simulator that are not an intent a user approved (symbol, side, size)", "\(notApproved.count)",
                     notApproved.isEmpty)
        report.check("orders sent after a halt, a user's, a rule's or a blocklist switch committed (\(windows.count) stop windows)",
                     "\(afterStop.count)", afterStop.isEmpty)
        report.figure("orders received just after a stop whose POST was in flight when its worker was killed",
                      "\(inFlightAtKill.count)" + (inFlightAtKill.isEmpty ? "" : ": \(inFlightAtKill.prefix(3).joined(separator: "; "))"))
        report.check("orders sent later than \(ChaosFarm.approvalMaxAgeSeconds) s (replayed) after their approval", "\(tooOld.count)",
                     tooOld.isEmpty)
        for (label, list) in [("books ≠ broker", mismatched), ("not approved", notApproved), ("after a stop", afterStop), ("too old", tooOld)]
        where !list.isEmpty {
            note("\(label): \(list.prefix(5))")
        }
        report.numbers["orders_books_differ"] = Double(mismatched.count)
        report.numbers["orders_not_approved"] = Double(notApproved.count)
        report.numbers["orders_after_stop"] = Double(afterStop.count)
        report.numbers["orders_too_old"] = Double(tooOld.count)
        report.numbers["stop_windows"] = Double(windows.count)
        report.figure("stop windows (halts, users, rules, blocklists)", "\(windows.count): " + ["halt", "user", "rule", "blocklist"]
            .map { scope in "\(windows.filter { $0.scope == scope }.count) \(scope)" }.joined(separator: ", "))
        let unsent = books.values.filter { $0.alpacaOrderID == nil && OrderStatus.unsentEnd.contains($0.status) }
        report.figure("orders ended unsent (canceled / expired / blocked / failed)",
                      [OrderStatus.canceled, OrderStatus.expired, OrderStatus.blocked, OrderStatus.failed]
            .map { status in "\(unsent.filter { $0.status == status }.count)" }.joined(separator: " / "))
    }
}
