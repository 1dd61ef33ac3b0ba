import Foundation

/// Named places where a test can stop a worker at the worst instant (a real process, killed
/// there by the test). Off unless `HYBRIDHUB_FAILPOINTS` names them, e.g.
/// `submit-order.after-post=hang`. Never set in production.
public struct Failpoints: Sendable {
    public enum Action: String, Sendable {
        /// Sleep until the process is killed.
        case hang
        /// Exit the process at once, as a crash would.
        case exit
    }

    let actions: [String: Action]

    public init(_ actions: [String: Action] = [:]) {
        self.actions = actions
    }

    /// Parses `name=action[,name=action]`.
    public init(environment: [String: String]) {
        var actions: [String: Action] = [:]
        for item in (environment["HYBRIDHUB_FAILPOINTS"] ?? "").split(separator: ",") {
            let parts = item.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            if parts.count == 2, let action = Action(rawValue: parts[1]) { actions[parts[0]] = action }
        }
        self.actions = actions
    }

    public func hit(_ name: String) async {
        guard let action = actions[name] else { return }
        FileHandle.standardError.write(Data("failpoint \(name): \(action.rawValue)\n".utf8))
        switch action {
        case .exit:
            Foundation.exit(86)
        case .hang:
            // Never resumed, not even by cancellation: the test kills the process here.
            await withUnsafeContinuation { (_: UnsafeContinuation<Void, Never>) in }
        }
    }
}
