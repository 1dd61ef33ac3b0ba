import AsyncHTTPClient
import Foundation
import HybridTestSupport
import Testing

/// Every process exports Prometheus metrics: a scheduler and a worker process run the flow,
/// then their `/metrics` are scraped.
@Suite struct MetricsTests {
    @Test func workerAndSchedulerProcessesExportTheFarmsMetrics() async throws {
        try await Farm.run(worker: false) { farm in
            try await farm.seedUser()
            let binary = try ChildProcess.executable("hybridhub")
            let environment = farm.processEnvironment(["QUESTION_WORKER_INTERVAL_SECONDS": "1", "TRADING_EVALUATE_DELAY_SECONDS": "0",
                                                       "METRICS_PORT": "0", "LOG_LEVEL": "notice"])
            let scheduler = try RunningProcess.start(binary, ["scheduler", "--id", "metrics-scheduler"], environment: environment)
            // This worker runs on one event loop (`--executor event-loop`): the flow must not care.
            let worker = try RunningProcess.start(binary, ["worker", "--id", "metrics-worker", "--executor", "event-loop"], environment: environment)
            defer { scheduler.stop(); worker.stop() }
            #expect(try await eventually(within: 30) { try await !farm.openQuestions().isEmpty } != nil, "\(worker.output.suffix(1500))")

            let names = ["hybridhub_jobs_total{kind=\"evaluate-user\",outcome=\"completed\"}", "hybridhub_jobs_claimed_total",
                         "hybridhub_job_handler_duration_seconds_bucket", "hybridhub_job_claim_duration_seconds_count",
                         "hybridhub_alpaca_requests_total{method=\"GET\",route=\"/v2/stocks/snapshots\",status=\"200\"}",
                         "hybridhub_alpaca_request_duration_seconds_count", "hybridhub_rules_fired_total",
                         "hybridhub_questions_created_total{phase=\"await_confirm\"}",
                         // The leader enqueues reconcile-orders at once (and every minute); the worker runs it.
                         "hybridhub_reconcile_runs_total{apply=\"true\"}", "hybridhub_reconcile_watermark_lag_seconds"]
            // The question is visible once its evaluation commits; the job's completion is
            // counted when the completion batch commits, a moment later.
            _ = try await eventually(within: 10, every: 0.2) {
                let metrics = (try? await Self.scrape(worker)) ?? ""
                return names.allSatisfy { metrics.contains($0) }
            }
            let workerMetrics = try await Self.scrape(worker)
            for name in names {
                #expect(workerMetrics.contains(name), "worker /metrics lacks \(name)")
            }
            #expect(try await eventually(within: 70) {
                (try? await Self.scrape(scheduler))?.contains("hybridhub_job_queue_depth") == true
            } != nil, "the leader publishes queue depth")
        }
    }

    /// The address a process logged for its metrics endpoint, then its exposition.
    static func scrape(_ process: RunningProcess) async throws -> String {
        _ = try await eventually(within: 20) { process.output.contains("metrics on http://") }
        let output = process.output
        guard let range = output.range(of: #"http://127\.0\.0\.1:\d+/metrics"#, options: .regularExpression) else {
            throw FarmError("no metrics address in: \(output.suffix(500))")
        }
        let response = try await HTTPClient.shared.execute(HTTPClientRequest(url: String(output[range])), timeout: .seconds(5))
        let body = try await response.body.collect(upTo: 1 << 22)
        return String(decoding: body.readableBytesView, as: UTF8.self)
    }
}
