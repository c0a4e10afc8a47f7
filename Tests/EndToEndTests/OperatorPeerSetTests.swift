import Foundation
import SpsyncTestSupport
import SyncNode
import Testing

/// `spsync peer set` and what an operator reads when a peer's key or window goes wrong (issue 11
/// items 2 and 8), with real daemons.
@Suite("operators: changing a peer in place", .serialized)
struct OperatorPeerSetTests {
    func history(_ node: TestNode, _ peer: String) throws -> [[String: Any]] {
        ((try node.json(["status", "--peer", peer]) as? [String: Any])?["history"] as? [[String: Any]]) ?? []
    }

    @Test(
        "a peer offering another key than the one pinned is refused with both fingerprints and the `peer set` to run; `peer set` changes the schedule of a running daemon at once and keeps the history"
    )
    func peerSet() throws {
        let net = try TestNetwork()
        defer { net.stopAll() }
        // Another node claiming to be the hub, with its own key, where the practice will dial.
        let impostor = TestNode(id: "U12345", home: net.root + "/impostor", port: try Loopback.freePort())
        defer { impostor.stop() }
        _ = try impostor.ok([
            "init", "--org", "U12345", "--name", "Not the PCN", "--listen", "127.0.0.1:\(impostor.port)",
        ])
        try impostor.start()
        try net.hub.start()
        let pinned = try net.hub.fingerprint
        let offered = try impostor.fingerprint

        _ = try net.practice.ok(["peer", "set", "U12345", "--address", "127.0.0.1:\(impostor.port)"])
        let refused = try net.practice.run(["sync"])
        #expect(refused.status == 1)
        #expect(refused.out.contains("FAILED (untrusted_peer)"), "\(refused.out)")
        #expect(refused.out.contains(pinned) && refused.out.contains(offered), "\(refused.out)")
        #expect(refused.out.contains("spsync peer set U12345 --fingerprint \(offered)"), "\(refused.out)")
        #expect(refused.out.split(separator: "\n").count == 1, "\(refused.out)")

        // Back to the real hub; a sync by hand is the history's first success.
        let back = try net.practice.ok(["peer", "set", "U12345", "--address", "127.0.0.1:\(net.hub.port)"])
        #expect(back.contains("address 127.0.0.1:\(impostor.port) → 127.0.0.1:\(net.hub.port)"), "\(back)")
        #expect(back.contains("its sync history is kept"))
        _ = try net.practice.ok(["sync"])
        #expect(try history(net.practice, "U12345").count == 2)

        // The practice's daemon runs with the hub on `manual`; `peer set` makes it `every 1s`, and
        // the running daemon syncs on it without a restart: a referral reaches the hub by itself.
        try net.practice.start()
        let set = try net.practice.ok(["peer", "set", "U12345", "--schedule", "every 1s"])
        #expect(set.contains("schedule manual → every 1s") && set.contains("the running daemon has it now"), "\(set)")
        let pid = net.practice.daemon?.processIdentifier
        _ = try net.practice.ok(["referral", "create", "--to", "U12345", "--need", "debt"])
        try waitUntil("the hub holds the practice's referral without a sync by hand", seconds: 30) {
            try net.hub.storeCount("referrals") == 1
        }
        #expect(net.practice.daemon?.processIdentifier == pid && net.practice.daemon?.isRunning == true)
        let after = try history(net.practice, "U12345")
        #expect(after.contains { $0["via"] as? String == "scheduled" && $0["ok"] as? Bool == true }, "\(after)")
        #expect(after.filter { $0["via"] as? String == "spsync sync" }.count == 2, "the earlier history was lost")
        #expect(try net.practice.peerStatus("U12345")["schedule"] as? String == "every 1s")

        let unknown = try net.practice.run(["peer", "set", "U99999", "--schedule", "live"])
        #expect(unknown.status == 1 && unknown.err.contains("is not a peer here"), "\(unknown.err)")
        let nothing = try net.practice.run(["peer", "set", "U12345"])
        #expect(nothing.status == 64 && nothing.err.hasPrefix("spsync: "), "\(nothing.err)")
        let taken = try net.practice.run(["peer", "add", "U12345", "--fingerprint", pinned, "--address", "127.0.0.1:1"])
        #expect(taken.err.contains("spsync peer set U12345"), "\(taken.err)")
    }

    @Test("a nightly window that closed with no success is logged once by the daemon and fails status --check")
    func missedWindow() throws {
        let net = try TestNetwork()
        defer { net.stopAll() }
        net.practice.environment["TZ"] = "UTC"
        try net.hub.start()
        _ = try net.practice.ok(["sync"])
        // Last night's window closed a minute ago; the last success was the day before.
        var utc = Calendar(identifier: .gregorian)
        utc.timeZone = TimeZone(identifier: "UTC")!
        func hm(_ d: Date) -> String {
            let c = utc.dateComponents([.hour, .minute], from: d)
            return String(format: "%02d:%02d", c.hour ?? 0, c.minute ?? 0)
        }
        let now = Date()
        let window = "nightly \(hm(now.addingTimeInterval(-3 * 3600)))-\(hm(now.addingTimeInterval(-60)))"
        _ = try net.practice.ok(["peer", "set", "U12345", "--schedule", window])
        let file = net.practice.home + "/peers.status.json"
        var rows =
            try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: file))) as? [[String: Any]]
        let dayAgo = UInt64((now.timeIntervalSince1970 - 86_400) * 1000)
        for i in (rows ?? []).indices {
            rows?[i]["lastSuccessAt"] = dayAgo
            rows?[i]["lastAttemptAt"] = dayAgo
        }
        try JSONSerialization.data(withJSONObject: rows ?? []).write(to: URL(fileURLWithPath: file))

        try net.practice.start()
        let log = net.practice.home + "/daemon.log"
        try waitUntil("the daemon logs the missed window", seconds: 20) {
            ((try? String(contentsOfFile: log, encoding: .utf8)) ?? "").contains("missed the nightly window")
        }
        // Once, not once per peer or per wake-up of the link.
        let text = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
        #expect(text.components(separatedBy: "missed the nightly window").count == 2, "\(text)")
        let check = try net.practice.run(["status", "--check"])
        #expect(check.status == 1)
        #expect(check.out.contains("U12345: missed the \(window) window that closed"), "\(check.out)")
    }
}
