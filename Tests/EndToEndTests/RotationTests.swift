import Foundation
import Testing

@Suite("end to end: certificate rotation", .serialized)
struct RotationTests {
    /// The fingerprint and next fingerprint `node` has pinned for `peer`.
    func pins(_ node: TestNode, _ peer: String) throws -> (String?, String?) {
        let list = try node.json(["peer", "list"]) as? [[String: Any]]
        let entry = list?.first { $0["id"] as? String == peer }
        return (entry?["fingerprint"] as? String, entry?["nextFingerprint"] as? String)
    }

    @Test(
        "cert rotate: the new certificate reaches the hub over the trusted connection, the practice switches, the hub promotes it and refuses the old key; no re-pinning by hand"
    )
    func rotate() throws {
        let net = try TestNetwork()
        defer { net.stopAll() }
        try net.hub.start()
        let old = try net.practice.fingerprint
        let rotated = try net.practice.json(["cert", "rotate"]) as? [String: Any]
        let new = rotated?["fingerprint"] as? String ?? ""
        #expect(rotated?["previous"] as? String == old)
        #expect(new.hasPrefix("sha256:") && new != old)
        #expect(try net.practice.fingerprint == old, "the node keeps its key until every peer was told")
        // The next sync announces it; the hub pins it as the practice's next fingerprint.
        _ = try net.practice.ok(["sync"])
        #expect(try pins(net.hub, "A81001") == (old, new))
        // The practice switches at its next start; the hub accepts the new key and promotes it.
        _ = try net.practice.ok(["sync"])
        #expect(try net.practice.fingerprint == new)
        #expect(try pins(net.hub, "A81001") == (new, nil))
        // The old key is refused from now on.
        let oldHome = net.root + "/old-practice"
        try FileManager.default.copyItem(atPath: net.practice.home, toPath: oldHome)
        for f in ["key", "cert"] {
            try FileManager.default.removeItem(atPath: "\(oldHome)/\(f).pem")
            try FileManager.default.copyItem(atPath: "\(oldHome)/\(f).old.pem", toPath: "\(oldHome)/\(f).pem")
        }
        let impostor = TestNode(id: "A81001", home: oldHome, port: 0)
        let refused = try impostor.run(["sync"])
        #expect(refused.status == 1, "\(refused.out)")
        // And the new key keeps working.
        _ = try net.practice.ok(["referral", "create", "--to", "U12345", "--need", "debt"])
        _ = try net.practice.ok(["sync"])
        #expect(try net.hub.storeCount("referrals") == 1)
    }
}
