import HybridSettings

/// The key pair, held as secrets: only the header writer reveals them.
public struct AlpacaCredentials: Sendable {
    public let keyID: Secret
    public let secretKey: Secret

    public init(keyID: Secret, secretKey: Secret) {
        self.keyID = keyID
        self.secretKey = secretKey
    }

    /// Removes the key id and secret from text that came from outside (an error body could
    /// echo a header); nothing that leaves this module carries them.
    func scrub(_ text: String) -> String {
        var result = text
        for secret in [keyID, secretKey] where secret.reveal().count >= 4 {
            result = result.replacingOccurrences(of: secret.reveal(), with: "<redacted>")
        }
        return result
    }
}
