import Foundation
import HybridTestSupport
import Testing
import TradingJobs
/// The SignalR hub with real clients: signalrcore (PyPI) and raw WebSocket frames.
@Suite(.serialized) struct HubTests {
    /// ../shared/reference/signalr.md §13.4, frame by frame (short keep-alive timings).
    @Test func rawFramesConformToTheProtocol() async throws {
        try #require(FileManager.default.isExecutableFile(atPath: APIFarm.python.path), "no .venv-test: run ops/test.sh")
        try await APIFarm.run(worker: false, hub: APIFarm.quickHub) { api in
            try await api.farm.seedUser()
            _ = try await api.farm.openDipQuestions(1)
            let result = try await ChildProcess.run(APIFarm.python, [APIFarm.script("hub_conformance.py"), api.base, try await api.token()],
                                                    environment: ProcessInfo.processInfo.environment)
            #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
            #expect(result.stdout.contains("checks passed"), "\(result.stdout)")
        }
    }

    /// signalrcore connects; the pipeline's own flow (ingest → evaluate → deliver-question →
    /// NOTIFY → hub) puts the question on it; it answers with SubmitAnswer and sees the order
    /// fill through ReceiveTradeUpdate.
    @Test func signalrcoreReceivesTheQuestionAnswersAndSeesTheFill() async throws {
        try #require(FileManager.default.isExecutableFile(atPath: APIFarm.python.path), "no .venv-test: run ops/test.sh")
        try await APIFarm.run { api in
            try await api.farm.seedUser()
            let client = try RunningProcess.start(APIFarm.python, [APIFarm.script("hub_signalrcore.py"), api.base + "/hubs/questions",
                                                                   try await api.token(), "--answer", "10"],
                                                  environment: ProcessInfo.processInfo.environment)
            defer { client.stop() }
            try #require(try await eventually(within: 20) { client.output.contains("READY") } != nil, "\(client.output)")
            try await api.farm.enqueue(TradingJobCatalog.ingestSymbolBatch,
                                       IngestSymbolBatch(feed: "iex", symbols: ["SPY"], metrics: ["last_trade", "prev_close"], bucket: 1))
            try await api.farm.drain()
            try await api.farm.enqueue(TradingJobCatalog.evaluateUser, EvaluateUser(firebaseUID: Farm.uid, bucket: 1))
            let status = await client.wait(seconds: 60)
            #expect(status == 0, "\(client.output)")
            let line = try #require(client.output.split(separator: "\n").last { $0.hasPrefix("{") })
            let result = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
            let question = try #require(result["question"] as? [String: Any])
            #expect((question["text"] as? String)?.hasPrefix("SPY is down") == true)
            let completion = try #require(result["completion"] as? [String: Any])
            #expect(completion["outcome"] as? String == "ordered", "\(completion)")
            let updates = (result["updates"] as? [[String: Any]]) ?? []
            #expect(updates.contains { $0["status"] as? String == "filled" && $0["clientOrderId"] as? String == completion["clientOrderId"] as? String })
            #expect(api.farm.sim.simulator.exchange.ledger().orders.count == 1)
        }
    }

    /// Two connections of one user on two `hybridhub api` processes: both get the question
    /// (fan-out by LISTEN/NOTIFY), and a reconnect gets the open question again.
    @Test func twoAPIProcessesBothDeliverToTheUser() async throws {
        try #require(FileManager.default.isExecutableFile(atPath: APIFarm.python.path), "no .venv-test: run ops/test.sh")
        try await APIFarm.run { api in
            try await api.farm.seedUser()
            let binary = try ChildProcess.executable("hybridhub")
            let environment = api.farm.processEnvironment([
                "FIREBASE_PROJECT_ID": APIFarm.projectID, "FIREBASE_JWKS_URL": api.issuerURL + "/jwks.json", "LOG_LEVEL": "info",
            ])
            let first = try RunningProcess.start(binary, ["api", "--port", "0"], environment: environment)
            let second = try RunningProcess.start(binary, ["api", "--port", "0"], environment: environment)
            defer { first.stop(); second.stop() }
            func port(_ process: RunningProcess) async throws -> String {
                _ = try await eventually(within: 20) { process.output.contains("api listening on") }
                let text = process.output
                guard let range = text.range(of: #"http://127\.0\.0\.1:\d+"#, options: .regularExpression) else {
                    throw FarmError("no port in: \(text)")
                }
                return String(text[range])
            }
            let urls = [try await port(first), try await port(second)].map { $0 + "/hubs/questions" }
            let client = try RunningProcess.start(APIFarm.python, [APIFarm.script("hub_signalrcore.py"), urls.joined(separator: ","),
                                                                   try await api.token()],
                                                  environment: ProcessInfo.processInfo.environment)
            defer { client.stop() }
            try #require(try await eventually(within: 20) { client.output.contains("READY") } != nil, "\(client.output)")
            // Each API process exports its hub connections on /metrics.
            let metrics = try await api.callAbsolute(urls[0].replacingOccurrences(of: "/hubs/questions", with: "/metrics"))
            #expect(metrics.contains("hybridhub_hub_connections 1"), "\(metrics.prefix(2000))")
            let question = try #require(try await api.farm.openDipQuestions(1).first)
            try await api.farm.enqueue(TradingJobCatalog.deliverQuestion, DeliverQuestion(questionID: question))
            #expect(await client.wait(seconds: 30) == 0, "\(client.output)\n--- api 1:\n\(first.output)\n--- api 2:\n\(second.output)")
            let line = try #require(client.output.split(separator: "\n").last { $0.hasPrefix("{") })
            let result = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
            let counts = (result["per_connection"] as? [String: Int]) ?? [:]
            #expect(counts["0"] ?? 0 >= 1 && counts["1"] ?? 0 >= 1, "both connections got it: \(counts)")
            first.signal(SIGTERM)
            second.signal(SIGTERM)
            #expect(await first.wait(seconds: 20) == 0)
            #expect(await second.wait(seconds: 20) == 0)
        }
    }

    /// A rule switched off through the API withdraws its open question: the phone gets
    /// ReceiveQuestionWithdrawn, and an approval of it orders nothing.
    @Test func switchingARuleOffWithdrawsItsQuestionOnThePhone() async throws {
        try #require(FileManager.default.isExecutableFile(atPath: APIFarm.python.path), "no .venv-test: run ops/test.sh")
        try await APIFarm.run { api in
            try await api.farm.seedUser()
            let question = try #require(try await api.farm.openDipQuestions(1).first)
            let token = try await api.token()
            let client = try RunningProcess.start(APIFarm.python, [APIFarm.script("hub_signalrcore.py"), api.base + "/hubs/questions",
                                                                   token, "--expect-withdrawn"],
                                                  environment: ProcessInfo.processInfo.environment)
            defer { client.stop() }
            try #require(try await eventually(within: 20) { client.output.contains("QUESTION") } != nil, "\(client.output)")
            let put = try await api.call(.PUT, "/v1/me/trading/config", token: token, json: """
                {"data_inputs": [{"id": "primary_watchlist", "symbols": ["SPY"], "poll_interval_seconds": 1}],
                 "rules": [{"id": "dip_confirm", "enabled": false}]}
                """)
            #expect(put.status == 200, "\(String(decoding: put.body, as: UTF8.self))")
            #expect(await client.wait(seconds: 30) == 0, "\(client.output)")
            let line = try #require(client.output.split(separator: "\n").last { $0.hasPrefix("{") })
            let result = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
            let withdrawn = (result["withdrawn"] as? [[String: Any]]) ?? []
            #expect(withdrawn.first?["id"] as? String == question.uuidString.lowercased())
            #expect((withdrawn.first?["reason"] as? String)?.contains("switched off") == true, "\(withdrawn)")
            let answer = try await api.call(.POST, "/v1/me/questions/\(question.uuidString.lowercased())/answer", token: token, json: #"{"value": 10}"#)
            let body = try #require(try JSONSerialization.jsonObject(with: answer.body) as? [String: Any])
            #expect(answer.status == 200 && body["outcome"] as? String == "withdrawn", "\(answer.status) \(body)")
            #expect(api.farm.sim.simulator.exchange.ledger().orders.isEmpty)
        }
    }
}
