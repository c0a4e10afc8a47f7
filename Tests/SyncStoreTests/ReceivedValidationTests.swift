import Foundation
import SpsyncTestSupport
import SyncCore
import Testing

@_spi(Tampering) @testable import SyncStore

@Suite("received writes and the value rules, and the lifecycle")
struct ReceivedValidationTests {
    /// A practice and its hub that hold each other's keys.
    func pair(_ dir: TempDir) throws -> (practice: Store, hub: Store, charity: Store) {
        let p = try Store.signed(at: dir.file("p.sqlite"), node: Fixture.practice)
        let h = try Store.signed(at: dir.file("h.sqlite"), node: Fixture.hub)
        let c = try Store.signed(at: dir.file("c.sqlite"), node: Fixture.charity)
        try TestKeys.introduceAll([p, h, c])
        return (p, h, c)
    }

    @Test(
        "a peer's write whose value breaks a value rule is refused and audited without its value; the change's good writes apply"
    )
    func invalidValuesRefused() throws {
        let dir = TempDir()
        let (p, h, c) = try pair(dir)
        let r = Fixture.referral(1)
        // The hub writes, as a faulty or older node would, without the value rules; its signature is good.
        let bad: [(FieldKey, String)] = [
            (.contactPhone, "abc;rm -rf"), (.contactEmail, "notanemail"), (.clinicalDateOfBirth, "2026-02-30"),
            (.clinicalDateOfBirth, "2999-01-01"), (.contactGivenName, "Pat\u{1B}[2J"), (.routingNote, "x\r"),
        ]
        for (i, (field, value)) in bad.enumerated() {
            try h.tamperedWrite(
                r, [(.routingUrgency, Fixture.text("soon")), (field, Fixture.text(value))],
                wallMillis: Fixture.wall + UInt64(i))
        }
        try c.tamperedWrite(
            Fixture.service, [(.serviceCapacity, Fixture.capacity(1, Int.max))], wallMillis: Fixture.wall)
        try h.tamperedWrite(r, [(.contactGivenName, [0x50, 0xFF])], wallMillis: Fixture.wall + 10)

        let report = try p.pull(from: h)
        let fromCharity = try p.pull(from: c)
        #expect(report.refused.count == bad.count + 1)
        #expect(report.refused.allSatisfy { $0.code == .invalidValue })
        #expect(report.applied == bad.count, "each change's good write (urgency) applies")
        #expect(fromCharity.refused.map(\.code) == [.invalidValue] && fromCharity.applied == 0)
        let held = try p.writes(of: r).map(\.write.field)
        #expect(Set(held) == [.routingUrgency])
        #expect(throws: SyncError.self) { try p.service(Fixture.service, wallMillis: Fixture.wall) }
        // Audited with ids and the code, never the value.
        let audit = try p.audit(action: "refused")
        #expect(audit.count == bad.count + 2)
        #expect(audit.allSatisfy { $0.code == "invalid_value" })
        let text = audit.map { "\($0)" }.joined()
        for (_, value) in bad { #expect(!text.contains(value)) }
        // The checkpoint moved on: the refusals are final, and a resend changes nothing.
        #expect(try p.pull(from: h).applied == 0)
    }

    @Test(
        "a peer's progress event the table does not allow is stored and relayed but does not count; the status converges"
    )
    func outOfOrderEventFromPeer() throws {
        let dir = TempDir()
        let (p, h, c) = try pair(dir)
        let r = Fixture.referral(2)
        try p.write(
            r,
            [
                (.routingService, Fixture.text(Fixture.service.rawValue)),
                (.progressEvents, FieldValue.json(ProgressEvent(event: "referred"))),
            ], wallMillis: Fixture.wall)
        try h.pull(from: p)
        try c.pull(from: h)
        // The charity's own store refuses completed straight from referred…
        let completed = FieldValue.json(ProgressEvent(event: "completed", service: Fixture.service.rawValue))
        #expect(throws: SyncError.self) {
            try c.write(r, [(.progressEvents, completed)], wallMillis: Fixture.wall + 1)
        }
        // …but a faulty or older node's copy of it is a valid write: received, held, relayed, ignored.
        let ref = try c.tamperedWrite(r, [(.progressEvents, completed)], wallMillis: Fixture.wall + 1)
        try h.pull(from: c)
        try p.pull(from: h)
        for store in [p, h, c] {
            #expect(try store.referral(r).status == "referred")
            #expect(try store.writes(of: r).contains { $0.write.change == ref })
            let fold = StatusFold.fold(
                events: try store.live(r, .progressEvents).map(\.write), currentService: Fixture.service)
            #expect(fold.outOfOrder == [ref])
            #expect(try store.counts().refused == 0)
        }
        // A valid path from there on counts at every node.
        for (i, kind) in ["accepted", "attending", "completed"].enumerated() {
            try c.write(
                r, [(.progressEvents, FieldValue.json(ProgressEvent(event: kind, service: Fixture.service.rawValue)))],
                wallMillis: Fixture.wall + 2 + UInt64(i))
        }
        try h.pull(from: c)
        try p.pull(from: h)
        for store in [p, h, c] { #expect(try store.referral(r).status == "completed") }
    }

    @Test("two local commands cannot both record an event on the same state: the check runs inside the write")
    func lifecycleInsideTheTransaction() throws {
        let dir = TempDir()
        let (p, _, _) = try pair(dir)
        let r = Fixture.referral(3)
        try p.write(r, [(.progressEvents, FieldValue.json(ProgressEvent(event: "referred")))], wallMillis: Fixture.wall)
        try p.write(r, [(.progressEvents, FieldValue.json(ProgressEvent(event: "closed")))], wallMillis: Fixture.wall)
        let before = try (p.counts(), p.nodeState())
        do {
            try p.write(
                r, [(.progressEvents, FieldValue.json(ProgressEvent(event: "closed")))], wallMillis: Fixture.wall)
            Issue.record("closed twice")
        } catch let error as SyncError {
            #expect(error.code == .invalidTransition)
            #expect(error.message.contains("cannot follow 'closed'"))
        }
        #expect(try p.counts() == before.0)
        #expect(try p.nodeState() == before.1)
    }
}
