import Foundation
import GRDB
import SpsyncTestSupport
import SyncCore
import Testing

@testable import SyncStore

struct InjectedCrash: Error {}

@Suite("applying batches")
struct ApplyTests {
    /// A practice, a hub and a charity, each signing with its own key and holding the others' keys
    /// (as peers that pin each other do), so a change relayed by any of them verifies at the others.
    func network(_ dir: TempDir) throws -> (practice: Store, hub: Store, charity: Store) {
        let p = try Store.signed(at: dir.file("p.sqlite"), node: Fixture.practice)
        let h = try Store.signed(at: dir.file("h.sqlite"), node: Fixture.hub)
        let c = try Store.signed(at: dir.file("c.sqlite"), node: Fixture.charity)
        try TestKeys.introduceAll([p, h, c])
        return (p, h, c)
    }

    @Test(
        "random writes at three stores, synced partially and then fully, agree with the in-memory model and with each other"
    )
    func storesMatchModel() throws {
        for seed in 1...12 as ClosedRange<UInt64> {
            let dir = TempDir()
            let (p, h, c) = try network(dir)
            var rng = SplitMix(seed: seed)
            let stores = [p, h, c]
            for step in 0..<40 {
                let wall = Fixture.wall + UInt64(step)
                switch rng.below(6) {
                case 0:
                    try c.write(
                        Fixture.service, [(.serviceCapacity, Fixture.capacity(rng.below(5), 5))], wallMillis: wall)
                case 1:
                    try [p, h][rng.below(2)].write(
                        Fixture.referral(UInt64(rng.below(3))),
                        [(.contactPhone, Fixture.text("0770090\(1000 + rng.below(9000))"))], wallMillis: wall)
                case 2:
                    try [p, h][rng.below(2)].write(
                        Fixture.referral(UInt64(rng.below(3))),
                        [
                            (.routingService, Fixture.text(Fixture.service.rawValue)),
                            (.routingUrgency, Fixture.text("soon")),
                        ], wallMillis: wall)
                case 3:
                    try [p, h][rng.below(2)].write(
                        Fixture.referral(UInt64(rng.below(3))), [(.redaction(.contact), Fixture.text("error"))],
                        wallMillis: wall)
                case 4:
                    let e = ProgressEvent(
                        event: ["accepted", "declined", "received"][rng.below(3)], service: Fixture.service.rawValue)
                    do {
                        try c.write(
                            Fixture.referral(UInt64(rng.below(3))), [(.progressEvents, FieldValue.json(e))],
                            wallMillis: wall)
                    } catch let error as SyncError where error.code == .invalidTransition {
                        // The lifecycle table refuses it after what the charity holds: nothing written.
                    }
                default:
                    let (a, b) = (rng.below(3), rng.below(3))
                    if a != b { try stores[a].pull(from: stores[b], wall: wall, batch: 1 + rng.below(5)) }
                }
            }
            for _ in 0..<2 { for a in stores { for b in stores where a !== b { try a.pull(from: b) } } }
            let models = try stores.map { try $0.replica() }
            #expect(models[0].fingerprint() == models[1].fingerprint(), "seed \(seed)")
            #expect(models[1].fingerprint() == models[2].fingerprint(), "seed \(seed)")
            // The flags and views the store keeps agree with the model's resolution.
            for store in stores {
                let model = try store.replica()
                for (record, fields) in model.writes {
                    for (field, _) in fields {
                        let r = model.resolution(record, field)
                        let held = try store.writes(of: record).filter { $0.write.field == field }
                        #expect(
                            Set(held.filter(\.live).map(\.write.id)) == Set(r.live), "seed \(seed) \(record) \(field)")
                        #expect(held.first(where: \.winner)?.write.id == r.winner, "seed \(seed) \(record) \(field)")
                    }
                    if record.referralParties != nil {
                        #expect(try store.referral(record).status == model.status(record).description, "seed \(seed)")
                    }
                }
                let modelConflicts =
                    model.writes.flatMap { rec, fields in fields.keys.filter { model.resolution(rec, $0).inConflict } }
                    .count
                    + model.writes.keys.filter {
                        if case .conflict = model.status($0) { return true } else { return false }
                    }.count
                #expect(try store.counts().conflicts == modelConflicts, "seed \(seed)")
            }
        }
    }

    @Test("a crash between batch and checkpoint leaves neither; the retry applies once; reopening shows the same state")
    func crashMidBatch() throws {
        let dir = TempDir()
        let (p, h, _) = try network(dir)
        for i in 0..<10 {
            try p.write(
                Fixture.referral(UInt64(i)),
                [(.routingUrgency, Fixture.text("soon")), (.contactPhone, Fixture.text("07700900\(100 + i)"))],
                wallMillis: Fixture.wall)
        }
        let peer = try p.nodeState()
        let rows = try p.changes(after: 0, limit: 100)
        let batch = try p.sealed(
            rows.map {
                IncomingChange(
                    origin: $0.write.origin, seq: $0.write.seq, hlc: $0.write.hlc, record: $0.write.record.rawValue,
                    bodies: [$0.body])
            })
        let cp = BatchCheckpoint(peerIncarnation: peer.incarnation, after: 0, upTo: rows.last!.localSeq)
        let before = try h.counts()
        #expect(throws: InjectedCrash.self) {
            try h.apply(
                batch.map(IncomingItem.change), from: Fixture.practice, checkpoint: cp, wallMillis: Fixture.wall
            ) { n in
                if n == 11 { throw InjectedCrash() }
            }
        }
        #expect(try h.counts() == before)
        #expect(try h.checkpoint(peer: Fixture.practice, incarnation: peer.incarnation) == 0)
        let report = try h.apply(
            batch.map(IncomingItem.change), from: Fixture.practice, checkpoint: cp, wallMillis: Fixture.wall
        ).writes
        #expect(report.applied == 20)
        // The same batch again is refused: it no longer follows the checkpoint.
        #expect(throws: SyncError.self) {
            try h.apply(
                batch.map(IncomingItem.change), from: Fixture.practice, checkpoint: cp, wallMillis: Fixture.wall)
        }
        // Delivered again by another path (no checkpoint), every write is a duplicate.
        let again = try h.apply(
            batch.map(IncomingItem.change), from: Fixture.charity, checkpoint: nil, wallMillis: Fixture.wall
        ).writes
        #expect(again.applied == 0 && again.duplicates == 20)
        let fingerprint = try h.replica().fingerprint()
        try h.pool.close()
        let reopened = try Store.open(at: dir.file("h.sqlite"))
        #expect(try reopened.replica().fingerprint() == fingerprint)
        #expect(try reopened.checkpoint(peer: Fixture.practice, incarnation: peer.incarnation) == rows.last!.localSeq)
        #expect(try reopened.counts().changes == 20)
    }

    @Test(
        "a forged write (a charity signing, as itself, another's capacity or a clinical field) is refused, audited without its value, and never stored; the rest of the batch applies"
    )
    func forgedWrite() throws {
        let dir = TempDir()
        let (p, _, c) = try network(dir)
        let r = Fixture.referral(1)
        let forged = FieldWrite(
            origin: try c.nodeState().origin, seq: 1, hlc: HLC(millis: Fixture.wall, counter: 0), record: r,
            field: .clinicalNHSNumber, kind: .register, value: Fixture.text("9990000018"))
        let capacity = FieldWrite(
            origin: try c.nodeState().origin, seq: 2, hlc: HLC(millis: Fixture.wall, counter: 0),
            record: Fixture.service2,
            field: .serviceCapacity, kind: .register, value: Fixture.capacity(1, 3))
        let ok = FieldWrite(
            origin: try c.nodeState().origin, seq: 3, hlc: HLC(millis: Fixture.wall, counter: 0),
            record: Fixture.service,
            field: .serviceCapacity, kind: .register, value: Fixture.capacity(1, 3))
        // Signed with the charity's own key: the signatures hold, so validation alone refuses.
        let report = try p.apply(
            [forged, capacity, ok].map {
                try IncomingChange(
                    origin: $0.origin, seq: $0.seq, hlc: $0.hlc, record: $0.record.rawValue, bodies: [$0.encodedBody()]
                ).signed(by: TestKeys.identity(Fixture.charity))
            }.map(IncomingItem.change),
            from: Fixture.charity, checkpoint: nil, wallMillis: Fixture.wall
        ).writes
        #expect(report.refused.map(\.code) == [.unauthorised, .unauthorised])
        #expect(report.applied == 1)
        #expect(try p.counts().refused == 2)
        let refusals = try p.audit(action: "refused")
        #expect(refusals.map(\.field) == ["clinical.nhsNumber", "service.capacity"])
        #expect(refusals.allSatisfy { $0.code == "unauthorised" && $0.actor == "GB-CHC-1234567" })
        #expect(throws: SyncError.self) { try p.referral(r) }
        #expect(throws: SyncError.self) { try p.writes(of: r) }
        #expect(throws: SyncError.self) { try p.writes(of: Fixture.service2) }
        let bytes =
            try Data(contentsOf: URL(fileURLWithPath: dir.file("p.sqlite")))
            + ((try? Data(contentsOf: URL(fileURLWithPath: dir.file("p.sqlite-wal")))) ?? Data())
        #expect(bytes.range(of: Data("9990000018".utf8)) == nil)
    }

    @Test(
        "a change whose origin signature fails (claimed for another origin, altered on the way, unsigned) is refused whole as bad_signature, one by a key not held as unknown_key, audited without values, never stored; the rest applies"
    )
    func badSignatures() throws {
        let dir = TempDir()
        let (p, h, c) = try network(dir)
        let charityKey = TestKeys.identity(Fixture.charity)
        let hlc = HLC(millis: Fixture.wall, counter: 0)
        func change(_ origin: Origin, _ seq: UInt64, _ record: RecordID, _ values: [(FieldKey, [UInt8])])
            -> IncomingChange
        {
            IncomingChange(
                origin: origin, seq: seq, hlc: hlc, record: record.rawValue,
                bodies: values.map { field, value in
                    FieldWrite(
                        origin: origin, seq: seq, hlc: hlc, record: record, field: field, kind: .register, value: value
                    ).encodedBody()
                })
        }
        let charity = try c.nodeState().origin
        let r = Fixture.referral(1)
        // The hub may write a referral's NHS number and phone: only the signature tells this from the hub's own.
        let claimed = try change(
            try h.nodeState().origin, 1, r,
            [(.clinicalNHSNumber, Fixture.text("9990000018")), (.contactPhone, Fixture.text("07700900111"))]
        ).signed(by: charityKey)
        var altered = try change(charity, 1, Fixture.service, [(.serviceCapacity, Fixture.capacity(1, 3))])
            .signed(by: charityKey)
        altered.bodies = change(charity, 1, Fixture.service, [(.serviceCapacity, Fixture.capacity(0, 3))]).bodies
        let unsigned = change(charity, 2, Fixture.service, [(.serviceName, Fixture.text("Unsigned Walk 4711"))])
        // A second charity's valid write, signed with its key, which nobody introduced here.
        let stranger = try change(
            Origin(node: Fixture.charity2, incarnation: Fixture.uuid(9)), 1, Fixture.service2,
            [(.serviceCapacity, Fixture.capacity(2, 3))]
        ).signed(by: TestKeys.identity(Fixture.charity2))
        let ok = try change(charity, 3, Fixture.service, [(.serviceCapacity, Fixture.capacity(1, 3))])
            .signed(by: charityKey)
        let report = try p.apply(
            [claimed, altered, unsigned, stranger, ok].map(IncomingItem.change), from: Fixture.charity, checkpoint: nil,
            wallMillis: Fixture.wall
        ).writes
        #expect(report.refused.map(\.code) == Array(repeating: .badSignature, count: 4) + [.unknownKey])
        #expect(report.applied == 1)
        #expect(try p.counts().changes == 1)
        #expect(try p.live(Fixture.service, .serviceCapacity).map(\.write.seq) == [3])
        #expect(try p.heldSeqs(of: Fixture.hub).isEmpty)
        #expect(try p.heldSeqs(of: Fixture.charity2).isEmpty)
        #expect(throws: SyncError.self) { try p.writes(of: r) }
        #expect(throws: SyncError.self) { try p.writes(of: Fixture.service2) }
        // Only the applied change's seal is kept: nothing of a refused change is relayed.
        #expect(try p.pool.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM change_seal") } == 1)
        let refusals = try p.audit(action: "refused")
        #expect(
            refusals.map(\.field) == [
                "clinical.nhsNumber", "contact.phone", "service.capacity", "service.name", "service.capacity",
            ])
        #expect(refusals.map(\.code) == Array(repeating: "bad_signature", count: 4) + ["unknown_key"])
        #expect(refusals.allSatisfy { $0.actor == "GB-CHC-1234567" })
        try p.pool.writeWithoutTransaction { db in _ = try db.checkpoint(.truncate) }
        let bytes = try Data(contentsOf: URL(fileURLWithPath: dir.file("p.sqlite")))
        for value in ["9990000018", "07700900111", "Unsigned Walk 4711"] {
            #expect(bytes.range(of: Data(value.utf8)) == nil, "p.sqlite holds \(value)")
        }
    }

    @Test("malformed bodies are refused, not stored, and the stream moves on")
    func malformedBodies() throws {
        let dir = TempDir()
        let (p, _, c) = try network(dir)
        let origin = try c.nodeState().origin
        let change = IncomingChange(
            origin: origin, seq: 1, hlc: HLC(millis: Fixture.wall, counter: 0), record: Fixture.service.rawValue,
            bodies: [[0x0A, 0x40, 0x01], [0xFF]])
        let bad = IncomingChange(
            origin: origin, seq: 2, hlc: HLC(millis: Fixture.wall, counter: 0), record: "R.nonsense",
            bodies: [[0x0A, 0x01, 0x41]])
        let report = try p.apply(
            [change, bad].map(IncomingItem.change), from: Fixture.charity, checkpoint: nil, wallMillis: Fixture.wall
        ).writes
        #expect(report.refused.count == 3)
        #expect(try p.counts().changes == 0)
    }

    @Test(
        "a write stamped far ahead is parked, not applied; the checkpoint advances; it applies once time catches up, with a new local seq"
    )
    func parked() throws {
        let dir = TempDir()
        let (p, h, _) = try network(dir)
        let hour: UInt64 = 3_600_000
        try h.write(Fixture.referral(1), [(.routingUrgency, Fixture.text("urgent"))], wallMillis: Fixture.wall + hour)
        try h.write(Fixture.referral(2), [(.routingUrgency, Fixture.text("soon"))], wallMillis: Fixture.wall + hour)
        let report = try p.pull(from: h, wall: Fixture.wall)
        #expect(report.parked == 2 && report.applied == 0)
        #expect(try p.counts().parked == 2)
        #expect(try p.checkpoint(peer: Fixture.hub, incarnation: h.nodeState().incarnation) == 2)
        #expect(try p.releaseParked(wallMillis: Fixture.wall + 60_000) == 0)
        #expect(try p.releaseParked(wallMillis: Fixture.wall + hour) == 2)
        #expect(try p.counts().parked == 0)
        #expect(try p.referrals().count == 2)
        #expect(try p.lastLocalSeq() == 2)
    }

    // Seed 899: a charity held a referral's writes parked (the hub's clock ran ahead); the hub was
    // restored, and the charity's HOLDING did not list them, so the restored hub never narrowed them
    // and they joined the charity's state after the referral had been re-addressed away.
    @Test("a referral whose writes from a peer are only parked is listed among the records held through that peer")
    func parkedRecordsAreHoldings() throws {
        let dir = TempDir()
        let (_, h, c) = try network(dir)
        let hour: UInt64 = 3_600_000
        try h.write(Fixture.referral(2), [(.routingUrgency, Fixture.text("soon"))], wallMillis: Fixture.wall)
        try h.write(
            Fixture.referral(1),
            [(.routingService, Fixture.text(Fixture.service.rawValue)), (.routingUrgency, Fixture.text("soon"))],
            wallMillis: Fixture.wall + hour)
        let report = try c.pull(from: h, wall: Fixture.wall)
        #expect(report.parked == 2 && report.applied == 1)
        #expect(try c.referrals().map(\.id) == [Fixture.referral(2).rawValue])
        #expect(try c.recordsHeld(through: Fixture.hub) == [Fixture.referral(1), Fixture.referral(2)])
        #expect(try c.recordsHeld(through: Fixture.practice) == [])
        // The hub is a party to both: it lists neither, parked or not.
        #expect(try h.recordsHeld(through: Fixture.charity) == [])
    }

    @Test(
        "a node whose clock (HLC) runs further ahead of the wall clock than the bound refuses local writes and says why"
    )
    func clockAhead() throws {
        let dir = TempDir()
        let (p, h, _) = try network(dir)
        try h.write(
            Fixture.referral(1), [(.routingUrgency, Fixture.text("urgent"))], wallMillis: Fixture.wall + 200_000)
        try p.pull(from: h, wall: Fixture.wall)  // within the bound: applied, and p's HLC moves ahead
        do {
            try p.write(
                Fixture.referral(2), [(.routingUrgency, Fixture.text("soon"))], wallMillis: Fixture.wall - 200_000)
            Issue.record("a write was accepted with the HLC 400 s ahead")
        } catch let e as SyncError {
            #expect(e.code == .clockAhead)
            #expect(e.message.contains("ahead"))
        }
        try p.write(Fixture.referral(2), [(.routingUrgency, Fixture.text("soon"))], wallMillis: Fixture.wall)
    }

    @Test(
        "a create and its redaction in one batch leave the same live and winner flags as in two batches, or as written"
    )
    func redactionInTheCreatingBatch() throws {
        let dir = TempDir()
        let (p, h, c) = try network(dir)
        let r = Fixture.referral(1)
        try p.write(
            r, [(.contactGivenName, Fixture.text("Marigold")), (.contactPhone, Fixture.text("07700900777"))],
            wallMillis: Fixture.wall)
        try p.write(r, [(.redaction(.contact), Fixture.text("wrong person"))], wallMillis: Fixture.wall + 1)
        try h.pull(from: p, batch: 100)  // the create and the redaction in one batch
        try c.pull(from: p, batch: 1)  // one change per batch
        func flags(_ store: Store) throws -> [String] {
            try store.writes(of: r).map {
                "\($0.write.id) live=\($0.live) winner=\($0.winner) value=\($0.write.value != nil)"
            }
            .sorted()
        }
        let written = try flags(p)
        #expect(written.contains { $0.contains("contact.phone live=false winner=false value=false") }, "\(written)")
        #expect(try flags(h) == written)
        #expect(try flags(c) == written)
    }

    // Seed 8488: a charity held a hub's redaction parked (the hub's clock ran ahead) beside the
    // write it stripped, and relayed the stripped write alone; the hub, restored from a backup, had
    // lost the redaction, so two nodes kept the write without its value for good while the practice
    // showed it. A stripped copy now takes the value from a copy that has it, unless a redaction
    // held kills it.
    @Test(
        "a write received stripped without the redaction that stripped it takes its value from a full copy, and loses it again when the redaction arrives"
    )
    func strippedCopyWithoutItsRedaction() throws {
        let dir = TempDir()
        let (p, h, c) = try network(dir)
        let r = Fixture.referral(1)
        try p.write(r, [(.contactPhone, Fixture.text("07700900777"))], wallMillis: Fixture.wall)
        try h.pull(from: p)
        try h.write(r, [(.redaction(.contact), Fixture.text("wrong person"))], wallMillis: Fixture.wall + 1)
        func phone(_ store: Store) throws -> StoredWrite? {
            try store.writes(of: r).first { $0.write.field == .contactPhone }
        }
        #expect(try phone(h)?.write.value == nil)
        // The charity gets the hub's stripped copy in one batch and not the redaction after it.
        try c.pull(from: h, batch: 1, batches: 1)
        let stripped = try #require(try phone(c))
        #expect(stripped.write.value == nil)
        // The practice's copy has the value and no redaction here kills it: the value comes back,
        // logged again so that the charity's own peers are sent it.
        let report = try c.pull(from: p)
        #expect(report.applied == 1)
        let restored = try #require(try phone(c))
        #expect(restored.write.text == "07700900777")
        #expect(restored.live && restored.winner)
        #expect(restored.localSeq > stripped.localSeq)
        #expect(try c.changes(after: stripped.localSeq, limit: 10).map(\.write.id) == [restored.write.id])
        // The redaction arrives: stripped again, here and on disk.
        try c.pull(from: h)
        #expect(try phone(c)?.write.value == nil)
        #expect(try phone(c)?.live == false)
        // A node that holds the redaction keeps the write stripped, whatever copy comes.
        let d = try Store.signed(at: dir.file("d.sqlite"), node: Fixture.charity2)
        try d.pull(from: h)
        #expect(try d.pull(from: p).applied == 0)
        #expect(try phone(d)?.write.value == nil)
        for (store, name) in [(c, "c.sqlite"), (d, "d.sqlite")] {
            try store.pool.writeWithoutTransaction { db in _ = try db.checkpoint(.truncate) }
            let bytes = try Data(contentsOf: URL(fileURLWithPath: dir.file(name)))
            #expect(bytes.range(of: Data("07700900777".utf8)) == nil, "\(name) still holds the redacted phone")
        }
    }

    @Test(
        "a redaction strips values from the state and the change log, on disk; a later write that knew of it keeps its value"
    )
    func redactionOnDisk() throws {
        let dir = TempDir()
        let (p, h, _) = try network(dir)
        let r = Fixture.referral(1)
        try p.write(
            r, [(.contactPhone, Fixture.text("07700900777")), (.contactEmail, Fixture.text("pat@example.org"))],
            wallMillis: Fixture.wall)
        try h.pull(from: p)
        try h.write(
            r, [(.redaction(.contact), Fixture.text("entered for the wrong person"))], wallMillis: Fixture.wall + 1)
        try p.pull(from: h)
        try p.write(r, [(.contactPhone, Fixture.text("07700900888"))], wallMillis: Fixture.wall + 2)
        for store in [p, h] {
            try store.pull(from: store === p ? h : p)
            let phones = try store.writes(of: r).filter { $0.write.field == .contactPhone }
            #expect(phones.filter { $0.write.value == nil }.count == 1)
            #expect(phones.first { $0.winner }?.write.text == "07700900888")
            try store.pool.writeWithoutTransaction { db in _ = try db.checkpoint(.truncate) }
        }
        for name in ["p.sqlite", "h.sqlite"] {
            let bytes = try Data(contentsOf: URL(fileURLWithPath: dir.file(name)))
            #expect(bytes.range(of: Data("07700900777".utf8)) == nil, "\(name) still holds the redacted phone")
            #expect(bytes.range(of: Data("pat@example.org".utf8)) == nil, "\(name) still holds the redacted email")
        }
    }

    @Test(
        "backup and restore: same data, a new incarnation, seqs start again under it, a rolled-back store refuses writes"
    )
    func backupRestore() throws {
        let dir = TempDir()
        let (p, _, _) = try network(dir)
        try p.write(Fixture.referral(1), [(.routingUrgency, Fixture.text("soon"))], wallMillis: Fixture.wall)
        try p.backup(to: dir.file("backup.sqlite"))
        #expect(throws: SyncError.self) { try p.backup(to: dir.file("backup.sqlite")) }
        try p.write(Fixture.referral(2), [(.routingUrgency, Fixture.text("soon"))], wallMillis: Fixture.wall)
        let old = try p.nodeState()
        try p.markRolledBack(wallMillis: Fixture.wall, evidence: Fixture.hub.rawValue, proof: nil)
        #expect(throws: SyncError.self) {
            try p.write(Fixture.referral(3), [(.routingUrgency, Fixture.text("soon"))], wallMillis: Fixture.wall)
        }
        try p.pool.close()
        #expect(throws: SyncError.self) {
            try Store.restore(
                from: dir.file("backup.sqlite"), to: dir.file("p.sqlite"), expecting: Fixture.hub,
                wallMillis: Fixture.wall)
        }
        let inc = try Store.restore(
            from: dir.file("backup.sqlite"), to: dir.file("p.sqlite"), expecting: Fixture.practice,
            wallMillis: Fixture.wall + 5)
        let restored = try Store.openSigned(
            at: dir.file("p.sqlite"), node: Fixture.practice, wallMillis: Fixture.wall + 6)
        let state = try restored.nodeState()
        #expect(state.incarnation == inc && inc != old.incarnation)
        #expect(state.rolledBackAt == nil)
        #expect(try restored.referrals().count == 1)
        let next = try restored.write(
            Fixture.referral(3), [(.routingUrgency, Fixture.text("soon"))], wallMillis: Fixture.wall + 6)
        #expect(next.seq == 1 && next.origin.incarnation == inc)
        #expect(FileManager.default.fileExists(atPath: dir.file("p.sqlite.replaced-\(Fixture.wall + 5)")))
    }
}

/// A small seeded generator for store scenarios.
struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    mutating func below(_ n: Int) -> Int { Int(next() % UInt64(n)) }
}
