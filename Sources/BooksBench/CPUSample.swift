import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// CPU time from /proc (Linux): the machine's busy time and given processes' (user + system),
/// in seconds; nil where /proc cannot be read.
struct CPUSample: Sendable {
    var at: ContinuousClock.Instant
    var machineBusy: Double
    var processes: [Int32: Double]

    static let ticksPerSecond: Double = {
        #if canImport(Glibc)
        let ticks = sysconf(Int32(_SC_CLK_TCK))
        return ticks > 0 ? Double(ticks) : 100
        #else
        return 100
        #endif
    }()

    static func take(_ pids: [Int32]) -> CPUSample? {
        guard let stat = try? String(contentsOfFile: "/proc/stat", encoding: .utf8),
              let line = stat.split(separator: "\n").first, line.hasPrefix("cpu ") else { return nil }
        // user nice system idle iowait irq softirq steal …
        let fields = line.split(separator: " ").dropFirst().compactMap { Double($0) }
        guard fields.count >= 8 else { return nil }
        var sample = CPUSample(at: .now, machineBusy: (fields[0] + fields[1] + fields[2] + fields[5] + fields[6] + fields[7]) / ticksPerSecond,
                               processes: [:])
        for pid in pids {
            // Fields after the command's closing parenthesis start at field 3 (state); utime and stime are 14 and 15.
            guard let text = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
                  let close = text.lastIndex(of: ")") else { continue }
            let rest = text[text.index(after: close)...].split(separator: " ")
            guard rest.count > 12, let user = Double(rest[11]), let system = Double(rest[12]) else { continue }
            sample.processes[pid] = (user + system) / ticksPerSecond
        }
        return sample
    }

    static var ownPID: Int32 { ProcessInfo.processInfo.processIdentifier }
}

/// CPU used between two samples, per request, split into the API processes, this client, and
/// the rest of the machine (Postgres, and any other work).
struct CPUUse: Sendable {
    var apiMs: Double
    var clientMs: Double
    var restMs: Double
    var busyCores: Double

    init?(from start: CPUSample?, to end: CPUSample?, apiPIDs: [Int32], requests: Int) {
        guard let start, let end, requests > 0 else { return nil }
        func used(_ pids: [Int32]) -> Double { pids.reduce(0) { $0 + (end.processes[$1] ?? 0) - (start.processes[$1] ?? 0) } }
        let (api, client, busy) = (used(apiPIDs), used([CPUSample.ownPID]), end.machineBusy - start.machineBusy)
        let per = 1000 / Double(requests)
        (apiMs, clientMs, restMs) = (api * per, client * per, max(0, busy - api - client) * per)
        busyCores = busy / max(0.001, ms(end.at - start.at) / 1000)
    }

    var text: String {
        "CPU per request \(fixed(apiMs + clientMs + restMs)) ms: the API processes \(fixed(apiMs)), Postgres and the rest of the "
            + "machine \(fixed(restMs)), this client \(fixed(clientMs)) (\(fixed(busyCores)) cores busy)"
    }
}
