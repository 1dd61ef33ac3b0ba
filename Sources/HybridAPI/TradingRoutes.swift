import Foundation
import HybridStore
import Hummingbird
import Logging
import PostgresNIO
import TradingCore
import TradingPipeline

/// Plan §13 and the app's question routes, all under `/v1/me` (the signed-in user only).
struct MeRoutes: Sendable {
    let client: PostgresClient
    let answers: AnswerService
    let logger: Logger

    func add(to group: RouterGroup<APIContext>) {
        group.get("trading/config") { _, context in try await getConfig(try context.user()) }
        group.put("trading/config") { request, context in
            try await putConfig(try context.user(), body: try await JSONBody.bytes(request, context: context))
        }
        group.get("trading/orders") { request, context in
            try await orders(try context.user(), query: try JSONBody.query(OrdersQuery.self, request, context: context,
                                                                          help: Self.ordersHelp))
        }
        group.get("trading/snapshots") { request, context in
            try await snapshots(try context.user(), symbol: try JSONBody.query(SnapshotsQuery.self, request, context: context,
                                                                              help: Self.symbolHelp).symbol)
        }
        group.get("trading/status") { _, context in try await status(try context.user()) }
        group.get("trading/positions") { _, context in try await positions(try context.user()) }
        group.get("questions") { _, context in try await questions(try context.user()) }
        group.post("questions/{id}/answer") { request, context in
            guard let id = context.parameters.get("id").flatMap(UUID.init(uuidString:)) else {
                throw APIError.notFound("question not found")
            }
            return try await answer(try context.user(), id: id,
                                    body: try await JSONBody.decode(AnswerRequest.self, request, context: context, shape: Self.answerHelp))
        }
    }

    func getConfig(_ uid: String) async throws -> Response {
        let stored = try await client.withConnection { try await UserConfigStore.userConfig(uid, on: $0, logger: logger) }
        guard let stored else { throw APIError.notFound("no trading config for this user yet; PUT one") }
        switch stored.effective {
        case .success(let effective):
            return JSONBody.response(ConfigViewBody(config: effective.config.jsonValue, override: stored.override,
                                                    templateName: stored.templateName, enabled: effective.config.enabled))
        case .failure(let error):
            throw APIError.unprocessable("the stored config is invalid; PUT a corrected override", issues: Self.issues(error))
        }
    }

    /// The body is the user's override; it is validated merged with their template (the
    /// response says exactly which paths are wrong) and stored only when valid.
    func putConfig(_ uid: String, body: Data) async throws -> Response {
        // Parsed once, as the validator reads it (no JSONSerialization round trip, whose
        // re-encoding of some strings and numbers the decoder refused).
        let override: JSONValue
        do {
            override = try JSONValue.parse(body)
        } catch {
            guard (try? JSONSerialization.jsonObject(with: body, options: [.fragmentsAllowed])) != nil else {
                throw APIError.badRequest("the body is not valid JSON")
            }
            // Valid JSON the config cannot hold: a number beyond Decimal's range (about 1e165).
            throw APIError.unprocessable("the config is invalid", issues: [IssueBody(path: "$", message: "a number is too large to read")])
        }
        guard case .object = override else { throw APIError.badRequest("the body must be a JSON object (the config override)") }
        return try await client.transaction(logger: logger) { db -> Response in
            // The user's lock first: the config read, validated and compared for withdrawals is
            // the one this save replaces (two PUTs at once run one after the other).
            try await UserConfigStore.ensureUser(uid, on: db, logger: logger)
            _ = try await TradingStateStore.lockTradingContext(uid, on: db, logger: logger)
            let existing = try await UserConfigStore.userConfig(uid, on: db, logger: logger)
            var templateName = existing?.templateName
            var template = existing?.template
            if existing == nil, let base = try await UserConfigStore.templates(on: db, logger: logger).first(where: { $0.name == Self.defaultTemplate }) {
                // A new user's override applies to the default template (plan §4.1).
                (templateName, template) = (base.name, base.config)
            }
            switch ConfigMerge.validate(template: template, override: override) {
            case .failure(let error):
                throw APIError.unprocessable("the config is invalid", issues: Self.issues(error))
            case .success(let config):
                try await UserConfigChange.saveUserConfig(uid, templateName: templateName, override: override, config: config, on: db, logger: logger)
                return JSONBody.response(ConfigViewBody(config: config.jsonValue, override: override, templateName: templateName,
                                                        enabled: config.enabled))
            }
        }
    }

    static let defaultTemplate = "default_paper_watchlist"

    static func issues(_ error: ConfigValidationError) -> [IssueBody] {
        error.issues.map { IssueBody(path: $0.path, message: $0.message) }
    }

    /// `?limit=1-200&before=<ISO 8601>`.
    struct OrdersQuery: Decodable {
        var limit: String?
        var before: String?
    }

    struct SnapshotsQuery: Decodable {
        var symbol: String?
    }

    static let ordersHelp = "limit must be 1-200, before an ISO 8601 time"
    static let symbolHelp = "symbol is required: 1-10 upper-case letters, digits or '.' (e.g. ?symbol=SPY)"
    static let answerHelp = "{\"value\": <number from -10 to 10>}"

    func orders(_ uid: String, query: OrdersQuery) async throws -> Response {
        let limit = try query.limit.map { text -> Int in
            guard let n = Int(text), (1...200).contains(n) else { throw APIError.badRequest("limit must be 1-200") }
            return n
        } ?? 50
        var before: Date?
        if let text = query.before {
            guard let date = try? Date(text, strategy: .iso8601) else { throw APIError.badRequest("before must be an ISO 8601 time") }
            before = date
        }
        let page = try await client.withConnection { try await OrderStore.orders(of: uid, limit: limit + 1, before: before, on: $0, logger: logger) }
        let shown = Array(page.prefix(limit))
        return JSONBody.response(OrdersPageBody(orders: shown.map(OrderBody.init), nextBefore: page.count > limit ? shown.last?.createdAt : nil))
    }

    func snapshots(_ uid: String, symbol: String?) async throws -> Response {
        guard let symbol, (1...10).contains(symbol.count), symbol.allSatisfy({ ("A"..."Z").contains($0) || ("0"..."9").contains($0) || $0 == "." }) else {
            throw APIError.badRequest(Self.symbolHelp)
        }
        let rows = try await client.withConnection { try await SnapshotStore.latestStored(symbol: symbol, on: $0, logger: logger) }
        return JSONBody.response(SnapshotsBody(symbol: symbol, snapshots: rows.map { row in
            SnapshotBody(metric: row.metric, feed: row.feed, price: row.price, volume: row.volume, asOf: row.asOf, storedAt: row.storedAt)
        }))
    }

    /// The user's own book (the broker account is the server's, shared): positions from their
    /// fills, valued at the newest price, and P&L by the trading clock's day.
    func positions(_ uid: String) async throws -> Response {
        let now = try await answers.clock.now()
        let book = try await client.withConnection { try await PortfolioReader.book(of: uid, now: now, on: $0, logger: logger) }
        return JSONBody.response(PositionsBody(book.valuation))
    }

    /// The effective switches, the user's own book, recent orders. No keys, no account numbers.
    func status(_ uid: String) async throws -> Response {
        let now = try await answers.clock.now()
        return try await client.withConnection { db in
            let stored = try await UserConfigStore.userConfig(uid, on: db, logger: logger)
            let effective = try? stored?.effective.get()
            let book = try await PortfolioReader.book(of: uid, now: now, on: db, logger: logger)
            let recent = try await OrderStore.orders(of: uid, limit: 10, on: db, logger: logger)
            let open = try await QuestionStore.openQuestions(of: uid, on: db, logger: logger)
            return JSONBody.response(StatusBody(
                enabled: effective?.config.enabled ?? false, mode: effective?.config.mode.rawValue ?? "paper",
                watchlist: (effective?.config.watchlist).map { Array($0).sorted() } ?? [],
                positions: book.valuation.positions.map(PositionBody.init), pnl: PnLBody(book.valuation),
                recentOrders: recent.map(OrderBody.init), openQuestions: open.count))
        }
    }

    func questions(_ uid: String) async throws -> Response {
        let open = try await client.withConnection { try await QuestionStore.openQuestions(of: uid, on: $0, logger: logger) }
        return JSONBody.response(QuestionsBody(questions: open.map(QuestionBody.init)))
    }

    func answer(_ uid: String, id: UUID, body: AnswerRequest) async throws -> Response {
        guard body.given != nil else { throw APIError.badRequest("send \(Self.answerHelp)") }
        guard let value = body.acceptedValue else { throw APIError.unprocessable("value must be a number from -10 to 10") }
        return try await Self.answerResponse(answers: answers, uid: uid, id: id, value: value)
    }

    static func answerResponse(answers: AnswerService, uid: String, id: UUID, value: JSONValue) async throws -> Response {
        do {
            return JSONBody.response(AnswerResultBody(try await answers.answer(questionID: id, firebaseUID: uid, value: value)))
        } catch let error as AnswerError {
            switch error {
            case .notFound: throw APIError.notFound("question not found")
            case .invalidValue(let message): throw APIError.unprocessable(message)
            case .notOpen(let status): throw APIError.conflict("the question is \(status)")
            }
        }
    }
}
