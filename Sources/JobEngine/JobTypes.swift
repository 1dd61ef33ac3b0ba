import Foundation
import Logging

/// The states of plan and card: a job ends `completed`, `discarded` (attempts exhausted or a
/// permanent error; kept for the ops CLI) or `cancelled`. Nothing else is terminal.
public enum JobState: String, Sendable, CaseIterable, Codable {
    case available, scheduled, running, retryable, completed, discarded, cancelled

    public var isTerminal: Bool { self == .completed || self == .discarded || self == .cancelled }

    /// States in which a job will still run (or is running).
    public static let live: [JobState] = [.available, .scheduled, .running, .retryable]
    public static let terminal: [JobState] = [.completed, .discarded, .cancelled]
    /// The states a unique key is held in (a completed job keeps its key: no rerun of done work).
    public static let holdingUniqueKey: [JobState] = live + [.completed]

    /// `('a', 'b')`: a literal list for SQL (partial indexes match literal lists only).
    public static func sqlList(_ states: [JobState]) -> String {
        "(" + states.map { "'\($0.rawValue)'" }.joined(separator: ", ") + ")"
    }
}

/// A typed job payload: its kind name travels with the type (swift-jobs' `JobParameters`).
public protocol JobPayload: Codable, Sendable {
    static var kind: String { get }
}

/// What a handler asks for when it returns normally.
public enum JobOutcome: Sendable, Equatable {
    case complete
    /// Run again after `seconds` without using an attempt (e.g. no rate-limit token yet).
    case snooze(seconds: Double)
    /// Stop for good; the job ends `cancelled`.
    case cancel(reason: String)
}

/// Errors that say whether trying again can help. Handlers throw these (or anything
/// conforming); any other error counts as retryable.
public protocol RetryClassifiedError: Error {
    var isRetryable: Bool { get }
    /// A delay the remote side asked for (HTTP `Retry-After`), used instead of the backoff.
    var retryAfterSeconds: Double? { get }
}

extension RetryClassifiedError {
    public var retryAfterSeconds: Double? { nil }
}

public struct JobError: RetryClassifiedError, CustomStringConvertible {
    public let message: String
    public let isRetryable: Bool
    public let retryAfterSeconds: Double?

    public static func retryable(_ message: String, after seconds: Double? = nil) -> JobError {
        JobError(message: message, isRetryable: true, retryAfterSeconds: seconds)
    }

    public static func permanent(_ message: String) -> JobError {
        JobError(message: message, isRetryable: false, retryAfterSeconds: nil)
    }

    public var description: String { message }
}

/// Exponential backoff with jitter, capped; pure so it is tested without a clock.
public struct RetryPolicy: Sendable, Equatable {
    public var maxAttempts: Int
    public var baseSeconds: Double
    public var maxSeconds: Double
    /// Fraction of the delay randomised either way (0.2 → ±20 %).
    public var jitter: Double

    public init(maxAttempts: Int = 20, baseSeconds: Double = 1, maxSeconds: Double = 3600, jitter: Double = 0.2) {
        precondition(maxAttempts >= 1 && baseSeconds >= 0 && maxSeconds >= baseSeconds && (0...1).contains(jitter))
        self.maxAttempts = maxAttempts
        self.baseSeconds = baseSeconds
        self.maxSeconds = maxSeconds
        self.jitter = jitter
    }

    /// Delay before attempt `attempt + 1`, after attempt `attempt` (≥ 1) failed.
    /// `unit` is a random number in [0, 1) (injected for tests).
    public func delay(afterAttempt attempt: Int, unit: Double) -> Double {
        let exponent = Double(max(0, min(attempt - 1, 60)))
        let raw = min(maxSeconds, baseSeconds * pow(2, exponent))
        let factor = 1 + jitter * (2 * unit - 1)
        return min(maxSeconds, max(0, raw * factor))
    }
}

/// What a handler knows about the job it runs.
public struct JobContext: Sendable {
    public let id: Int64
    public let kind: String
    public let queue: String
    /// 1 for the first run; counted at claim time.
    public let attempt: Int
    public let maxAttempts: Int
    /// The fencing token: bumped at every claim. Side effects keyed by it (or checked with
    /// `holdsLease`) cannot be applied by a worker that lost the job.
    public let leaseEpoch: Int64
    public let workerID: String
    /// When the job was enqueued (database time).
    public let enqueuedAt: Date
    public let logger: Logger
    /// True while this worker still holds the job at this epoch (asks the database).
    public let holdsLease: @Sendable () async throws -> Bool
}

/// A job kind: name, queue, retry policy and timeout declared together, beside the handler.
public struct JobDefinition: Sendable {
    public let kind: String
    public let queue: String
    public let priority: Int
    public let retry: RetryPolicy
    public let timeoutSeconds: Double
    let run: @Sendable (_ payload: Data, _ context: JobContext) async throws -> JobOutcome

    public init<P: JobPayload>(
        _ payload: P.Type, queue: String = "default", priority: Int = 1, retry: RetryPolicy = RetryPolicy(),
        timeoutSeconds: Double = 60,
        execute: @escaping @Sendable (P, JobContext) async throws -> JobOutcome
    ) {
        self.kind = P.kind
        self.queue = queue
        self.priority = priority
        self.retry = retry
        self.timeoutSeconds = timeoutSeconds
        self.run = { data, context in
            let payload: P
            do {
                payload = try JSONDecoder().decode(P.self, from: data)
            } catch {
                throw JobError.permanent("payload does not decode as \(P.self): \(error)")
            }
            return try await execute(payload, context)
        }
    }
}

/// The kinds a process can run, by name.
public struct JobRegistry: Sendable {
    public private(set) var definitions: [String: JobDefinition] = [:]

    public init(_ definitions: [JobDefinition] = []) {
        for definition in definitions { register(definition) }
    }

    public mutating func register(_ definition: JobDefinition) {
        precondition(definitions[definition.kind] == nil, "job kind \(definition.kind) registered twice")
        definitions[definition.kind] = definition
    }

    public subscript(kind: String) -> JobDefinition? { definitions[kind] }

    public var kinds: [String] { definitions.keys.sorted() }
    public var queues: Set<String> { Set(definitions.values.map(\.queue)) }
}
