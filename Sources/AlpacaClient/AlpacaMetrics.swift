import Metrics

/// Alpaca request latency and status, by route (the path without ids).
enum AlpacaMetrics {
    static func request(method: String, path: String, status: String, started: ContinuousClock.Instant) {
        let elapsed = ContinuousClock.now - started
        let route = route(of: path)
        Timer(label: "hybridhub_alpaca_request_duration_seconds", dimensions: [("method", method), ("route", route)])
            .recordNanoseconds(elapsed.components.seconds * 1_000_000_000 + elapsed.components.attoseconds / 1_000_000_000)
        Counter(label: "hybridhub_alpaca_requests_total", dimensions: [("method", method), ("route", route), ("status", status)])
            .increment()
    }

    /// `/v2/orders/<uuid>` → `/v2/orders/{id}`, so labels stay few.
    static func route(of path: String) -> String {
        path.split(separator: "/", omittingEmptySubsequences: false).map { part in
            part.count >= 32 && part.contains("-") ? "{id}" : String(part)
        }.joined(separator: "/")
    }
}
