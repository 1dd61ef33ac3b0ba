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

    static func frame(_ message: some Encodable) -> String {
        String(decoding: JSONBody.data(message), as: UTF8.self) + "\u{1e}"
    }

    /// A server-to-client call: no `invocationId` key at all (a null one kills the JS client).
    struct Invocation<Argument: Encodable>: Encodable {
        var type = MessageType.invocation.rawValue
        var target: String
        var arguments: [Argument]
    }

    /// The one reply to a call with an `invocationId`: a result or an error (absent keys left out).
    struct Completion<Result: Encodable>: Encodable {
        var type = MessageType.completion.rawValue
        var invocationId: String
        var result: Result?
        var error: String?
    }

    struct Close: Encodable {
        var type = MessageType.close.rawValue
        var error: String?
        var allowReconnect: Bool?
    }

    struct HandshakeError: Encodable {
        var error: String
    }

    static func invocation(_ target: String, _ argument: some Encodable) -> String {
        frame(Invocation(target: target, arguments: [argument]))
    }

    static func completion(id: String, result: some Encodable) -> String {
        frame(Completion(invocationId: id, result: result, error: nil))
    }

    static func completion(id: String, error: String) -> String {
        frame(Completion<String>(invocationId: id, result: nil, error: error))
    }

    static func close(error: String?, allowReconnect: Bool) -> String {
        frame(Close(error: error, allowReconnect: allowReconnect ? true : nil))
    }

    static func handshakeError(_ text: String) -> String { frame(HandshakeError(error: text)) }

    /// Accumulates text and yields each complete message (a JSON object), in order, typed.
    struct Reader {
        private var pending = ""
        /// Inbound messages above this size close the connection (ASP.NET: 32 KB).
        static let maxMessageBytes = 32 * 1024

        enum Failure: Error { case tooLarge, notJSON }

        mutating func feed(_ text: String) throws(Failure) -> [HubInbound] {
            pending += text
            var messages: [HubInbound] = []
            while let end = pending.firstIndex(of: HubProtocol.separator) {
                let chunk = pending[..<end]
                pending = String(pending[pending.index(after: end)...])
                guard chunk.utf8.count <= Self.maxMessageBytes else { throw .tooLarge }
                guard let message = try? JSONDecoder().decode(HubInbound.self, from: Data(chunk.utf8)) else { throw .notJSON }
                messages.append(message)
            }
            guard pending.utf8.count <= Self.maxMessageBytes else { throw .tooLarge }
            return messages
        }
    }
}
