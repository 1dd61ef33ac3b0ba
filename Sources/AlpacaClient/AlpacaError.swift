import Foundation

/// Why an Alpaca call failed, classified for the job engine: retry or not, and after how long.
/// Descriptions carry Alpaca's own code and message, never a key (see `Credentials.scrub`).
public enum AlpacaError: Error, Sendable, CustomStringConvertible {
    /// Alpaca answered with a non-2xx status and (usually) `{"code", "message"}`.
    case http(status: Int, code: Int?, message: String, retryAfterSeconds: Double?, method: String, path: String)
    /// No answer within the timeout. For a POST the request may have been acted on.
    case timeout(method: String, path: String)
    /// The connection failed or broke. For a POST the request may have been acted on.
    case transport(method: String, path: String, detail: String)
    /// A 2xx whose body is not what Alpaca documents.
    case malformedResponse(method: String, path: String, detail: String)
    /// A request we refuse to make (bad input on our side).
    case invalidRequest(String)

    /// 429, 5xx, timeouts and broken connections can succeed later; other 4xx cannot.
    public var isRetryable: Bool {
        switch self {
        case .http(let status, _, _, _, _, _): status == 429 || status >= 500
        case .timeout, .transport: true
        case .malformedResponse, .invalidRequest: false
        }
    }

    /// The delay Alpaca asked for (`Retry-After`) on a 429 or 503.
    public var retryAfterSeconds: Double? {
        if case .http(_, _, _, let after, _, _) = self { return after }
        return nil
    }

    /// True when the server may have acted on the request although we saw no success: the
    /// caller must look the order up before trying again, never POST blindly.
    public var outcomeUnknown: Bool {
        switch self {
        case .timeout, .transport: true
        case .http(let status, _, _, _, _, _): status >= 500
        default: false
        }
    }

    public var httpStatus: Int? {
        if case .http(let status, _, _, _, _, _) = self { return status }
        return nil
    }

    /// Alpaca refused this very request (a 4xx about it: 400, 403, 404, 422, ...). Not a 401 (our
    /// keys) nor a 429 (the rate), which say nothing about the order; nor a refusal we made
    /// before sending. After a POST, even this is checked with a lookup before the order is
    /// ended: a second attempt can be refused because the first got through.
    public var isExplicitRefusal: Bool {
        if case .http(let status, _, _, _, _, _) = self { return (400..<500).contains(status) && status != 401 && status != 429 }
        if case .invalidRequest = self { return true }
        return false
    }

    /// Alpaca's answer to a second order with a `client_order_id` it already has.
    public var isDuplicateClientOrderID: Bool {
        if case .http(422, _, let message, _, _, _) = self { return message.contains("client_order_id must be unique") }
        return false
    }

    public var description: String {
        switch self {
        case .http(let status, let code, let message, let after, let method, let path):
            let codeText = code.map { " code \($0)" } ?? ""
            let afterText = after.map { " (retry after \($0) s)" } ?? ""
            return "Alpaca \(method) \(path): HTTP \(status)\(codeText): \(message)\(afterText)"
        case .timeout(let method, let path):
            return "Alpaca \(method) \(path): no answer within the timeout"
        case .transport(let method, let path, let detail):
            return "Alpaca \(method) \(path): connection failed: \(detail)"
        case .malformedResponse(let method, let path, let detail):
            return "Alpaca \(method) \(path): unexpected response: \(detail)"
        case .invalidRequest(let message):
            return "Alpaca request refused before sending: \(message)"
        }
    }
}

/// `Retry-After` is delta-seconds or an HTTP date (RFC 9110 §10.2.3).
enum RetryAfter {
    static func seconds(_ value: String?, now: Date = Date()) -> Double? {
        guard let value = value?.trimmingCharacters(in: .whitespaces), !value.isEmpty else { return nil }
        if let seconds = Double(value), seconds.isFinite, seconds >= 0 { return min(seconds, 3600) }
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "GMT")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss zzz"
        guard let date = formatter.date(from: value) else { return nil }
        return min(max(0, date.timeIntervalSince(now)), 3600)
    }
}
