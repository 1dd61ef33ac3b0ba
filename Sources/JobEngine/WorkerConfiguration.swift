import Foundation

/// How one worker process claims and holds jobs. Defaults rescue a dead worker's jobs within
/// about `leaseSeconds + maintenanceSeconds` (6 s).
public struct WorkerConfiguration: Sendable {
    public var workerID: String
    /// Queue name → jobs run at once from that queue.
    public var queues: [String: Int]
    public var leaseSeconds: Double
    public var heartbeatSeconds: Double
    /// The polling floor: a lost NOTIFY delays work by at most this much.
    public var pollSeconds: Double
    /// How often this process promotes due jobs and rescues expired leases.
    public var maintenanceSeconds: Double
    public var claimBatch: Int
    /// On SIGTERM/SIGINT: time to finish jobs in hand before the rest are released.
    public var shutdownGraceSeconds: Double

    public init(workerID: String = WorkerConfiguration.defaultWorkerID(), queues: [String: Int] = ["default": 8],
                leaseSeconds: Double = 5, heartbeatSeconds: Double = 1, pollSeconds: Double = 1,
                maintenanceSeconds: Double = 1, claimBatch: Int = 10, shutdownGraceSeconds: Double = 20) {
        precondition(leaseSeconds > heartbeatSeconds * 2, "leases must be renewed at least twice per lease")
        precondition(queues.values.allSatisfy { $0 >= 1 } && claimBatch >= 1)
        self.workerID = workerID
        self.queues = queues
        self.leaseSeconds = leaseSeconds
        self.heartbeatSeconds = heartbeatSeconds
        self.pollSeconds = pollSeconds
        self.maintenanceSeconds = maintenanceSeconds
        self.claimBatch = claimBatch
        self.shutdownGraceSeconds = shutdownGraceSeconds
    }

    /// `host:pid:random`, unique per process start.
    public static func defaultWorkerID() -> String {
        let host = ProcessInfo.processInfo.hostName.split(separator: ".").first.map(String.init) ?? "host"
        return "\(host):\(ProcessInfo.processInfo.processIdentifier):\(UUID().uuidString.prefix(8).lowercased())"
    }
}
