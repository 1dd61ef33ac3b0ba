import Foundation
import JobEngine
import Testing
import TradingJobs

/// `jobs/<kind>.json` and `TradingJobCatalog` must say the same thing.
@Suite struct CatalogTests {
    static let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("jobs")

    struct Entry: Decodable {
        struct Retry: Decodable {
            let max_attempts: Int
            let backoff_base_seconds: Double
            let backoff_max_seconds: Double
            let jitter: Double
        }
        let kind: String
        let queue: String
        let priority: Int
        let timeout_seconds: Double
        let retry: Retry
        let unique_key: String
        let enqueued_by: String
        let idempotency: String
        let payload_example: AnyJSON
    }

    /// Keeps a JSON subtree as bytes.
    struct AnyJSON: Decodable {
        let data: Data
        init(from decoder: any Decoder) throws {
            let value = try decoder.singleValueContainer().decode(JSONFragment.self)
            let encoder = JSONEncoder()
            encoder.outputFormatting = .sortedKeys
            data = try encoder.encode(value)
        }
    }

    indirect enum JSONFragment: Codable {
        case null, bool(Bool), number(Double), string(String), array([JSONFragment]), object([String: JSONFragment])
        init(from decoder: any Decoder) throws {
            let c = try decoder.singleValueContainer()
            if c.decodeNil() { self = .null }
            else if let v = try? c.decode(Bool.self) { self = .bool(v) }
            else if let v = try? c.decode(Double.self) { self = .number(v) }
            else if let v = try? c.decode(String.self) { self = .string(v) }
            else if let v = try? c.decode([JSONFragment].self) { self = .array(v) }
            else { self = .object(try c.decode([String: JSONFragment].self)) }
        }
        func encode(to encoder: any Encoder) throws {
            var c = encoder.singleValueContainer()
            switch self {
            case .null: try c.encodeNil()
            case .bool(let v): try c.encode(v)
            case .number(let v): try c.encode(v)
            case .string(let v): try c.encode(v)
            case .array(let v): try c.encode(v)
            case .object(let v): try c.encode(v)
            }
        }
    }

    func entries() throws -> [String: Entry] {
        let names = try FileManager.default.contentsOfDirectory(atPath: Self.folder.path).filter { $0.hasSuffix(".json") }
        var entries: [String: Entry] = [:]
        for name in names {
            let entry = try JSONDecoder().decode(Entry.self, from: Data(contentsOf: Self.folder.appendingPathComponent(name)))
            #expect(name == "\(entry.kind).json", "file \(name) describes \(entry.kind)")
            entries[entry.kind] = entry
        }
        return entries
    }

    @Test func everyKindIsDocumentedAndEveryDocumentIsAKind() throws {
        let documented = Set(try entries().keys)
        let coded = Set(TradingJobCatalog.all.map(\.kind))
        #expect(documented == coded)
        #expect(coded == ["ingest-symbol-batch", "evaluate-user", "deliver-question", "submit-order", "poll-order-status", "reconcile-orders"])
    }

    @Test(arguments: TradingJobCatalog.all.map(\.kind))
    func documentMatchesCode(kind: String) throws {
        let entry = try #require(try entries()[kind])
        let spec = try #require(TradingJobCatalog.all.first { $0.kind == kind })
        #expect(entry.queue == spec.queue)
        #expect(entry.priority == spec.priority)
        #expect(entry.timeout_seconds == spec.timeoutSeconds)
        #expect(entry.retry.max_attempts == spec.retry.maxAttempts)
        #expect(entry.retry.backoff_base_seconds == spec.retry.baseSeconds)
        #expect(entry.retry.backoff_max_seconds == spec.retry.maxSeconds)
        #expect(entry.retry.jitter == spec.retry.jitter)
        #expect(entry.unique_key == spec.uniqueKey)
        #expect(entry.enqueued_by == spec.enqueuedBy)
        #expect(entry.idempotency == spec.idempotency)
        // The example is a real payload: it decodes and re-encodes to itself.
        #expect(try spec.decodeExample(entry.payload_example.data) == entry.payload_example.data)
    }

    @Test func uniqueKeysFollowTheirShapes() throws {
        let uuid = try #require(UUID(uuidString: "7BC01A34-45BA-405A-B67A-85F6D427B2A1"))
        #expect(EvaluateUser(firebaseUID: "u1", bucket: 42).uniqueKey == "evaluate-user:u1:42")
        #expect(DeliverQuestion(questionID: uuid).uniqueKey == "deliver-question:7bc01a34-45ba-405a-b67a-85f6d427b2a1")
        #expect(SubmitOrder(tradeOrderID: uuid, clientOrderID: "hh1-abc").uniqueKey == "submit-order:hh1-abc")
        let a = IngestSymbolBatch(feed: "iex", symbols: ["SPY", "AAPL"], metrics: ["last_trade"], bucket: 7)
        let b = IngestSymbolBatch(feed: "iex", symbols: ["AAPL", "SPY"], metrics: ["last_trade"], bucket: 7)
        #expect(a.uniqueKey == b.uniqueKey, "the symbol set, not its order, names the batch")
        #expect(a.uniqueKey.hasPrefix("ingest-symbol-batch:iex:") && a.uniqueKey.hasSuffix(":7"))
        #expect(ReconcileOrders(bucket: 9, apply: true).uniqueKey == "reconcile-orders:9")
        #expect(ReconcileOrders(bucket: 1_765_000_000_000, apply: false, requestedBy: "ops").uniqueKey
                == "reconcile-orders:requested:dry-run:1765000000000:ops")
        #expect(ReconcileOrders(bucket: 5, apply: true, requestedBy: "ops").uniqueKey != ReconcileOrders(bucket: 5, apply: false, requestedBy: "ops").uniqueKey)
    }

    /// A reconciliation waits behind every submission and poll in the orders queue.
    @Test func reconciliationNeverDelaysSubmissions() {
        let reconcile = TradingJobCatalog.reconcileOrders
        #expect(reconcile.queue == TradingJobCatalog.submitOrder.queue)
        #expect(reconcile.priority > TradingJobCatalog.submitOrder.priority && reconcile.priority > TradingJobCatalog.pollOrderStatus.priority)
    }
}

/// The job-kind table in docs/trading-pipeline.md and the catalog are the same list, with the
/// same queues.
@Suite struct JobKindsDocTests {
    @Test func theDocumentedJobKindsAreTheCatalog() throws {
        let doc = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("docs/trading-pipeline.md")
        let text = try String(contentsOf: doc, encoding: .utf8)
        var documented: [String: String] = [:]
        for line in text.split(separator: "\n") where line.hasPrefix("| `") {
            let cells = line.split(separator: "|", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
            guard cells.count > 3 else { continue }
            documented[cells[1].trimmingCharacters(in: CharacterSet(charactersIn: "`"))] = cells[2].trimmingCharacters(in: CharacterSet(charactersIn: "`"))
        }
        let catalog = Dictionary(TradingJobCatalog.all.map { ($0.kind, $0.queue) }, uniquingKeysWith: { a, _ in a })
        #expect(documented == catalog)
    }
}
