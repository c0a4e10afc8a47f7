import Foundation
import Testing

/// End-to-end tests: real `spsync daemon` processes on loopback, real TLS, real SQLite files.
@Suite("end to end", .serialized)
struct JourneyTests {
    @Test(
        "a referral travels practice → hub → charity and the acceptance and capacity come back; the charity never holds the NHS number"
    )
    func journey() throws {
        let net = try TestNetwork()
        defer { net.stopAll() }
        let service = try net.charity.ok([
            "service", "add", "--name", "Walk and Talk", "--category", "physical_activity", "--maximum", "10",
            "--available", "4",
        ])
        let referral = try net.practice.ok([
            "referral", "create", "--to", "U12345", "--need", "loneliness", "--name", "Pat", "--phone", "07700900123",
            "--consent", "explicit", "--nhs-number", "9990000018",
        ])
        try net.hub.start()
        try net.charity.start()
        // Overnight: the practice dials its hub.
        _ = try net.practice.ok(["sync"])
        #expect(try net.hub.storeCount("referrals") == 1)
        // The hub's live link to the charity brings the directory; the link worker addresses the referral.
        try waitUntil("the hub sees the charity's service", seconds: 30) { try net.hub.storeCount("services") == 1 }
        try waitUntil("the live link counts as in step", seconds: 30) {
            let live = try net.hub.peerStatus("GB-CHC-1234567")
            return live["state"] as? String == "connected" && live["lastSuccessAt"] != nil
        }
        _ = try net.hub.ok(["referral", "update", referral, "--service", service])
        try waitUntil("the charity receives the referral", seconds: 30) { try net.charity.storeCount("referrals") == 1 }
        let atCharity = try net.charity.ok(["referral", "show", referral])
        #expect(atCharity.contains("07700900123"), "explicit consent: the charity gets contact details")
        #expect(!atCharity.contains("9990000018"), "the charity must never receive the NHS number")
        // The charity accepts and its capacity drops; both reach the hub live and the practice on its next sync.
        _ = try net.charity.ok(["referral", "update", referral, "--status", "accepted"])
        // Progress out of order is refused at the charity in one line, and changes nothing.
        for (status, hint) in [
            ("completed", "'completed' cannot follow 'accepted': next comes 'attending'"),
            ("declined", "'declined' cannot follow 'accepted'"), ("received", "cannot follow 'accepted'"),
        ] {
            let refused = try net.charity.run(["referral", "update", referral, "--status", status])
            #expect(refused.status == 1, "--status \(status) after accepted: \(refused.err)")
            #expect(refused.err.hasPrefix("spsync: ") && refused.err.split(separator: "\n").count == 1)
            #expect(refused.err.contains(hint), "\(refused.err)")
        }
        #expect(try net.charity.ok(["referral", "show", referral]).contains("status   accepted"))
        _ = try net.charity.ok(["service", "set-capacity", service, "--available", "3"])
        try waitUntil("the hub sees the acceptance", seconds: 30) {
            (try net.hub.json(["referral", "list"]) as? [[String: Any]])?.first?["status"] as? String == "accepted"
        }
        _ = try net.practice.ok(["sync"])
        let list = try net.practice.json(["referral", "list"]) as? [[String: Any]]
        #expect(list?.first?["status"] as? String == "accepted")
        let services = try net.practice.json(["service", "list"]) as? [[String: Any]]
        #expect((services?.first?["capacity"] as? [String: Any])?["available"] as? Int == 3)
        // Status shows the peers; SIGTERM stops the daemons cleanly.
        let hubPeer = try net.hub.peerStatus("A81001")
        #expect(hubPeer["lastSuccessAt"] != nil)
        #expect(net.hub.stop() == 0)
        #expect(net.charity.stop() == 0)
        // A byte scan of every file the charity holds finds no NHS number.
        for file in try FileManager.default.contentsOfDirectory(atPath: net.charity.home) {
            let data = try Data(contentsOf: URL(fileURLWithPath: net.charity.home + "/" + file))
            #expect(data.range(of: Data("9990000018".utf8)) == nil, "\(file) holds the NHS number")
        }
    }

    @Test(
        "a peer down for the night: sync fails with a reason and exit 1, status says so; once it is back everything catches up"
    )
    func peerDownThenCaughtUp() throws {
        let net = try TestNetwork()
        defer { net.stopAll() }
        for i in 0..<5 {
            _ = try net.practice.ok(["referral", "create", "--to", "U12345", "--need", "debt", "--note", "night \(i)"])
        }
        let down = try net.practice.run(["sync"])
        #expect(down.status == 1)
        #expect(down.out.contains("U12345: FAILED"))
        #expect(down.out.contains("cannot reach"))
        try net.hub.start()
        _ = try net.practice.ok(["sync"])
        #expect(try net.hub.storeCount("referrals") == 5)
        let again = try net.practice.ok(["sync", "--json"])
        #expect(again.contains("\"ok\" : true"))
    }

    @Test("some peers failing gives exit 2; `sync --now` asks the running daemon")
    func partialFailureAndNow() throws {
        let net = try TestNetwork()
        defer { net.stopAll() }
        try net.charity.start()
        try net.hub.start()
        // The hub has two peers: the charity (up) and the practice (no daemon, nothing listening).
        let r = try net.hub.run(["sync", "--now"])
        #expect(r.status == 2, "\(r.out)\(r.err)")
        #expect(r.out.contains("GB-CHC-1234567: ok"))
        #expect(r.out.contains("A81001: FAILED"))
        let failing = try net.hub.peerStatus("A81001")
        #expect(failing["lastErrorCode"] as? String == "unreachable")
        #expect(["retrying", "failing"].contains(failing["state"] as? String ?? ""))
    }
}
