import Foundation
import SpsyncTestSupport
import SyncCore
import Testing

@testable import SyncStore

/// A store put back to an older copy of itself without `spsync restore` (issue 10): found at open
/// from the high-water mark, or from a peer's proof, and recovered into a new incarnation that
/// carries the changes made since, with nothing lost.
@Suite("rollback recovery")
struct RollbackRecoveryTests {
    /// Replaces the store file at `path` with `copy`, as an operator copying a backup over it does.
    func putBack(_ copy: String, over path: String) throws {
        for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) }
        try FileManager.default.copyItem(atPath: copy, toPath: path)
    }

    /// What a store holds of a record's writes, and how it decided them.
    func state(_ store: Store, _ record: RecordID) throws -> Set<String> {
        Set(try store.writes(of: record).map { "\($0.write.id) live=\($0.live) winner=\($0.winner)" })
    }

    @Test(
        "a copy put back under the high-water mark is marked rolled back when it opens, before it can reuse a seq; recover starts a new incarnation and moves the mark"
    )
    func foundAtOpen() throws {
        let dir = TempDir()
        let path = dir.file("p.sqlite")
        let identity = TestKeys.identity(Fixture.practice)
        _ = try Store.create(at: path, node: Fixture.practice, wallMillis: Fixture.wall, signer: identity)
        var store = try Store.open(at: path, signer: identity, guardingRollback: true, wallMillis: Fixture.wall)
        try store.write(Fixture.referral(1), [(.routingUrgency, Fixture.text("soon"))], wallMillis: Fixture.wall)
        try store.backup(to: dir.file("copy.sqlite"))
        let lost = try store.write(
            Fixture.referral(2), [(.routingUrgency, Fixture.text("soon"))], wallMillis: Fixture.wall + 1)
        let mark = try #require(HighWaterMark(path: Store.highWaterPath(path)).read())
        #expect(mark.seq == 2 && mark.incarnation == lost.origin.incarnation)
        try store.pool.close()

        try putBack(dir.file("copy.sqlite"), over: path)
        // Opened without the mark (a test store, a tool), nothing can tell.
        let blind = try Store.open(at: path)
        #expect(try blind.nodeState().rolledBackAt == nil)
        try blind.pool.close()
        store = try Store.open(at: path, signer: identity, guardingRollback: true, wallMillis: Fixture.wall + 2)
        let state = try store.nodeState()
        #expect(state.rolledBackAt == Fixture.wall + 2 && state.rollbackSeq == 1 && state.rollbackHLC == nil)
        let refused = #expect(throws: SyncError.self) {
            try store.write(
                Fixture.referral(3), [(.routingUrgency, Fixture.text("soon"))], wallMillis: Fixture.wall + 3)
        }
        #expect(refused?.code == .rolledBack && refused?.message.contains("`spsync recover`") == true)
        #expect(try store.changesToCarry() == 0)

        let recovery = try store.recover(wallMillis: Fixture.wall + 4)
        #expect(
            recovery.keptThrough == 1 && recovery.carriedChanges == 0 && recovery.previous == lost.origin.incarnation)
        let next = try store.write(
            Fixture.referral(3), [(.routingUrgency, Fixture.text("soon"))], wallMillis: Fixture.wall + 5)
        #expect(next.seq == 1 && next.origin.incarnation == recovery.incarnation)
        let moved = try #require(HighWaterMark(path: Store.highWaterPath(path)).read())
        #expect(moved.incarnation == recovery.incarnation && moved.seq == 1)
        try store.pool.close()
        store = try Store.open(at: path, signer: identity, guardingRollback: true, wallMillis: Fixture.wall + 6)
        #expect(try store.nodeState().rolledBackAt == nil, "the recovered store is at its mark")
        // A copy of the store from before the recovery is older still: its incarnation is behind the mark's.
        try store.pool.close()
        try putBack(dir.file("copy.sqlite"), over: path)
        store = try Store.open(at: path, signer: identity, guardingRollback: true, wallMillis: Fixture.wall + 7)
        #expect(try store.nodeState().rolledBackAt != nil)
    }

    @Test(
        "a copy put back with its mark (a snapshot) reuses a seq; the peer's change under that seq proves the rollback, and recover carries the reused change into a new incarnation whose context does not cover the lost change: both values stay, at both stores"
    )
    func provenByPeer() throws {
        let dir = TempDir()
        let p = try Store.signed(at: dir.file("p.sqlite"), node: Fixture.practice)
        let h = try Store.signed(at: dir.file("h.sqlite"), node: Fixture.hub)
        try TestKeys.introduceAll([p, h])
        let r = Fixture.referral(1)
        let first = try p.write(r, [(.routingUrgency, Fixture.text("soon"))], wallMillis: Fixture.wall)
        try p.write(Fixture.referral(2), [(.routingUrgency, Fixture.text("soon"))], wallMillis: Fixture.wall)
        try h.pull(from: p)
        try p.backup(to: dir.file("copy.sqlite"))
        // Made after the copy, held by the hub: lost at the practice when the copy is put back.
        let lost = try p.write(r, [(.routingUrgency, Fixture.text("urgent"))], wallMillis: Fixture.wall + 1000)
        try h.pull(from: p)
        try p.pool.close()
        try putBack(dir.file("copy.sqlite"), over: dir.file("p.sqlite"))

        let q = try Store.openSigned(at: dir.file("p.sqlite"), node: Fixture.practice)
        let reused = try q.write(
            r, [(.routingUrgency, Fixture.text("routine"))], wallMillis: Fixture.wall + 60_000)
        #expect(reused.seq == lost.seq, "nothing at the practice could tell")
        let reusedHLC = try q.writes(of: r).first { $0.write.change == reused }?.write.hlc
        try h.pull(from: q)
        #expect(
            try h.writes(of: r).allSatisfy { $0.write.text != "routine" },
            "the hub holds another change under that seq (and its checkpoint is past the reused local seq)")
        // A second write after the put-back: its context names the reused seq, which the lost
        // change holds at the peers. (Had the hub taken it — a seq above all it held — it would
        // keep it: docs/decisions.md 35.)
        let second = try q.write(
            r, [(.routingUrgency, Fixture.text("routine, checked"))], wallMillis: Fixture.wall + 61_000)
        #expect(
            try q.writes(of: r).first { $0.write.change == second }?.write.context.covers(lost.origin, lost.seq) == true
        )
        let proof = #expect(throws: SyncError.self) { try q.pull(from: h) }
        #expect(proof?.code == .rolledBack && proof?.rollbackProof?.seq == lost.seq)
        let marked = try q.nodeState()
        #expect(marked.rolledBackAt != nil && marked.rollbackSeq == lost.seq - 1)
        #expect(try q.changesToCarry() == 2)

        let recovery = try q.recover(wallMillis: Fixture.wall + 62_000)
        #expect(recovery.keptThrough == lost.seq - 1 && recovery.carriedChanges == 2 && recovery.carriedWrites == 2)
        let carried = try q.writes(of: r).first {
            $0.write.origin.incarnation == recovery.incarnation && $0.write.seq == 1
        }
        let carriedSecond = try q.writes(of: r).first {
            $0.write.origin.incarnation == recovery.incarnation && $0.write.seq == 2
        }
        #expect(carriedSecond?.write.context.covers(carried?.write.origin ?? lost.origin, 1) == true)
        #expect(carriedSecond?.write.context.covers(lost.origin, lost.seq) == false)
        #expect(
            carried?.write.seq == 1 && reusedHLC != nil && carried?.write.hlc == reusedHLC, "stamped as it was made")
        #expect(carried?.write.context.covers(first.origin, first.seq) == true, "it still replaces the write it saw")
        #expect(carried?.write.context.covers(lost.origin, lost.seq) == false, "not the lost one it never saw")

        try q.pull(from: h)
        try h.pull(from: q)
        try q.pull(from: h)
        for store in [q, h] {
            let live = try store.writes(of: r).filter { $0.live && $0.write.field == .routingUrgency }
            #expect(
                Set(live.compactMap(\.write.text)) == ["urgent", "routine, checked"],
                "nothing lost: a conflict to settle")
        }
        #expect(try state(q, r) == state(h, r))
        #expect(try state(q, Fixture.referral(2)) == state(h, Fixture.referral(2)))
        #expect(try q.referral(r).status == h.referral(r).status)
        let next = try q.write(
            Fixture.referral(3), [(.routingUrgency, Fixture.text("soon"))], wallMillis: Fixture.wall + 63_000)
        #expect(next.seq == 3 && next.origin.incarnation == recovery.incarnation)
    }

    @Test("restore refuses to replace a store holding changes that recover would carry, and names the command")
    func restoreWaitsForRecover() throws {
        let dir = TempDir()
        let p = try Store.signed(at: dir.file("p.sqlite"), node: Fixture.practice)
        let h = try Store.signed(at: dir.file("h.sqlite"), node: Fixture.hub)
        try TestKeys.introduceAll([p, h])
        try p.write(Fixture.referral(1), [(.routingUrgency, Fixture.text("soon"))], wallMillis: Fixture.wall)
        try p.backup(to: dir.file("copy.sqlite"))
        try p.write(Fixture.referral(2), [(.routingUrgency, Fixture.text("soon"))], wallMillis: Fixture.wall + 1000)
        try h.pull(from: p)
        try p.pool.close()
        try putBack(dir.file("copy.sqlite"), over: dir.file("p.sqlite"))
        let q = try Store.openSigned(at: dir.file("p.sqlite"), node: Fixture.practice)
        try q.write(Fixture.referral(3), [(.routingUrgency, Fixture.text("soon"))], wallMillis: Fixture.wall + 60_000)
        #expect(throws: SyncError.self) { try q.pull(from: h) }
        try q.pool.close()
        let refused = #expect(throws: SyncError.self) {
            try Store.restore(
                from: dir.file("copy.sqlite"), to: dir.file("p.sqlite"), expecting: Fixture.practice,
                wallMillis: Fixture.wall + 61_000)
        }
        #expect(refused?.message.contains("`spsync recover`") == true)
        let after = try Store.openSigned(at: dir.file("p.sqlite"), node: Fixture.practice)
        #expect(try after.referrals().count == 2, "nothing was changed")
    }
}
