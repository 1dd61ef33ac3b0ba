import Foundation
import Logging
import PostgresNIO
import SeededRandom

extension ChaosLoops {
    /// The scripted phone: every delivered open question gets one decision (approve, skip,
    /// ambiguous, or left to expire), sent through the API processes in turn; some answers
    /// are sent twice at once, to both API processes, and must change nothing the second time.
    func approvals() async {
        var random = SplitMix64(seed: options.seed &+ 2)
        var handled = Set<UUID>()
        var turn = 0
        while running {
            var batch: [(UUID, String, Double, Bool, Int)] = []
            do {
                let open = try await client.withConnection { db in
                    var rows: [(UUID, String, String?)] = []
                    for try await row in try await db.query("""
                        SELECT id, firebase_uid, pipeline_step FROM questions
                        WHERE status = 'open' AND delivered_at IS NOT NULL ORDER BY created_at
                        """, logger: logger).decode((UUID, String, String?).self) { rows.append(row) }
                    return rows
                }
                for (id, uid, step) in open where !handled.contains(id) {
                    handled.insert(id)
                    let roll = Double.random(in: 0..<1, using: &random)
                    let value: Double?
                    if step?.contains(":order_") == true {
                        value = roll < 0.8 ? 10 : nil                       // an explanation: acknowledged, or left
                    } else {
                        value = roll < 0.6 ? 10 : roll < 0.85 ? -10 : roll < 0.9 ? 4 : nil
                    }
                    guard let value else { await stats.count("questions left unanswered"); continue }
                    let twice = Double.random(in: 0..<1, using: &random) < 0.15
                    batch.append((id, uid, value, twice, turn))
                    turn += 1
                }
            } catch {
                logger.warning("approvals: reading questions failed", metadata: ["error": "\(error)"])
            }
            await withTaskGroup(of: Void.self) { group in
                var inFlight = 0
                for item in batch {
                    if inFlight >= 8 { _ = await group.next(); inFlight -= 1 }
                    group.addTask { await self.answer(item.0, uid: item.1, value: item.2, twice: item.3, turn: item.4) }
                    inFlight += 1
                }
            }
            try? await Task.sleep(for: .milliseconds(300))
        }
    }

    func answer(_ id: UUID, uid: String, value: Double, twice: Bool, turn: Int) async {
        let path = "/v1/me/questions/\(id.uuidString.lowercased())/answer"
        do {
            let token = try await tokens.token(uid)
            let first = farm.apis[turn % farm.apis.count], second = farm.apis[(turn + 1) % farm.apis.count]
            var replies: [HTTP.Reply] = []
            if twice {
                async let a = HTTP.call("POST", first + path, json: ["value": value], token: token)
                async let b = HTTP.call("POST", second + path, json: ["value": value == 10 ? -10 : 10], token: token)
                replies = [try await a, try await b]
                await stats.count("answers sent twice")
            } else {
                replies = [try await HTTP.call("POST", first + path, json: ["value": value], token: token)]
            }
            let ok = replies.filter { $0.status == 200 }
            for reply in replies where reply.status != 200 {
                if reply.status == 409 { await stats.count("answers too late (409)") } else {
                    await stats.apiError("answer \(id): \(reply.status) \(reply.text)")
                }
            }
            let fresh = ok.filter { ($0.object["repeated"] as? Bool) != true }
            if let answer = fresh.first {
                let outcome = answer.object["outcome"] as? String ?? "?"
                await stats.count("answer: \(outcome)")
                if outcome == "ordered", let clientOrderID = answer.object["client_order_id"] as? String {
                    await stats.orderedOrder(clientOrderID)
                }
            }
            if twice, ok.count == 2 {
                // Exactly one took effect and the other reports its result; or neither, when a
                // config change had withdrawn the question before both (both say so).
                let outcomes = Set(ok.map { "\($0.object["outcome"] ?? "")|\($0.object["client_order_id"] ?? "")" })
                let bothWithdrawn = ok.allSatisfy { $0.object["outcome"] as? String == "withdrawn" }
                if fresh.count > 1 || outcomes.count != 1 || (fresh.isEmpty && !bothWithdrawn) {
                    await stats.duplicateViolation("\(id): \(ok.map(\.text))")
                }
            }
        } catch {
            await stats.apiError("answer \(id): \(error)")
        }
    }

    /// Every `killEvery` seconds (±50 %) SIGKILL a random worker, or (every
    /// `schedulerKillEvery`th kill) the leading scheduler; restart it 1–3 s later. At least
    /// two workers stay up.
    func killer() async {
        var random = SplitMix64(seed: options.seed &+ 3)
        var n = 0
        while running {
            try? await Task.sleep(for: .seconds(options.killEvery * Double.random(in: 0.5...1.5, using: &random)))
            guard running else { break }
            n += 1
            let delay = Double.random(in: 1...3, using: &random)
            do {
                if options.schedulerKillEvery > 0 && n % options.schedulerKillEvery == 0 {
                    guard let leader = try await Tracker.leader(client: client, logger: logger),
                          let slot = await farm.supervisor.slot(ofID: leader.holder) else { continue }
                    let at = Date()
                    guard await farm.supervisor.kill(slot) != nil else { continue }
                    await tracker.leaderKilled(leader.holder, at: at)
                    await tracker.record(.init(at: at, id: leader.holder, role: .scheduler, cause: .killer, jobs: 0, submitOrders: 0), held: [])
                    restart(slot, after: delay)
                } else {
                    var up: [String] = []
                    for slot in await farm.supervisor.slots(.worker) {
                        if await farm.supervisor.isUp(slot) { up.append(slot) }
                    }
                    guard up.count > 2 else { continue }
                    let slot = try await busiest(up, random: &random)
                    guard let id = await farm.supervisor.currentID(slot) else { continue }
                    let held = try await Tracker.held(by: id, client: client, logger: logger)
                    let at = Date()
                    guard await farm.supervisor.kill(slot) != nil else { continue }
                    await tracker.record(.init(at: at, id: id, role: .worker, cause: .killer, jobs: held.count,
                                               submitOrders: held.filter { $0.1 == "submit-order" }.count), held: held)
                    restart(slot, after: delay)
                }
            } catch {
                logger.warning("killer: \(error)")
            }
        }
    }

    /// A worker caught mid-job: for up to a second, one holding a submit-order (or else any
    /// job) is preferred; otherwise any of `up`.
    func busiest(_ up: [String], random: inout SplitMix64) async throws -> String {
        var owners: [String: String] = [:]
        for slot in up { if let id = await farm.supervisor.currentID(slot) { owners[id] = slot } }
        for _ in 0..<10 {
            let holding = try await client.withConnection { db in
                var rows: [(String, Int)] = []
                for try await row in try await db.query("""
                    SELECT lease_owner, count(*) FILTER (WHERE kind = 'submit-order')::int FROM jobs
                    WHERE state = 'running' GROUP BY 1 ORDER BY 1
                    """, logger: logger).decode((String, Int).self) { rows.append(row) }
                return rows
            }.filter { owners[$0.0] != nil }
            let submitting = holding.filter { $0.1 > 0 }
            if let pick = (submitting.isEmpty ? holding : submitting).randomElement(using: &random), let slot = owners[pick.0] {
                return slot
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        return up.randomElement(using: &random) ?? up[0]
    }

    func restart(_ slot: String, after delay: Double) {
        let supervisor = farm.supervisor
        let logger = self.logger
        Task {
            try? await Task.sleep(for: .seconds(delay))
            do { try await supervisor.restart(slot) } catch { logger.error("restart of \(slot) failed: \(error)") }
        }
    }

    /// Exits we did not cause: a worker leaving at its failpoint (right after an Alpaca POST,
    /// before the database heard of it) counts as a kill there; anything else is a crash.
    func exits() async {
        for await exit in farm.supervisor.exits {
            guard !(await farm.supervisor.acknowledge(exit)) else { continue }
            let failpoint = exit.role == .worker && !exit.signalled && exit.status == 86
            var held: [(Int64, String, Int64)] = []
            if exit.role == .worker { held = (try? await Tracker.held(by: exit.id, client: client, logger: logger)) ?? [] }
            await tracker.record(.init(at: exit.at, id: exit.id, role: exit.role, cause: failpoint ? .failpoint : .crash, jobs: held.count,
                                       submitOrders: held.filter { $0.1 == "submit-order" }.count), held: held)
            if !failpoint {
                let tail = await farm.supervisor.tail(exit.id)
                note("\(exit.id) exited unexpectedly (status \(exit.status)); last lines:\n\(tail)")
            }
            restart(exit.slot, after: failpoint ? 1 : 2)
        }
    }
}
