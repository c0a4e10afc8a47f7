import Foundation
import SyncCore
import SyncProtocol
import Synchronization

/// A node's store in memory, for session tests without SQLite: a change log in local-seq order,
/// checkpoints per peer incarnation, and a record of what the session asked of it. It keeps the
/// protocol's contract (a batch that does not follow the checkpoint is refused and changes nothing;
/// a change is held once) and none of the SQLite store's rules: no signatures, no audiences (every
/// change goes to every peer but back to its own origin), no `HOLDING`.
final class MemoryStore: SessionStore {
    struct State {
        var lastSeq: UInt64 = 0
        var log: [(localSeq: UInt64, change: IncomingChange)] = []
        var held: Set<String> = []
        var checkpoints: [String: UInt64] = [:]
        var acked: [[Int]] = []
        var pulled: [UInt64] = []
        var pullsAsked: [UInt64] = []
        var applied = 0
    }

    let node: NodeID
    let incarnation: Incarnation
    let limits: Limits
    /// Why a `PULL` from this `after` is refused, if it is (the full-resync rule, as a test sets it).
    let refusePull: @Sendable (UInt64) -> String?
    private let state = Mutex(State())

    init(
        _ node: String, limits: Limits = .standard, seed: UInt64 = 1,
        refusePull: @escaping @Sendable (UInt64) -> String? = { _ in nil }
    ) throws {
        self.node = try NodeID(node)
        self.incarnation = UUIDv7(millis: 1_780_000_000_000, random: (seed, seed &* 7))
        self.limits = limits
        self.refusePull = refusePull
    }

    var snapshot: State { state.withLock { $0 } }
    var origin: Origin { Origin(node: node, incarnation: incarnation) }

    /// `n` local changes of `writes` field writes each, to this node's organisation record.
    func write(_ n: Int, writes: Int = 1) throws {
        let record = RecordID.organisation(node)
        for _ in 0..<n {
            state.withLock { s in
                s.lastSeq += 1
                let change = IncomingChange(
                    origin: origin, seq: s.lastSeq, hlc: HLC(millis: 1_780_000_000_000 + s.lastSeq, counter: 0),
                    record: record.rawValue, bodies: (0..<writes).map { [UInt8(truncatingIfNeeded: $0), 1, 2, 3] },
                    signature: Array(repeating: 7, count: 64))
                s.held.insert("\(origin)/\(s.lastSeq)")
                s.log.append((UInt64(s.log.count + 1), change))
            }
        }
    }

    /// The changes this store holds, as "origin/seq".
    var heldChanges: Set<String> { snapshot.held }

    func sessionStart(peer: NodeID) throws -> SessionStart {
        let held = state.withLock { s in
            var out: [Incarnation: UInt64] = [:]
            for (_, c) in s.log where c.origin.node == peer {
                out[c.origin.incarnation] = max(out[c.origin.incarnation] ?? 0, c.seq)
            }
            return out
        }
        return SessionStart(
            node: node, incarnation: incarnation, lastSeq: snapshot.lastSeq, rolledBack: false, heldOfPeer: held,
            schemaVersion: 1)
    }

    func admitPull(peer: NodeID, peerIncarnation: Incarnation, after: UInt64, wallMillis: UInt64) throws -> String? {
        state.withLock { $0.pullsAsked.append(after) }
        return refusePull(after)
    }

    func checkpoint(peer: NodeID, incarnation: Incarnation) throws -> UInt64 {
        snapshot.checkpoints["\(peer)/\(incarnation)"] ?? 0
    }

    func holding(peer: NodeID, peerIncarnation: Incarnation) throws -> [RecordID]? { nil }

    func markHoldingSent(peer: NodeID, peerIncarnation: Incarnation, wallMillis: UInt64) throws {}

    func prepareBatch(_ request: BatchRequest, keysSent: inout Set<KeyBindingRef>) throws -> PreparedBatch? {
        let log = snapshot.log.filter { $0.localSeq > request.after }.prefix(request.limits.batchChangesMax)
        guard let last = log.last else { return nil }
        let items = log.filter { $0.change.origin.node != request.peer }.map { BatchItem.change($0.change) }
        return PreparedBatch(
            changes: Changes(after: request.after, upTo: last.localSeq, items: items), carry: BatchCarry())
    }

    func applyBatch(
        _ items: [IncomingItem], keys: [KeyBinding], policy: any KeyAnchorPolicy, from peer: NodeID,
        checkpoint: BatchCheckpoint, wallMillis: UInt64
    ) throws -> SyncApplyReport {
        try state.withLock { s in
            let key = "\(peer)/\(checkpoint.peerIncarnation)"
            let stored = s.checkpoints[key] ?? 0
            guard stored == checkpoint.after else {
                throw SyncError(
                    .conflict, "batch from \(peer) follows seq \(checkpoint.after) but the checkpoint is at \(stored)")
            }
            var report = SyncApplyReport()
            for case .change(let c) in items {
                if s.held.insert("\(c.origin)/\(c.seq)").inserted {
                    s.log.append((UInt64(s.log.count + 1), c))
                    report.writes.applied += c.bodies.count
                } else {
                    report.writes.duplicates += c.bodies.count
                }
            }
            s.applied += report.writes.applied
            s.checkpoints[key] = checkpoint.upTo
            return report
        }
    }

    func confirmAcked(peer: NodeID, incarnation: Incarnation, upTo: UInt64, batches: [Int]) throws {
        state.withLock { $0.acked.append(batches) }
    }

    func confirmPulled(peer: NodeID, incarnation: Incarnation, after: UInt64) throws -> [RecordID] {
        state.withLock { $0.pulled.append(after) }
        return []
    }

    func enforceAudience(_ records: Set<RecordID>, wallMillis: UInt64) throws -> Int { 0 }

    func auditFalseClaim(peer: NodeID, held: UInt64, lastSeq: UInt64, wallMillis: UInt64) throws {}

    func failureText(_ error: any Error) -> String { "the memory store failed: \(error)" }
}
