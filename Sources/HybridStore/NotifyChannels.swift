/// Postgres NOTIFY channels: the stores publish on them in the writer's transaction (sent at
/// commit), the API processes listen and push to the phones.
public enum NotifyChannels {
    /// `{"question_id", "firebase_uid", "expires_at"}` (a question to put on the user's phone),
    /// or `{"question_id", "firebase_uid", "withdrawn": true, "reason"}`.
    public static let questions = "hybridhub_questions"
    /// `{"firebase_uid", "trade_order_id", "client_order_id", "status", …}`: an order changed.
    public static let tradeUpdates = "hybridhub_trade_updates"
}
