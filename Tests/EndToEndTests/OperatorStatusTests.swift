import Foundation
import SpsyncTestSupport
import Testing

/// What an operator reads each morning, with real daemons (issue 11): status that is true, and
/// `status --check` for cron and monitoring.
@Suite("operators: status you can trust", .serialized)
struct OperatorStatusTests {
    func check(_ node: TestNode) throws -> (status: Int32, problems: [[String: Any]]) {
        let r = try node.run(["status", "--check", "--json"])
        let report = try JSONSerialization.jsonObject(with: Data(r.out.utf8)) as? [String: Any]
        #expect(report?["status"] as? Int == Int(r.status), "\(r.out)")
        return (r.status, report?["problems"] as? [[String: Any]] ?? [])
    }

    @Test(
        "a live peer in step shows pending 0; a one-shot sync is the last success, with its history; status --check exits 1 while a peer's daemon is down and 0 once it is back"
    )
    func trueStatus() throws {
        let net = try TestNetwork()
        defer { net.stopAll() }
        try net.hub.start()
        try net.charity.start()
        // The hub keeps a live link to the charity: both sides see it in step.
        try waitUntil("the hub's live link to the charity is in step", seconds: 30) {
            let p = try net.hub.peerStatus("GB-CHC-1234567")
            return p["state"] as? String == "connected" && p["lastSuccessAt"] != nil
        }
        // Writes the hub may see go over the live link, and the hub acknowledges them: pending 0.
        let service = try net.charity.ok([
            "service", "add", "--name", "Walk and Talk", "--category", "physical_activity", "--maximum", "8",
            "--available", "8",
        ])
        for n in 1...5 {
            _ = try net.charity.ok(["service", "set-capacity", service, "--available", "\(n)", "--maximum", "8"])
        }
        try waitUntil("the charity's pending for the live hub drops to 0", seconds: 30) {
            let p = try net.charity.peerStatus("U12345")
            return p["state"] as? String == "connected" && p["pendingOut"] as? Int == 0
        }
        #expect(try net.hub.storeCount("services") == 1)

        // The practice has no daemon: a one-shot sync (the cron path) is recorded as its last success.
        let referral = try net.practice.ok(["referral", "create", "--to", "U12345", "--need", "loneliness"])
        #expect(!referral.isEmpty)
        #expect(try net.practice.peerStatus("U12345")["pendingOut"] as? Int ?? 0 > 0)
        _ = try net.practice.ok(["sync"])
        let practiceView = try net.practice.peerStatus("U12345")
        #expect(practiceView["lastSuccessAt"] != nil)
        #expect(practiceView["pendingOut"] as? Int == 0)
        #expect(practiceView["lastError"] == nil)
        let detail = try net.practice.json(["status", "--peer", "U12345"]) as? [String: Any]
        let history = detail?["history"] as? [[String: Any]] ?? []
        #expect(history.first?["via"] as? String == "spsync sync")
        #expect(history.first?["ok"] as? Bool == true)
        // The hub saw the practice's session too, as an inbound sync.
        #expect(try net.hub.peerStatus("A81001")["lastSuccessAt"] != nil)
        let table = try net.practice.ok(["status"])
        for column in ["last success", "last attempt", "pending", "skew", "next sync", "last error"] {
            #expect(table.contains(column), "status table lacks \(column): \(table)")
        }
        #expect(try check(net.hub).status == 0)
        #expect(try check(net.practice).status == 0)

        // The charity's daemon goes down: the hub's check fails for that peer, one line naming it.
        net.charity.stop()
        try waitUntil("the hub's status --check exits 1", seconds: 30) { try check(net.hub).status == 1 }
        let down = try check(net.hub).problems
        #expect(down.count == 1 && down.first?["peer"] as? String == "GB-CHC-1234567", "\(down)")
        #expect(down.first?["level"] as? String == "peer")
        let text = try net.hub.run(["status", "--check"])
        #expect(text.status == 1)
        #expect(text.out.split(separator: "\n").count == 1 && text.out.hasPrefix("GB-CHC-1234567: "), "\(text.out)")
        let failing = try net.hub.peerStatus("GB-CHC-1234567")
        #expect(failing["lastErrorAt"] != nil && failing["lastErrorCode"] != nil)

        // Back up: the hub redials, the error clears, and the check passes again.
        try net.charity.start()
        try waitUntil("the hub's status --check exits 0 again", seconds: 120) { try check(net.hub).status == 0 }
        let back = try net.hub.peerStatus("GB-CHC-1234567")
        #expect(back["lastError"] == nil && back["lastErrorAt"] == nil)
        let hubHistory = (try net.hub.json(["status", "--peer", "GB-CHC-1234567"]) as? [String: Any])?["history"]
        #expect((hubHistory as? [[String: Any]])?.contains { $0["ok"] as? Bool == false } == true)
    }

    @Test("status --check exits 2 when this node's daemon is down while peers are on a schedule, naming them")
    func nodeUnhealthy() throws {
        let net = try TestNetwork()
        defer { net.stopAll() }
        // The hub's link to the charity is `live`, and no daemon runs.
        let r = try net.hub.run(["status", "--check"])
        #expect(r.status == 2, "\(r.out) \(r.err)")
        #expect(r.out.contains("daemon is not running") && r.out.contains("GB-CHC-1234567"), "\(r.out)")
        // The practice has only a manual peer: nothing is due, nothing is wrong.
        #expect(try net.practice.run(["status", "--check"]).status == 0)
    }
}
