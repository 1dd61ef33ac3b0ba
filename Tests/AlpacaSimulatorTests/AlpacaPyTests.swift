import Foundation
import HybridTestSupport
import Testing

/// Alpaca's official Python SDK (alpaca-py 0.44.0) and raw WebSocket frames against the
/// simulator, unchanged but for the base URL. The test command creates `.venv-test` with the
/// pinned clients (see ops/lib.sh); each script exits non-zero on its first failed check.
@Suite struct AlpacaPyTests {
    static let python = TestDatabase.repositoryRoot.appendingPathComponent(".venv-test/bin/python")

    @Test(arguments: ["alpaca_py_rest.py", "alpaca_py_streams.py", "stream_protocol.py"])
    func pythonClients(script: String) async throws {
        try #require(FileManager.default.isExecutableFile(atPath: Self.python.path),
                     "no .venv-test with alpaca-py: run ops/test.sh (it installs the Python test clients)")
        try await Sim.run { sim in
            let path = TestDatabase.repositoryRoot.appendingPathComponent("Tests/python/\(script)").path
            let result = try await ChildProcess.run(Self.python, [path, sim.base], environment: ProcessInfo.processInfo.environment)
            #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
            #expect(result.stdout.contains("checks passed"), "\(result.stdout)")
        }
    }
}
