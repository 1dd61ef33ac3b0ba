import Foundation
import HybridTestSupport
import Testing

/// The systemd units of ops/deploy start commands that exist, with options that exist.
@Suite struct DeploymentTests {
    @Test func everyUnitStartsARealRoleWithRealOptions() async throws {
        let folder = TestDatabase.repositoryRoot.appendingPathComponent("ops/deploy")
        let units = try FileManager.default.contentsOfDirectory(atPath: folder.path).filter { $0.hasSuffix(".service") }
        #expect(units.count == 5)
        let binary = try ChildProcess.executable("hybridhub")
        for unit in units {
            let text = try String(contentsOf: folder.appendingPathComponent(unit), encoding: .utf8)
            let exec = try #require(text.split(separator: "\n").first { $0.hasPrefix("ExecStart=") }, "\(unit) has no ExecStart")
            let words = exec.dropFirst("ExecStart=".count).split(separator: " ").map(String.init)
            #expect(words.first == "/opt/hybridhub/bin/hybridhub", "\(unit)")
            let subcommand = words[1]
            let help = try await ChildProcess.run(binary, [subcommand, "--help"], environment: ProcessInfo.processInfo.environment)
            #expect(help.status == 0, "\(unit): hybridhub \(subcommand) --help failed: \(help.stderr)")
            for option in words.dropFirst(2) where option.hasPrefix("--") {
                #expect(help.stdout.contains(option), "\(unit): hybridhub \(subcommand) has no \(option)")
            }
            #expect(text.contains("EnvironmentFile=/etc/hybridhub/hybridhub.env"), "\(unit)")
        }
    }

    /// A worker checks its trading keys at start-up: keys that open no account at the trading
    /// URL stop it with a clear message, without the secret.
    @Test func aWorkerRefusesToStartWithKeysThatOpenNoAccount() async throws {
        try await Farm.run(worker: false) { farm in
            let binary = try ChildProcess.executable("hybridhub")
            let refused = try await ChildProcess.run(binary, ["worker", "--id", "bad-keys"],
                                                     environment: farm.processEnvironment(["ALPACA_API_SECRET_KEY": "WRONGSECRET42"]))
            #expect(refused.status != 0)
            #expect(refused.stderr.contains("refusing to start") && refused.stderr.contains("do not open an account"), "\(refused.stderr)")
            #expect(!refused.stderr.contains("WRONGSECRET42") && !refused.stdout.contains("WRONGSECRET42"))
        }
    }
}
