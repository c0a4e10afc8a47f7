import Foundation
import Testing

@Suite("end to end: peer changes reach a running daemon", .serialized)
struct ReloadTests {
    @Test(
        "blocking a peer's key cuts its live session and refuses it at once; removing and re-adding a peer works without a restart"
    )
    func blockRemoveAdd() throws {
        let net = try TestNetwork()
        defer { net.stopAll() }
        try net.charity.start()
        try net.hub.start()
        try waitUntil("the hub's live link to the charity is up", seconds: 30) {
            try net.hub.peerStatus("GB-CHC-1234567")["state"] as? String == "connected"
        }

        // A stolen key: the operator blocks it while the daemon runs.
        let charityKey = try net.charity.fingerprint
        let blocked = try net.hub.ok(["peer", "block", charityKey])
        #expect(blocked.contains("the running daemon has it now"), "\(blocked)")
        #expect(blocked.contains("cut the sessions of GB-CHC-1234567"), "\(blocked)")
        #expect(try net.hub.peerStatus("GB-CHC-1234567")["state"] as? String == "blocked")
        let refused = try net.charity.run(["sync", "--peer", "U12345"])
        #expect(refused.status == 1, "the blocked charity still syncs: \(refused.out)\(refused.err)")

        // A removed peer is refused at once; added back, it syncs, all without restarting the daemon.
        let practiceKey = try net.practice.fingerprint
        let removed = try net.hub.ok(["peer", "remove", "A81001"])
        #expect(removed.contains("the running daemon has it now"), "\(removed)")
        #expect(try net.practice.run(["sync"]).status == 1)
        _ = try net.practice.ok(["referral", "create", "--to", "U12345", "--need", "debt"])
        let added = try net.hub.ok([
            "peer", "add", "A81001", "--fingerprint", practiceKey, "--address", "127.0.0.1:\(net.practice.port)",
        ])
        #expect(added.contains("the running daemon has it now"), "\(added)")
        let sync = try net.practice.run(["sync"])
        #expect(sync.status == 0, "\(sync.out)\(sync.err)")
        #expect(try net.hub.storeCount("referrals") == 1)
        #expect(try net.hub.peerStatus("A81001")["lastSuccessAt"] != nil)

        // With no daemon running, the change waits for it to start.
        net.hub.stop()
        let offline = try net.hub.ok(["peer", "remove", "GB-CHC-1234567"])
        #expect(offline.contains("no daemon is running"), "\(offline)")
    }
}
