import Foundation
import HybridTestSupport
import Testing

/// The simulator's real answers against Alpaca's official Market Data OpenAPI document
/// (committed under Tests/openapi, CC BY-SA 4.0, see its ATTRIBUTION.md): every implemented
/// market-data route, paging included, must answer a status the document declares, with a body
/// that validates against its schema and the X-RateLimit headers it names. Trading answers are
/// checked against the fields and types alpaca-py relies on (the trading document has no
/// licence and stays out of the repository; ops/openapi-conformance.sh uses a local copy).
@Suite struct OpenAPIConformanceTests {
    static let root = TestDatabase.repositoryRoot

    @Test func answersConformToTheOfficialDocuments() async throws {
        try #require(FileManager.default.isExecutableFile(atPath: AlpacaPyTests.python.path),
                     "no .venv-test: run ops/test.sh (it installs the Python test clients and validators)")
        // 2011-03-16 13:39 ET: inside a replayed session, with bars, trades and a previous day.
        try await Sim.run(start: Date(timeIntervalSince1970: 1_300_297_140)) { sim in
            let script = Self.root.appendingPathComponent("Tests/python/openapi_conformance.py").path
            let spec = Self.root.appendingPathComponent("Tests/openapi/market-data-api.json").path
            let result = try await ChildProcess.run(AlpacaPyTests.python, [script, sim.base, "--market-data-spec", spec],
                                                    environment: ProcessInfo.processInfo.environment)
            #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
            #expect(result.stdout.contains("checks passed"), "\(result.stdout)")
        }
    }

    @Test func theCommittedDocumentCarriesItsLicenceAndAttribution() throws {
        let data = try Data(contentsOf: Self.root.appendingPathComponent("Tests/openapi/market-data-api.json"))
        let document = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        let info = try #require(document["info"] as? [String: Any])
        #expect(info["title"] as? String == "Market Data API")
        #expect((info["license"] as? [String: Any])?["name"] as? String == "Creative Commons Attribution Share Alike 4.0 International")
        let attribution = try String(contentsOf: Self.root.appendingPathComponent("Tests/openapi/ATTRIBUTION.md"), encoding: .utf8)
        #expect(attribution.contains("CC BY-SA 4.0") && attribution.contains("byte for byte"))
    }
}
