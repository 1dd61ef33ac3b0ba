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
}

enum RuleMetrics {
    static func evaluated(_ evaluation: RuleEvaluation) {
        if evaluation.fired { Counter(label: "hybridhub_rules_fired_total").increment() }
    }
}
