import Foundation
import HybridTestSupport
import Testing
/// /v1/me/... against a real database, the pipeline and the simulator.
@Suite(.serialized) struct RouteTests {
    @Test func configGetAndPutWithPathPreciseErrors() async throws {
        try await APIFarm.run(worker: false) { api in
            let token = try await api.token("new-user")
            #expect(try await api.call(.GET, "/v1/me/trading/config", token: token).status == 404)
            let bad = try await api.call(.PUT, "/v1/me/trading/config", token: token,
                                         json: #"{"rules": [{"id": "dip_confirm", "threshold_pct": 2}], "guardrails": {"max_orders_per_day": 0}}"#)
            #expect(bad.status == 422)
            let issues = (bad.json["issues"] as? [[String: String]]) ?? []
            #expect(issues.contains { $0["path"] == "rules[0].threshold_pct" && ($0["message"] ?? "").contains("must be negative") }, "\(issues)")
            #expect(issues.contains { $0["path"] == "guardrails.max_orders_per_day" }, "\(issues)")
            #expect(try await api.call(.GET, "/v1/me/trading/config", token: token).status == 404, "nothing stored")
            #expect(try await api.call(.PUT, "/v1/me/trading/config", token: token, json: "[1]").status == 400)
            #expect(try await api.call(.PUT, "/v1/me/trading/config", token: token, json: "{nope").status == 400)

            let good = try await api.call(.PUT, "/v1/me/trading/config", token: token,
                                          json: #"{"data_inputs": [{"id": "primary_watchlist", "symbols": ["SPY", "QQQ"]}]}"#)
            #expect(good.status == 200, "\(good.text)")
            let got = try await api.call(.GET, "/v1/me/trading/config", token: token)
            #expect(got.status == 200)
            #expect(got.json["template_name"] as? String == "default_paper_watchlist")
            let config = try #require(got.json["config"] as? [String: Any])
            let inputs = try #require(config["data_inputs"] as? [[String: Any]])
            #expect(inputs.first?["symbols"] as? [String] == ["SPY", "QQQ"], "the override merged over the template by id")
            #expect((config["rules"] as? [[String: Any]])?.first?["id"] as? String == "dip_confirm", "the template's rule kept")
        }
    }

    @Test func questionsAnswersOrdersSnapshotsAndStatus() async throws {
        try await APIFarm.run { api in
            try await api.farm.seedUser()
            let token = try await api.token()
            let question = try #require(try await api.farm.openDipQuestions(1).first)
            let listed = try await api.call(.GET, "/v1/me/questions", token: token)
            let questions = (listed.json["questions"] as? [[String: Any]]) ?? []
            #expect(questions.map { $0["id"] as? String } == [question.uuidString.lowercased()])
            #expect(questions.first?["options"] != nil && questions.first?["expires_at"] != nil)

            // Another user sees none of it and cannot answer it.
            let other = try await api.token("someone-else")
            #expect(((try await api.call(.GET, "/v1/me/questions", token: other).json["questions"] as? [Any]) ?? [1]).isEmpty)
            #expect(try await api.call(.POST, "/v1/me/questions/\(question)/answer", token: other, json: #"{"value": 10}"#).status == 404)
            // Bad answers.
            #expect(try await api.call(.POST, "/v1/me/questions/\(question)/answer", token: token, json: #"{"value": 11}"#).status == 422)
            #expect(try await api.call(.POST, "/v1/me/questions/\(question)/answer", token: token, json: #"{"value": true}"#).status == 422)
            #expect(try await api.call(.POST, "/v1/me/questions/\(question)/answer", token: token, json: #"{}"#).status == 400)
            #expect(try await api.call(.POST, "/v1/me/questions/not-a-uuid/answer", token: token, json: #"{"value": 10}"#).status == 404)

            let answered = try await api.call(.POST, "/v1/me/questions/\(question)/answer", token: token, json: #"{"value": 10}"#)
            #expect(answered.status == 200 && answered.json["outcome"] as? String == "ordered", "\(answered.text)")
            let orderID = try #require(answered.json["trade_order_id"] as? String)
            let again = try await api.call(.POST, "/v1/me/questions/\(question)/answer", token: token, json: #"{"value": "10"}"#)
            #expect(again.json["repeated"] as? Bool == true && again.json["trade_order_id"] as? String == orderID)
            _ = try await api.farm.settled(try #require(UUID(uuidString: orderID)))

            let orders = try await api.call(.GET, "/v1/me/trading/orders?limit=1", token: token)
            let first = try #require((orders.json["orders"] as? [[String: Any]])?.first)
            #expect(first["id"] as? String == orderID && first["status"] as? String == "filled" && first["question_id"] as? String == question.uuidString.lowercased())
            #expect(try await api.call(.GET, "/v1/me/trading/orders?limit=0", token: token).status == 400)
            #expect(((try await api.call(.GET, "/v1/me/trading/orders", token: other).json["orders"] as? [Any]) ?? [1]).isEmpty)

            let snapshots = try await api.call(.GET, "/v1/me/trading/snapshots?symbol=SPY", token: token)
            #expect(((snapshots.json["snapshots"] as? [[String: Any]]) ?? []).contains { $0["metric"] as? String == "last_trade" })
            #expect(try await api.call(.GET, "/v1/me/trading/snapshots", token: token).status == 400)
            #expect(try await api.call(.GET, "/v1/me/trading/snapshots?symbol=spy%20x", token: token).status == 400)

            let status = try await api.call(.GET, "/v1/me/trading/status", token: token)
            #expect(status.status == 200)
            let positions = (status.json["positions"] as? [[String: Any]]) ?? []
            #expect(positions.first?["symbol"] as? String == "SPY")
            #expect(!status.text.contains(api.farm.secret) && !status.text.contains(api.farm.keyID), "no keys in the status")
        }
    }

    @Test func healthReadinessAndUnknownRoutes() async throws {
        try await APIFarm.run(worker: false) { api in
            #expect(try await api.call(.GET, "/health", token: nil).status == 200)
            #expect(try await api.call(.GET, "/ready", token: nil).json["status"] as? String == "ready")
            #expect(try await api.call(.GET, "/v1/me/nothing-here", token: try await api.token()).status == 404)
            let page = try await api.call(.GET, "/approve", token: nil)
            #expect(page.status == 200 && page.text.contains("/hubs/questions/negotiate"))
        }
    }

    /// /ready shows the farm-wide halt, who set it and why.
    @Test func readyShowsTheHalt() async throws {
        try await APIFarm.run(worker: false) { api in
            let running = try await api.call(.GET, "/ready", token: nil)
            #expect(running.status == 200 && (running.json["trading"] as? [String: Any])?["halted"] as? Bool == false)
            try await api.farm.halt(reason: "broker incident")
            let halted = try await api.call(.GET, "/ready", token: nil)
            let trading = (halted.json["trading"] as? [String: Any]) ?? [:]
            #expect(halted.status == 200 && trading["halted"] as? Bool == true, "\(halted.text)")
            #expect(trading["reason"] as? String == "broker incident" && trading["set_by"] as? String == "tests")
        }
    }
}
