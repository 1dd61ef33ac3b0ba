import Foundation

/// The periodic proof that the books equal the broker ("reconcile-orders"): Alpaca's orders
/// listed since a watermark and the `trade_orders` rows that could match them → repairs (Alpaca
/// is the truth), findings (what cannot be repaired) and the points the watermark may pass.
/// Pure: the handler does the IO (listing, reads, the repairs' transactions).
public enum OrderReconciliation {
    /// The listing starts this far before the watermark (instants pass through `Date` and a
    /// microsecond column; orders seen twice are de-duplicated by id).
    public static let overlapSeconds = 0.001
    /// A first run starts this far back (or at the earliest open book order, if older).
    public static let firstRunLookbackSeconds: Double = 24 * 3600

    /// One order as the broker lists it.
    public struct BrokerOrder: Sendable, Equatable {
        public var id: String
        public var clientOrderID: String
        public var status: String
        public var filledQty: Decimal?
        public var filledAvgPrice: Decimal?
        /// The broker's `submitted_at`: what `after` filters and `direction=asc` sorts by.
        public var submittedAt: Date
        public var symbol: String

        public init(id: String, clientOrderID: String, status: String, filledQty: Decimal?, filledAvgPrice: Decimal?,
                    submittedAt: Date, symbol: String = "") {
            self.id = id
            self.clientOrderID = clientOrderID
            self.status = status
            self.filledQty = filledQty
            self.filledAvgPrice = filledAvgPrice
            self.submittedAt = submittedAt
            self.symbol = symbol
        }

        public var isTerminal: Bool { OrderStatus.brokerTerminal.contains(status) }
    }

    /// One `trade_orders` row, as the reconciliation needs it.
    public struct BookOrder: Sendable, Equatable {
        public var id: UUID
        public var clientOrderID: String
        public var alpacaOrderID: String?
        public var status: String
        public var filledQty: Decimal?
        public var filledAvgPrice: Decimal?
        /// Where the row sits on the broker's time line: its recorded `submitted_at` (the
        /// broker's), else `decided_at` (the trading clock's approval instant, before any POST).
        public var at: Date
        /// The books last changed the row longer ago than the grace period (database clock):
        /// a broker that still does not list it is a finding, not a listing that lags behind.
        public var pastGrace: Bool

        public init(id: UUID, clientOrderID: String, alpacaOrderID: String?, status: String, filledQty: Decimal?,
                    filledAvgPrice: Decimal?, at: Date, pastGrace: Bool) {
            self.id = id
            self.clientOrderID = clientOrderID
            self.alpacaOrderID = alpacaOrderID
            self.status = status
            self.filledQty = filledQty
            self.filledAvgPrice = filledAvgPrice
            self.at = at
            self.pastGrace = pastGrace
        }

        /// Ended without reaching the broker (as far as the books know): a terminal status and
        /// no Alpaca id (blocked, failed, or an expiry/cancel recorded without an order).
        public var isUnsent: Bool { alpacaOrderID == nil && OrderStatus.terminal.contains(status) }
    }

    public enum FindingKind: String, Sendable, CaseIterable, Codable {
        /// A book row that lacks the broker's order or has it wrong (repaired with `apply`).
        case diverged = "book_diverged"
        /// A broker order with our prefix that no book row has: it cannot be attributed.
        case unknownOrder = "unknown_broker_order"
        /// A book row with an Alpaca id (or a broker status) that the broker does not list.
        case missingAtBroker = "missing_at_broker"
        /// A row still `pending_submit` past the grace period, and the broker has no order.
        case stuckPendingSubmit = "stuck_pending_submit"
        /// More orders at one instant than a page holds: the listing could not page past them.
        case listingTruncated = "listing_truncated"
        /// The users' books do not add up to the account's position in a symbol the farm trades.
        case positionDrift = "position_drift"
    }

    /// One field the book has wrong: what it says and what the broker says (`nil`: none).
    public struct Difference: Sendable, Equatable {
        public var field: String
        public var book: String?
        public var broker: String?

        public init(field: String, book: String?, broker: String?) {
            self.field = field
            self.book = book
            self.broker = broker
        }
    }

    public struct Finding: Sendable, Equatable {
        public var kind: FindingKind
        public var clientOrderID: String?
        public var tradeOrderID: UUID?
        public var alpacaOrderID: String?
        public var bookStatus: String?
        public var brokerStatus: String?
        public var differences: [Difference]
        public var detail: String
        /// Set by the handler once the repair committed.
        public var repaired: Bool

        public init(kind: FindingKind, clientOrderID: String?, tradeOrderID: UUID? = nil, alpacaOrderID: String? = nil,
                    bookStatus: String? = nil, brokerStatus: String? = nil, differences: [Difference] = [], detail: String,
                    repaired: Bool = false) {
            self.kind = kind
            self.clientOrderID = clientOrderID
            self.tradeOrderID = tradeOrderID
            self.alpacaOrderID = alpacaOrderID
            self.bookStatus = bookStatus
            self.brokerStatus = brokerStatus
            self.differences = differences
            self.detail = detail
            self.repaired = repaired
        }

        /// The finding as stored in `order_reconciliation_runs.findings` and printed by the ops CLI.
        public var json: JSONValue {
            func text(_ value: String?) -> JSONValue { value.map { .string($0) } ?? .null }
            return .object([
                "kind": .string(kind.rawValue), "client_order_id": text(clientOrderID),
                "trade_order_id": text(tradeOrderID?.uuidString.lowercased()), "alpaca_order_id": text(alpacaOrderID),
                "book_status": text(bookStatus), "broker_status": text(brokerStatus),
                "differences": .array(differences.map { .object(["field": .string($0.field), "book": text($0.book), "broker": text($0.broker)]) }),
                "detail": .string(detail), "repaired": .bool(repaired),
            ])
        }
    }

    /// Record `broker` on the row `book` (compare-and-set on the row as read).
    public struct Repair: Sendable, Equatable {
        public var book: BookOrder
        public var broker: BrokerOrder
        public var differences: [Difference]
    }

    /// A point on the broker's time line the watermark may or may not pass.
    public struct Checkpoint: Sendable, Equatable {
        public enum Settlement: Sendable, Equatable {
            /// Terminal at the broker and equal in the books (or never sent and absent there).
            case settled
            /// Terminal at the broker; equal once this order's repair commits.
            case settledIfRepaired(String)
            /// May still change, or cannot be judged yet: the watermark stays before it.
            case open
        }
        public var at: Date
        public var settlement: Settlement
        public var clientOrderID: String?
    }

    public struct Counts: Sendable, Equatable {
        /// Every order listed (ours and others').
        public var brokerOrders = 0
        /// Listed orders with our client_order_id prefix.
        public var ours = 0
        public var bookOrders = 0
        /// Matched and equal, or never sent and absent at the broker.
        public var agreed = 0
        /// The book is ahead of the listing (the stream or the poller recorded a newer state
        /// in between): judged again next run.
        public var deferred = 0
    }

    public struct Plan: Sendable, Equatable {
        public var repairs: [Repair] = []
        public var findings: [Finding] = []
        public var checkpoints: [Checkpoint] = []
        public var counts = Counts()
    }

    /// Where a run's listing starts: just before the watermark.
    public static func listedAfter(watermark: Date) -> Date { watermark.addingTimeInterval(-overlapSeconds) }

    /// Decides. `broker`: the orders listed after `listedAfter(watermark)` (de-duplicated, any
    /// prefix); `book`: the rows read after the listing (those matching listed ids, those on the
    /// time line after the listing's start, and every open one); `coveredUntil`: nil when the
    /// listing reached the end, else the instant before which it is complete (truncated).
    public static func decide(broker: [BrokerOrder], book: [BookOrder], watermark: Date, coveredUntil: Date? = nil) -> Plan {
        let listedAfter = listedAfter(watermark: watermark)
        var plan = Plan()
        plan.counts.brokerOrders = broker.count
        plan.counts.bookOrders = book.count
        let ours = broker.filter { $0.clientOrderID.hasPrefix(ClientOrderID.prefix) }
            .sorted { ($0.submittedAt, $0.id) < ($1.submittedAt, $1.id) }
        plan.counts.ours = ours.count
        var bookByClientID: [String: BookOrder] = [:]
        for row in book { bookByClientID[row.clientOrderID] = row }
        var matched: Set<String> = []

        for order in ours {
            matched.insert(order.clientOrderID)
            guard let row = bookByClientID[order.clientOrderID] else {
                // Listed again only through the overlap: reported when the watermark passed it
                // (the stored watermark is rounded to the microsecond).
                if order.isTerminal && order.submittedAt <= watermark.addingTimeInterval(0.000_001) {
                    plan.checkpoints.append(Checkpoint(at: order.submittedAt, settlement: .settled, clientOrderID: order.clientOrderID))
                    continue
                }
                let malformed = ClientOrderID.isWellFormed(order.clientOrderID) ? "" : " (and the id is not one this server makes)"
                plan.findings.append(Finding(
                    kind: .unknownOrder, clientOrderID: order.clientOrderID, alpacaOrderID: order.id, brokerStatus: order.status,
                    detail: "the broker has \(order.symbol.isEmpty ? "an" : order.symbol) order with our client_order_id prefix that no book row has\(malformed); not attributed"))
                // Nothing in the books can ever agree with it; once it is terminal the watermark
                // passes it (reported in this run), rather than re-listing from it forever.
                plan.checkpoints.append(Checkpoint(at: order.submittedAt, settlement: order.isTerminal ? .settled : .open,
                                                   clientOrderID: order.clientOrderID))
                continue
            }
            let differences = Self.differences(row, order)
            if differences.isEmpty {
                plan.counts.agreed += 1
                plan.checkpoints.append(Checkpoint(at: order.submittedAt, settlement: order.isTerminal ? .settled : .open,
                                                   clientOrderID: order.clientOrderID))
            } else if isBehindTheBook(row, order) {
                plan.counts.deferred += 1
                plan.checkpoints.append(Checkpoint(at: order.submittedAt, settlement: .open, clientOrderID: order.clientOrderID))
            } else {
                plan.repairs.append(Repair(book: row, broker: order, differences: differences))
                let fields = differences.map { "\($0.field) \($0.book ?? "null") → \($0.broker ?? "null")" }.joined(separator: ", ")
                plan.findings.append(Finding(
                    kind: .diverged, clientOrderID: order.clientOrderID, tradeOrderID: row.id, alpacaOrderID: order.id,
                    bookStatus: row.status, brokerStatus: order.status, differences: differences,
                    detail: row.isUnsent ? "the books ended it unsent (\(row.status)) but the broker has it: \(fields)"
                        : "the books disagree with the broker: \(fields)"))
                plan.checkpoints.append(Checkpoint(at: order.submittedAt,
                                                   settlement: order.isTerminal ? .settledIfRepaired(order.clientOrderID) : .open,
                                                   clientOrderID: order.clientOrderID))
            }
        }

        for row in book.sorted(by: { ($0.at, $0.clientOrderID) < ($1.at, $1.clientOrderID) }) where !matched.contains(row.clientOrderID) {
            // The listing speaks only for (listedAfter, coveredUntil).
            let covered = row.at > listedAfter && coveredUntil.map { row.at < $0 } ?? true
            if row.status == OrderStatus.pendingSubmit {
                if covered && row.pastGrace {
                    plan.findings.append(Finding(
                        kind: .stuckPendingSubmit, clientOrderID: row.clientOrderID, tradeOrderID: row.id, bookStatus: row.status,
                        detail: "approved but still pending_submit past the grace period, and the broker has no such order"))
                }
                plan.checkpoints.append(Checkpoint(at: row.at, settlement: .open, clientOrderID: row.clientOrderID))
            } else if row.isUnsent {
                if covered {
                    plan.counts.agreed += 1
                    plan.checkpoints.append(Checkpoint(at: row.at, settlement: .settled, clientOrderID: row.clientOrderID))
                } else {
                    plan.checkpoints.append(Checkpoint(at: row.at, settlement: .open, clientOrderID: row.clientOrderID))
                }
            } else {
                // The books say the broker has it (an Alpaca id, or a broker status).
                if covered && row.pastGrace {
                    plan.findings.append(Finding(
                        kind: .missingAtBroker, clientOrderID: row.clientOrderID, tradeOrderID: row.id, alpacaOrderID: row.alpacaOrderID,
                        bookStatus: row.status,
                        detail: row.alpacaOrderID == nil
                            ? "the books record broker status \(row.status) without an Alpaca id, and the broker has no such order"
                            : "the books record Alpaca order \(row.alpacaOrderID ?? "") but the broker does not list it"))
                }
                plan.checkpoints.append(Checkpoint(at: row.at, settlement: .open, clientOrderID: row.clientOrderID))
            }
        }
        if let coveredUntil {
            plan.checkpoints.append(Checkpoint(at: coveredUntil, settlement: .open, clientOrderID: nil))
        }
        return plan
    }

    /// What the row has wrong, field by field (quantities compared as numbers).
    public static func differences(_ row: BookOrder, _ order: BrokerOrder) -> [Difference] {
        var result: [Difference] = []
        if row.status != order.status { result.append(Difference(field: "status", book: row.status, broker: order.status)) }
        if row.alpacaOrderID != order.id {
            result.append(Difference(field: "alpaca_order_id", book: row.alpacaOrderID, broker: order.id))
        }
        if row.filledQty != order.filledQty {
            result.append(Difference(field: "filled_qty", book: row.filledQty.map { "\($0)" }, broker: order.filledQty.map { "\($0)" }))
        }
        if row.filledAvgPrice != order.filledAvgPrice {
            result.append(Difference(field: "filled_avg_price", book: row.filledAvgPrice.map { "\($0)" },
                                     broker: order.filledAvgPrice.map { "\($0)" }))
        }
        return result
    }

    /// The book recorded this very order further along than the listing shows it (the stream
    /// or the poller wrote between the listing and the read): a listing is a snapshot, so this
    /// is not a divergence, and recording it would move the row backwards.
    public static func isBehindTheBook(_ row: BookOrder, _ order: BrokerOrder) -> Bool {
        guard row.alpacaOrderID == order.id else { return false }
        if OrderStatus.brokerTerminal.contains(row.status) && !order.isTerminal { return true }
        return (row.filledQty ?? 0) > (order.filledQty ?? 0)
    }

    /// The watermark after a run: the latest settled instant before the first open one,
    /// never beyond `cap` (now − grace on the broker's clock) and never backwards. Repairs
    /// settle their order only if they committed (`repaired`: client_order_ids).
    public static func watermark(previous: Date, checkpoints: [Checkpoint], cap: Date, repaired: Set<String>) -> Date {
        func isSettled(_ point: Checkpoint) -> Bool {
            switch point.settlement {
            case .settled: true
            case .settledIfRepaired(let id): repaired.contains(id)
            case .open: false
            }
        }
        // An open point at or before the old watermark was passed already (a clock set back
        // in a replay); it cannot hold the watermark forever.
        let firstOpen = checkpoints.filter { !isSettled($0) && $0.at > previous }.map(\.at).min()
        let passable = checkpoints.filter { point in
            isSettled(point) && point.at <= cap && firstOpen.map { point.at < $0 } ?? true
        }
        return max(previous, passable.map(\.at).max() ?? previous)
    }

    /// Where a first run starts: 24 hours back, or earlier if an order still open in the books
    /// is older (it may have reached the broker before the crash that left it open).
    public static func initialWatermark(earliestOpenBookOrder: Date?, now: Date) -> Date {
        let dayBack = now.addingTimeInterval(-firstRunLookbackSeconds)
        return min(earliestOpenBookOrder ?? dayBack, dayBack).addingTimeInterval(-1)
    }
}

/// Pages `GET /v2/orders?status=all&direction=asc&after=…` by advancing `after` to just before
/// the last order of a full page: several orders can share a `submitted_at`, so pages overlap
/// and orders are de-duplicated by id. Pure: feed it each page, it says what to ask next.
public struct OrderListingPager: Sendable {
    public enum Step: Sendable, Equatable {
        /// Ask for the next page with this `after`.
        case next(after: Date)
        /// The last page was short: everything was listed.
        case done
        /// A full page whose orders all sit within the overlap of `after`: no `after` can page
        /// past them. The listing is complete only before `coveredUntil`.
        case truncated(coveredUntil: Date)
    }

    public let pageSize: Int
    public private(set) var after: Date
    public private(set) var orders: [OrderReconciliation.BrokerOrder] = []
    public private(set) var pages = 0
    private var seen: Set<String> = []

    public init(after: Date, pageSize: Int) {
        precondition(pageSize >= 1)
        self.after = after
        self.pageSize = pageSize
    }

    public mutating func take(_ page: [OrderReconciliation.BrokerOrder]) -> Step {
        pages += 1
        for order in page where seen.insert(order.id).inserted { orders.append(order) }
        guard page.count >= pageSize, let last = page.map(\.submittedAt).max() else { return .done }
        let next = last.addingTimeInterval(-OrderReconciliation.overlapSeconds)
        guard next > after else { return .truncated(coveredUntil: last) }
        after = next
        return .next(after: next)
    }
}

extension OrderReconciliation {
    /// The users' books against the account, per symbol the books have ever held: each book
    /// is a share of the one account, so their sum must be the account's quantity. A symbol in
    /// `settling` (an order of ours still open in it: its fill may be at the broker and not yet
    /// in the books) is judged at the next run. Symbols the account holds that no book ever
    /// held (bought by hand, say) are not the farm's and are not judged.
    /// A user's book that is short (`short`: user, symbol, quantity) is a finding too: this
    /// server never proposes such a sell, so the broker filled one beyond the book.
    public static func positionDrift(books: [String: Decimal], account: [String: Decimal], settling: Set<String>,
                                     short: [(uid: String, symbol: String, qty: Decimal)] = []) -> [Finding] {
        let sums: [Finding] = books.keys.sorted().compactMap { symbol in
            let held = books[symbol] ?? 0, broker = account[symbol] ?? 0
            guard held != broker, !settling.contains(symbol) else { return nil }
            return Finding(kind: .positionDrift, clientOrderID: nil,
                           differences: [Difference(field: "qty", book: "\(held)", broker: "\(broker)")],
                           detail: "\(symbol): the users' books hold \(held) in sum; the account holds \(broker)")
        }
        return sums + short.map { entry in
            Finding(kind: .positionDrift, clientOrderID: nil, differences: [Difference(field: "qty", book: "\(entry.qty)", broker: nil)],
                    detail: "\(entry.symbol): user \(entry.uid)'s book is short \(entry.qty)")
        }
    }
}
