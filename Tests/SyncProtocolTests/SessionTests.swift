import Foundation
import SpsyncTestSupport
import SyncCore
import SyncProtocol
import SyncSimulation
import SyncStore
import Testing

@Suite("sessions between stores")
struct SessionTests {
    /// Stores of a practice, its hub and two charities, each signing with its own key; they learn
    /// each other's keys in their sessions.
    func stores(_ dir: TempDir) throws -> (p: Store, h: Store, c: Store, c2: Store) {
        (
            try Store.signed(at: dir.file("p"), node: Fixture.practice),
            try Store.signed(at: dir.file("h"), node: Fixture.hub),
            try Store.signed(at: dir.file("c"), node: Fixture.charity),
            try Store.signed(at: dir.file("c2"), node: Fixture.charity2)
        )
    }

    func fields(_ s: Store, _ r: RecordID) throws -> Set<String> {
        Set(try s.writes(of: r).map(\.write.field.rawValue))
    }

    @Test("a referral reaches its hub whole and its target charity without clinical or withheld contact")
    func filtering() throws {
        let dir = TempDir(prefix: "spsync-proto-")
        let (p, h, c, c2) = try stores(dir)
        try c.write(Fixture.service, [(.serviceName, Fixture.text("Walk"))], wallMillis: Fixture.wall)
        let r = Fixture.referral(1)
        try p.write(
            r,
            [
                (.routingService, Fixture.text(Fixture.service.rawValue)), (.consent, Fixture.consent(explicit: false)),
                (.contactPhone, Fixture.text("07700900123")), (.clinicalNHSNumber, Fixture.text("9434765919")),
            ], wallMillis: Fixture.wall)
        for _ in 0..<2 {
            for (a, b) in [(p, h), (c, h), (c2, h)] {
                #expect(try MemorySync.sync(a, b, nowMillis: Fixture.wall).clean)
            }
        }
        #expect(try fields(h, r) == ["routing.service", "consent.consent", "contact.phone", "clinical.nhsNumber"])
        #expect(try fields(c, r) == ["routing.service", "consent.consent"])
        #expect(throws: SyncError.self) { try c2.writes(of: r) }
        #expect(try p.services(wallMillis: Fixture.wall).count == 1)

        // Explicit consent widens the charity's view to contact; withdrawal narrows it again.
        try h.write(r, [(.consent, Fixture.consent(explicit: true))], wallMillis: Fixture.wall + 1)
        #expect(try MemorySync.sync(c, h, nowMillis: Fixture.wall + 1).clean)
        #expect(try fields(c, r).contains("contact.phone"))
        try p.write(r, [(.consent, Fixture.consent(explicit: true, withdrawn: true))], wallMillis: Fixture.wall + 2)
        #expect(try MemorySync.sync(p, h, nowMillis: Fixture.wall + 2).clean)
        #expect(try MemorySync.sync(c, h, nowMillis: Fixture.wall + 2).clean)
        #expect(!(try fields(c, r).contains("contact.phone")))
        #expect(try c.tombstones().map(\.dataClass) == [.contact])
    }

    @Test("re-addressed away and back: the charity keeps its own event and gets the referral again")
    func awayAndBack() throws {
        let dir = TempDir(prefix: "spsync-proto-")
        let (p, h, c, c2) = try stores(dir)
        let r = Fixture.referral(2)
        try p.write(r, [(.routingService, Fixture.text(Fixture.service.rawValue))], wallMillis: Fixture.wall)
        for (a, b) in [(p, h), (c, h)] { try MemorySync.sync(a, b, nowMillis: Fixture.wall) }
        let event = ProgressEvent(event: "accepted", service: Fixture.service.rawValue)
        try c.write(r, [(.progressEvents, FieldValue.json(event))], wallMillis: Fixture.wall + 1)
        try h.write(r, [(.routingService, Fixture.text(Fixture.service2.rawValue))], wallMillis: Fixture.wall + 1)
        for (a, b) in [(c, h), (c2, h), (p, h), (c, h)] { try MemorySync.sync(a, b, nowMillis: Fixture.wall + 2) }
        #expect(try fields(c, r) == ["progress.events"])
        #expect(try fields(p, r).contains("progress.events"))
        #expect(try fields(c2, r) == ["routing.service"])
        try p.write(r, [(.routingService, Fixture.text(Fixture.service.rawValue))], wallMillis: Fixture.wall + 3)
        for (a, b) in [(p, h), (c, h), (c2, h)] { try MemorySync.sync(a, b, nowMillis: Fixture.wall + 3) }
        #expect(try fields(c, r) == ["progress.events", "routing.service"])
        #expect(try c.live(r, .routingService).map(\.write.text) == [Fixture.service.rawValue])
        #expect(try c2.writes(of: r).isEmpty)
    }

    // Seed 8488 (with `strippedCopyWithoutItsRedaction` in the store tests): a batch that ends
    // between a stripped write and the redaction that stripped it left the receiver holding a write
    // without its value and nothing to explain it.
    @Test("a write held without its value goes in the same batch as the redaction that stripped it")
    func strippedWriteTravelsWithItsRedaction() throws {
        let dir = TempDir(prefix: "spsync-proto-")
        let (p, h, c, _) = try stores(dir)
        let r = Fixture.referral(3)
        try p.write(
            r,
            [
                (.routingService, Fixture.text(Fixture.service.rawValue)), (.consent, Fixture.consent(explicit: true)),
                (.contactPhone, Fixture.text("07700900123")),
            ], wallMillis: Fixture.wall)
        #expect(try MemorySync.sync(p, h, nowMillis: Fixture.wall).clean)
        let redaction = try h.write(
            r, [(.redaction(.contact), Fixture.text("wrong person"))], wallMillis: Fixture.wall + 1)
        // The hub's log: the practice's three writes (the phone now stripped), then the redaction:
        // batches of one change end between them.
        var limits = Limits.standard
        limits.batchChangesMax = 1
        let builder = BatchBuilder(
            store: h, peer: Fixture.charity, peerIncarnation: try c.nodeState().incarnation, limits: limits)
        let built = try #require(try builder.build(after: 0, resync: []))
        #expect(built.changes.upTo == 3)
        var carried: [IncomingChange] = []
        for item in built.changes.items {
            switch item {
            case .change(let change): carried.append(change)
            case .widen(let widen): carried += widen.changes
            case .narrow: break
            }
        }
        #expect(carried.contains { $0.origin == redaction.origin && $0.seq == redaction.seq })
        #expect(carried.filter { $0.origin == redaction.origin && $0.seq == redaction.seq }.count == 1)
        // The whole session (batches of one change would allow one key binding per batch, fewer
        // than the two origins here): the charity holds the phone stripped, and why.
        #expect(try MemorySync.sync(c, h, nowMillis: Fixture.wall + 2).clean)
        let held = try c.writes(of: r)
        #expect(held.contains { $0.write.field == .contactPhone && $0.write.value == nil && !$0.live })
        #expect(held.contains { $0.write.change == redaction })
    }

    @Test("a rolled-back store is told so, stops local writes, and syncs again after restore")
    func rollback() throws {
        let dir = TempDir(prefix: "spsync-proto-")
        let (p, h, _, _) = try stores(dir)
        try p.write(Fixture.referral(3), [(.routingUrgency, Fixture.text("soon"))], wallMillis: Fixture.wall)
        try p.backup(to: dir.file("p.bak"))
        try p.write(Fixture.referral(3), [(.routingUrgency, Fixture.text("urgent"))], wallMillis: Fixture.wall + 1)
        try MemorySync.sync(p, h, nowMillis: Fixture.wall + 1)
        // A copy of the old file put back in place (not `spsync restore`): same incarnation, lower seq.
        let old = try Store.openSigned(at: dir.file("p.bak"), node: Fixture.practice)
        let outcome = try MemorySync.sync(old, h, nowMillis: Fixture.wall + 2)
        #expect(
            outcome.aReason
                == .localError(
                    ProtocolError(
                        .rolledBack,
                        outcome.aReason.map { r in
                            if case .localError(let e) = r { return e.detail } else { return "" }
                        } ?? "")))
        #expect(try old.nodeState().rolledBackAt != nil)
        #expect(throws: SyncError.self) {
            try old.write(Fixture.referral(3), [(.routingUrgency, Fixture.text("x"))], wallMillis: Fixture.wall + 3)
        }
        try Store.restore(
            from: dir.file("p.bak"), to: dir.file("p2"), expecting: Fixture.practice, wallMillis: Fixture.wall + 4)
        let restored = try Store.openSigned(at: dir.file("p2"), node: Fixture.practice, wallMillis: Fixture.wall + 4)
        #expect(try MemorySync.sync(restored, h, nowMillis: Fixture.wall + 5).clean)
        #expect(try restored.live(Fixture.referral(3), .routingUrgency).map(\.write.text) == ["urgent"])
    }

    @Test("a HELLO claiming more of this node's changes than it made is audited as a false claim and locks nothing")
    func falseClaim() throws {
        let dir = TempDir(prefix: "spsync-proto-")
        let (p, h, _, _) = try stores(dir)
        try p.write(Fixture.referral(4), [(.routingUrgency, Fixture.text("soon"))], wallMillis: Fixture.wall)
        let own = try p.nodeState()
        let driver = try SessionDriver(store: p, peer: Fixture.hub, mode: .oneShot)
        _ = driver.start(nowMillis: Fixture.wall)
        let hub = try h.nodeState()
        let claim = Hello(
            schemaVersion: UInt32(Store.schemaVersion), node: Fixture.hub, incarnation: hub.incarnation,
            heldOfYou: [own.incarnation: own.lastSeq + 1000], software: "a liar", wallMillis: Fixture.wall,
            mode: .oneShot, lastSeq: hub.lastSeq)
        let out = driver.receive(Message.hello(claim).frame, nowMillis: Fixture.wall)
        #expect(!driver.isClosed, "the session goes on")
        #expect(out.contains { (try? Message(frame: $0))?.type == .pull })
        #expect(driver.statistics.falseClaims == 1)
        #expect(try p.nodeState().rolledBackAt == nil)
        #expect(try p.counts().falseClaims == 1)
        try p.write(Fixture.referral(4), [(.routingUrgency, Fixture.text("urgent"))], wallMillis: Fixture.wall + 1)
        #expect(try MemorySync.sync(p, h, nowMillis: Fixture.wall + 2).clean)
    }

    @Test("an initial sync in many batches keeps the window and lands every write")
    func manyBatches() throws {
        let dir = TempDir(prefix: "spsync-proto-")
        let (p, h, _, _) = try stores(dir)
        for i in 0..<300 {
            try p.write(
                Fixture.referral(UInt64(i)), [(.routingUrgency, Fixture.text("soon"))], wallMillis: Fixture.wall)
        }
        var limits = Limits()
        limits.batchChangesMax = 7
        limits.windowBatches = 2
        let o = try MemorySync.sync(h, p, nowMillis: Fixture.wall, limits: limits)
        #expect(o.clean)
        #expect(o.a.applied == 300)
        #expect(o.b.batchesOut >= 300 / 7)
        #expect(try MemorySync.sync(h, p, nowMillis: Fixture.wall, limits: limits).a.writesIn == 0)
    }
}

@Suite("batches at the limits")
struct BatchLimitTests {
    @Test("a WIDEN larger than its half of a frame goes in parts and lands whole")
    func widenInParts() throws {
        let dir = TempDir(prefix: "spsync-proto-")
        let p = try Store.signed(at: dir.file("p"), node: Fixture.practice)
        let h = try Store.signed(at: dir.file("h"), node: Fixture.hub)
        let c = try Store.signed(at: dir.file("c"), node: Fixture.charity)
        try c.write(Fixture.service, [(.serviceName, Fixture.text("Walk"))], wallMillis: Fixture.wall)
        let r = Fixture.referral(7)
        // Addressed first to another charity's service: nothing of it goes to this charity.
        try p.write(
            r,
            [(.routingService, Fixture.text(Fixture.service2.rawValue)), (.consent, Fixture.consent(explicit: false))],
            wallMillis: Fixture.wall)
        for i in 0..<40 {
            // Withdrawn and reopened in turn: practice events the charity sees, each one allowed after the last.
            let event = ProgressEvent(
                event: i % 2 == 0 ? "withdrawn" : "reopened",
                reason: "practice note \(i) " + String(repeating: "x", count: 40))
            try p.write(r, [(.progressEvents, FieldValue.json(event))], wallMillis: Fixture.wall + UInt64(i))
        }
        for (a, b) in [(p, h), (c, h)] { #expect(try MemorySync.sync(a, b, nowMillis: Fixture.wall + 100).clean) }
        #expect(throws: SyncError.self) { try c.writes(of: r) }

        // Re-addressed to this charity: the whole visible referral must follow, in 4 KiB frames.
        try h.write(r, [(.routingService, Fixture.text(Fixture.service.rawValue))], wallMillis: Fixture.wall + 200)
        var limits = Limits()
        limits.frameBytesMax = 4096
        let o = try MemorySync.sync(c, h, nowMillis: Fixture.wall + 300, limits: limits)
        #expect(o.clean, "\(String(describing: o.aReason)) \(String(describing: o.bReason))")
        #expect(o.b.batchesOut >= 3, "the hub sent \(o.b.batchesOut) batches")
        let held = try c.writes(of: r)
        #expect(held.filter { $0.write.field == .progressEvents }.count == 40)
        #expect(try c.live(r, .routingService).map(\.write.text) == [Fixture.service.rawValue])
        #expect(!held.contains { $0.write.field.dataClass == .clinical || $0.write.field.dataClass == .contact })
        // Nothing is missing or sent twice: another session moves nothing.
        #expect(try MemorySync.sync(c, h, nowMillis: Fixture.wall + 400, limits: limits).a.writesIn == 0)
    }

    @Test("a peer that keeps losing its checkpoint gets fullResyncsPerPeerPerDayMax whole logs a day, then an ERROR")
    func fullResyncsBounded() throws {
        let dir = TempDir(prefix: "spsync-proto-")
        let p = try Store.signed(at: dir.file("p"), node: Fixture.practice)
        let h = try Store.signed(at: dir.file("h"), node: Fixture.hub)
        for i in 0..<5 {
            try p.write(
                Fixture.referral(UInt64(i)), [(.routingUrgency, Fixture.text("soon"))], wallMillis: Fixture.wall)
        }
        // Copies of the hub before it ever synced: its incarnation, no checkpoint of the practice.
        try h.backup(to: dir.file("h.bak"))
        #expect(try MemorySync.sync(h, p, nowMillis: Fixture.wall).clean)
        // A retry of a first sync that never got an ACK does not count; a PULL from 0 after ACKs does.
        func lostCheckpoint(_ n: Int, at wall: UInt64) throws -> MemorySync.Outcome {
            try FileManager.default.copyItem(atPath: dir.file("h.bak"), toPath: dir.file("h\(n)"))
            return try MemorySync.sync(
                try Store.openSigned(at: dir.file("h\(n)"), node: Fixture.hub), p, nowMillis: wall)
        }
        for n in 1...Limits.standard.fullResyncsPerPeerPerDayMax {
            let o = try lostCheckpoint(n, at: Fixture.wall + UInt64(n) * 60_000)
            #expect(o.clean)
            #expect(o.a.writesIn == 5)
        }
        let refused = try lostCheckpoint(9, at: Fixture.wall + 3_600_000)
        #expect(!refused.clean)
        #expect(refused.a.writesIn == 0)
        guard case .localError(let error) = refused.bReason else {
            Issue.record("the practice did not refuse: \(String(describing: refused.bReason))")
            return
        }
        #expect(error.code == .limitExceeded)
        #expect(error.detail.contains("fullResyncsPerPeerPerDayMax"))
        // A day later the peer is served again; a peer that keeps its checkpoint never counts.
        #expect(try lostCheckpoint(10, at: Fixture.wall + 25 * 3_600_000).a.writesIn == 5)
        for _ in 0..<5 { #expect(try MemorySync.sync(h, p, nowMillis: Fixture.wall + 3_600_000).clean) }
    }
}
