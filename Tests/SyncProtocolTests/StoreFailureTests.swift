import Foundation
import GRDB
import SpsyncTestSupport
import SyncCore
import SyncProtocol
import SyncSimulation
import Testing

@testable import SyncStore

@Suite("a store that fails under a session")
struct StoreFailureTests {
    @Test(
        "a full disk while receiving ends the session with the cause and what to do, keeps nothing of the batch, and the next sync resumes"
    )
    func diskFullWhileReceiving() throws {
        let dir = TempDir(prefix: "spsync-proto-")
        let p = try Store.signed(at: dir.file("p"), node: Fixture.practice)
        let h = try Store.signed(at: dir.file("h"), node: Fixture.hub)
        for i in 1...200 as ClosedRange<UInt64> {
            try p.write(
                Fixture.referral(i), [(.contactPhone, Fixture.text("07700900\(100 + i)"))], wallMillis: Fixture.wall)
        }
        // The hub's writer may grow its file by no page more: SQLite answers SQLITE_FULL, as on a full disk.
        let pages = try h.pool.read { try Int.fetchOne($0, sql: "PRAGMA page_count") ?? 0 }
        try h.pool.writeWithoutTransaction { try $0.execute(sql: "PRAGMA max_page_count = \(pages)") }
        let full = try MemorySync.sync(h, p, nowMillis: Fixture.wall)
        guard case .localError(let error) = full.aReason else {
            Issue.record("the hub's session ended \(String(describing: full.aReason)), not with its own ERROR")
            return
        }
        #expect(error.code == .internal)
        #expect(
            error.detail.hasPrefix(
                "this node's store could not take a batch (database or disk is full, SQLite code 13)"))
        #expect(error.detail.contains("free disk space"))
        #expect(!error.detail.contains("\n") && !error.detail.contains("INSERT"))
        #expect(try h.referrals().isEmpty)
        #expect(try h.checkpoint(peer: Fixture.practice, incarnation: p.nodeState().incarnation) == 0)

        try h.pool.writeWithoutTransaction { try $0.execute(sql: "PRAGMA max_page_count = 1073741823") }
        #expect(try MemorySync.sync(h, p, nowMillis: Fixture.wall + 1).clean)
        #expect(try h.referrals().count == 200)
    }
}

@Suite("the total a pull announces")
struct ExpectedWritesTests {
    @Test("the first batch answering a PULL announces the sender's log after the checkpoint; the receiver keeps it")
    func announced() throws {
        let dir = TempDir(prefix: "spsync-proto-")
        let p = try Store.signed(at: dir.file("p"), node: Fixture.practice)
        let h = try Store.signed(at: dir.file("h"), node: Fixture.hub)
        for i in 1...40 as ClosedRange<UInt64> {
            try p.write(Fixture.referral(i), [(.routingUrgency, Fixture.text("soon"))], wallMillis: Fixture.wall)
        }
        let total = try p.changeCount(after: 0)
        #expect(total >= 40)
        let outcome = try MemorySync.sync(
            h, p, nowMillis: Fixture.wall,
            limits: {
                var l = Limits.standard; l.batchChangesMax = 8; return l
            }())
        #expect(outcome.clean)
        #expect(outcome.a.expectedWritesIn == total)
        #expect(outcome.a.writesIn <= total && outcome.a.batchesIn > 1)
    }
}
