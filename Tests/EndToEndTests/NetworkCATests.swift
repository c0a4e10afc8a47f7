import Foundation
import SpsyncTestSupport
import SyncNode
import Testing

@Suite("end to end: a network CA instead of pinned fingerprints", .serialized)
struct NetworkCATests {
    /// Points node.toml's `ca_file` at `path`, as an operator edits it.
    func setCAFile(_ node: TestNode, _ path: String) throws {
        let file = node.home + "/node.toml"
        let text = try String(contentsOfFile: file, encoding: .utf8)
        let edited = text.replacingOccurrences(
            of: "# ca_file = \"/etc/spsync/network-ca.pem\"", with: "ca_file = \"\(path)\"")
        #expect(edited != text, "node.toml has no ca_file line to set")
        try edited.write(toFile: file, atomically: true, encoding: .utf8)
    }

    @Test(
        "nodes with certificates from the network CA are added without fingerprints and sync; a stranger's is refused"
    )
    func caIssuedCertificates() throws {
        let root = NSTemporaryDirectory() + "spsync-e2e-ca-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: root) }
        let ca = try OperatorCA.make(in: root + "/ca")
        let practice = TestNode(id: "A81001", home: root + "/practice", port: try Loopback.freePort())
        let hub = TestNode(id: "U12345", home: root + "/hub", port: try Loopback.freePort())
        defer { hub.stop() }
        _ = try practice.ok(["init", "--org", "A81001", "--name", "Riverside Surgery", "--pcn", "U12345"])
        _ = try hub.ok(["init", "--org", "U12345", "--name", "Riverside PCN", "--listen", "127.0.0.1:\(hub.port)"])

        // Without a network CA a peer needs its fingerprint; nothing is added.
        let refused = try practice.run(["peer", "add", "U12345", "--address", "127.0.0.1:\(hub.port)"])
        #expect(refused.status != 0)
        #expect(refused.err.contains("give --fingerprint"), "\(refused.err)")
        #expect(try practice.ok(["peer", "list"]).contains("no peers"))

        // The operator replaces each node's key and certificate with ones the network CA issued.
        let selfSigned = try practice.fingerprint
        for node in [practice, hub] {
            try ca.issue(nodeID: node.id, into: node.home)
            try setCAFile(node, ca.certificatePath)
        }
        let id = try practice.json(["id"]) as? [String: Any]
        #expect(id?["id"] as? String == "A81001")
        #expect(try practice.fingerprint != selfSigned, "spsync id shows the CA-issued certificate")
        let added = try practice.ok(["peer", "add", "U12345", "--address", "127.0.0.1:\(hub.port)"])
        #expect(added.contains("vouched for by the network CA"), "\(added)")
        _ = try hub.ok(["peer", "add", "A81001", "--address", "127.0.0.1:\(practice.port)"])
        let peers = try practice.json(["peer", "list"]) as? [[String: Any]]
        #expect(peers?.count == 1)
        #expect(peers?.first?["fingerprint"] == nil)
        #expect(try practice.ok(["peer", "list"]).contains("(network CA)"))

        _ = try practice.ok(["referral", "create", "--to", "U12345", "--need", "debt"])
        try hub.start()
        let sync = try practice.run(["sync"])
        #expect(sync.status == 0, "\(sync.out)\(sync.err)")
        #expect(try hub.storeCount("referrals") == 1)

        // A node the CA issued a certificate to, but that this hub does not have as a peer, is refused.
        let stranger = TestNode(id: "B82002", home: root + "/stranger", port: try Loopback.freePort())
        _ = try stranger.ok(["init", "--org", "B82002", "--name", "Hillside Surgery", "--pcn", "U12345"])
        try ca.issue(nodeID: stranger.id, into: stranger.home)
        try setCAFile(stranger, ca.certificatePath)
        _ = try stranger.ok(["peer", "add", "U12345", "--address", "127.0.0.1:\(hub.port)"])
        let strangerSync = try stranger.run(["sync"])
        #expect(strangerSync.status == 1, "\(strangerSync.out)\(strangerSync.err)")
        #expect(try hub.storeCount("referrals") == 1)
        hub.stop()
        let log = try String(contentsOfFile: hub.home + "/daemon.log", encoding: .utf8)
        #expect(log.contains("B82002") || log.contains("untrusted"), "the hub's log names the refusal:\n\(log)")
    }
}
