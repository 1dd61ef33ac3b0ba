import Foundation

/// Named places where a test can stop a worker at the worst instant (a real process, killed
/// there by the test). Off unless `HYBRIDHUB_FAILPOINTS` names them, e.g.
/// `submit-order.after-post=hang`, or `submit-order.after-post=exit@0.2` to exit at one hit in
/// five (the chaos runner's workers). Never set in production.
public struct Failpoints: Sendable {
    public enum Action: String, Sendable {
        /// Sleep until the process is killed.
        case hang
        /// Exit the process at once, as a crash would.
        case exit
    }

    /// An action and the probability (0…1) that a hit triggers it.
    public struct Trigger: Sendable, Equatable {
        public var action: Action
        public var probability: Double

        public init(_ action: Action, probability: Double = 1) {
            self.action = action
            self.probability = probability
        }
    }

    /// The exit status of a process stopped by an `exit` failpoint.
    public static let exitStatus: Int32 = 86

    let triggers: [String: Trigger]

    public init(_ actions: [String: Action] = [:]) {
        self.triggers = actions.mapValues { Trigger($0) }
    }

    public init(triggers: [String: Trigger]) {
        self.triggers = triggers
    }

    /// Parses `name=action[@probability][,name=action[@probability]]`; items that do not
    /// parse (unknown action, probability outside 0…1) are ignored.
    public init(environment: [String: String]) {
        var triggers: [String: Trigger] = [:]
        for item in (environment["HYBRIDHUB_FAILPOINTS"] ?? "").split(separator: ",") {
            let parts = item.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            guard parts.count == 2 else { continue }
            let spec = parts[1].split(separator: "@", maxSplits: 1).map(String.init)
            guard let action = Action(rawValue: spec[0]) else { continue }
            var probability = 1.0
            if spec.count == 2 {
                guard let value = Double(spec[1]), (0...1).contains(value) else { continue }
                probability = value
            }
            triggers[parts[0]] = Trigger(action, probability: probability)
        }
        self.triggers = triggers
    }

    public func trigger(_ name: String) -> Trigger? { triggers[name] }

    /// The action this hit of `name` triggers, if any (drawn from `generator`).
    public func fires(_ name: String, using generator: inout some RandomNumberGenerator) -> Action? {
        guard let trigger = triggers[name] else { return nil }
        if trigger.probability >= 1 { return trigger.action }
        return Double.random(in: 0..<1, using: &generator) < trigger.probability ? trigger.action : nil
    }

    public func hit(_ name: String) async {
        var generator = SystemRandomNumberGenerator()
        guard let action = fires(name, using: &generator) else { return }
        FileHandle.standardError.write(Data("failpoint \(name): \(action.rawValue)\n".utf8))
        switch action {
        case .exit:
            Foundation.exit(Self.exitStatus)
        case .hang:
            // Never resumed, not even by cancellation: the test kills the process here.
            await withUnsafeContinuation { (_: UnsafeContinuation<Void, Never>) in }
        }
    }
}
