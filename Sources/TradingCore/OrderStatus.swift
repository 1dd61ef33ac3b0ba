/// The statuses of a `trade_orders` row: Alpaca's order statuses as the broker reports them
/// (an open set: Alpaca may add some), plus our own `pending_submit` before the POST and the
/// ends of an order that never reached Alpaca. One list, used by the stores' SQL, the
/// pipeline, the reconciler, the ops CLI and the chaos checks.
public enum OrderStatus {
    /// Approved; the row exists, the POST has not been confirmed.
    public static let pendingSubmit = "pending_submit"
    public static let filled = "filled"
    public static let canceled = "canceled"
    public static let expired = "expired"
    public static let rejected = "rejected"
    public static let replaced = "replaced"
    /// A guardrail stopped it before the POST.
    public static let blocked = "blocked"
    /// Alpaca refused this very order.
    public static let failed = "failed"

    /// After these the broker changes nothing more.
    public static let brokerTerminal: [String] = [filled, canceled, expired, rejected, replaced]
    /// After these nothing more happens to the row (the order of migration 0005's partial index).
    public static let terminal: [String] = brokerTerminal + [blocked, failed]
    /// What an order Alpaca never took can end as (`alpaca_order_id` stays NULL): a guardrail
    /// (`blocked`), Alpaca's refusal (`failed`), a switch or an operator (`canceled`), the
    /// approval's age or the price's drift (`expired`).
    public static let unsentEnd: [String] = [blocked, failed, canceled, expired]
    /// Broker ends the user is told about in an explaining question.
    public static let brokerFailures: [String] = [rejected, canceled, expired]

    public static func isTerminal(_ status: String) -> Bool { terminal.contains(status) }

    /// `('a', 'b')`: a literal list for SQL (a partial index matches literal lists only).
    public static func sqlList(_ statuses: [String]) -> String {
        "(" + statuses.map { "'\($0)'" }.joined(separator: ", ") + ")"
    }
}
