import Foundation
import HybridTestSupport
import Testing

/// Alpaca's official Python SDK against the simulator, unchanged but for the base URL.
/// The test command creates `.venv-test` with alpaca-py (see ops/lib.sh).
@Suite struct AlpacaPyTests {
    static let python = TestDatabase.repositoryRoot.appendingPathComponent(".venv-test/bin/python")

    @Test func restThroughAlpacaPy() async throws {
        try #require(FileManager.default.isExecutableFile(atPath: Self.python.path),
                     "no .venv-test with alpaca-py: run ops/test.sh (it installs the Python test clients)")
        try await Sim.run { sim in
            let script = TestDatabase.repositoryRoot.appendingPathComponent("Tests/python/alpaca_py_rest.py")
            let result = try await ChildProcess.run(Self.python, [script.path, sim.base], environment: ProcessInfo.processInfo.environment)
            #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
            #expect(result.stdout.contains("checks passed"), "\(result.stdout)")
        }
    }
}
