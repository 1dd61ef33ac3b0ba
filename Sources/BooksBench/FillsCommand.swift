import ArgumentParser
import Foundation
import HybridStore
import Logging
import PostgresNIO
import ProcessKit
import TradingCore

/// `fills`: seeds users with one bought order per symbol, records each order's two fills (a
/// partial, then the whole) through `OrderStore.recordBroker` (which books them in the same
/// transaction), and times them against the same UPDATE of `trade_orders` alone on a second
/// set of orders; then proves the books equal the fills.
struct FillsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fills", abstract: "Seed users and orders; time fills recorded with the book against the UPDATE alone.")

    @Option(help: "Users to seed.") var users = 10_000
    @Option(help: "Symbols per user (one bought order each, hence one position each).") var symbols = 10
    @Option(help: "Concurrent recorders (each its own connection and transaction per fill).") var concurrency = 16
    @Option(help: "Orders whose two fills are recorded one by one and timed (0: every order); the others are seeded filled in bulk.")
    var sample = 0
    @Option(help: "Minutes of stored last-trade prices per symbol (at least 1).") var priceMinutes = 390
    @Option(help: "Positions compared with a recompute from their orders after the fills.") var check = 1_000

    func run() async throws {
        let runtime = try ProcessRuntime.load(label: "books-bench")
        var database = runtime.settings.database
        database.poolSize = max(database.poolSize, concurrency + 2)
        let bench = FillsBench(users: max(1, users), universe: BenchUniverse.symbols(symbols), concurrency: max(1, concurrency),
                               sample: max(0, sample), priceMinutes: max(1, priceMinutes), check: max(0, check), logger: runtime.logger)
        let report = try await PostgresClientFactory.withClient(database, logger: runtime.logger) { client in
            try await bench.run(client)
        }
        print(report)
    }
}

struct FillsBench: Sendable {
    let users: Int
    let universe: [String]
    let concurrency: Int
    let sample: Int
    let priceMinutes: Int
    let check: Int
    let logger: Logger

    static let qty: Decimal = 10
    static let partialQty: Decimal = 5
    /// The whole fill's average price is the reference price plus this.
    static let markup = Decimal(25) / 100

    struct Order: Sendable {
        let id: UUID
        let uid: String
        let symbol: String
        let price: Decimal
    }

    struct Pass: Sendable {
        let name: String
        let book: LatencySummary
        let reference: LatencySummary
    }

    var prices: [Decimal] { universe.indices.map { Decimal(100 + 7 * $0) } }

    func run(_ client: PostgresClient) async throws -> String {
        let total = users * universe.count
        let timedCount = sample > 0 ? min(sample, total) : total
        note("seeding \(users) users × \(universe.count) symbols = \(total) bought orders, \(timedCount) reference orders on other users, "
             + "\(priceMinutes) minutes of prices per symbol")
        try await seed(client, referenceOrders: timedCount)
        let timed = try await orders(client, prefix: BenchUniverse.bookPrefix, limit: timedCount)
        if timed.count < total {
            note("seeding the \(total - timed.count) orders outside the sample as filled and booked (bulk SQL)")
            try await seedFilled(client, except: timed.map(\.id))
        }
        let reference = try await orders(client, prefix: BenchUniverse.referencePrefix, limit: timedCount)
        try await FillsSQL.execute(client, "ANALYZE", logger)
        let deadlocksBefore = try await FillsSQL.int(client, "SELECT deadlocks::int FROM pg_stat_database WHERE datname = current_database()", logger)

        var passes: [Pass] = []
        var allBook: [Double] = [], allReference: [Double] = []
        var bookSeconds = 0.0, referenceSeconds = 0.0
        var waits = LockWaits(), referenceWaits = LockWaits()
        for pass in ["partial", "full"] {
            note("\(pass) fills: \(reference.count) reference UPDATEs alone, \(concurrency) at a time")
            let ref = try await record(reference, pass: pass, client, withBook: false)
            note("\(pass) fills: \(timed.count) recorded with the book (recordBroker → recompute), \(concurrency) at a time")
            let book = try await record(timed, pass: pass, client, withBook: true)
            note("\(pass): book \(fixed(book.seconds)) s, reference \(fixed(ref.seconds)) s")
            passes.append(Pass(name: pass, book: LatencySummary(book.latencies, seconds: book.seconds),
                               reference: LatencySummary(ref.latencies, seconds: ref.seconds)))
            allBook += book.latencies
            allReference += ref.latencies
            bookSeconds += book.seconds
            referenceSeconds += ref.seconds
            waits.add(book.waits)
            referenceWaits.add(ref.waits)
        }
        try await Task.sleep(for: .milliseconds(1_500))  // statistics are flushed about once a second
        let deadlocks = try await FillsSQL.int(client, "SELECT deadlocks::int FROM pg_stat_database WHERE datname = current_database()", logger)
            - deadlocksBefore
        note("verifying the books against the fills")
        let verification = try await FillsVerification(bench: self).run(client, timed: timed, total: total)
        return FillsReport(bench: self, total: total, passes: passes, book: LatencySummary(allBook, seconds: bookSeconds),
                           reference: LatencySummary(allReference, seconds: referenceSeconds), waits: waits,
                           referenceWaits: referenceWaits, deadlocks: deadlocks,
                           verification: verification).markdown
    }

    /// Records one pass of fills over `orders`, `concurrency` transactions at a time; the
    /// latency of each is BEGIN … COMMIT as the caller sees it.
    func record(_ orders: [Order], pass: String, _ client: PostgresClient,
                withBook: Bool) async throws -> (latencies: [Double], seconds: Double, waits: LockWaits) {
        let (lanes, logger) = (concurrency, logger)
        let sampler = Task { await LockWaits.sample(client, logger: logger) }
        let start = ContinuousClock.now
        let latencies = try await withThrowingTaskGroup(of: [Double].self) { group in
            for lane in 0..<lanes {
                group.addTask {
                    var times: [Double] = []
                    times.reserveCapacity(orders.count / lanes + 1)
                    for index in stride(from: lane, to: orders.count, by: lanes) {
                        let order = orders[index]
                        let update = Self.update(order, pass: pass)
                        let begin = ContinuousClock.now
                        let updated = try await client.transaction(logger: logger) { db in
                            withBook ? try await OrderStore.recordBroker(order.id, update, on: db, logger: logger)
                                     : try await FillsSQL.updateAlone(order.id, update, on: db, logger: logger)
                        }
                        times.append(ms(ContinuousClock.now - begin))
                        guard updated else { throw BenchFailure("\(pass) fill of order \(order.id) (\(order.uid) \(order.symbol)) updated no row") }
                    }
                    return times
                }
            }
            var all: [Double] = []
            for try await times in group { all += times }
            return all
        }
        let seconds = ms(ContinuousClock.now - start) / 1000
        sampler.cancel()
        return (latencies, seconds, await sampler.value)
    }

    /// The broker's report of the partial fill (half at the reference price) or of the whole
    /// (every share, at the reference price plus the markup), with an Alpaca-shaped `raw`.
    static func update(_ order: Order, pass: String, now: Date = Date()) -> BrokerOrderUpdate {
        let partial = pass == "partial"
        let (status, filled, price) = partial ? ("partially_filled", partialQty, order.price) : ("filled", qty, order.price + markup)
        let at = now.formatted(.iso8601)
        let raw = """
            {"id":"bench-\(order.id)","client_order_id":"hh-\(order.uid)-\(order.symbol)","created_at":"\(at)","updated_at":"\(at)",\
            "submitted_at":"\(at)","filled_at":\(partial ? "null" : "\"\(at)\""),"expired_at":null,"canceled_at":null,\
            "failed_at":null,"replaced_at":null,"replaced_by":null,"replaces":null,"asset_id":"b0b6dd9d-8b9b-48a9-ba46-b9d54906e415",\
            "symbol":"\(order.symbol)","asset_class":"us_equity","notional":null,"qty":"\(qty)","filled_qty":"\(filled)",\
            "filled_avg_price":"\(price)","order_class":"","order_type":"market","type":"market","side":"buy",\
            "time_in_force":"day","limit_price":null,"stop_price":null,"status":"\(status)","extended_hours":false,"legs":null,\
            "trail_percent":null,"trail_price":null,"hwm":null}
            """
        return BrokerOrderUpdate(alpacaOrderID: "bench-\(order.id)", status: status, submittedAt: now, filledAt: partial ? nil : now,
                                 filledQty: filled, filledAvgPrice: price, lastFillAt: now, raw: raw)
    }
}

/// Backends of the bench database seen waiting on a lock (`pg_stat_activity`), sampled every
/// 50 ms: how many samples saw any, the most at once, and backend-samples per wait event.
struct LockWaits: Sendable {
    var samples = 0
    var withWaits = 0
    var max = 0
    var events: [String: Int] = [:]

    mutating func add(_ other: LockWaits) {
        samples += other.samples
        withWaits += other.withWaits
        max = Swift.max(max, other.max)
        events.merge(other.events, uniquingKeysWith: +)
    }

    var text: String {
        let kinds = events.sorted { $0.value > $1.value }.map { "\($0.key) ×\($0.value)" }.joined(separator: ", ")
        return "\(withWaits) of \(samples) samples saw a backend waiting on a lock (at most \(max) at once\(kinds.isEmpty ? "" : "; \(kinds)"))"
    }

    static func sample(_ client: PostgresClient, logger: Logger) async -> LockWaits {
        var waits = LockWaits()
        while !Task.isCancelled {
            let seen = try? await client.withConnection { db in
                var found: [(String, Int)] = []
                for try await row in try await db.query("""
                    SELECT coalesce(wait_event, '?'), count(*)::int FROM pg_stat_activity
                    WHERE datname = current_database() AND wait_event_type = 'Lock' GROUP BY 1
                    """, logger: logger).decode((String, Int).self) { found.append(row) }
                return found
            }
            if let seen {
                let waiting = seen.reduce(0) { $0 + $1.1 }
                waits.samples += 1
                if waiting > 0 { waits.withWaits += 1 }
                waits.max = Swift.max(waits.max, waiting)
                for (event, count) in seen { waits.events[event, default: 0] += count }
            }
            try? await Task.sleep(for: .milliseconds(50))
        }
        return waits
    }
}
