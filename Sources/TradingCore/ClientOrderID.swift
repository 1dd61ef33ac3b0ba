/// Alpaca's `client_order_id` for an order: deterministic from (user, rule, question), so
/// every retry of one approval names the same order and Alpaca (and our UNIQUE column)
/// refuse a second. A hash, so it carries no personal data; at most 48 characters.
public enum ClientOrderID {
    public static let maxLength = 48
    public static let prefix = "hh1-"

    public static func make(firebaseUID: String, ruleID: String, questionID: String) -> String {
        // Length-prefixed fields: ("ab","c") and ("a","bc") must not collide.
        let material = [firebaseUID, ruleID, questionID].map { "\($0.utf8.count):\($0)" }.joined(separator: "|")
        let digest = SHA256.hex(Array("hybridhub/client-order-id/v1|\(material)".utf8))
        return prefix + digest.prefix(maxLength - prefix.count)
    }

    /// True for ids this server makes (used to refuse foreign ids in lookups and logs).
    public static func isWellFormed(_ id: String) -> Bool {
        id.count == maxLength && id.hasPrefix(prefix)
            && id.dropFirst(prefix.count).allSatisfy { "0123456789abcdef".contains($0) }
    }
}
