import Foundation
#if canImport(Glibc)
import Glibc
#endif

enum Role: String, Sendable, CaseIterable {
    case simulator, issuer, api, scheduler, worker
}

/// A child process that ended, as its termination handler saw it.
struct ProcessExit: Sendable {
    let slot: String
    let role: Role
    let id: String
    let status: Int32
    let signalled: Bool
    let at: Date
}

/// Starts, kills and restarts the farm's processes. Each slot (e.g. `worker-2`) runs one
/// process at a time; each start is a new incarnation with its own id (`worker-2.3`), so a
/// restarted worker never shares a lease owner with the one that died. Output goes to one
/// log file per incarnation.
actor Supervisor {
    struct Spec: Sendable {
        let slot: String
        let role: Role
        let executable: String
        let arguments: @Sendable (_ id: String) -> [String]
        let environment: [String: String]
    }

    let bin: URL
    let logs: URL
    nonisolated let exits: AsyncStream<ProcessExit>
    private let continuation: AsyncStream<ProcessExit>.Continuation
    private var specs: [String: Spec] = [:]
    private var processes: [String: Process] = [:]
    private var ids: [String: String] = [:]
    private var incarnations: [String: Int] = [:]
    private var expected: Set<String> = []
    private var stopping = false

    init(bin: URL, logs: URL) {
        self.bin = bin
        self.logs = logs
        let (stream, continuation) = AsyncStream.makeStream(of: ProcessExit.self)
        self.exits = stream
        self.continuation = continuation
    }

    func start(_ spec: Spec) throws {
        specs[spec.slot] = spec
        try launch(spec.slot)
    }

    private func launch(_ slot: String) throws {
        guard let spec = specs[slot] else { return }
        let n = (incarnations[slot] ?? -1) + 1
        incarnations[slot] = n
        let id = "\(slot).\(n)"
        let process = Process()
        process.executableURL = bin.appendingPathComponent(spec.executable)
        process.arguments = spec.arguments(id)
        process.environment = spec.environment
        let log = logs.appendingPathComponent("\(id).log")
        _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        let handle = try FileHandle(forWritingTo: log)
        process.standardOutput = handle
        process.standardError = handle
        let (role, continuation) = (spec.role, self.continuation)
        process.terminationHandler = { ended in
            continuation.yield(ProcessExit(slot: slot, role: role, id: id, status: ended.terminationStatus,
                                           signalled: ended.terminationReason == .uncaughtSignal, at: Date()))
        }
        try process.run()
        try? handle.close()
        processes[slot] = process
        ids[slot] = id
    }

    /// SIGKILL; returns the id of the incarnation killed (nil if the slot was down).
    func kill(_ slot: String) -> String? {
        guard let process = processes[slot], process.isRunning, let id = ids[slot] else { return nil }
        expected.insert(id)
        _ = Glibc.kill(process.processIdentifier, SIGKILL)
        processes[slot] = nil
        return id
    }

    /// Whether the exit was one we caused; the slot is marked down either way.
    func acknowledge(_ exit: ProcessExit) -> Bool {
        if ids[exit.slot] == exit.id { processes[exit.slot] = nil }
        return expected.contains(exit.id) || stopping
    }

    func restart(_ slot: String) throws {
        guard !stopping, processes[slot] == nil else { return }
        try launch(slot)
    }

    func isUp(_ slot: String) -> Bool { processes[slot]?.isRunning ?? false }
    func currentID(_ slot: String) -> String? { ids[slot] }
    func slot(ofID id: String) -> String? { ids.first { $0.value == id }?.key }
    func slots(_ role: Role) -> [String] { specs.values.filter { $0.role == role }.map(\.slot).sorted() }
    func down() -> [String] { specs.keys.filter { processes[$0] == nil }.sorted() }
    func starts() -> Int { incarnations.values.reduce(0) { $0 + $1 + 1 } }

    /// SIGTERM to `roles` (all when nil), SIGKILL to whatever still runs after `grace` seconds.
    func stop(_ roles: Set<Role>? = nil, grace: Double = 25) async {
        let chosen = specs.values.filter { roles?.contains($0.role) ?? true }.map(\.slot)
        if roles == nil { stopping = true }
        var running: [Process] = []
        for slot in chosen {
            guard let process = processes[slot], process.isRunning else { continue }
            if let id = ids[slot] { expected.insert(id) }
            process.terminate()
            running.append(process)
            processes[slot] = nil
        }
        let deadline = ContinuousClock.now + .seconds(grace)
        while running.contains(where: \.isRunning), ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(100))
        }
        for process in running where process.isRunning { _ = Glibc.kill(process.processIdentifier, SIGKILL) }
    }

    /// The last lines of an incarnation's log (for crash reports).
    func tail(_ id: String, lines: Int = 15) -> String {
        let text = (try? String(contentsOf: logs.appendingPathComponent("\(id).log"), encoding: .utf8)) ?? ""
        return text.split(separator: "\n", omittingEmptySubsequences: false).suffix(lines).joined(separator: "\n")
    }
}
