import Foundation
import SyncCore

@testable import SyncStore

/// A temporary folder removed when the test ends.
final class TempDir {
    let path: String

    init() {
        path = NSTemporaryDirectory() + "spsync-test-" + UUID().uuidString
        try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    func file(_ name: String) -> String { path + "/" + name }

    deinit { try? FileManager.default.removeItem(atPath: path) }
}

enum Fixture {
    static let wall: UInt64 = 1_780_000_000_000
    static let practice = try! NodeID("A81001")
    static let hub = try! NodeID("U12345")
    static let charity = try! NodeID("GB-CHC-1234567")
    static let charity2 = try! NodeID("GB-SC-SC012345")

    static func uuid(_ n: UInt64) -> UUIDv7 { UUIDv7(millis: wall + n, random: (n, n &* 7919)) }
    static let service = try! RecordID.service(owner: charity, uuid: uuid(1))
    static let service2 = try! RecordID.service(owner: charity2, uuid: uuid(2))
    static func referral(_ n: UInt64) -> RecordID {
        try! RecordID.referral(practice: practice, pcn: hub, uuid: uuid(100 + n))
    }

    static func text(_ s: String) -> [UInt8] { FieldValue.text(s) }

    static func capacity(_ available: Int, _ maximum: Int) -> [UInt8] {
        FieldValue.json(ServiceCapacity(unit: "places", available: available, maximum: maximum, updated: wall))
    }
}

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

    /// Pulls everything `other` has after this store's checkpoint for it, in batches, as a peer would.
    @discardableResult
    func pull(from other: Store, wall: UInt64 = Fixture.wall, batch: Int = 7) throws -> ApplyReport {
        let peer = try other.nodeState()
        var total = ApplyReport()
        while true {
            let after = try checkpoint(peer: peer.node, incarnation: peer.incarnation)
            let rows = try other.changes(after: after, limit: batch)
            guard let last = rows.last else { return total }
            let changes = rows.map {
                IncomingChange(
                    origin: $0.write.origin, seq: $0.write.seq, hlc: $0.write.hlc, record: $0.write.record.rawValue,
                    bodies: [$0.body])
            }
            let r = try apply(
                changes, from: peer.node,
                checkpoint: BatchCheckpoint(peerIncarnation: peer.incarnation, after: after, upTo: last.localSeq),
                wallMillis: wall)
            total.applied += r.applied
            total.duplicates += r.duplicates
            total.parked += r.parked
            total.refused += r.refused
            total.quarantined += r.quarantined
        }
    }
}
