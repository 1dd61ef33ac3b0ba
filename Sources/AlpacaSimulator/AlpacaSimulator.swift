import AlpacaModels
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import MarketReplay
import NIOCore

/// An Alpaca-compatible paper exchange over HTTP: trading REST, market-data REST replaying the
/// committed data on a simulated clock, faults on demand, and a ledger for tests.
/// WebSocket streams: market data at `/v2/{feed}` (JSON or MessagePack), trade updates at `/stream`.
public final class AlpacaSimulator: Sendable {
    public let configuration: SimulatorConfiguration
    public let clock: SimulatedClock
    public let market: ReplayMarket
    public let exchange: PaperExchange
    public let faults: FaultPlan
    public let stats: RequestStats
    let streamSlots = StreamSlots()
    let logger: Logger

    public init(configuration: SimulatorConfiguration, data: MarketDataSet, logger: Logger = Logger(label: "alpaca-sim")) {
        self.configuration = configuration
        self.clock = SimulatedClock(start: configuration.start, speed: configuration.speed)
        self.market = ReplayMarket(data: data)
        self.exchange = PaperExchange(configuration: configuration, market: market)
        self.faults = FaultPlan()
        self.stats = RequestStats()
        self.logger = logger
    }

    public func router() -> Router<BasicRequestContext> {
        let router = Router()
        router.add(middleware: AlpacaErrorMiddleware())   // before the routes: it wraps them all
        addTradingRoutes(to: router)
        addMarketDataRoutes(to: router)
        addControlRoutes(to: router)
        return router
    }

    /// An application on `host:port` (port 0: any free port, reported to `onRunning`).
    public func application(host: String = "127.0.0.1", port: Int = 0,
                            onRunning: @escaping @Sendable (Int) async -> Void = { _ in }) -> some ApplicationProtocol {
        Application(router: router(), server: webSocketServer(),
                    configuration: .init(address: .hostname(host, port: port), serverName: nil),
                    onServerRunning: { channel in await onRunning(channel.localAddress?.port ?? port) },
                    logger: logger)
    }

    // MARK: Request plumbing shared by every API route

    static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes]
        return encoder
    }()

    static func json(_ value: some Encodable, status: HTTPResponse.Status = .ok, headers: HTTPFields = [:]) -> Response {
        var fields = headers
        fields[.contentType] = "application/json"
        let data = (try? encoder.encode(value)) ?? Data("{}".utf8)
        return Response(status: status, headers: fields, body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }

    static func double(_ value: Decimal) -> Double { MarketJSON.double(value) }

    static func error(_ error: SimulatorError) -> Response {
        json(AlpacaAPIError(code: error.code, message: error.message), status: .init(code: error.status))
    }

    /// Hummingbird's own refusals in Alpaca's shape (404 is Alpaca's 40410000).
    static func error(_ error: HTTPError) -> Response {
        let status = Int(error.status.code)
        let message = status == 404 ? "endpoint not found" : (error.body ?? error.status.reasonPhrase.lowercased())
        return json(AlpacaAPIError(code: status == 404 ? 40410000 : status * 100_000, message: message),
                    status: error.status, headers: error.headers)
    }

    // Header names built once (this is the hot path of every request).
    static let rateLimit = HTTPField.Name("X-RateLimit-Limit") ?? .contentType
    static let rateRemaining = HTTPField.Name("X-RateLimit-Remaining") ?? .contentType
    static let rateReset = HTTPField.Name("X-RateLimit-Reset") ?? .contentType
    static let retryAfter = HTTPField.Name("Retry-After") ?? .contentType
    static let keyID = HTTPField.Name("APCA-API-KEY-ID") ?? .contentType
    static let secretKey = HTTPField.Name("APCA-API-SECRET-KEY") ?? .contentType

    struct DroppedConnection: Error {}

    /// Counts, authenticates, applies faults, runs `body` with the account key and the
    /// simulated now, and maps simulator errors to Alpaca's shapes.
    func api(_ request: Request, _ body: @Sendable (_ key: String, _ now: Date) async throws -> Response) async -> Response {
        guard let keyID = request.headers[Self.keyID], let secret = request.headers[Self.secretKey],
              configuration.keys.contains(.init(keyID: keyID, secret: secret)) else {
            return Self.error(.unauthorized)
        }
        let wall = Date()
        let used = stats.count(key: keyID, at: wall)
        // Also per API, as Alpaca budgets them: market data (/v2/stocks) and trading.
        stats.count(key: keyID + (request.uri.path.hasPrefix("/v2/stocks") ? "|market_data" : "|trading"), at: wall)
        var rateHeaders = HTTPFields()
        rateHeaders.reserveCapacity(4)
        rateHeaders.append(HTTPField(name: Self.rateLimit, value: "200"))
        rateHeaders.append(HTTPField(name: Self.rateRemaining, value: String(max(0, 200 - used))))
        rateHeaders.append(HTTPField(name: Self.rateReset, value: String(Int(wall.timeIntervalSince1970 / 60 + 1) * 60)))

        var hang: FaultRule?
        if !faults.isEmpty {
            let (method, path) = (request.method.rawValue, request.uri.path)
            if let delay = faults.take(method: method, path: path, kinds: [.latency]) {
                try? await Task.sleep(for: .milliseconds(delay.latencyMs ?? 1000))
            }
            if let fault = faults.take(method: method, path: path, kinds: [.status, .drop]) {
                if fault.kind == .drop { return Self.drop() }
                var headers = rateHeaders
                if let after = fault.retryAfterSeconds { headers[Self.retryAfter] = "\(after)" }
                let status = fault.status ?? 500
                return Self.json(AlpacaAPIError(code: status * 100_000, message: "simulated fault: HTTP \(status)"),
                                 status: .init(code: status), headers: headers)
            }
            hang = faults.take(method: method, path: path, kinds: [.timeoutAfterAccept])
        }
        var response: Response
        do {
            response = try await body(keyID, clock.now())
        } catch let error as SimulatorError {
            response = Self.error(error)
        } catch let error as HTTPError {
            response = Self.error(error)   // e.g. a body over the limit: 413
        } catch {
            logger.warning("unexpected error in \(request.method) \(request.uri.path): \(String(reflecting: error))")
            response = Self.error(.validation("invalid request"))
        }
        if let hang {
            // The work is done (an order now exists); the reply never arrives.
            try? await Task.sleep(for: .milliseconds(hang.latencyMs ?? 60_000))
            return Self.drop()
        }
        if !faults.isEmpty, (200..<300).contains(response.status.code),
           let garbled = faults.take(method: request.method.rawValue, path: request.uri.path, kinds: [.garbledAfterAccept]) {
            // The work is done (an order now exists); the 2xx carries something else.
            response = Response(status: .ok, headers: [.contentType: "application/json"],
                                body: .init(byteBuffer: ByteBuffer(string: garbled.body ?? FaultRule.garbledBody)))
        }
        response.headers.append(contentsOf: rateHeaders)
        return response
    }

    /// A response whose body fails at once: the server closes the connection mid-answer.
    static func drop() -> Response {
        Response(status: .ok, headers: [.contentLength: "100"], body: ResponseBody { _ in throw DroppedConnection() })
    }

    /// A JSON request body, at most 64 KiB; malformed JSON is a 422 like Alpaca's.
    static func decode<T: Decodable>(_ type: T.Type, from request: Request) async throws -> T {
        var request = request
        let buffer: ByteBuffer
        do {
            buffer = try await request.collectBody(upTo: 64 * 1024)
        } catch is NIOTooManyBytesError {
            throw SimulatorError(status: 413, code: 41300000, message: "request body is larger than 64 KiB")
        }
        do {
            return try JSONDecoder().decode(T.self, from: Data(buffer.readableBytesView))
        } catch {
            throw SimulatorError.validation("request body is not valid JSON for this route")
        }
    }
}

extension Request {
    func query(_ name: String) -> String? {
        uri.queryParameters[Substring(name)].map(String.init)   // already percent-decoded
    }

    /// Python sends `True`/`False`; accept any case.
    func flag(_ name: String) -> Bool? {
        query(name).map { $0.lowercased() == "true" || $0 == "1" }
    }
}

/// Whatever the router itself refuses (no such route or method, a body over the limit) gets
/// Alpaca's error shape, `{"code": …, "message": …}`, instead of an empty body: alpaca-py reads
/// `code` from every error. Route handlers map their own errors in `api`.
struct AlpacaErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as HTTPError {
            return AlpacaSimulator.error(error)
        }
    }
}
