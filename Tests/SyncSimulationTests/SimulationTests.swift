import Foundation
import SpsyncTestSupport
import SyncCore
import SyncProtocol
import SyncSimulation
import SyncStore
import Testing

@Suite("deterministic simulator")
struct SimulationTests {
    @Test(
        "fixed seeds converge under loss, duplication, reordering, partitions, crashes, restore and a fast clock",
        arguments: [1, 2, 3, 4, 5, 6] as [UInt64])
    func fixedSeeds(seed: UInt64) {
        let report = Simulation.run(.init(seed: seed, steps: 100))
        #expect(report.failures == [], "replay: spsync-sim --seed \(seed)")
    }

    // The regression seeds below were found with the workload as it was before it moved onto the
    // domain API (session 8, issue 12): its draws changed then, so these seeds no longer replay
    // the traces that found each bug. Each store or protocol bug among them has a named scenario in
    // `ScenarioTests` that does; the seeds stay as more seeds of the current workload.
    //
    // Seeds 2, 5, 6 and 8 once crashed the simulator: a frame lost while dialing closed the
    // connection before the second side had started, and `start` trapped. Kept as regressions.
    @Test("regression: a connection cut before the second side starts", arguments: [2, 5, 6, 8] as [UInt64])
    func regressionSeeds(seed: UInt64) {
        let report = Simulation.run(.init(seed: seed, steps: 120, forgeries: false))
        #expect(report.failures == [], "replay: spsync-sim --seed \(seed)")
    }

    // Seeds 755 and 925 (found by `spsync-sim --seeds 2000`): a hub restored from a backup older
    // than a referral ignored the charity's HOLDING of it, so the charity kept data of a referral
    // re-addressed away. A HOLDING record the server does not hold is now narrowed.
    @Test("regression: HOLDING of a record the restored server does not hold", arguments: [755, 925] as [UInt64])
    func regressionHoldingUnknown(seed: UInt64) {
        // Without forgeries: the history exactly as it was when the seed failed.
        let report = Simulation.run(.init(seed: seed, steps: 120, forgeries: false))
        #expect(report.failures == [], "replay: spsync-sim --seed \(seed)")
    }

    // Seed 899: the hub's clock ran ahead, so a charity parked the hub's writes of a referral; the hub
    // was restored from its first backup, and the charity's HOLDING listed only stored writes, so the
    // parked ones joined its state once their time came, after the referral was re-addressed away.
    @Test("regression: parked writes are listed in HOLDING", arguments: [899] as [UInt64])
    func regressionParkedHolding(seed: UInt64) {
        let report = Simulation.run(.init(seed: seed, steps: 120))
        #expect(report.failures == [], "replay: spsync-sim --seed \(seed)")
    }

    // Seeds 2781, 3213 and 8488 (the second 10,000-seed run): a restored hub's NARROW of a record it
    // did not hold purged its own last copies at a charity (`restoredHubGetsItsWritesBack`); a write
    // relayed stripped without the redaction that stripped it stayed stripped where the redaction
    // was lost (`strippedCopyWithoutItsRedaction`).
    @Test(
        "regression: a restored server's HOLDING answers and stripped writes",
        arguments: [2781, 3213, 8488] as [UInt64])
    func regressionRestoredHoldingAndStripped(seed: UInt64) {
        let report = Simulation.run(.init(seed: seed, steps: 120))
        #expect(report.failures == [], "replay: spsync-sim --seed \(seed)")
    }

    // Seeds 29 and 141: a practice restored from its first backup re-addressed a referral; its write
    // did not name the hub's write that the practice's old incarnation had replaced, so a charity
    // holding that write kept it live (decision 32; the scenario `restoredPracticeReaddresses`).
    @Test(
        "regression: a restored practice's write covers what its old incarnation replaced",
        arguments: [29, 141] as [UInt64])
    func regressionTransitiveContext(seed: UInt64) {
        let report = Simulation.run(.init(seed: seed, steps: 120))
        #expect(report.failures == [], "replay: spsync-sim --seed \(seed)")
    }

    // Seeds 1 and 3 between them make every kind of attack; the test checks that they still do,
    // so a change to the simulator that drops one shows here instead of testing less.
    @Test(
        "tampered nodes' attacks — unauthorised writes; other origins' writes replayed, altered, stripped of their signature or forged; made-up incarnations; false HELLO claims — are refused everywhere, lock nobody, and honest writes converge"
    )
    func attacks() {
        var made: [Attack: Int] = [:]
        var refused: [Attack: Int] = [:]
        var keyRefusals = 0
        var claims = 0
        var audited = 0
        for seed in [1, 3] as [UInt64] {
            let report = Simulation.run(.init(seed: seed, steps: 120))
            #expect(report.failures == [], "replay: spsync-sim --seed \(seed)")
            #expect(report.locked == [], "replay: spsync-sim --seed \(seed)")
            made.merge(report.attacks, uniquingKeysWith: +)
            refused.merge(report.refusalsByAttack, uniquingKeysWith: +)
            keyRefusals += report.keyRefusals
            claims += report.helloClaims
            audited += report.falseClaims
        }
        for attack in Attack.allCases {
            #expect(made[attack, default: 0] > 0, "no \(attack) attack in these seeds")
            #expect(refused[attack, default: 0] > 0, "no \(attack) write reached another node")
        }
        #expect(keyRefusals > 0, "no made-up incarnation's key binding was refused")
        #expect(claims > 0, "no tampered node lied in its HELLO")
        #expect(audited > 0, "no false claim was audited")
    }

    @Test("the same seed prints the same trace")
    func replay() {
        let a = Simulation.run(.init(seed: 11, steps: 60))
        let b = Simulation.run(.init(seed: 11, steps: 60))
        #expect(a.trace == b.trace)
        #expect(a.trace.count > 60)
    }
}

/// The design's named scenarios (DESIGN.md, Testing), each on real SQLite stores and sessions.
@Suite("named scenarios")
struct ScenarioTests {
    final class Net {
        let dir = NSTemporaryDirectory() + "spsync-scenario-" + UUID().uuidString
        var now: UInt64 = 1_780_000_000_000
        var p: Store!
        var h: Store!
        var c: Store!
        var c2: Store!
        var accepted: [WriteID] = []
        var service: RecordID!
        var service2: RecordID!
        var hubAhead: UInt64 = 0
        var n: UInt64 = 0
        /// Sessions accept each node's genuine key, whoever relays it, as in the simulator.
        let keyPolicy: SimulatedNetworkCA

        init() throws {
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            let nodes = try ["A81001", "U12345", "GB-CHC-1234567", "GB-SC-SC012345"].map { try NodeID($0) }
            keyPolicy = SimulatedNetworkCA(
                certificates: Dictionary(uniqueKeysWithValues: nodes.map { ($0, TestKeys.identity($0).certificateDER) })
            )
            p = try Store.signed(at: dir + "/p", node: nodes[0], wallMillis: now)
            h = try Store.signed(at: dir + "/h", node: nodes[1], wallMillis: now)
            c = try Store.signed(at: dir + "/c", node: nodes[2], wallMillis: now)
            c2 = try Store.signed(at: dir + "/c2", node: nodes[3], wallMillis: now)
            service = try RecordID.service(owner: NodeID("GB-CHC-1234567"), uuid: uuid())
            service2 = try RecordID.service(owner: NodeID("GB-SC-SC012345"), uuid: uuid())
            try write(c, service, [(.serviceName, FieldValue.text("Walking group"))])
            try write(c2, service2, [(.serviceName, FieldValue.text("Debt advice"))])
        }

        deinit { try? FileManager.default.removeItem(atPath: dir) }

        func uuid() -> UUIDv7 {
            n += 1
            return UUIDv7(millis: now, random: (n, n &* 31))
        }

        func wall(_ s: Store) -> UInt64 { s === h ? now + hubAhead : now }

        @discardableResult
        func write(_ s: Store, _ r: RecordID, _ values: [(FieldKey, [UInt8])]) throws -> ChangeRef {
            now += 1
            let ref = try s.write(r, values, wallMillis: wall(s))
            accepted += values.map { WriteID(origin: ref.origin, seq: ref.seq, field: $0.0) }
            return ref
        }

        func sync(_ a: Store, _ b: Store) throws {
            now += 1
            let o = try MemorySync.sync(a, b, nowMillis: wall(a), keyPolicy: keyPolicy)
            #expect(o.clean, "\(String(describing: o.aReason)) \(String(describing: o.bReason))")
        }

        /// Syncs every link (practice–hub, charities–hub, practice–charity direct) twice.
        func settle() throws {
            for _ in 0..<2 { for (a, b) in [(p!, h!), (c!, h!), (c2!, h!), (p!, c!)] { try sync(a, b) } }
        }

        func referral(consent explicit: Bool = true) throws -> RecordID {
            let r = try RecordID.referral(practice: NodeID("A81001"), pcn: NodeID("U12345"), uuid: uuid())
            let consent = Consent(basis: explicit ? "explicit" : "implied", recordedBy: "A81001", at: now)
            try write(
                p, r,
                [
                    (.routingService, FieldValue.text(service.rawValue)), (.consent, FieldValue.json(consent)),
                    (.contactPhone, FieldValue.text("07700 900123")),
                    (.clinicalNHSNumber, FieldValue.text("9434765919")),
                    (.progressEvents, FieldValue.json(ProgressEvent(event: "referred"))),
                ])
            return r
        }

        func event(_ kind: String, _ s: RecordID) -> [UInt8] {
            FieldValue.json(ProgressEvent(event: kind, service: s.rawValue))
        }

        func failures() throws -> [String] { try Checks.verify([p, h, c, c2], accepted: accepted) }
    }

    @Test("a charity records an event while its referral is re-addressed away: the event survives")
    func eventWhileReaddressed() throws {
        let net = try Net()
        let r = try net.referral()
        try net.settle()
        let event = try net.write(net.c, r, [(.progressEvents, net.event("accepted", net.service))])
        try net.write(net.h, r, [(.routingService, FieldValue.text(net.service2.rawValue))])
        try net.settle()
        for s in [net.p!, net.h!, net.c!] {
            #expect(try s.writes(of: r).contains { $0.write.change == event }, "\(s.path)")
        }
        #expect(try net.c.writes(of: r).allSatisfy { $0.write.origin.node.rawValue == "GB-CHC-1234567" })
        #expect(try net.failures() == [])
    }

    @Test("a charity's referral re-addressed away and back: it holds its own events and the referral again")
    func awayAndBack() throws {
        let net = try Net()
        let r = try net.referral()
        try net.settle()
        let event = try net.write(net.c, r, [(.progressEvents, net.event("received", net.service))])
        try net.write(net.h, r, [(.routingService, FieldValue.text(net.service2.rawValue))])
        try net.settle()
        try net.write(net.p, r, [(.routingService, FieldValue.text(net.service.rawValue))])
        try net.settle()
        let held = try net.c.writes(of: r)
        #expect(held.contains { $0.write.change == event })
        #expect(held.contains { $0.write.field == .contactPhone })
        #expect(try net.c.referral(r).status == "received")
        #expect(try net.failures() == [])
    }

    @Test(
        "a routing write replaced before a charity first saw the record reaches it late by another path: it stays dead")
    func lateReplacedRouting() throws {
        let net = try Net()
        let r = try net.referral()
        try net.sync(net.p, net.h)
        let replacing = try net.write(net.h, r, [(.routingService, FieldValue.text(net.service.rawValue))])
        try net.sync(net.c, net.h)  // the charity first sees the record with the replacing write only
        try net.sync(net.p, net.c)  // the practice, not yet told, sends its replaced write directly
        let live = try net.c.live(r, .routingService)
        #expect(live.map(\.write.change) == [replacing])
        try net.settle()
        #expect(try net.failures() == [])
    }

    @Test("a charity writes an event after its referral was re-addressed: valid everywhere, ignored by the fold")
    func eventAfterReaddress() throws {
        let net = try Net()
        let r = try net.referral()
        try net.settle()
        try net.write(net.h, r, [(.routingService, FieldValue.text(net.service2.rawValue))])
        let late = try net.write(net.c, r, [(.progressEvents, net.event("accepted", net.service))])
        try net.settle()
        for s in [net.p!, net.h!] {
            #expect(try s.writes(of: r).contains { $0.write.change == late })
            #expect(try s.referral(r).status == "referred")
            #expect(try s.counts().refused == 0)
        }
        #expect(try net.failures() == [])
    }

    @Test("a practice restored from an older backup: no seq reused, nothing lost")
    func restoredPractice() throws {
        let net = try Net()
        let r = try net.referral()
        try net.settle()
        try net.p.backup(to: net.dir + "/p.bak")
        let after = try net.write(net.p, r, [(.routingUrgency, FieldValue.text("urgent"))])
        try net.settle()
        let oldIncarnation = try net.p.nodeState().incarnation
        net.p = nil
        try Store.restore(
            from: net.dir + "/p.bak", to: net.dir + "/p", expecting: NodeID("A81001"), wallMillis: net.now)
        net.p = try Store.openSigned(at: net.dir + "/p", node: NodeID("A81001"), wallMillis: net.now)
        #expect(try net.p.nodeState().incarnation != oldIncarnation)
        try net.settle()
        #expect(try net.p.writes(of: r).contains { $0.write.change == after })
        let next = try net.write(net.p, r, [(.routingUrgency, FieldValue.text("soon"))])
        #expect(next.origin.incarnation != oldIncarnation)
        try net.settle()
        #expect(try net.h.live(r, .routingUrgency).map(\.write.change) == [next])
        #expect(try net.failures() == [])
    }

    // Seeds 29 and 141 (and 117 on older code): the restored practice's new write covered only the
    // old incarnation's write it had been given back, not the hub's write that one had replaced, so
    // the charity that still held the hub's write, and was never sent the dead write between them,
    // kept it live beside the new one (a conflict nobody else saw).
    @Test(
        "a restored practice re-addresses a referral to a charity holding a routing write since replaced: it dies there too"
    )
    func restoredPracticeReaddresses() throws {
        let net = try Net()
        try net.p.backup(to: net.dir + "/p.bak")  // before the referral: the restore forgets all of it
        let r = try net.referral()
        try net.sync(net.p, net.h)
        let stale = try net.write(net.h, r, [(.routingService, FieldValue.text(net.service2.rawValue))])
        try net.sync(net.c2, net.h)  // the second charity holds the hub's write, live
        try net.sync(net.p, net.h)
        // The practice replaces it; its write reaches the first charity (the new target) only.
        let replacing = try net.write(net.p, r, [(.routingService, FieldValue.text(net.service.rawValue))])
        try net.sync(net.p, net.c)
        net.p = nil
        try Store.restore(
            from: net.dir + "/p.bak", to: net.dir + "/p", expecting: NodeID("A81001"), wallMillis: net.now)
        net.p = try Store.openSigned(at: net.dir + "/p", node: NodeID("A81001"), wallMillis: net.now)
        // The charity gives the practice its old incarnation's write back, but never held the hub's.
        try net.sync(net.p, net.c)
        #expect(try net.p.writes(of: r).contains { $0.write.change == replacing })
        #expect(!(try net.p.writes(of: r).contains { $0.write.change == stale }))
        let readdress = try net.write(net.p, r, [(.routingService, FieldValue.text(net.service2.rawValue))])
        try net.settle()
        for s in [net.p!, net.h!, net.c2!] {
            #expect(try s.live(r, .routingService).map(\.write.change) == [readdress], "\(s.path)")
            #expect(try s.conflicts().allSatisfy { $0.record != r.rawValue }, "\(s.path)")
        }
        #expect(try net.failures() == [])
    }

    // Seed 2781: the hub wrote a referral that only a charity received, then was restored from a
    // backup older than it. The charity's HOLDING listed the referral; the restored hub, not holding
    // it, narrowed it, and the charity purged the hub's writes — their last copies — before sending
    // them back. The hub now defers such a record and decides it once its writes come back.
    @Test(
        "a hub restored from before a referral it wrote that only a charity received: the charity's HOLDING purges nothing, the writes come back, and the hub still narrows the charity later"
    )
    func restoredHubGetsItsWritesBack() throws {
        let net = try Net()
        try net.h.backup(to: net.dir + "/h.bak")
        let r = try RecordID.referral(practice: NodeID("A81001"), pcn: NodeID("U12345"), uuid: net.uuid())
        let consent = Consent(basis: "explicit", recordedBy: "U12345", at: net.now)
        let made = try net.write(
            net.h, r,
            [
                (.routingService, FieldValue.text(net.service.rawValue)), (.consent, FieldValue.json(consent)),
                (.contactPhone, FieldValue.text("07700 900321")),
                (.progressEvents, FieldValue.json(ProgressEvent(event: "referred"))),
            ])
        try net.sync(net.c, net.h)  // only the charity receives it
        #expect(try net.c.writes(of: r).contains { $0.write.field == .contactPhone })
        net.h = nil
        try Store.restore(
            from: net.dir + "/h.bak", to: net.dir + "/h", expecting: NodeID("U12345"), wallMillis: net.now)
        net.h = try Store.openSigned(at: net.dir + "/h", node: NodeID("U12345"), wallMillis: net.now)
        try net.sync(net.c, net.h)
        #expect(try net.c.tombstones().isEmpty)
        #expect(try net.c.writes(of: r).filter { $0.write.change == made }.count == 4)
        try net.sync(net.c, net.h)
        #expect(try net.h.writes(of: r).filter { $0.write.change == made }.count == 4)
        try net.write(net.h, r, [(.routingService, FieldValue.text(net.service2.rawValue))])
        try net.settle()
        #expect(!(try net.c.writes(of: r).contains { $0.write.field == .contactPhone }))
        #expect(try net.failures() == [])
    }

    // Seeds 755 and 925 with the rule of seed 2781: the restored hub defers the charity's HOLDING of a
    // referral it lost; the practice re-addresses the referral away and the hub learns of it from the
    // practice, not from the charity. Its first decision about the record for the charity must be
    // the listed one, a NARROW of every class: its ledger (from the backup) says the charity holds
    // nothing of it, so an ordinary decision would narrow nothing.
    @Test(
        "a record the restored hub deferred and then learns from the practice, re-addressed away, is narrowed at the charity that listed it"
    )
    func deferredRecordLearntFromThePractice() throws {
        let net = try Net()
        try net.h.backup(to: net.dir + "/h.bak")
        let r = try net.referral()
        try net.settle()
        #expect(try net.c.writes(of: r).contains { $0.write.field == .contactPhone })
        net.h = nil
        try Store.restore(
            from: net.dir + "/h.bak", to: net.dir + "/h", expecting: NodeID("U12345"), wallMillis: net.now)
        net.h = try Store.openSigned(at: net.dir + "/h", node: NodeID("U12345"), wallMillis: net.now)
        // The charity's writes of the record came from the hub and the practice; it lists the record.
        #expect(try net.c.recordsHeld(through: NodeID("U12345")) == [r])
        let readdress = try net.write(net.p, r, [(.routingService, FieldValue.text(net.service2.rawValue))])
        // The charity meets the restored hub first, before the hub knows the record again: deferred.
        try net.sync(net.c, net.h)
        #expect(try net.c.writes(of: r).contains { $0.write.field == .contactPhone })
        try net.sync(net.p, net.h)
        #expect(try net.h.live(r, .routingService).map(\.write.change) == [readdress])
        try net.sync(net.c, net.h)
        #expect(!(try net.c.writes(of: r).contains { $0.write.field == .contactPhone }))
        #expect(try net.c.tombstones().contains { $0.record == r && $0.dataClass == .contact })
        try net.settle()
        #expect(try net.failures() == [])
    }

    @Test("a hub whose clock runs nine minutes ahead withdraws consent: contact leaves the charity, nothing is lost")
    func fastHubWithdrawsConsent() throws {
        let net = try Net()
        let r = try net.referral(consent: true)
        try net.settle()
        #expect(try net.c.writes(of: r).contains { $0.write.field == .contactPhone })
        net.hubAhead = 9 * 60 * 1000
        let withdrawal = Consent(basis: "explicit", recordedBy: "U12345", at: net.now, withdrawnAt: net.now)
        try net.write(net.h, r, [(.consent, FieldValue.json(withdrawal))])
        try net.settle()
        // Parked at the practice and the charity (stamped beyond the skew bound), but the hub's
        // NARROW has already taken the contact details from the charity.
        #expect(try net.c.counts().parked == 1)
        #expect(!(try net.c.writes(of: r).contains { $0.write.field == .contactPhone }))
        net.now += 10 * 60 * 1000
        for s in [net.p!, net.c!, net.c2!] { try s.releaseParked(wallMillis: net.now) }
        try net.settle()
        #expect(!(try net.c.writes(of: r).contains { $0.write.field == .contactPhone }))
        #expect(try net.failures() == [])
    }
}
