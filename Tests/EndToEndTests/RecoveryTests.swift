import Foundation
import GRDB
import SyncCore
@_spi(Tampering) import SyncStore
import SyncTransport
import Testing

/// Counts the field writes a store holds, straight from its SQLite file (fast enough to poll).
func fieldWrites(_ node: TestNode) throws -> Int {
    let q = try DatabaseQueue(
        path: node.home + "/store.sqlite",
        configuration: {
            var c = Configuration()
            c.readonly = true
            c.busyMode = .timeout(5)
            return c
        }())
    defer { try? q.close() }
    return try q.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM field_write") ?? 0 }
}

@Suite("end to end: crashes, clocks, rollbacks, forgeries", .serialized)
struct RecoveryTests {
    @Test(
        "a receiving daemon SIGKILLed in the middle of a large sync restarts and converges: nothing lost, nothing applied twice"
    )
    func killMidSync() throws {
        let net = try TestNetwork()
        defer { net.stopAll() }
        // A large first sync: 1,500 referrals of 4 field writes, written through the library.
        try net.practice.fillReferrals(1500)
        // The hub holds its own organisation record too.
        let hubOwn = try fieldWrites(net.hub)
        let total = try fieldWrites(net.practice) + hubOwn
        #expect(total >= 6000)
        try net.hub.start()
        let practice = net.practice
        let syncer = Thread {
            _ = try? practice.run(["sync"])  // expected to fail when the hub dies under it
        }
        syncer.start()
        try waitUntil("the hub has applied part of the sync", seconds: 60) { try fieldWrites(net.hub) > hubOwn }
        net.hub.stop(signal: SIGKILL)
        let partial = try fieldWrites(net.hub)
        while syncer.isExecuting { usleep(50_000) }
        try net.hub.start()
        _ = try net.practice.ok(["sync"])
        let after = try fieldWrites(net.hub)
        #expect(after == total, "the hub holds \(after) of \(total) field writes (it had \(partial) when killed)")
        // Another sync moves nothing: every write was applied exactly once.
        let again = try net.practice.ok(["sync", "--json"])
        #expect(again.contains("\"received\" : 0"))
        #expect(try fieldWrites(net.hub) == total)
    }

    @Test(
        "a hub whose clock runs an hour ahead: its writes are parked at the practice, shown in status, not lost, and applied once time catches up"
    )
    func clockAhead() throws {
        let net = try TestNetwork()
        defer { net.stopAll() }
        net.hub.environment["SPSYNC_CLOCK_OFFSET_SECONDS"] = "3600"
        let referral = try net.hub.ok([
            "referral", "create", "--to", "U12345", "--practice", "A81001", "--need", "housing",
        ])
        try net.hub.start()
        let first = try net.practice.ok(["sync", "--json"])
        #expect(
            first.contains("\"parked\" : 1") || first.contains("\"parked\" : 2") || first.contains("\"parked\" : 3"),
            "\(first)")
        #expect(try net.practice.storeCount("parked") > 0)
        #expect(try net.practice.storeCount("referrals") == 0)
        // An hour later at the practice (its clock catches up): the parked writes apply, once.
        net.practice.environment["SPSYNC_CLOCK_OFFSET_SECONDS"] = "3600"
        _ = try net.practice.ok(["sync"])
        #expect(try net.practice.storeCount("parked") == 0)
        let ids = (try net.practice.json(["referral", "list"]) as? [[String: Any]])?.compactMap { $0["id"] as? String }
        #expect(ids == [referral])
    }

    @Test(
        "a practice restored from an older backup by hand detects it, refuses local writes, and after `spsync restore` rejoins under a new incarnation with nothing lost"
    )
    func rollback() throws {
        let net = try TestNetwork()
        defer { net.stopAll() }
        let early = try net.practice.ok(["referral", "create", "--to", "U12345", "--need", "debt"])
        _ = try net.practice.ok(["backup", net.root + "/old.sqlite"])
        let late = try net.practice.ok(["referral", "create", "--to", "U12345", "--need", "housing"])
        try net.hub.start()
        _ = try net.practice.ok(["sync"])
        // The disk is restored from last night's copy by hand: seq numbers would be reused.
        for suffix in ["", "-wal", "-shm"] {
            try? FileManager.default.removeItem(atPath: net.practice.home + "/store.sqlite" + suffix)
        }
        try FileManager.default.copyItem(atPath: net.root + "/old.sqlite", toPath: net.practice.home + "/store.sqlite")
        let detect = try net.practice.run(["sync"])
        #expect(detect.status != 0)
        #expect(detect.out.contains("rolled_back"), "\(detect.out)")
        let refused = try net.practice.run(["referral", "create", "--to", "U12345", "--need", "carer"])
        #expect(refused.status != 0 && refused.err.contains("spsync restore"), "\(refused.err)")
        let before = (try net.practice.json(["id"]) as? [String: Any])?["incarnation"] as? String
        _ = try net.practice.ok(["restore", net.root + "/old.sqlite"])
        let after = (try net.practice.json(["id"]) as? [String: Any])?["incarnation"] as? String
        #expect(before != after)
        _ = try net.practice.ok(["sync"])
        let ids = Set(
            (try net.practice.json(["referral", "list"]) as? [[String: Any]])?.compactMap { $0["id"] as? String } ?? [])
        #expect(ids == [early, late], "the write made after the backup came back from the hub")
        let fresh = try net.practice.ok(["referral", "create", "--to", "U12345", "--need", "carer"])
        _ = try net.practice.ok(["sync"])
        #expect(try net.hub.storeCount("referrals") == 3, "the new incarnation's first write reached the hub: \(fresh)")
    }

    /// The referral ids a node lists.
    private func referralIDs(_ node: TestNode) throws -> Set<String> {
        Set((try node.json(["referral", "list"]) as? [[String: Any]])?.compactMap { $0["id"] as? String } ?? [])
    }

    /// Puts the practice's store back to `copy` by hand, as an operator copying a backup over it
    /// would; with `mark`, its high-water mark too, as a whole-machine snapshot would.
    private func putBack(_ net: TestNetwork, copy: String, mark: String? = nil) throws {
        let store = net.practice.home + "/store.sqlite"
        for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: store + suffix) }
        try FileManager.default.copyItem(atPath: copy, toPath: store)
        if let mark {
            try? FileManager.default.removeItem(atPath: store + ".highwater")
            try FileManager.default.copyItem(atPath: mark, toPath: store + ".highwater")
        }
    }

    @Test(
        "a store copied back by hand is found at once from its high-water mark: the next write is refused, not given a reused change number, and after `spsync recover` every acknowledged referral is at both nodes"
    )
    func rollbackByHand() throws {
        let net = try TestNetwork()
        defer { net.stopAll() }
        let early = try net.practice.ok(["referral", "create", "--to", "U12345", "--need", "debt"])
        _ = try net.practice.ok(["backup", net.root + "/old.sqlite"])
        let late = try net.practice.ok(["referral", "create", "--to", "U12345", "--need", "housing"])
        try net.hub.start()
        _ = try net.practice.ok(["sync"])
        try putBack(net, copy: net.root + "/old.sqlite")
        // Before: status said nothing and this write was accepted under change number 2, which the
        // hub holds for `late`.
        let refused = try net.practice.run(["referral", "create", "--to", "U12345", "--need", "carer"])
        #expect(refused.status != 0, "\(refused.out)")
        #expect(refused.err.hasPrefix("spsync: ") && refused.err.contains("`spsync recover`"), "\(refused.err)")
        #expect(try net.practice.ok(["status"]).contains("spsync recover"))
        let sync = try net.practice.run(["sync"])
        #expect(sync.status != 0 && sync.out.contains("rolled_back"), "\(sync.out)")
        _ = try net.practice.ok(["recover"])
        let fresh = try net.practice.ok(["referral", "create", "--to", "U12345", "--need", "carer"])
        _ = try net.practice.ok(["sync"])
        #expect(try referralIDs(net.practice) == [early, late, fresh])
        #expect(try referralIDs(net.hub) == [early, late, fresh])
    }

    @Test(
        "a snapshot that takes the high-water mark back too: a write made before the first sync reuses a change number, the sync proves the rollback, and `spsync recover` carries that write into a new incarnation — every acknowledged referral at both nodes"
    )
    func rollbackBySnapshot() throws {
        let net = try TestNetwork()
        defer { net.stopAll() }
        let early = try net.practice.ok(["referral", "create", "--to", "U12345", "--need", "debt"])
        _ = try net.practice.ok(["backup", net.root + "/old.sqlite"])
        try FileManager.default.copyItem(
            atPath: net.practice.home + "/store.sqlite.highwater", toPath: net.root + "/old.highwater")
        let late = try net.practice.ok(["referral", "create", "--to", "U12345", "--need", "housing"])
        _ = try net.practice.ok(["referral", "update", late, "--note", "call after 5pm"])
        try net.hub.start()
        _ = try net.practice.ok(["sync"])
        try putBack(net, copy: net.root + "/old.sqlite", mark: net.root + "/old.highwater")
        // Nothing here can tell: the write is accepted, and reuses the change numbers of `late`.
        let reused = try net.practice.ok(["referral", "create", "--to", "U12345", "--need", "carer"])
        let detect = try net.practice.run(["sync"])
        #expect(detect.status != 0 && detect.out.contains("rolled_back"), "\(detect.out)")
        #expect(try referralIDs(net.hub) == [early, late], "the hub refused the write under a reused number")
        let refused = try net.practice.run(["referral", "create", "--to", "U12345", "--need", "carer"])
        #expect(refused.status != 0 && refused.err.contains("`spsync recover`"), "\(refused.err)")
        // Restoring a backup now would lose `reused`, which no backup and no peer holds.
        let restore = try net.practice.run(["restore", net.root + "/old.sqlite"])
        #expect(restore.status != 0 && restore.err.contains("spsync recover"), "\(restore.err)")
        let recovered = try net.practice.json(["recover", "--json"]) as? [String: Any]
        #expect(recovered?["carriedChanges"] as? Int ?? 0 >= 1, "\(String(describing: recovered))")
        _ = try net.practice.ok(["sync"])
        #expect(try referralIDs(net.practice) == [early, late, reused])
        #expect(try referralIDs(net.hub) == [early, late, reused])
        let fresh = try net.practice.ok(["referral", "create", "--to", "U12345", "--need", "carer"])
        _ = try net.practice.ok(["sync"])
        #expect(try referralIDs(net.hub) == [early, late, reused, fresh])
        // Converged: both hold the same writes of every referral, live or not alike, and no
        // conflict appeared.
        func writes(_ node: TestNode, _ id: String) throws -> Set<String> {
            let detail = try node.json(["referral", "show", id, "--json"]) as? [String: Any]
            let timeline = detail?["timeline"] as? [[String: Any]] ?? []
            return Set(
                timeline.map {
                    "\($0["change"] ?? "") \($0["field"] ?? "") \($0["value"] ?? "") \($0["live"] as? Bool ?? false)"
                })
        }
        for id in [early, late, reused, fresh] {
            let held = try writes(net.practice, id), atHub = try writes(net.hub, id)
            #expect(!held.isEmpty && held == atHub, "\(id)")
        }
        #expect(try net.hub.storeCount("conflicts") == 0)
        #expect(try net.practice.storeCount("conflicts") == 0)
    }

    @Test(
        "a forged write — a charity changing a referral's clinical field and another charity's capacity — is refused and audited, and goes no further"
    )
    func forgedWrite() throws {
        let net = try TestNetwork()
        defer { net.stopAll() }
        let referral = try net.practice.ok(["referral", "create", "--to", "U12345", "--need", "debt"])
        try net.hub.start()
        _ = try net.practice.ok(["sync"])
        // The charity's store is tampered with: writes it may not make, slipped past its own checks.
        let otherService = try RecordID.service(
            owner: NodeID("GB-CHC-7654321"), uuid: UUIDv7(millis: 1_780_000_000_000, random: (1, 2)))
        try forge(
            net.charity,
            [
                (try RecordID(referral), .clinicalNHSNumber, FieldValue.text("9990000026")),
                (
                    otherService, .serviceCapacity,
                    FieldValue.json(ServiceCapacity(unit: "places", available: 0, maximum: 0, updated: 1))
                ),
            ])
        _ = try net.charity.ok(["sync", "--peer", "U12345"])
        #expect(try net.hub.storeCount("refused") == 2)
        #expect(try net.hub.storeCount("services") == 0)
        let show = try net.hub.ok(["referral", "show", referral])
        #expect(!show.contains("9990000026"))
        net.hub.stop()
        let store = try Store.open(at: net.hub.home + "/store.sqlite")
        let refusals = try store.audit(action: "refused")
        #expect(Set(refusals.compactMap(\.field)) == ["clinical.nhsNumber", "service.capacity"])
        #expect(refusals.allSatisfy { $0.actor == "GB-CHC-1234567" && $0.code == "unauthorised" })
    }

    /// Writes changes into a node's store as if it had made them, bypassing validation (a tampered
    /// node): signed with the node's own key, so only validation can refuse them.
    func forge(_ node: TestNode, _ writes: [(RecordID, FieldKey, [UInt8])]) throws {
        let store = try Store.open(at: node.home + "/store.sqlite", signer: NodeIdentity.load(directory: node.home))
        for (record, field, value) in writes {
            try store.tamperedWrite(record, [(field, value)], wallMillis: UInt64(Date().timeIntervalSince1970 * 1000))
        }
    }
}
