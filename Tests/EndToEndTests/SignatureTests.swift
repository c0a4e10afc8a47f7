import Foundation
import GRDB
import SyncCore
import SyncCrypto
import SyncNode
@_spi(Tampering) import SyncStore
import SyncTransport
import Testing

/// Origin signatures with real daemons: a charity that forges a practice's write, a hub that alters
/// what it relays, and a key rotation in the middle of a network.
@Suite("end to end: signed changes", .serialized)
struct SignatureTests {
    /// A node's store opened with a key, for tampering with it while its daemon is stopped.
    func tamperedStore(_ node: TestNode, signer: NodeIdentity? = nil) throws -> Store {
        try Store.open(at: node.home + "/store.sqlite", signer: signer ?? NodeIdentity.load(directory: node.home))
    }

    /// Every byte of a node's store files, to look for a value that must not be there.
    func files(of node: TestNode) throws -> Data {
        var all = Data()
        for suffix in ["", "-wal"] where FileManager.default.fileExists(atPath: node.home + "/store.sqlite" + suffix) {
            all += try Data(contentsOf: URL(fileURLWithPath: node.home + "/store.sqlite" + suffix))
        }
        return all
    }

    func audit(_ node: TestNode, _ action: String) throws -> [(actor: String?, code: String?, field: String?)] {
        let q = try DatabaseQueue(path: node.home + "/store.sqlite")
        defer { try? q.close() }
        return try q.read { db in
            try Row.fetchAll(db, sql: "SELECT actor, code, field FROM audit WHERE action = ?", arguments: [action]).map
            {
                ($0["actor"], $0["code"], $0["field"])
            }
        }
    }

    @Test(
        "a charity that forges the practice's routing write — under the practice's key or a key it made up — is refused and audited at the hub, gets no contact details, and the practice keeps writing"
    )
    func forgedRouting() throws {
        let net = try TestNetwork()
        defer { net.stopAll() }
        let forgerService = try net.charity.ok([
            "service", "add", "--name", "Walk and Talk", "--category", "physical_activity", "--maximum", "10",
            "--available", "4",
        ])
        let referral = try net.practice.ok([
            "referral", "create", "--to", "U12345", "--need", "loneliness", "--name", "Patricia", "--phone",
            "07700900123",
            "--consent", "explicit",
        ])
        try net.hub.start()
        _ = try net.practice.ok(["sync"])
        _ = try net.charity.ok(["sync", "--peer", "U12345"])
        net.hub.stop()

        // The charity points the practice's referral at its own service, as the practice: once
        // signed with its own key under the practice's real origin, once under an origin it made up
        // with a certificate naming the practice.
        let practiceOrigin = try tamperedStore(net.practice).nodeState().origin
        let charityStore = try tamperedStore(net.charity)
        let record = try RecordID(referral)
        try charityStore.tamperedWrite(
            record, [(.routingService, Array(forgerService.utf8))], wallMillis: WallClock.now(),
            claiming: practiceOrigin)
        let madeUp = try NodeIdentity.makeInMemory(nodeID: "A81001")
        let fakeOrigin = Origin(
            node: practiceOrigin.node, incarnation: try UUIDv7(bytes: Array(repeating: 7, count: 16)))
        let fakeBinding = KeyBinding(
            node: fakeOrigin.node, incarnation: fakeOrigin.incarnation, fromSeq: 1, certificate: madeUp.certificateDER,
            signature: try madeUp.sign(
                Seal.keyMessage(
                    node: fakeOrigin.node, incarnation: fakeOrigin.incarnation, fromSeq: 1,
                    certificateDigest: OpenSSLSealCrypto().sha256(madeUp.certificateDER))))
        let forgerWithFakeKey = try tamperedStore(net.charity, signer: madeUp)
        try forgerWithFakeKey.addKeyBindings(
            [fakeBinding], from: fakeOrigin.node, policy: DeliveryAnchorPolicy(), wallMillis: WallClock.now())
        try forgerWithFakeKey.tamperedWrite(
            record, [(.routingService, Array(forgerService.utf8))], wallMillis: WallClock.now(), claiming: fakeOrigin)

        try net.hub.start()
        _ = try net.charity.run(["sync", "--peer", "U12345"])
        let counts = try net.hub.status()["store"] as? [String: Any] ?? [:]
        #expect(
            counts["forged"] as? Int == 1, "the change under the practice's key refused for its signature: \(counts)")
        #expect(counts["keysRefused"] as? Int == 1, "the made-up key of a pinned peer refused: \(counts)")
        #expect(counts["refused"] as? Int == 2, "and the change under it, for want of a key: \(counts)")
        let show = try net.hub.ok(["referral", "show", referral])
        #expect(!show.contains(forgerService), "the hub's referral still goes nowhere near the forger's service")
        // The practice syncs, keeps writing, and is not told it was rolled back.
        _ = try net.practice.ok(["sync"])
        _ = try net.practice.ok(["referral", "create", "--to", "U12345", "--need", "debt"])
        _ = try net.practice.ok(["sync"])
        #expect(try net.hub.storeCount("referrals") == 2)
        _ = try net.charity.run(["sync", "--peer", "U12345"])
        net.hub.stop()
        let refusals = try audit(net.hub, "refused")
        #expect(refusals.count >= 2)
        #expect(Set(refusals.compactMap(\.code)) == ["bad_signature", "unknown_key"], "\(refusals)")
        #expect(refusals.allSatisfy { $0.actor == "GB-CHC-1234567" }, "\(refusals)")
        #expect(try audit(net.hub, "key_refused").allSatisfy { $0.actor == "GB-CHC-1234567" })
        // Nothing it was not entitled to: the person's name and phone never reached the charity.
        let charityFiles = try files(of: net.charity)
        #expect(charityFiles.range(of: Data("07700900123".utf8)) == nil)
        #expect(charityFiles.range(of: Data("Patricia".utf8)) == nil)
    }

    @Test("a hub that alters a relayed charity capacity is refused at the practice; honest updates still arrive")
    func alteredRelay() throws {
        let net = try TestNetwork()
        defer { net.stopAll() }
        let service = try net.charity.ok([
            "service", "add", "--name", "Walk and Talk", "--category", "physical_activity", "--maximum", "12",
            "--available", "2",
        ])
        try net.hub.start()
        _ = try net.charity.ok(["sync", "--peer", "U12345"])
        net.hub.stop()
        // The hub's operator rewrites the capacity it holds: 2 places become 9 (the same length, so
        // the body still decodes: only the signature can tell).
        let q = try DatabaseQueue(path: net.hub.home + "/store.sqlite")
        let altered = try q.write { db -> Int in
            let rows = try Row.fetchAll(
                db, sql: "SELECT local_seq, body, value FROM field_write WHERE field = 'service.capacity'")
            func alter(_ data: Data) -> Data {
                Data(
                    String(decoding: data, as: UTF8.self).replacingOccurrences(
                        of: "\"available\":2", with: "\"available\":9"
                    ).utf8)
            }
            for row in rows {
                try db.execute(
                    sql: "UPDATE field_write SET body = ?, value = ? WHERE local_seq = ?",
                    arguments: [alter(row["body"]), alter(row["value"]), row["local_seq"] as Int64])
            }
            return rows.count
        }
        try q.close()
        #expect(altered == 1)
        try net.hub.start()
        _ = try net.practice.ok(["sync"])
        let services = try net.practice.json(["service", "list"]) as? [[String: Any]] ?? []
        #expect(
            !services.contains { ($0["capacity"] as? [String: Any])?["available"] as? Int == 9 },
            "the altered change is refused whole: \(services)")
        #expect((try net.practice.status()["store"] as? [String: Any])?["forged"] as? Int ?? 0 > 0)
        // The charity's next, honest update reaches the practice through the same hub.
        _ = try net.charity.ok(["service", "set-capacity", service, "--available", "3"])
        _ = try net.charity.ok(["sync", "--peer", "U12345"])
        _ = try net.practice.ok(["sync"])
        let after = try net.practice.json(["service", "list"]) as? [[String: Any]] ?? []
        let capacity = after.first?["capacity"] as? [String: Any]
        #expect(capacity?["available"] as? Int == 3, "\(after)")
    }

    @Test(
        "a practice rotates its key mid-network: its writes before and after verify at the hub and at a charity that never saw the old key pinned"
    )
    func rotationKeepsOldWrites() throws {
        let net = try TestNetwork()
        defer { net.stopAll() }
        try net.hub.start()
        let service = try net.charity.ok([
            "service", "add", "--name", "Walk and Talk", "--category", "physical_activity", "--maximum", "10",
            "--available", "4",
        ])
        _ = try net.charity.ok(["sync", "--peer", "U12345"])
        _ = try net.practice.ok(["sync"])
        let before = try net.practice.ok(["referral", "create", "--to", "U12345", "--need", "debt"])
        _ = try net.practice.ok(["referral", "update", before, "--service", service])
        _ = try net.practice.ok(["sync"])
        _ = try net.practice.ok(["cert", "rotate"])
        _ = try net.practice.ok(["sync"])  // announces the new certificate
        _ = try net.practice.ok(["sync"])  // switches to it: the old key hands over
        let after = try net.practice.ok(["referral", "create", "--to", "U12345", "--need", "housing"])
        _ = try net.practice.ok(["referral", "update", after, "--service", service])
        _ = try net.practice.ok(["sync"])
        #expect(try net.hub.storeCount("referrals") == 2)
        #expect(try net.hub.storeCount("refused") == 0)
        // The charity learns the practice's keys only through the hub, after the rotation.
        _ = try net.charity.ok(["sync", "--peer", "U12345"])
        #expect(try net.charity.storeCount("refused") == 0)
        #expect(try net.charity.storeCount("referrals") == 2, "writes signed before and after the rotation")
        let keys =
            ((try net.charity.status()["signatures"] as? [String: Any])?["keys"] as? [[String: Any]] ?? [])
            .filter { $0["node"] as? String == "A81001" }
        #expect(keys.count == 2, "the old key and the one it handed over to: \(keys)")
        #expect(keys.contains { ($0["fromSeq"] as? Int ?? 0) > 1 })
        #expect(keys.allSatisfy { $0["anchor"] as? String == "first_sight" }, "relayed by the hub: \(keys)")
    }

    @Test(
        "cert rotate under running daemons: `sync --now` announces it at once, one restart switches keys, and writes signed with either key verify downstream"
    )
    func rotationWithRunningDaemons() throws {
        let net = try TestNetwork()
        defer { net.stopAll() }
        let service = try net.charity.ok([
            "service", "add", "--name", "Walk and Talk", "--category", "physical_activity", "--maximum", "12",
            "--available", "5",
        ])
        try net.charity.start()
        try net.hub.start()  // dials the charity: a live link
        try waitUntil("the hub holds the charity's service", seconds: 30) {
            try net.hub.storeCount("services") == 1
        }
        let old = try net.charity.fingerprint
        let new = (try net.charity.json(["cert", "rotate"]) as? [String: Any])?["fingerprint"] as? String ?? ""
        _ = try net.charity.ok(["sync", "--now"])
        let pinned = (try net.hub.json(["peer", "list"]) as? [[String: Any]])?.first {
            $0["id"] as? String == "GB-CHC-1234567"
        }
        #expect(
            pinned?["nextFingerprint"] as? String == new,
            "announced by the running daemon: \(String(describing: pinned))")
        net.charity.stop()
        try net.charity.start()
        #expect(try net.charity.fingerprint == new && new != old)
        _ = try net.charity.ok(["service", "set-capacity", service, "--available", "2"])
        try waitUntil("the hub has the capacity signed with the new key", seconds: 30) {
            let services = try net.hub.json(["service", "list"]) as? [[String: Any]] ?? []
            return (services.first?["capacity"] as? [String: Any])?["available"] as? Int == 2
        }
        #expect(try net.hub.storeCount("refused") == 0)
        _ = try net.practice.ok(["sync"])
        let services = try net.practice.json(["service", "list"]) as? [[String: Any]] ?? []
        #expect(services.first?["name"] as? String == "Walk and Talk", "signed with the old key")
        #expect((services.first?["capacity"] as? [String: Any])?["available"] as? Int == 2, "signed with the new key")
        #expect(try net.practice.storeCount("refused") == 0)
    }
}
