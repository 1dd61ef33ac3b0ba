import AlpacaModels
import AsyncHTTPClient
import Foundation
import NIOCore
import Synchronization
import TradingCore

/// The simulator's replayed instant (`GET /_sim/clock`), so that a replay of 2011 data is
/// judged in 2011. Read at most every `refreshSeconds` and extrapolated by the replay speed.
public final class SimulatorMarketClock: MarketClock {
    struct State: Decodable {
        var now: String
        var speed: Double
    }

    let url: String
    let refreshSeconds: Double
    let http: HTTPClient
    private let cache = Mutex<(instant: Date, speed: Double, readAt: ContinuousClock.Instant)?>(nil)

    public init(simulatorURL: URL, refreshSeconds: Double = 0.2, http: HTTPClient = .shared) {
        let base = simulatorURL.absoluteString.hasSuffix("/") ? String(simulatorURL.absoluteString.dropLast()) : simulatorURL.absoluteString
        self.url = base + "/_sim/clock"
        self.refreshSeconds = refreshSeconds
        self.http = http
    }

    public func now() async throws -> Date {
        let current = ContinuousClock.now
        if let cached = cache.withLock({ $0 }), current - cached.readAt < .milliseconds(Int64(refreshSeconds * 1000)) {
            return cached.instant.addingTimeInterval(Self.seconds(current - cached.readAt) * cached.speed)
        }
        let response: HTTPClientResponse
        let body: ByteBuffer
        do {
            response = try await http.execute(HTTPClientRequest(url: url), timeout: .seconds(5))
            body = try await response.body.collect(upTo: 1 << 16)
        } catch {
            throw AlpacaError.transport(method: "GET", path: "/_sim/clock", detail: "\(error)")
        }
        guard response.status.code == 200,
              let state = try? JSONDecoder().decode(State.self, from: Data(body.readableBytesView)),
              let instant = AlpacaTime.parse(state.now)
        else {
            throw AlpacaError.malformedResponse(method: "GET", path: "/_sim/clock", detail: "status \(response.status.code)")
        }
        cache.withLock { $0 = (instant, state.speed, current) }
        return instant
    }

    static func seconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }
}
