import Foundation
import HybridTestSupport
import Testing
import TradingJobs
import TradingPipeline

/// docs/architecture.md says which handler type runs each job kind, in which file: this keeps
/// that table, the files and the registry in step with the catalog.
@Suite struct ArchitectureTests {
    /// Each kind's handler type, from the types themselves.
    static let handlers: [String: String] = [
        IngestHandler.spec.kind: "IngestHandler",
        EvaluateUserHandler.spec.kind: "EvaluateUserHandler",
        DeliverQuestionHandler.spec.kind: "DeliverQuestionHandler",
        SubmitOrderHandler.spec.kind: "SubmitOrderHandler",
        PollOrderStatusHandler.spec.kind: "PollOrderStatusHandler",
        ReconcileOrdersHandler.spec.kind: "ReconcileOrdersHandler",
    ]

    @Test func everyKindOfTheCatalogHasOneHandlerInItsOwnFile() throws {
        #expect(Set(Self.handlers.keys) == Set(TradingJobCatalog.all.map(\.kind)))
        let folder = TestDatabase.repositoryRoot.appendingPathComponent("Sources/TradingPipeline/Handlers")
        for (kind, handler) in Self.handlers {
            let file = folder.appendingPathComponent("\(handler).swift")
            let text = try String(contentsOf: file, encoding: .utf8)
            #expect(text.contains("public struct \(handler): TradingJobHandler"), "\(file.path) declares \(handler) for \(kind)")
        }
    }

    @Test func theRegistryBindsEveryKindOfTheCatalog() async throws {
        try await Farm.run(worker: false) { farm in
            let registry = farm.pipeline.registry()
            #expect(registry.kinds == TradingJobCatalog.all.map(\.kind).sorted())
            for spec in TradingJobCatalog.all {
                let definition = try #require(registry[spec.kind])
                #expect(definition.queue == spec.queue && definition.priority == spec.priority, "\(spec.kind)")
                #expect(definition.retry.maxAttempts == spec.retry.maxAttempts && definition.timeoutSeconds == spec.timeoutSeconds)
            }
        }
    }

    @Test func theArchitectureDocumentNamesEachKindsHandler() throws {
        let text = try String(contentsOf: TestDatabase.repositoryRoot.appendingPathComponent("docs/architecture.md"), encoding: .utf8)
        var documented: [String: String] = [:]
        for line in text.split(separator: "\n") where line.hasPrefix("| `") {
            let cells = line.split(separator: "|").map { $0.trimmingCharacters(in: .whitespaces) }
            guard cells.count >= 2, cells[1].hasPrefix("`"), cells[1].hasSuffix("Handler`") else { continue }
            documented[cells[0].trimmingCharacters(in: CharacterSet(charactersIn: "`"))] = cells[1].trimmingCharacters(in: CharacterSet(charactersIn: "`"))
        }
        #expect(documented == Self.handlers)
    }
}
