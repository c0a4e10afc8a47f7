import Foundation
import GRDB

/// SIGKILL of the receiving daemon at many points of one large sync, each from fresh copies of
/// the prepared homes: after a restart and a completed sync, nothing may be lost or held twice,
/// the store must pass `PRAGMA integrity_check`, and `spsync status` must be healthy.
struct KillCampaign {
    let pair: PreparedPair
    let work: String
    let points: Int

    /// The outcome of one kill.
    struct Point {
        var index: Int
        /// Field writes of the practice the hub had applied when it was killed.
        var appliedAtKill: Int
        var failures: [String] = []
        var lost = 0
        var doubled = 0
        var integrity = "?"
        var seconds = 0.0
    }

    func run() throws -> Bool {
        let logs = work + "/logs"
        try FileManager.default.createDirectory(atPath: logs, withIntermediateDirectories: true)
        let total = pair.senderWrites.count
        say("kill campaign: \(points) points of a sync of \(pair.referrals) referrals (\(total) field writes)")
        let baseline = try self.baseline(logs: logs)
        say(String(format: "  uninterrupted sync: %.1f s", baseline))
        var results: [Point] = []
        let start = ContinuousClock.now
        for k in 0..<points {
            // Point k is reached when the hub has applied k/points of the writes (at least one).
            let threshold = pair.hubOwnWrites + max(1, total * k / points)
            let point = try killAt(k, threshold: threshold, logs: logs)
            results.append(point)
            let verdict = point.failures.isEmpty ? "ok" : "FAILED: " + point.failures.joined(separator: "; ")
            say(
                String(
                    format: "  point %3d: killed at %6d of %d applied, lost %d, doubled %d, integrity %@, %.1f s, %@",
                    k + 1, point.appliedAtKill, total, point.lost, point.doubled, point.integrity, point.seconds,
                    verdict))
        }
        let failed = results.filter { !$0.failures.isEmpty }
        let elapsed = seconds(ContinuousClock.now - start)
        let lost = results.reduce(0) { $0 + $1.lost }, doubled = results.reduce(0) { $0 + $1.doubled }
        let integrityOK = results.filter { $0.integrity == "ok" }.count
        let killedMidway = results.filter { $0.appliedAtKill > 0 && $0.appliedAtKill < total }.count
        say(
            String(
                format:
                    "kill campaign: %d runs (%d killed with part of the sync applied), %d failures, lost %d, doubled %d, integrity ok %d/%d, %.0f s (%.1f s a run)",
                results.count, killedMidway, failed.count, lost, doubled, integrityOK, results.count, elapsed,
                elapsed / Double(max(1, results.count))))
        return failed.isEmpty
    }

    /// One sync with no kill, from fresh copies: how long it takes, and a check that the checks
    /// themselves pass when nothing goes wrong.
    private func baseline(logs: String) throws -> Double {
        let (practice, hub) = try pair.copy(to: work + "/run", logs: logs)
        try hub.startDaemon()
        defer { hub.stopDaemon() }
        let start = ContinuousClock.now
        let sync = try practice.run(["sync", "--json"])
        let elapsed = seconds(ContinuousClock.now - start)
        guard sync.status == 0 else { throw CampaignError("the uninterrupted sync failed: \(sync.out) \(sync.err)") }
        let c = try pair.check(hub: hub)
        guard c.clean else { throw CampaignError("the uninterrupted sync did not converge: \(c)") }
        return elapsed
    }

    private func killAt(_ k: Int, threshold: Int, logs: String) throws -> Point {
        let start = ContinuousClock.now
        let (practice, hub) = try pair.copy(to: work + "/run", logs: logs)
        try hub.startDaemon()
        defer { hub.stopDaemon(signal: SIGKILL) }
        let sync = try practice.start(["sync"])
        // Poll the hub's file read-only, as another process would, until the point is reached.
        let store = try hub.readOnlyStore()
        var applied = 0
        let deadline = Date().addingTimeInterval(600)
        while Date() < deadline {
            applied = try store.read { try Int.fetchOne($0, sql: "SELECT count(*) FROM field_write") ?? 0 }
            if applied >= threshold || !sync.process.isRunning { break }
            usleep(2_000)
        }
        hub.stopDaemon(signal: SIGKILL)
        try store.close()
        var point = Point(index: k, appliedAtKill: try hub.fieldWrites() - pair.hubOwnWrites)
        // Consistent at the kill: the hub holds exactly the batches its checkpoint names.
        if let partial = try pair.unaccounted(at: hub) { point.failures.append("at the kill: \(partial)") }
        if !sync.wait(seconds: 120) { point.failures.append("the practice's sync hung after the kill") }
        // Restart and complete the sync.
        try hub.startDaemon()
        let resync = try practice.run(["sync", "--json"])
        if resync.status != 0 {
            point.failures.append(
                "the sync after the restart failed: \(resync.out.prefix(300)) \(resync.err.prefix(300))")
            // A second attempt tells a slow recovery from a lost write.
            _ = try practice.run(["sync"])
        }
        // A further sync moves nothing: the hub already holds every write exactly once.
        let before = try hub.fieldWrites()
        let again = try practice.run(["sync", "--json"])
        let row = ((try? JSONSerialization.jsonObject(with: Data(again.out.utf8))) as? [[String: Any]])?.first
        let after = try hub.fieldWrites()
        if again.status != 0 || row?["sent"] as? Int != 0 || after != before {
            point.failures.append("a further sync moved writes: sent \(row?["sent"] ?? "?"), hub \(before) -> \(after)")
        }
        point.failures += try healthProblems(hub)
        let c = try pair.check(hub: hub)
        (point.lost, point.doubled) = (c.lost, c.doubled)
        if !c.clean { point.failures.append("\(c)") }
        if hub.stopDaemon() != 0 { point.failures.append("the hub's daemon did not stop cleanly on SIGTERM") }
        point.integrity = try hub.integrity()
        if point.integrity != "ok" { point.failures.append("integrity_check: \(point.integrity)") }
        point.seconds = seconds(ContinuousClock.now - start)
        return point
    }
}

/// What `spsync status --json` shows wrong at a node whose daemon runs: nothing when healthy.
func healthProblems(_ node: CampaignNode) throws -> [String] {
    let r = try node.run(["status", "--json"])
    guard r.status == 0, let status = (try? JSONSerialization.jsonObject(with: Data(r.out.utf8))) as? [String: Any]
    else { return ["spsync status exited \(r.status): \(r.firstLine)"] }
    var problems: [String] = []
    if (status["daemon"] as? [String: Any])?["running"] as? Bool != true { problems.append("daemon not running") }
    if (status["node"] as? [String: Any])?["rolledBack"] as? Bool != false { problems.append("rolled back") }
    let store = status["store"] as? [String: Any] ?? [:]
    for key in ["conflicts", "parked", "quarantined", "refused", "forged", "keysRefused", "falseClaims"]
    where store[key] as? Int != 0 {
        problems.append("status: \(key) \(store[key] ?? "?")")
    }
    let evidence = (status["signatures"] as? [String: Any])?["evidence"] as? [Any] ?? []
    if !evidence.isEmpty { problems.append("status: \(evidence.count) evidence") }
    for peer in status["peers"] as? [[String: Any]] ?? [] {
        if let code = peer["lastErrorCode"] as? String {
            problems.append("status: peer \(peer["id"] ?? "?") last error \(code): \(peer["lastError"] ?? "")")
        }
    }
    return problems
}
