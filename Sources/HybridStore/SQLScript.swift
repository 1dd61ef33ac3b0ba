import Foundation

/// Splits a SQL file into statements. Postgres' extended protocol (all postgres-nio speaks)
/// takes one statement per query, so migrations run statement by statement inside one
/// transaction. Aware of 'strings', "identifiers", $tag$ dollar quotes$tag$, -- and /* */ comments.
public enum SQLScript {
    public static func statements(_ sql: String) -> [String] {
        var statements: [String] = []
        var current: [Character] = []
        let chars = Array(sql)
        var i = 0
        func flush() {
            let text = String(current).trimmingCharacters(in: .whitespacesAndNewlines)
            if !text.isEmpty && !isOnlyComments(text) { statements.append(text) }
            current = []
        }
        while i < chars.count {
            let c = chars[i]
            let next: Character? = i + 1 < chars.count ? chars[i + 1] : nil
            if c == "-" && next == "-" {
                while i < chars.count && chars[i] != "\n" { current.append(chars[i]); i += 1 }
                continue
            }
            if c == "/" && next == "*" {
                var depth = 0
                repeat {
                    if chars[i] == "/" && i + 1 < chars.count && chars[i + 1] == "*" { depth += 1; current += ["/", "*"]; i += 2; continue }
                    if chars[i] == "*" && i + 1 < chars.count && chars[i + 1] == "/" { depth -= 1; current += ["*", "/"]; i += 2; continue }
                    current.append(chars[i]); i += 1
                } while depth > 0 && i < chars.count
                continue
            }
            if c == "'" || c == "\"" {
                current.append(c); i += 1
                while i < chars.count {
                    current.append(chars[i])
                    if chars[i] == c {
                        if i + 1 < chars.count && chars[i + 1] == c { current.append(c); i += 2; continue }
                        i += 1
                        break
                    }
                    i += 1
                }
                continue
            }
            if c == "$", let tag = dollarTag(chars, at: i) {
                current += tag; i += tag.count
                while i < chars.count {
                    if chars[i] == "$", i + tag.count <= chars.count, Array(chars[i..<(i + tag.count)]) == tag {
                        current += tag; i += tag.count
                        break
                    }
                    current.append(chars[i]); i += 1
                }
                continue
            }
            if c == ";" {
                flush(); i += 1
                continue
            }
            current.append(c); i += 1
        }
        flush()
        return statements
    }

    /// `$$` or `$name$` starting at `index`, or nil (a `$1` parameter is not a tag).
    private static func dollarTag(_ chars: [Character], at index: Int) -> [Character]? {
        var j = index + 1
        while j < chars.count, chars[j] == "_" || chars[j].isLetter || (j > index + 1 && chars[j].isNumber) { j += 1 }
        guard j < chars.count, chars[j] == "$" else { return nil }
        return Array(chars[index...j])
    }

    private static func isOnlyComments(_ text: String) -> Bool {
        text.split(separator: "\n").allSatisfy {
            let line = $0.trimmingCharacters(in: .whitespaces)
            return line.isEmpty || line.hasPrefix("--")
        }
    }
}
