import Foundation

/// Reads typed values from the environment with catalogued defaults, collecting every
/// problem. Messages name the variable and never echo a secret's value.
struct EnvironmentReader {
    let environment: [String: String]
    private(set) var problems: [String] = []

    init(_ environment: [String: String]) {
        self.environment = environment
    }

    mutating func fail(_ name: String, _ message: String) {
        problems.append("\(name): \(message)")
    }

    /// The set value, or the catalogued default. Empty counts as unset for non-secrets.
    func raw(_ name: String) -> String {
        let value = environment[name]?.trimmingCharacters(in: .whitespaces)
        if let value, !value.isEmpty { return value }
        return SettingsCatalog.doc(name)?.defaultValue ?? ""
    }

    func string(_ name: String) -> String { raw(name) }

    func secret(_ name: String) -> Secret { Secret(raw(name)) }

    mutating func bool(_ name: String) -> Bool {
        switch raw(name).lowercased() {
        case "true", "1", "yes", "on": return true
        case "false", "0", "no", "off": return false
        case let other:
            fail(name, "expected true or false, got '\(other)'")
            return false
        }
    }

    mutating func int(_ name: String, minimum: Int) -> Int {
        guard let value = Int(raw(name)) else {
            fail(name, "expected a whole number, got '\(raw(name))'")
            return minimum
        }
        guard value >= minimum else {
            fail(name, "must be at least \(minimum), got \(value)")
            return minimum
        }
        return value
    }

    mutating func decimal(_ name: String, positive: Bool) -> Decimal {
        guard let value = Decimal(string: raw(name), locale: Locale(identifier: "en_US_POSIX")),
              !positive || value > 0 else {
            fail(name, "expected a positive number, got '\(raw(name))'")
            return 0
        }
        return value
    }

    mutating func oneOf(_ name: String, _ allowed: [String]) -> String {
        let value = raw(name).lowercased()
        guard allowed.contains(value) else {
            fail(name, "expected one of \(allowed.joined(separator: ", ")), got '\(raw(name))'")
            return allowed[0]
        }
        return value
    }

    mutating func url(_ name: String, schemes: [String] = ["http", "https"]) -> URL {
        let text = raw(name)
        guard let url = URL(string: text), let scheme = url.scheme, schemes.contains(scheme),
              url.host != nil else {
            fail(name, "expected a \(schemes.joined(separator: " or ")) URL, got '\(text)'")
            return URL(fileURLWithPath: "/")
        }
        return url
    }

    /// DATABASE_URL plus the optional password file. The URL may hold a password, so its
    /// value never appears in a message.
    mutating func database(readFile: (String) throws -> String) -> DatabaseSettings {
        let poolSize = int("DATABASE_POOL_SIZE", minimum: 1)
        let fallback = DatabaseSettings(host: "127.0.0.1", port: 54329, user: "hybridhub", password: nil,
                                        database: "hybridhub", poolSize: poolSize)
        guard let components = URLComponents(string: raw("DATABASE_URL")),
              ["postgres", "postgresql"].contains(components.scheme ?? ""),
              let host = components.host, !host.isEmpty else {
            fail("DATABASE_URL", "expected postgres://user[:password]@host[:port]/database (value not shown)")
            return fallback
        }
        let database = String(components.path.drop { $0 == "/" })
        var password = components.password.map { Secret($0.removingPercentEncoding ?? $0) }
        let passwordFile = raw("DATABASE_PASSWORD_FILE")
        if !passwordFile.isEmpty {
            do {
                let text = try readFile(passwordFile).trimmingCharacters(in: .whitespacesAndNewlines)
                password = Secret(text)
            } catch {
                fail("DATABASE_PASSWORD_FILE", "cannot read '\(passwordFile)'")
            }
        }
        return DatabaseSettings(
            host: host, port: components.port ?? 5432,
            user: components.user?.removingPercentEncoding ?? "postgres",
            password: password, database: database.isEmpty ? "postgres" : database, poolSize: poolSize)
    }
}
