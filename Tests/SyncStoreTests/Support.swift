import Foundation
import SpsyncTestSupport
import SyncCore

@testable import SyncStore

extension Store {
    /// Everything this store holds, as a replica (for comparing with the in-memory model).
    func replica() throws -> Replica {
        var r = Replica()
        let keys = try pool.read { db in try String.fetchAll(db, sql: "SELECT key FROM record") }
        for key in keys {
            for w in try writes(of: RecordID(key)) { r.apply(w.write) }
        }
        return r
    }

    /// Pulls everything `other` has after this store's checkpoint for it, in batches, as a peer would:
    /// each change sealed with its origin's signature as `other` holds it, after the key bindings
    /// that verify the batch (accepted as `DeliveryAnchorPolicy` anchors them).
    @discardableResult
    func pull(from other: Store, wall: UInt64 = Fixture.wall, batch: Int = 7, batches: Int = .max) throws
        -> ApplyReport
    {
        let peer = try other.nodeState()
        var total = ApplyReport()
        for _ in 0..<batches {
            let after = try checkpoint(peer: peer.node, incarnation: peer.incarnation)
            let rows = try other.changes(after: after, limit: batch)
            guard let last = rows.last else { return total }
            let changes = try other.sealed(
                rows.map {
                    IncomingChange(
                        origin: $0.write.origin, seq: $0.write.seq, hlc: $0.write.hlc,
                        record: $0.write.record.rawValue, bodies: [$0.body])
                })
            let needed = Dictionary(changes.map { ($0.origin, $0.seq) }, uniquingKeysWith: max)
            total.keysRefused += try addKeyBindings(
                try other.keyBindings(for: needed), from: peer.node, policy: DeliveryAnchorPolicy(), wallMillis: wall)
            let r = try apply(
                changes.map(IncomingItem.change), from: peer.node,
                checkpoint: BatchCheckpoint(peerIncarnation: peer.incarnation, after: after, upTo: last.localSeq),
                wallMillis: wall
            ).writes
            total.applied += r.applied
            total.duplicates += r.duplicates
            total.parked += r.parked
            total.refused += r.refused
            total.quarantined += r.quarantined
        }
        return total
    }
}
