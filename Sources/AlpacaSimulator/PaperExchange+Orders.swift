import AlpacaModels
import Foundation
import TradingCore

extension PaperExchange {
    static let sides: Set<String> = ["buy", "sell"]
    static let types: Set<String> = ["market", "limit", "stop", "stop_limit", "trailing_stop"]
    static let timesInForce: Set<String> = ["day", "gtc", "opg", "cls", "ioc", "fok"]
    static let supportedTypes: Set<String> = ["market", "limit"]

    /// `POST /v2/orders`: validates as Alpaca does, records the order, fills it when it can.
    public func submit(key: String, _ request: AlpacaOrderRequest, now: Date,
                       rejectAfterAccept: Bool = false) throws(SimulatorError) -> AlpacaOrder {
        advance(to: now)
        let (order, updates) = try state.withLock { state throws(SimulatorError) -> (AlpacaOrder, [TradeUpdate]) in
            do throws(SimulatorError) {
                let order = try validate(request, key: key, state: state, now: now)
                state.orders[order.id] = order
                state.orderSequence.append(order.id)
                state.openOrders.append(order.id)
                state.byClientOrderID[key, default: [:]][order.clientOrderID] = order.id
                var updates = [update(order, event: "new", at: now, state: state)]
                if rejectAfterAccept {
                    // Accepted, then refused downstream: the reply shows the accepted order and
                    // the rejection arrives as a trade update (and on the next read).
                    let accepted = alpaca(order)
                    var rejected = order
                    rejected.status = "rejected"
                    rejected.updatedAt = now
                    state.orders[order.id] = rejected
                    Self.pruneOpen(&state)
                    updates.append(update(rejected, event: "rejected", at: now, state: state))
                    return (accepted, updates)
                }
                updates += tryFill(order.id, state: &state, now: now)
                Self.pruneOpen(&state)
                return (alpaca(state.orders[order.id] ?? order), updates)
            } catch {
                if error.message == "client_order_id must be unique" { state.duplicateSubmits += 1 } else { state.rejectedSubmits += 1 }
                throw error
            }
        }
        publish(updates)
        return order
    }

    private func validate(_ r: AlpacaOrderRequest, key: String, state: State, now: Date) throws(SimulatorError) -> Order {
        guard state.accounts[key] != nil else { throw SimulatorError.unauthorized }
        guard let symbol = r.symbol?.uppercased(), !symbol.isEmpty else { throw .validation("symbol is required") }
        guard let asset = asset(symbol) else { throw .validation("asset \"\(symbol)\" not found") }
        guard let side = r.side, Self.sides.contains(side) else { throw .validation("invalid side: \(r.side ?? "missing")") }
        guard let type = r.type, Self.types.contains(type) else { throw .validation("invalid order type: \(r.type ?? "missing")") }
        guard Self.supportedTypes.contains(type) else { throw .validation("order type \(type) is not supported by this simulator") }
        guard let tif = r.timeInForce, Self.timesInForce.contains(tif) else {
            throw .validation("invalid time_in_force: \(r.timeInForce ?? "missing")")
        }
        switch (r.qty, r.notional) {
        case (nil, nil): throw .validation("qty or notional is required")
        case (.some, .some): throw .validation("only one of qty or notional may be specified")
        case (let qty?, nil) where qty <= 0: throw .validation("qty must be > 0")
        case (nil, let notional?) where notional <= 0: throw .validation("notional must be > 0")
        default: break
        }
        if let notional = r.notional, Money.rounded(notional, scale: 2) != notional {
            throw .validation("notional must be limited to 2 decimal places")
        }
        let fractional = r.notional != nil || (r.qty.map { Money.rounded($0, scale: 0) != $0 } ?? false)
        if r.notional != nil && (type != "market" || tif != "day") {
            throw .validation("notional orders must be market orders with time_in_force day")
        }
        if fractional && tif != "day" { throw .validation("fractional orders must be DAY orders") }
        if r.extendedHours == true && (type != "limit" || r.notional != nil) {
            throw .validation("extended hours order must be DAY limit orders")
        }
        if type == "limit" {
            guard let limit = r.limitPrice, limit > 0 else { throw .validation("limit_price is required for limit orders") }
            _ = limit
        }
        guard asset.tradable else { throw .validation("asset \(symbol) is not tradable") }
        if fractional && !asset.fractionable { throw .forbidden("requested asset is not fractionable") }
        let clientOrderID = r.clientOrderID ?? UUID().uuidString.lowercased()
        guard clientOrderID.count <= 128 else { throw .validation("client_order_id must be at most 128 characters") }
        if state.byClientOrderID[key]?[clientOrderID] != nil { throw .validation("client_order_id must be unique") }

        // Buying power: cash less what open buys reserve; sells need the shares.
        let price = r.limitPrice ?? market.latestTrade(symbol, at: now)?.price
        if side == "buy" {
            let cost = r.notional ?? ((r.qty ?? 0) * (price ?? 0))
            let available = (state.accounts[key]?.cash ?? 0) - reservedCash(state, key: key, now: now)
            if cost > available {
                throw .forbidden("insufficient buying power")
            }
        } else {
            let held = state.accounts[key]?.positions[symbol]?.qty ?? 0
            let available = held - heldForSale(state, key: key, symbol: symbol)
            let wanted = r.qty ?? ((r.notional ?? 0) / max(price ?? 1, 0.0001))
            if wanted > available {
                throw .forbidden("insufficient qty available for order (requested: \(Self.text(wanted)), available: \(Self.text(available)))")
            }
        }
        return Order(id: UUID(), accountKey: key, clientOrderID: clientOrderID, symbol: symbol, side: side, type: type,
                     timeInForce: tif, qty: r.qty, notional: r.notional, limitPrice: r.limitPrice,
                     extendedHours: r.extendedHours ?? false, status: market.isOpen(at: now) ? "new" : "accepted",
                     createdAt: now, updatedAt: now)
    }

    /// Cash that open buy orders hold back.
    func reservedCash(_ state: State, key: String, now: Date) -> Decimal {
        state.openOrders.compactMap { state.orders[$0] }
            .filter { $0.accountKey == key && $0.side == "buy" && !AlpacaOrder.terminalStatuses.contains($0.status) }
            .reduce(Decimal(0)) { sum, order in
                let price = order.limitPrice ?? market.latestTrade(order.symbol, at: now)?.price ?? 0
                return sum + (order.notional ?? ((order.qty ?? 0) - order.filledQty) * price)
            }
    }

    func heldForSale(_ state: State, key: String, symbol: String) -> Decimal {
        state.openOrders.compactMap { state.orders[$0] }
            .filter { $0.accountKey == key && $0.symbol == symbol && $0.side == "sell" && !AlpacaOrder.terminalStatuses.contains($0.status) }
            .reduce(Decimal(0)) { $0 + (($1.qty ?? 0) - $1.filledQty) }
    }

    // MARK: Fills

    /// Fills or expires whatever the clock allows; called on every request with the simulated now.
    public func advance(to now: Date) {
        let updates = state.withLock { state -> [TradeUpdate] in
            var updates: [TradeUpdate] = []
            for id in state.openOrders { updates += tryFill(id, state: &state, now: now) }
            Self.pruneOpen(&state)
            return updates
        }
        publish(updates)
    }

    /// Makes a partial fill of the next `count` fills (half the size; the rest fills on the next advance).
    public func partialFillNext(_ count: Int) {
        state.withLock { $0.partialFillsPending += count }
    }

    private func tryFill(_ id: UUID, state: inout State, now: Date) -> [TradeUpdate] {
        guard var order = state.orders[id], !AlpacaOrder.terminalStatuses.contains(order.status) else { return [] }
        let open = market.isOpen(at: now)
        // A day order lives until the close of its session: the one it was placed in, or, if
        // placed outside hours (queued as `accepted`), the next one.
        if order.timeInForce == "day", let close = sessionClose(for: order), now >= close {
            order.status = "expired"
            order.expiredAt = now
            order.updatedAt = now
            state.orders[id] = order
            return [update(order, event: "expired", at: now, state: state)]
        }
        guard open, let trade = market.latestTrade(order.symbol, at: now) else { return [] }
        var updates: [TradeUpdate] = []
        if order.status == "accepted" {
            order.status = "new"
            updates.append(update(order, event: "new", at: now, state: state))
        }
        let slip = configuration.slippageBasisPoints / 10_000
        var price = order.side == "buy" ? trade.price * (1 + slip) : trade.price * (1 - slip)
        price = Money.rounded(price, scale: 4)
        if order.type == "limit", let limit = order.limitPrice {
            guard order.side == "buy" ? trade.price <= limit : trade.price >= limit else {
                state.orders[id] = order
                return updates
            }
            price = order.side == "buy" ? min(price, limit) : max(price, limit)
        }
        let total: Decimal = order.qty ?? Self.floor9((order.notional ?? 0) / price)
        var fillQty = total - order.filledQty
        var event = "fill"
        if state.partialFillsPending > 0 && order.filledQty == 0 {
            state.partialFillsPending -= 1
            fillQty = Self.floor9(fillQty / 2)
            event = "partial_fill"
        }
        guard fillQty > 0, var account = state.accounts[order.accountKey] else { return updates }
        var position = account.positions[order.symbol] ?? Position()
        if order.side == "buy" {
            if position.qty == 0 { position.openedDay = MarketTime.tradingDay(of: now) }
            account.cash -= fillQty * price
            position.qty += fillQty
            position.costBasis += fillQty * price
        } else {
            let average = position.qty > 0 ? position.costBasis / position.qty : 0
            account.cash += fillQty * price
            position.qty -= fillQty
            position.costBasis -= fillQty * average
        }
        account.positions[order.symbol] = position
        state.accounts[order.accountKey] = account
        let previous = order.filledQty
        order.filledQty += fillQty
        order.filledAvgPrice = ((order.filledAvgPrice ?? 0) * previous + price * fillQty) / order.filledQty
        if order.notional != nil && event == "fill" { order.qty = order.filledQty }
        order.status = event == "fill" ? "filled" : "partially_filled"
        order.filledAt = event == "fill" ? now : nil
        order.updatedAt = now
        state.orders[id] = order
        var filled = update(order, event: event, at: now, state: state)
        filled.price = price
        filled.qty = fillQty
        filled.positionQty = position.qty
        updates.append(filled)
        return updates
    }

    static func pruneOpen(_ state: inout State) {
        state.openOrders.removeAll { id in state.orders[id].map { AlpacaOrder.terminalStatuses.contains($0.status) } ?? true }
    }

    func sessionClose(for order: Order) -> Date? {
        if market.isOpen(at: order.createdAt) { return market.nextClose(after: order.createdAt) }
        return market.nextOpen(after: order.createdAt).flatMap { market.nextClose(after: $0) }
    }

    static func floor9(_ value: Decimal) -> Decimal {
        var input = value
        var result = Decimal()
        NSDecimalRound(&result, &input, 9, .down)
        return result
    }

    func update(_ order: Order, event: String, at now: Date, state: State) -> TradeUpdate {
        TradeUpdate(accountKey: order.accountKey, event: event, order: alpaca(order), timestamp: now)
    }

    // MARK: Reading and cancelling

    public func order(key: String, id: UUID, now: Date) throws(SimulatorError) -> AlpacaOrder {
        advance(to: now)
        return try state.withLock { state throws(SimulatorError) -> AlpacaOrder in
            guard let order = state.orders[id], order.accountKey == key else { throw .notFound("order not found") }
            return alpaca(order)
        }
    }

    public func order(key: String, clientOrderID: String, now: Date) throws(SimulatorError) -> AlpacaOrder {
        advance(to: now)
        return try state.withLock { state throws(SimulatorError) -> AlpacaOrder in
            guard let id = state.byClientOrderID[key]?[clientOrderID], let order = state.orders[id] else {
                throw .notFound("order not found")
            }
            return alpaca(order)
        }
    }

    public struct OrderQuery: Sendable {
        public var status = "open"
        public var limit = 50
        public var after: Date?
        public var until: Date?
        public var ascending = false
        public var symbols: Set<String>?
        public var side: String?
        public init() {}
    }

    /// `GET /v2/orders`: by submission time (ties in submission order), `after` and `until`
    /// exclusive, newest first unless ascending, at most `limit`.
    public func orders(key: String, query: OrderQuery, now: Date) -> [AlpacaOrder] {
        advance(to: now)
        return state.withLock { state in
            var orders = state.orderSequence.compactMap { state.orders[$0] }.enumerated()
                .sorted { ($0.element.createdAt, $0.offset) < ($1.element.createdAt, $1.offset) }.map(\.element).filter { order in
                guard order.accountKey == key else { return false }
                let terminal = AlpacaOrder.terminalStatuses.contains(order.status)
                switch query.status {
                case "open": if terminal { return false }
                case "closed": if !terminal { return false }
                default: break
                }
                if let after = query.after, order.createdAt <= after { return false }
                if let until = query.until, order.createdAt >= until { return false }
                if let symbols = query.symbols, !symbols.contains(order.symbol) { return false }
                if let side = query.side, order.side != side { return false }
                return true
            }
            if !query.ascending { orders.reverse() }
            return orders.prefix(query.limit).map(alpaca)
        }
    }

    /// `DELETE /v2/orders/{id}`: 204, 404 unknown, 422 no longer cancellable.
    public func cancel(key: String, id: UUID, now: Date) throws(SimulatorError) {
        advance(to: now)
        let updates = try state.withLock { state throws(SimulatorError) -> [TradeUpdate] in
            guard var order = state.orders[id], order.accountKey == key else { throw .notFound("order not found") }
            guard !AlpacaOrder.terminalStatuses.contains(order.status) else {
                throw SimulatorError(status: 422, code: 42210000, message: "order is not cancelable")
            }
            order.status = "canceled"
            order.canceledAt = now
            order.updatedAt = now
            state.orders[id] = order
            Self.pruneOpen(&state)
            return [update(order, event: "canceled", at: now, state: state)]
        }
        publish(updates)
    }

    /// `DELETE /v2/orders`: every open order of the account; one entry per order.
    public func cancelAll(key: String, now: Date) -> [(id: UUID, status: Int)] {
        let open = orders(key: key, query: { var q = OrderQuery(); q.limit = 10_000; return q }(), now: now)
        return open.compactMap { order -> (id: UUID, status: Int)? in
            guard let id = UUID(uuidString: order.id) else { return nil }
            do throws(SimulatorError) {
                try cancel(key: key, id: id, now: now)
                return (id, 200)
            } catch {
                return (id, error.status)
            }
        }
    }

    // MARK: Ledger

    public struct Ledger: Sendable, Codable {
        public struct Entry: Sendable, Codable {
            public var accountKey: String
            public var order: AlpacaOrder
            /// Wall-clock time the order arrived, ISO 8601 with milliseconds.
            public var receivedAt: String
            /// What was asked for: the notional or the quantity of the request (Alpaca's `qty`
            /// becomes the filled quantity of a notional order).
            public var requestedNotional: String?
            public var requestedQty: String?

            enum CodingKeys: String, CodingKey {
                case order
                case accountKey = "account_key"
                case receivedAt = "received_at"
                case requestedNotional = "requested_notional"
                case requestedQty = "requested_qty"
            }
        }
        public var orders: [Entry]
        /// Orders per client_order_id per account: tests assert every count is exactly 1.
        public var ordersPerClientOrderID: [String: Int]
        public var duplicateSubmits: Int
        public var rejectedSubmits: Int
        /// Each account's open positions: account key → symbol → quantity (decimal text).
        public var positions: [String: [String: String]] = [:]

        enum CodingKeys: String, CodingKey {
            case orders, positions
            case ordersPerClientOrderID = "orders_per_client_order_id"
            case duplicateSubmits = "duplicate_submits"
            case rejectedSubmits = "rejected_submits"
        }
    }

    public func ledger() -> Ledger {
        state.withLock { state in
            let entries = state.orderSequence.compactMap { state.orders[$0] }.map {
                Ledger.Entry(accountKey: $0.accountKey, order: alpaca($0),
                             receivedAt: $0.receivedAt.formatted(Date.ISO8601FormatStyle(includingFractionalSeconds: true)),
                             requestedNotional: $0.notional.map(Self.text), requestedQty: $0.notional == nil ? $0.qty.map(Self.text) : nil)
            }
            var counts: [String: Int] = [:]
            for entry in entries { counts[entry.order.clientOrderID, default: 0] += 1 }
            var ledger = Ledger(orders: entries, ordersPerClientOrderID: counts, duplicateSubmits: state.duplicateSubmits,
                                rejectedSubmits: state.rejectedSubmits)
            for (key, account) in state.accounts {
                ledger.positions[key] = account.positions.filter { $0.value.qty != 0 }.mapValues { Self.text($0.qty) }
            }
            return ledger
        }
    }

    func alpaca(_ order: Order) -> AlpacaOrder {
        AlpacaOrder(
            id: order.id.uuidString.lowercased(), clientOrderID: order.clientOrderID,
            createdAt: AlpacaTime.utc(order.createdAt), updatedAt: AlpacaTime.utc(order.updatedAt),
            submittedAt: AlpacaTime.utc(order.createdAt), filledAt: order.filledAt.map(AlpacaTime.utc),
            expiredAt: order.expiredAt.map(AlpacaTime.utc), canceledAt: order.canceledAt.map(AlpacaTime.utc),
            failedAt: nil, replacedAt: nil, replacedBy: nil, replaces: nil,
            assetID: (assetIDs[order.symbol] ?? UUID()).uuidString.lowercased(), symbol: order.symbol,
            assetClass: "us_equity", notional: order.notional.map(Self.text), qty: order.qty.map(Self.text),
            filledQty: Self.text(order.filledQty), filledAvgPrice: order.filledAvgPrice.map(Self.text),
            orderClass: "", orderType: order.type, type: order.type, side: order.side, timeInForce: order.timeInForce,
            limitPrice: order.limitPrice.map(Self.text), stopPrice: nil, status: order.status,
            extendedHours: order.extendedHours, legs: nil, trailPercent: nil, trailPrice: nil, hwm: nil,
            positionIntent: order.side == "buy" ? "buy_to_open" : "sell_to_close")   // no short selling here
    }
}
