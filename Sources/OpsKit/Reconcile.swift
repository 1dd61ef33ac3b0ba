import Foundation
#if canImport(Glibc)
import Glibc
#endif
import HybridStore
import JobEngine
import Logging
import PostgresNIO
import TradingCore
import TradingJobs

/// `hybridhub-ops reconcile [--apply]`: the CLI holds no Alpaca keys, so it enqueues a
/// `reconcile-orders` job for the workers, waits for it to end and reads the run it recorded.
public enum ReconcileRequest {
    /// Who asked, as stored in the payload and the run row: the command, the OS user and host.
    public static func requester(environment: [String: String] = ProcessInfo.processInfo.environment) -> String {
        let user = environment["USER"] ?? environment["LOGNAME"] ?? accountName() ?? "uid \(getuid())"
        let host = ProcessInfo.processInfo.hostName.split(separator: ".").first.map(String.init) ?? "unknown"
        return String("hybridhub-ops reconcile (\(user)@\(host))".prefix(200))
    }

    /// The OS account's name, when the environment does not say.
    static func accountName() -> String? {
        guard let entry = getpwuid(getuid()), let name = entry.pointee.pw_name else { return nil }
        return String(cString: name)
    }

    /// Enqueues the job (its bucket is the database's clock in ms, so each request is its own
    /// job) and returns its id; the insert wakes the workers.
    public static func enqueue(apply: Bool, requestedBy: String, on db: PostgresConnection, logger: Logger) async throws -> Int64 {
        var bucket: Int64 = 0
        let rows = try await db.query("SELECT (extract(epoch FROM clock_timestamp()) * 1000)::bigint", logger: logger)
        for try await value in rows.decode(Int64.self) { bucket = value }
        let job = try TradingJobCatalog.reconcileOrders.job(ReconcileOrders(bucket: bucket, apply: apply, requestedBy: requestedBy))
        return try await JobStore.enqueue(job, on: db, logger: logger).id
    }

    /// Polls the job until it ends and returns its run. `progress` hears every change of state
    /// (and, while nothing changes, every `reportEverySeconds`). A timeout leaves the job queued.
    public static func wait(jobID: Int64, timeoutSeconds: Double, pollSeconds: Double = 0.25, reportEverySeconds: Double = 10,
                            client: PostgresClient, logger: Logger,
                            progress: @Sendable (JobSummary) -> Void = { _ in }) async throws -> ReconciliationStore.Run {
        let deadline = ContinuousClock.now + .seconds(timeoutSeconds)
        var last: (state: JobState, attempt: Int, owner: String?)?
        var lastReport = ContinuousClock.now
        while true {
            guard let job = try await client.withConnection({ try await JobQueries.summary(jobID, on: $0, logger: logger) }) else {
                throw JobQueries.notFound(jobID)
            }
            let now = ContinuousClock.now
            let changed = last.map { $0.state != job.state || $0.attempt != job.attempt || $0.owner != job.leaseOwner } ?? true
            if changed || now - lastReport >= .seconds(reportEverySeconds) {
                progress(job)
                last = (job.state, job.attempt, job.leaseOwner)
                lastReport = now
            }
            switch job.state {
            case .completed:
                guard let run = try await client.withConnection({ try await ReconciliationStore.run(jobID: jobID, on: $0, logger: logger) }) else {
                    throw OpsError("reconcile-orders job \(jobID) completed but recorded no run; see `hybridhub-ops jobs show \(jobID)`")
                }
                return run
            case .discarded:
                throw OpsError("reconcile-orders job \(jobID) was discarded after \(job.attempt) attempts: \(job.lastError ?? "no error recorded");\n"
                               + "  see `hybridhub-ops jobs show \(jobID)` (a worker needs Alpaca keys that open the account)")
            case .cancelled:
                throw OpsError("reconcile-orders job \(jobID) was cancelled: \(job.lastError ?? "by an operator"); nothing more will run")
            default:
                break
            }
            guard now < deadline else {
                throw OpsError("""
                    reconcile-orders job \(jobID) did not finish within \(Output.age(timeoutSeconds)) (it is \(job.state.rawValue)\(job.state == .running ? " on \(job.leaseOwner ?? "?")" : "")):
                      is a worker running that knows reconcile-orders? `hybridhub-ops workers`; is the orders queue paused? `hybridhub-ops queues`
                      the job stays queued and records its run when a worker takes it; cancel it with `hybridhub-ops jobs cancel \(jobID)`
                    """)
            }
            try await Task.sleep(for: .seconds(pollSeconds))
        }
    }

    /// One progress line for stderr.
    public static func progressLine(_ job: JobSummary, apply: Bool) -> String {
        let mode = apply ? "apply" : "dry run"
        switch job.state {
        case .available, .scheduled:
            return "reconcile: job \(job.id) (\(mode)) \(job.state.rawValue) for \(Output.age(job.ageSeconds)); waiting for a worker"
        case .running:
            return "reconcile: job \(job.id) (\(mode)) running on \(job.leaseOwner ?? "?") (attempt \(job.attempt)/\(job.maxAttempts))"
        case .retryable:
            return "reconcile: job \(job.id) (\(mode)) failed attempt \(job.attempt)/\(job.maxAttempts), retrying: \(job.lastError ?? "")"
        default:
            return "reconcile: job \(job.id) (\(mode)) \(job.state.rawValue) after \(Output.age(job.ageSeconds))"
        }
    }
}

/// A run and its findings, as `hybridhub-ops reconcile` prints them.
public struct ReconcileReport: OpsReport {
    public let run: ReconciliationStore.Run

    public init(run: ReconciliationStore.Run) {
        self.run = run
    }

    var findings: [JSONValue] { if case .array(let items) = run.findings { items } else { [] } }

    public var json: JSONValue {
        .object([
            "run": .object([
                "id": J.int(run.id), "job_id": J.int(run.jobID), "apply": .bool(run.apply), "requested_by": J.str(run.requestedBy),
                "started_at": J.date(run.startedAt), "finished_at": J.date(run.finishedAt), "listed_after": J.date(run.listedAfter),
                "watermark": J.date(run.watermark), "truncated": .bool(run.truncated),
                "counts": .object([
                    "broker_orders": J.int(run.brokerOrders), "our_orders": J.int(run.ourOrders), "book_orders": J.int(run.bookOrders),
                    "agreed": J.int(run.agreed), "deferred": J.int(run.deferred), "repaired": J.int(run.repaired),
                    "findings": J.int(run.findingsCount),
                ]),
            ]),
            "findings": .array(findings),
        ])
    }

    public var text: String {
        var lines = [
            "reconcile run \(run.id) (\(run.apply ? "apply" : "dry run"))\(run.jobID.map { ", job \($0)" } ?? "")\(run.requestedBy.map { ", requested by \($0)" } ?? "")",
            Output.fields([
                ("started", Output.time(run.startedAt, millis: true)), ("finished", Output.time(run.finishedAt, millis: true)),
                ("listed after", "\(Output.time(run.listedAfter, millis: true)) (broker time)"),
                ("watermark", run.watermark.map { "\(Output.time($0, millis: true)) (moved)" } ?? "unchanged"),
                ("broker orders", "\(run.brokerOrders) listed, \(run.ourOrders) ours\(run.truncated ? " (listing truncated)" : "")"),
                ("book rows", "\(run.bookOrders) read, \(run.agreed) agree, \(run.deferred) deferred, \(run.repaired) repaired"),
                ("findings", "\(run.findingsCount)"),
            ]),
        ]
        if !findings.isEmpty {
            lines.append(Output.table(["kind", "client order id", "book", "broker", "repaired", "detail"], findings.map(Self.row), maxWidth: 100))
        }
        let divergences = findings.filter { $0["kind"] == .string(OrderReconciliation.FindingKind.diverged.rawValue) }.count
        if run.apply {
            lines.append(findings.isEmpty ? "the books equal the broker." : "applied: \(run.repaired) of \(divergences) divergences repaired; the other findings need an operator.")
        } else {
            lines.append(divergences == 0 ? "dry run: nothing to repair; nothing changed."
                         : "dry run: \(divergences) divergence\(divergences == 1 ? "" : "s") would be repaired; nothing changed. Add --apply to repair.")
        }
        return lines.joined(separator: "\n")
    }

    static func row(_ finding: JSONValue) -> [String] {
        func text(_ key: String) -> String { if case .string(let value)? = finding[key] { value } else { "" } }
        var detail = text("detail")
        if case .array(let differences)? = finding["differences"], !differences.isEmpty {
            detail = differences.map { d -> String in
                func part(_ key: String) -> String { if case .string(let value)? = d[key] { value } else { "null" } }
                return "\(part("field")) \(part("book"))→\(part("broker"))"
            }.joined(separator: ", ")
        }
        let repaired: String
        if text("kind") == OrderReconciliation.FindingKind.diverged.rawValue {
            repaired = finding["repaired"] == .bool(true) ? "yes" : "no"
        } else {
            repaired = ""
        }
        return [text("kind"), text("client_order_id"), text("book_status"), text("broker_status"), repaired, detail]
    }
}
