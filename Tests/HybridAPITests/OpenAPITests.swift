import Foundation
import HybridAPI
import HybridTestSupport
import Testing

/// The OpenAPI document (Sources/HybridAPI/openapi.yaml) is what the server serves, and the
/// live server keeps to it: schemathesis (PyPI) with a valid token finds no 5xx and no
/// non-conforming response. The check is real: a document with one wrong type fails it.
@Suite(.serialized) struct OpenAPITests {
    static let file = TestDatabase.repositoryRoot.appendingPathComponent("Sources/HybridAPI/openapi.yaml")

    /// schemathesis's report ends with the failures and the summary; generated bodies can be
    /// long and exotic, so only the end goes into the issue.
    static func tail(_ text: String) -> String {
        String(text.unicodeScalars.suffix(12_000).map(Character.init))
    }

    @Test func theEmbeddedDocumentIsTheFile() throws {
        let onDisk = try Data(contentsOf: Self.file)
        #expect(Data(OpenAPIDocument.bytes) == onDisk, "rebuild: the compiled-in openapi.yaml differs from the file")
        let text = String(decoding: onDisk, as: UTF8.self)
        for path in ["/health:", "/ready:", "/v1/me/trading/config:", "/v1/me/trading/orders:", "/v1/me/trading/snapshots:",
                     "/v1/me/trading/status:", "/v1/me/questions:", "/v1/me/questions/{id}/answer:"] {
            #expect(text.contains("\n  \(path)\n"), "\(path) documented")
        }
    }

    @Test func schemathesisFindsTheLiveServerTrueToTheDocument() async throws {
        try #require(FileManager.default.isExecutableFile(atPath: APIFarm.python.path), "no .venv-test: run ops/test.sh")
        try await APIFarm.run { api in
            // Served as kept in the repository.
            let served = try await api.call(.GET, OpenAPIDocument.path, token: nil)
            #expect(served.status == 200)
            #expect(served.headers.contains { $0.0.lowercased() == "content-type" && $0.1 == "application/yaml" })
            #expect(served.body == (try Data(contentsOf: Self.file)), "GET /openapi.yaml differs from Sources/HybridAPI/openapi.yaml")

            // Data for every shape: a user with a config, open questions, a filled order, snapshots.
            try await api.farm.seedUser()
            let token = try await api.token()
            let questions = try await api.farm.openDipQuestions(3)
            let answered = try await api.call(.POST, "/v1/me/questions/\(questions[0])/answer", token: token, json: #"{"value": 10}"#)
            let orderID = try #require(answered.json["trade_order_id"] as? String, "\(answered.text)")
            _ = try await api.farm.settled(try #require(UUID(uuidString: orderID)))
            _ = try await api.call(.POST, "/v1/me/questions/\(questions[1])/answer", token: token, json: #"{"value": 3}"#)

            let started = ContinuousClock.now
            let run = try await ChildProcess.run(APIFarm.python, [APIFarm.script("openapi_schemathesis.py"), api.base, token,
                                                                  api.base + OpenAPIDocument.path],
                                                 environment: ProcessInfo.processInfo.environment)
            let elapsed = ContinuousClock.now - started
            #expect(run.status == 0, "\(Self.tail(run.stdout + run.stderr))")
            #expect(elapsed < .seconds(60), "schemathesis took \(elapsed)")
            print("schemathesis against the live API: exit \(run.status) in \(elapsed)")

            // The negative control: one property's type changed in a copy of the document.
            let control = try await ChildProcess.run(APIFarm.python, [APIFarm.script("openapi_schemathesis.py"), api.base, token,
                                                                      Self.file.path, "--mutate"],
                                                     environment: ProcessInfo.processInfo.environment)
            #expect(control.status == 0 && control.stdout.contains("negative control: caught"), "\(Self.tail(control.stdout + control.stderr))")
            print("negative control done after \(ContinuousClock.now - started)")
        }
    }

    /// Every path of the document is in docs/api-and-hub.md's route table, and the table names
    /// no /v1 route the document lacks.
    @Test func theDocumentedRoutesAreTheDocument() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let yaml = try String(contentsOf: Self.file, encoding: .utf8)
        let paths = Set(yaml.split(separator: "\n").compactMap { line -> String? in
            guard line.hasPrefix("  /"), line.hasSuffix(":") else { return nil }
            return String(line.dropFirst(2).dropLast())
        })
        let doc = try String(contentsOf: root.appendingPathComponent("docs/api-and-hub.md"), encoding: .utf8)
        var documented = Set<String>()
        for line in doc.split(separator: "\n") where line.hasPrefix("| `") {
            let route = line.dropFirst(3).prefix { $0 != "`" }
            guard let path = route.split(separator: " ").dropFirst().first else { continue }
            documented.insert(String(path.split(separator: "?").first ?? path))
        }
        #expect(paths.subtracting(documented).isEmpty, "undocumented: \(paths.subtracting(documented).sorted())")
        let unknown = documented.filter { $0.hasPrefix("/v1") && !paths.contains($0) }
        #expect(unknown.isEmpty, "documented but not in openapi.yaml: \(unknown.sorted())")
    }
}
