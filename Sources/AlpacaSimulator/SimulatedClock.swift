import Foundation
import Synchronization

/// The simulator's notion of "now": an instant in the replayed data that moves at `speed`
/// times real time (0 = paused, stepped only through the control API).
public final class SimulatedClock: Sendable {
    private struct State {
        var anchor: Date
        var wallAnchor: ContinuousClock.Instant
        var speed: Double
    }

    private let state: Mutex<State>

    public init(start: Date, speed: Double) {
        state = Mutex(State(anchor: start, wallAnchor: .now, speed: max(0, speed)))
    }

    public func now() -> Date {
        state.withLock { s in
            let elapsed = ContinuousClock.now - s.wallAnchor
            let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
            return s.anchor.addingTimeInterval(seconds * s.speed)
        }
    }

    public var speed: Double { state.withLock { $0.speed } }

    /// Jumps to `instant` (and optionally changes the speed) from this moment on.
    public func set(now instant: Date? = nil, speed: Double? = nil) {
        let current = now()
        state.withLock { s in
            s.anchor = instant ?? current
            s.wallAnchor = .now
            if let speed { s.speed = max(0, speed) }
        }
    }

    /// Moves simulated time forward by `seconds`.
    public func advance(seconds: Double) {
        set(now: now().addingTimeInterval(seconds))
    }
}
