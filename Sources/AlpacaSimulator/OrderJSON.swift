import AlpacaModels
import Foundation
import Hummingbird
import NIOCore

/// Orders written by hand: the same object `AlpacaOrder.encode(to:)` writes (every key, absent
/// values as `null`), without JSONEncoder, which was the largest cost of an order submit.
/// A test compares the two on the wire.
extension AlpacaSimulator {
    static func orderResponse(_ order: AlpacaOrder) -> Response {
        guard order.legs == nil else { return json(order) }
        var buffer = ByteBufferAllocator().buffer(capacity: 1024)
        write(order, to: &buffer)
        return jsonBody(buffer)
    }

    static func ordersResponse(_ orders: [AlpacaOrder]) -> Response {
        guard orders.allSatisfy({ $0.legs == nil }) else { return json(orders) }
        var buffer = ByteBufferAllocator().buffer(capacity: 1024 * max(1, orders.count))
        buffer.writeInteger(UInt8(ascii: "["))
        for (index, order) in orders.enumerated() {
            if index > 0 { buffer.writeInteger(UInt8(ascii: ",")) }
            write(order, to: &buffer)
        }
        buffer.writeInteger(UInt8(ascii: "]"))
        return jsonBody(buffer)
    }

    private static func write(_ order: AlpacaOrder, to buffer: inout ByteBuffer) {
        var first = true
        func key(_ name: StaticString) {
            buffer.writeStaticString(first ? "{\"" : ",\"")
            first = false
            buffer.writeStaticString(name)
            buffer.writeStaticString("\":")
        }
        func field(_ name: StaticString, _ value: String?) {
            key(name)
            if let value { MarketJSON.write(string: value, to: &buffer) } else { buffer.writeStaticString("null") }
        }
        field("id", order.id); field("client_order_id", order.clientOrderID)
        field("created_at", order.createdAt); field("updated_at", order.updatedAt)
        field("submitted_at", order.submittedAt); field("filled_at", order.filledAt)
        field("expired_at", order.expiredAt); field("canceled_at", order.canceledAt)
        field("failed_at", order.failedAt); field("replaced_at", order.replacedAt)
        field("replaced_by", order.replacedBy); field("replaces", order.replaces)
        field("asset_id", order.assetID); field("symbol", order.symbol)
        field("asset_class", order.assetClass); field("notional", order.notional)
        field("qty", order.qty); field("filled_qty", order.filledQty)
        field("filled_avg_price", order.filledAvgPrice); field("order_class", order.orderClass)
        field("order_type", order.orderType); field("type", order.type)
        field("side", order.side); field("time_in_force", order.timeInForce)
        field("limit_price", order.limitPrice); field("stop_price", order.stopPrice)
        field("status", order.status)
        key("extended_hours")
        buffer.writeStaticString(order.extendedHours ? "true" : "false")
        key("legs")
        buffer.writeStaticString("null")
        field("trail_percent", order.trailPercent); field("trail_price", order.trailPrice)
        field("hwm", order.hwm); field("position_intent", order.positionIntent)
        buffer.writeInteger(UInt8(ascii: "}"))
    }
}
