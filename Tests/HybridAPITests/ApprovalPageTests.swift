import Foundation
import HybridTestSupport
import Testing
import TradingJobs
/// The approval page (`/approve`) in a real browser: Playwright (PyPI) driving Debian's
/// `chromium` (never a downloaded browser), from sign-in to an approved, filled order.
@Suite(.serialized) struct ApprovalPageTests {
    static let chromium = "/usr/bin/chromium"

    /// Signs in with `#token=` (the demo's link), goes live on the hub; only then does the
    /// pipeline make a question (deliver-question → NOTIFY → hub), so it reaches the page live.
    /// Approve; the orders table shows the order and, after ReceiveTradeUpdate, `filled`.
    @Test func signInWatchAQuestionArriveApproveAndSeeTheFill() async throws {
        try #require(FileManager.default.isExecutableFile(atPath: APIFarm.python.path), "no .venv-test: run ops/test.sh")
        try #require(FileManager.default.isExecutableFile(atPath: Self.chromium), "no \(Self.chromium): run ops/setup-debian.sh")
        try await APIFarm.run { api in
            try await api.farm.seedUser()
            let browser = try RunningProcess.start(APIFarm.python, [APIFarm.script("approval_page.py"), api.base, try await api.token(),
                                                                    "--timeout", "20", "--chromium", Self.chromium],
                                                   environment: ProcessInfo.processInfo.environment)
            defer { browser.stop() }
            let live = try await eventually(within: 20) { browser.output.contains("READY") || browser.output.contains("\"ok\": false") }
            try #require(live != nil && browser.output.contains("READY"), "\(browser.output)")

            let question = try #require(try await api.farm.openDipQuestions(1).first)
            try await api.farm.enqueue(TradingJobCatalog.deliverQuestion, DeliverQuestion(questionID: question))
            let status = await browser.wait(seconds: 40)
            #expect(status == 0, "\(browser.output)")

            let line = try #require(browser.output.split(separator: "\n").last { $0.hasPrefix("{") }, "\(browser.output)")
            let result = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
            #expect(result["question_id"] as? String == question.uuidString.lowercased(), "\(result)")
            #expect((result["question_text"] as? String)?.contains("SPY is down") == true, "\(result)")
            // The card shows exactly the order the approval executes, and counts down to expiry.
            let card = (result["order_card"] as? [String: String]) ?? [:]
            #expect(card["order"] == "buy $10.00 of SPY", "\(card)")
            #expect(card["type"] == "market (day)" && (card["price"] ?? "").contains(" vs $") && (card["data"] ?? "").hasSuffix("s old when asked"), "\(card)")
            #expect((card["expires-in"] ?? "").range(of: #"^\d+:\d\d$"#, options: .regularExpression) != nil, "\(card)")
            #expect((result["page_errors"] as? [Any])?.isEmpty == true && (result["console_errors"] as? [Any])?.isEmpty == true, "\(result)")
            // On the page's WebSocket: the question (live), then the order's updates up to filled.
            let hub = (result["hub_messages"] as? [[String: Any]]) ?? []
            #expect(hub.contains { $0["target"] as? String == "ReceiveQuestion" && $0["id"] as? String == question.uuidString.lowercased() }, "\(hub)")
            #expect(hub.contains { $0["target"] as? String == "ReceiveTradeUpdate" && $0["status"] as? String == "filled" }, "\(hub)")
            let rows = (result["orders"] as? [[String: Any]]) ?? []
            #expect(rows.count == 1 && rows.first?["status"] as? String == "filled", "\(rows)")

            // The server agrees: the answer is recorded, one order, filled, and one at the simulator.
            let orders = try await api.farm.rows("SELECT status FROM trade_orders WHERE firebase_uid = '\(Farm.uid)'")
            #expect(orders == ["filled"], "\(orders)")
            // The page shows the user's own position: the shares the fill bought, and the P&L line.
            let filledQty = try await api.farm.rows("SELECT filled_qty::text FROM trade_orders WHERE firebase_uid = '\(Farm.uid)'")
            let positions = (result["positions"] as? [[String: Any]]) ?? []
            #expect(positions.count == 1 && positions.first?["symbol"] as? String == "SPY", "\(positions)")
            #expect(positions.first.flatMap { $0["qty"] as? String }.flatMap { Decimal(string: $0) } == filledQty.first.flatMap { Decimal(string: $0) },
                    "\(positions) vs \(filledQty)")
            #expect((result["pnl_text"] as? String)?.hasPrefix("Cost $10.00, unrealized") == true, "\(result["pnl_text"] ?? "")")
            #expect(rows.first?["id"] as? String != nil)
            let answers = try await api.farm.int("SELECT count(*)::int FROM answers WHERE question_id = '\(question.uuidString.lowercased())'")
            #expect(answers == 1)
            #expect(api.farm.sim.simulator.exchange.ledger().orders.count == 1)
        }
    }
}
