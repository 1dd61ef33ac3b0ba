import Metrics
import TradingCore

/// Rules fired, questions created and answered, orders by status.
enum PipelineMetrics {
    static func questionCreated(step: String) {
        let phase = step.split(separator: ":").last.map(String.init) ?? "unknown"
        Counter(label: "hybridhub_questions_created_total", dimensions: [("phase", phase)]).increment()
    }

    static func questionAnswered(outcome: String) {
        Counter(label: "hybridhub_questions_answered_total", dimensions: [("outcome", outcome)]).increment()
    }

    static func questionsExpired(_ count: Int) {
        guard count > 0 else { return }
        Counter(label: "hybridhub_questions_expired_total").increment(by: count)
    }

    static func order(status: String) {
        Counter(label: "hybridhub_orders_total", dimensions: [("status", status)]).increment()
    }

    /// A switch, the approval's age or the price's drift stopped an intent at `stage`
    /// (evaluation, approval, submit).
    static func intentStopped(stage: String, _ stop: IntentStop) {
        Counter(label: "hybridhub_intents_stopped_total", dimensions: [("stage", stage), ("reason", stop.code)]).increment()
    }

    static func questionsWithdrawn(_ count: Int) {
        guard count > 0 else { return }
        Counter(label: "hybridhub_questions_withdrawn_total").increment(by: count)
    }
}

enum RuleMetrics {
    static func evaluated(_ evaluation: RuleEvaluation) {
        if evaluation.fired { Counter(label: "hybridhub_rules_fired_total").increment() }
    }
}

/// The farm's streams: connections, reconnects, trades received, backfills, triggered evaluations.
enum StreamMetrics {
    static func connected(_ up: Bool, stream: String = "market_data") {
        Gauge(label: "hybridhub_stream_connected", dimensions: [("stream", stream)]).record(up ? 1 : 0)
    }

    static func reconnect(stream: String, reason: String) {
        Counter(label: "hybridhub_stream_reconnects_total", dimensions: [("stream", stream), ("reason", reason)]).increment()
    }

    static func trade() { Counter(label: "hybridhub_stream_trades_total").increment() }

    static func tradeUpdate(event: String) {
        Counter(label: "hybridhub_stream_trade_updates_total", dimensions: [("event", event)]).increment()
    }

    static func backfill(reason: String) {
        Counter(label: "hybridhub_stream_backfills_total", dimensions: [("reason", reason)]).increment()
    }

    static func evaluations(_ count: Int) {
        Counter(label: "hybridhub_stream_evaluations_total").increment(by: count)
    }
}

extension PipelineMetrics {
    static func preflightRefused(_ refusals: [PreflightRefusal]) {
        for refusal in refusals {
            Counter(label: "hybridhub_preflight_refusals_total", dimensions: [("reason", refusal.code)]).increment()
        }
    }
}
