import Foundation

/// SignalR's JSON hub protocol: JSON objects each ended by 0x1E (the record separator), in
/// text frames. Inbound frames may hold several messages, or (defensively) part of one.
enum HubProtocol {
    static let separator: Character = "\u{1e}"

    enum MessageType: Int {
        case invocation = 1, streamItem = 2, completion = 3, streamInvocation = 4, cancelInvocation = 5, ping = 6, close = 7
    }

    /// `{}` + RS: the handshake's success, the first bytes the server ever sends.
    static let handshakeOK = "{}\u{1e}"
    static let ping = "{\"type\":6}\u{1e}"

    static func frame(_ object: [String: Any]) -> String {
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.withoutEscapingSlashes])) ?? Data("{}".utf8)
        return String(decoding: data, as: UTF8.self) + "\u{1e}"
    }

    /// A server-to-client call: no `invocationId` key at all (a null one kills the JS client).
    static func invocation(_ target: String, _ arguments: [Any]) -> String {
        frame(["type": MessageType.invocation.rawValue, "target": target, "arguments": arguments])
    }

    static func completion(id: String, result: Any?) -> String {
        var message: [String: Any] = ["type": MessageType.completion.rawValue, "invocationId": id]
        if let result { message["result"] = result }
        return frame(message)
    }

    static func completion(id: String, error: String) -> String {
        frame(["type": MessageType.completion.rawValue, "invocationId": id, "error": error])
    }

    static func close(error: String?, allowReconnect: Bool) -> String {
        var message: [String: Any] = ["type": MessageType.close.rawValue]
        if let error { message["error"] = error }
        if allowReconnect { message["allowReconnect"] = true }
        return frame(message)
    }

    static func handshakeError(_ text: String) -> String { frame(["error": text]) }

    /// Accumulates text and yields each complete message (a JSON object), in order.
    struct Reader {
        private var pending = ""
        /// Inbound messages above this size close the connection (ASP.NET: 32 KB).
        static let maxMessageBytes = 32 * 1024

        enum Failure: Error { case tooLarge, notJSON }

        mutating func feed(_ text: String) throws(Failure) -> [[String: Any]] {
            pending += text
            var messages: [[String: Any]] = []
            while let end = pending.firstIndex(of: HubProtocol.separator) {
                let chunk = pending[..<end]
                pending = String(pending[pending.index(after: end)...])
                guard chunk.utf8.count <= Self.maxMessageBytes else { throw .tooLarge }
                guard let object = (try? JSONSerialization.jsonObject(with: Data(chunk.utf8))) as? [String: Any] else { throw .notJSON }
                messages.append(object)
            }
            guard pending.utf8.count <= Self.maxMessageBytes else { throw .tooLarge }
            return messages
        }
    }
}
