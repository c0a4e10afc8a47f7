import GRDB
import SpsyncTestSupport
import SyncCore
import Testing

@testable import SyncStore

@Suite("quarantine")
struct QuarantineTests {
    @Test("a write the store cannot take for good is quarantined; the rest of the batch and the checkpoint apply")
    func quarantined() throws {
        let dir = TempDir()
        let p = try Store.signed(at: dir.file("p.sqlite"), node: Fixture.practice)
        let h = try Store.signed(at: dir.file("h.sqlite"), node: Fixture.hub)
        for i in 0..<3 {
            try p.write(
                Fixture.referral(UInt64(i)),
                [(.routingUrgency, Fixture.text("soon")), (.routingNote, Fixture.text("note \(i)"))],
                wallMillis: Fixture.wall)
        }
        // A constraint that refuses one kind of write: a reason that will not pass by retrying.
        try h.pool.write { db in
            try db.execute(
                sql: """
                    CREATE TRIGGER refuse_notes BEFORE INSERT ON field_write WHEN NEW.field = 'routing.note'
                    BEGIN SELECT RAISE(ABORT, 'notes refused by a test constraint'); END
                    """)
        }
        let report = try h.pull(from: p)
        #expect(report.applied == 3)  // the three urgencies
        #expect(report.quarantined == 3)
        #expect(try h.counts().quarantined == 3)
        #expect(try h.referrals().count == 3)
        let peer = try p.nodeState()
        #expect(try h.checkpoint(peer: Fixture.practice, incarnation: peer.incarnation) == p.lastLocalSeq())
        let audit = try h.audit(action: "quarantined")
        #expect(audit.count == 3 && audit.allSatisfy { $0.field == "routing.note" })
    }
}
