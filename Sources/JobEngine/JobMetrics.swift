import Metrics

/// swift-metrics instruments of the engine; a Prometheus endpoint exports them.
enum JobMetrics {
    static func outcome(_ kind: String, _ outcome: String, count: Int = 1) {
        Counter(label: "hybridhub_jobs_total", dimensions: [("kind", kind), ("outcome", outcome)]).increment(by: count)
    }

    static func claimed(_ queue: String, _ count: Int) {
        Counter(label: "hybridhub_jobs_claimed_total", dimensions: [("queue", queue)]).increment(by: count)
    }

    static func claimLatency(_ queue: String, _ duration: Duration) {
        Timer(label: "hybridhub_job_claim_duration_seconds", dimensions: [("queue", queue)]).recordNanoseconds(duration.nanoseconds)
    }

    static func handlerDuration(_ kind: String, _ duration: Duration) {
        Timer(label: "hybridhub_job_handler_duration_seconds", dimensions: [("kind", kind)]).recordNanoseconds(duration.nanoseconds)
    }

    static func rescued(_ kind: String) {
        Counter(label: "hybridhub_jobs_rescued_total", dimensions: [("kind", kind)]).increment()
    }

    static func leaseLost(_ kind: String) {
        Counter(label: "hybridhub_jobs_lease_lost_total", dimensions: [("kind", kind)]).increment()
    }

    static func queueDepth(_ queue: String, state: String, _ count: Int) {
        Gauge(label: "hybridhub_job_queue_depth", dimensions: [("queue", queue), ("state", state)]).record(count)
    }

    static func oldestAvailableAge(_ queue: String, _ seconds: Double) {
        Gauge(label: "hybridhub_job_oldest_available_age_seconds", dimensions: [("queue", queue)]).record(seconds)
    }
}

extension Duration {
    var nanoseconds: Int64 {
        components.seconds * 1_000_000_000 + components.attoseconds / 1_000_000_000
    }

    var seconds: Double { Double(nanoseconds) / 1e9 }
}
