import AlpacaModels
import Foundation
import Hummingbird
extension AlpacaSimulator {
    func addTradingRoutes(to router: Router<BasicRequestContext>) {
        router.get("/v2/account") { request, _ in
            await self.api(request) { key, now in Self.json(try self.exchange.account(key: key, now: now)) }
        }
        router.get("/v2/clock") { request, _ in
            await self.api(request) { _, now in
                Self.json(AlpacaClock(
                    timestamp: AlpacaTime.newYork(now), isOpen: self.market.isOpen(at: now),
                    nextOpen: self.market.nextOpen(after: now).map(AlpacaTime.newYork) ?? AlpacaTime.newYork(now),
                    nextClose: self.market.nextClose(after: now).map(AlpacaTime.newYork) ?? AlpacaTime.newYork(now)))
            }
        }
        router.get("/v2/calendar") { request, _ in
            await self.api(request) { _, now in
                let start = request.query("start") ?? "0000-00-00"
                let end = request.query("end") ?? "9999-99-99"
                let days = self.market.sessionDays.filter { $0 >= String(start.prefix(10)) && $0 <= String(end.prefix(10)) }
                return Self.json(days.map { day in
                    let next = self.market.sessionDays.first { $0 > day } ?? day
                    return AlpacaCalendarDay(date: day, open: "09:30", close: "16:00", sessionOpen: "0400",
                                             sessionClose: "2000", settlementDate: next)
                })
            }
        }
        router.get("/v2/assets") { request, _ in
            await self.api(request) { _, _ in
                let status = request.query("status")
                let assets = self.configuration.assets.map(self.exchange.alpacaAsset)
                    .filter { status == nil || $0.status == status }
                    .filter { _ in request.query("asset_class").map { $0 == "us_equity" } ?? true }
                return Self.json(assets)
            }
        }
        router.get("/v2/assets/{symbol}") { request, context in
            await self.api(request) { _, _ in
                let symbol = context.parameters.get("symbol") ?? ""
                guard let asset = self.exchange.asset(symbol) ?? self.configuration.assets.first(where: {
                    self.exchange.assetIDs[$0.symbol]?.uuidString.lowercased() == symbol.lowercased()
                }) else { throw SimulatorError.notFound("asset not found") }
                return Self.json(self.exchange.alpacaAsset(asset))
            }
        }
        router.get("/v2/positions") { request, _ in
            await self.api(request) { key, now in Self.json(self.exchange.positions(key: key, now: now)) }
        }
        router.get("/v2/positions/{symbol}") { request, context in
            await self.api(request) { key, now in
                let symbol = (context.parameters.get("symbol") ?? "").uppercased()
                guard let position = self.exchange.positions(key: key, now: now).first(where: { $0.symbol == symbol }) else {
                    throw SimulatorError.notFound("position does not exist")
                }
                return Self.json(position)
            }
        }
        router.post("/v2/orders") { request, _ in
            await self.api(request) { key, now in
                let body = try await Self.decode(AlpacaOrderRequest.self, from: request)
                let reject = self.faults.take(method: "POST", path: "/v2/orders", kinds: [.rejectOrder])
                return Self.orderResponse(try self.exchange.submit(key: key, body, now: now, rejectAfterAccept: reject != nil))
            }
        }
        router.get("/v2/orders") { request, _ in
            await self.api(request) { key, now in
                var query = PaperExchange.OrderQuery()
                if let status = request.query("status") {
                    guard ["open", "closed", "all"].contains(status) else { throw SimulatorError.validation("invalid status: \(status)") }
                    query.status = status
                }
                if let limit = request.query("limit") {
                    guard let value = Int(limit), (1...500).contains(value) else { throw SimulatorError.validation("limit must be 1-500") }
                    query.limit = value
                }
                // after / until: RFC 3339 (alpaca-py sends `+00:00`) or a date; exclusive.
                func instant(_ name: String) throws(SimulatorError) -> Date? {
                    guard let text = request.query(name) else { return nil }
                    guard let value = AlpacaTime.parse(text) else { throw SimulatorError.validation("invalid \(name): \(text)") }
                    return value
                }
                query.after = try instant("after")
                query.until = try instant("until")
                if let direction = request.query("direction") {
                    guard ["asc", "desc"].contains(direction) else { throw SimulatorError.validation("invalid direction: \(direction)") }
                    query.ascending = direction == "asc"
                }
                if let nested = request.query("nested") {
                    // No multi-leg orders here, so rolling legs up changes nothing; the value must be a boolean.
                    guard ["true", "false"].contains(nested.lowercased()) else { throw SimulatorError.validation("invalid nested: \(nested)") }
                }
                query.symbols = request.query("symbols").map { Set($0.split(separator: ",").map { $0.uppercased() }) }
                if let side = request.query("side") {
                    guard PaperExchange.sides.contains(side) else { throw SimulatorError.validation("invalid side: \(side)") }
                    query.side = side
                }
                return Self.ordersResponse(self.exchange.orders(key: key, query: query, now: now))
            }
        }
        router.get("/v2/orders:by_client_order_id") { request, _ in
            await self.api(request) { key, now in
                guard let clientOrderID = request.query("client_order_id") else {
                    throw SimulatorError.validation("client_order_id is required")
                }
                return Self.orderResponse(try self.exchange.order(key: key, clientOrderID: clientOrderID, now: now))
            }
        }
        router.get("/v2/orders/{id}") { request, context in
            await self.api(request) { key, now in
                guard let id = context.parameters.get("id").flatMap(UUID.init(uuidString:)) else {
                    throw SimulatorError.notFound("order not found")
                }
                return Self.orderResponse(try self.exchange.order(key: key, id: id, now: now))
            }
        }
        router.delete("/v2/orders/{id}") { request, context in
            await self.api(request) { key, now in
                guard let id = context.parameters.get("id").flatMap(UUID.init(uuidString:)) else {
                    throw SimulatorError.notFound("order not found")
                }
                try self.exchange.cancel(key: key, id: id, now: now)
                return Response(status: .noContent)
            }
        }
        router.delete("/v2/orders") { request, _ in
            await self.api(request) { key, now in
                struct Entry: Encodable {
                    let id: String
                    let status: Int
                }
                let results = self.exchange.cancelAll(key: key, now: now)
                return Self.json(results.map { Entry(id: $0.id.uuidString.lowercased(), status: $0.status) }, status: .init(code: 207))
            }
        }
    }
}
