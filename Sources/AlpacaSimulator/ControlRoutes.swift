import AlpacaModels
import Foundation
import Hummingbird
import NIOCore

/// The simulator's own API under `/_sim` (no Alpaca keys: it is a test tool on loopback).
extension AlpacaSimulator {
    struct ClockState: Codable {
        var now: String
        var speed: Double
        var isOpen: Bool

        enum CodingKeys: String, CodingKey {
            case now, speed
            case isOpen = "is_open"
        }
    }

    struct ClockChange: Decodable {
        /// RFC 3339 instant to jump to.
        var now: String?
        var speed: Double?
        /// Seconds to step forward.
        var advanceSeconds: Double?

        enum CodingKeys: String, CodingKey {
            case now, speed
            case advanceSeconds = "advance_seconds"
        }
    }

    func clockState() -> ClockState {
        let now = clock.now()
        return ClockState(now: AlpacaTime.utc(now), speed: clock.speed, isOpen: market.isOpen(at: now))
    }

    func control(_ body: @Sendable () async throws -> Response) async -> Response {
        do {
            return try await body()
        } catch let error as SimulatorError {
            return Self.error(error)
        } catch {
            return Self.error(.validation("\(error)"))
        }
    }

    func addControlRoutes(to router: Router<BasicRequestContext>) {
        router.get("/_sim/health") { _, _ in Self.json(["status": "ok"]) }
        router.get("/_sim/clock") { _, _ in Self.json(self.clockState()) }
        router.post("/_sim/clock") { request, _ in
            await self.control {
                let change = try await Self.decode(ClockChange.self, from: request)
                if let text = change.now {
                    guard let instant = AlpacaTime.parse(text) else { throw SimulatorError.validation("now is not RFC 3339: \(text)") }
                    self.clock.set(now: instant, speed: change.speed)
                } else if let speed = change.speed {
                    guard speed >= 0 else { throw SimulatorError.validation("speed must be >= 0") }
                    self.clock.set(speed: speed)
                }
                if let seconds = change.advanceSeconds {
                    guard seconds >= 0 else { throw SimulatorError.validation("advance_seconds must be >= 0") }
                    self.clock.advance(seconds: seconds)
                }
                self.exchange.advance(to: self.clock.now())
                return Self.json(self.clockState())
            }
        }
        router.get("/_sim/faults") { _, _ in Self.json(self.faults.all) }
        router.post("/_sim/faults") { request, _ in
            await self.control {
                let rule = try await Self.decode(FaultRule.self, from: request)
                if rule.kind == .partialFill {
                    self.exchange.partialFillNext(rule.count ?? 1)
                } else {
                    self.faults.add(rule)
                }
                return Self.json(self.faults.all)
            }
        }
        router.delete("/_sim/faults") { _, _ in
            self.faults.clear()
            return Response(status: .noContent)
        }
        router.get("/_sim/streams") { _, _ in
            let data = (try? JSONSerialization.data(withJSONObject: self.streamSlots.report, options: [.sortedKeys])) ?? Data("{}".utf8)
            return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: data)))
        }
        router.get("/_sim/ledger") { _, _ in Self.json(self.exchange.ledger()) }
        router.get("/_sim/stats") { _, _ in
            struct KeyStats: Encodable {
                let total: Int
                let maxPerMinute: Int
                enum CodingKeys: String, CodingKey {
                    case total
                    case maxPerMinute = "max_per_minute"
                }
            }
            return Self.json(self.stats.summary().mapValues { KeyStats(total: $0.total, maxPerMinute: $0.maxPerMinute) })
        }
    }
}
