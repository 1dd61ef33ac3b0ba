import Foundation
import HybridSettings
import HybridStore
import Logging
import PostgresNIO

/// A failure the operator can act on: the message says what went wrong and what to do.
public struct OpsError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ message: String) { description = message }
}

/// The database connection of a one-shot ops command.
public enum OpsDatabase {
    /// Runs `body` with a client once a probe query has answered. An unreachable database, a
    /// refused password or a database without the job tables becomes an `OpsError` that names
    /// the (redacted) URL and the fix.
    public static func withClient<T: Sendable>(
        _ settings: DatabaseSettings, logger: Logger, probeSeconds: Double = 10,
        _ body: @Sendable (PostgresClient) async throws -> T
    ) async throws -> T {
        var small = settings
        small.poolSize = min(settings.poolSize, 4)
        return try await PostgresClientFactory.withClient(small, logger: logger) { client in
            do {
                try await probe(client, settings: settings, seconds: probeSeconds, logger: logger)
            } catch {
                throw unreachable(settings, error)
            }
            do {
                return try await body(client)
            } catch let error as PSQLError {
                throw explain(error, settings: settings)
            }
        }
    }

    static func probe(_ client: PostgresClient, settings: DatabaseSettings, seconds: Double, logger: Logger) async throws {
        // A local server is first reached with one plain connection: a refused connection or
        // login fails at once with its reason (the pool would keep retrying in silence).
        if settings.isLocal {
            try await connectOnce(settings, logger: logger)
        }
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                _ = try await client.withConnection { try await $0.query("SELECT 1", logger: logger) }
            }
            group.addTask {
                try await Task.sleep(for: .seconds(seconds))
                throw OpsError("no answer within \(Int(seconds)) s")
            }
            defer { group.cancelAll() }
            try await group.next()
        }
    }

    /// Checks that the database answers (and says what to do when it does not).
    public static func check(_ settings: DatabaseSettings, logger: Logger) async throws {
        guard settings.isLocal else { return }
        do {
            try await connectOnce(settings, logger: logger)
        } catch {
            throw unreachable(settings, error)
        }
    }

    static func connectOnce(_ settings: DatabaseSettings, logger: Logger) async throws {
        var configuration = settings.host.hasPrefix("/")
            ? PostgresConnection.Configuration(unixSocketPath: settings.host, username: settings.user,
                                               password: settings.password?.reveal(), database: settings.database)
            : PostgresConnection.Configuration(host: settings.host, port: settings.port, username: settings.user,
                                               password: settings.password?.reveal(), database: settings.database, tls: .disable)
        configuration.options.connectTimeout = .seconds(5)
        let connection = try await PostgresConnection.connect(configuration: configuration, id: 1, logger: logger)
        try? await connection.close()
    }

    /// The fix for a database that does not answer.
    public static let startHint = """
          start the private cluster and point the CLI at it:
            ops/postgres.sh start
            eval "$(ops/postgres.sh env)"
        """

    static func unreachable(_ settings: DatabaseSettings, _ error: any Error) -> OpsError {
        let target = settings.redactedDescription
        if let psql = error as? PSQLError, let message = psql.serverInfo?[.message] {
            if psql.serverInfo?[.sqlState] == "28P01" || message.contains("password") {
                return OpsError("the database at \(target) refused the login (\(message));\n"
                                + "  check DATABASE_URL's user and DATABASE_PASSWORD_FILE (`eval \"$(ops/postgres.sh env)\"` sets both)")
            }
            if psql.serverInfo?[.sqlState] == "3D000" {
                return OpsError("the database at \(target) does not exist (\(message));\n"
                                + "  create it, or point DATABASE_URL at an existing one (`eval \"$(ops/postgres.sh env)\"`)")
            }
            return OpsError("cannot use the database at \(target): \(message)\n\(startHint)")
        }
        return OpsError("cannot reach the database at \(target) (\(reason(error)))\n\(startHint)")
    }

    /// A server error in a command, with the fix where one is known.
    static func explain(_ error: PSQLError, settings: DatabaseSettings) -> OpsError {
        let message = error.serverInfo?[.message] ?? reason(error)
        switch error.serverInfo?[.sqlState] {
        case "42P01":
            return OpsError("\(message) in \(settings.redactedDescription): the migrations are not applied;\n"
                            + "  run `hybridhub-ops migrate` (or `hybridhub migrate`)")
        default:
            return OpsError("database error in \(settings.redactedDescription): \(message)")
        }
    }

    static func reason(_ error: any Error) -> String {
        if let psql = error as? PSQLError {
            if let underlying = psql.underlying { return String(describing: underlying).prefix(200).description }
            return "\(psql.code)"
        }
        return String(describing: error).prefix(200).description
    }
}

/// Ages and durations on the command line: `90s`, `10m`, `2h`, `14d`, `1h30m` (a bare number
/// is seconds).
public enum DurationText {
    public static func seconds(_ text: String, option: String) throws -> Double {
        let bad = OpsError("bad \(option) '\(text)': use a number and a unit (s, m, h, d), e.g. 90s, 10m, 2h, 14d, 1h30m")
        let trimmed = text.trimmingCharacters(in: .whitespaces).lowercased()
        guard !trimmed.isEmpty else { throw bad }
        if let plain = Double(trimmed) {
            guard plain >= 0, plain.isFinite else { throw bad }
            return plain
        }
        var total = 0.0
        var number = ""
        for character in trimmed {
            if character.isNumber || character == "." {
                number.append(character)
                continue
            }
            let unit: Double
            switch character {
            case "s": unit = 1
            case "m": unit = 60
            case "h": unit = 3600
            case "d": unit = 86400
            default: throw bad
            }
            guard let value = Double(number) else { throw bad }
            total += value * unit
            number = ""
        }
        guard number.isEmpty else { throw bad }
        return total
    }
}
