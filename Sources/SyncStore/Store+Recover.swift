import Foundation
import GRDB
import SyncCore

/// Recovery from a rollback nobody announced: a store put back to an older copy of itself without
/// `spsync restore` (docs/decisions.md, "Rollbacks nobody announced").
///
/// Such a store reissues seqs its peers already hold under other changes. Once that is known —
/// from the high-water mark when the store opens, or from a peer's proof (Protocol/SPEC.md 13.6) —
/// local writes stop, and `recover` starts a new incarnation that carries every change made since
/// the copy was put back, so none of them is lost and no seq means two things:
///
/// - the changes of the current incarnation above the last seq the copy and the peers have in
///   common are taken out of the old incarnation and issued again, in the same order, under the
///   new one, signed with the node's key: same records, fields, values, salts and HLC stamps, and
///   causal contexts that name the carried changes by their new seqs (a context that covered a
///   reused seq of the old incarnation would otherwise cover the peers' different change under it);
/// - writes of them whose values a later redaction already removed are not issued again: the
///   redaction is, and their values were erased by design;
/// - the old incarnation's changes the store had lost come back from the peers that hold them,
///   as after a restore; where a carried write and a returning one wrote the same field, both
///   stay live as a conflict for a person to settle (`spsync conflicts`).
extension Store {
    /// What `recover` did.
    public struct Recovery: Sendable, Equatable {
        /// The incarnation the store had been put back to.
        public var previous: Incarnation
        /// The new incarnation the store continues under.
        public var incarnation: Incarnation
        /// The last seq of the previous incarnation the copy and the peers hold in common.
        public var keptThrough: UInt64
        /// Changes made after the store was put back, now issued again under `incarnation`.
        public var carriedChanges: Int
        /// Their field writes.
        public var carriedWrites: Int
        /// Writes of those changes not issued again: a later redaction had removed their values.
        public var redactedWrites: Int
    }

    /// The changes `recover` would carry: own changes of the current incarnation above the last
    /// seq the older copy has in common with the peers. Zero when the store is not rolled back.
    public func changesToCarry() throws -> Int {
        try pool.read { db in
            let node = try Store.nodeState(db)
            guard node.rolledBackAt != nil else { return 0 }
            let (_, seqs) = try Store.carried(node, db)
            return seqs.count
        }
    }

    /// The last seq in common, and the seqs of the changes to carry, in order.
    static func carried(_ node: NodeState, _ db: Database) throws -> (UInt64, [UInt64]) {
        var common = node.rollbackSeq ?? node.lastSeq
        // Looked up, not interned: this runs in read transactions too.
        guard
            let originRow = try Int64.fetchOne(
                db, sql: "SELECT id FROM origin WHERE node_id = ? AND incarnation = ?",
                arguments: [node.node.rawValue, Data(node.incarnation.bytes)])
        else { return (common, []) }
        if let proof = node.rollbackHLC {
            // The peer's change was made before the store was put back, and every change made
            // since is stamped after it (the HLC never runs more than clockSkewMaxSeconds ahead of
            // the wall clock, and the store was put back after the change was made).
            let before =
                try Int64.fetchOne(
                    db, sql: "SELECT max(seq) FROM change_seal WHERE origin = ? AND hlc < ?",
                    arguments: [originRow, Int64(bitPattern: proof.rawValue)]) ?? 0
            common = min(common, UInt64(before))
        }
        let seqs = try Int64.fetchAll(
            db, sql: "SELECT seq FROM change_seal WHERE origin = ? AND seq > ? ORDER BY seq",
            arguments: [originRow, Int64(common)]
        ).map { UInt64($0) }
        return (common, seqs)
    }

    /// Starts a new incarnation for a store marked rolled back, carrying into it every change made
    /// since the store was put back (see above), and lets local writes resume. Run with the daemon
    /// stopped; the peers send back the rest on the next sync.
    public func recover(wallMillis: UInt64) throws -> Recovery {
        guard let signer else {
            throw SyncError(
                .usage, "this store was opened without the node's key, so it cannot sign a change; use the node's home")
        }
        let certificate = try certificates.certificate(signer.certificateDER)
        let crypto = self.crypto
        let (recovery, node) = try pool.writeWithoutTransaction { db -> (Recovery, NodeID) in
            var out: Recovery?
            var erased = false
            var nodeID: NodeID?
            try db.inTransaction(.immediate) {
                let node = try Store.nodeState(db)
                nodeID = node.node
                guard node.rolledBackAt != nil else {
                    throw SyncError(
                        .usage,
                        "this store is not marked as put back to an older copy, so there is nothing to recover; "
                            + "`spsync status` shows the node's state")
                }
                var s = ApplySession(hlc: node.hlc, wallMillis: wallMillis)
                let old = node.origin
                let oldRow = try Store.originID(old, db, &s)
                let (common, seqs) = try Store.carried(node, db)

                // The changes to carry, read before anything is removed.
                var changes: [(seq: UInt64, hlc: HLC, record: RecordID, writes: [FieldWrite])] = []
                for seq in seqs {
                    guard
                        let seal = try Row.fetchOne(
                            db,
                            sql:
                                "SELECT c.hlc, r.key FROM change_seal c JOIN record r ON r.id = c.record WHERE c.origin = ? AND c.seq = ?",
                            arguments: [oldRow, Int64(seq)])
                    else { continue }
                    let hlc = HLC(rawValue: UInt64(bitPattern: seal[0] as Int64))
                    let record = try RecordID(seal[1] as String)
                    let rows = try Row.fetchAll(
                        db, sql: "SELECT body FROM field_write WHERE origin = ? AND seq = ? ORDER BY field",
                        arguments: [oldRow, Int64(seq)])
                    let writes = try rows.map {
                        try FieldWrite(origin: old, seq: seq, hlc: hlc, record: record, body: [UInt8]($0[0] as Data))
                    }
                    changes.append((seq, hlc, record, writes))
                }

                // Out of the old incarnation: its seqs above `common` belong to the changes peers hold.
                var affected: Set<RecordID> = []
                for change in changes {
                    try db.execute(
                        sql: "DELETE FROM field_write WHERE origin = ? AND seq = ?",
                        arguments: [oldRow, Int64(change.seq)])
                    try db.execute(
                        sql: "DELETE FROM change_seal WHERE origin = ? AND seq = ?",
                        arguments: [oldRow, Int64(change.seq)])
                    affected.insert(change.record)
                }

                // The new incarnation, its key bound from seq 1 as for a new store.
                let incarnation = Store.newIncarnation(wallMillis)
                let new = Origin(node: node.node, incarnation: incarnation)
                let message = Seal.keyMessage(
                    node: node.node, incarnation: incarnation, fromSeq: 1,
                    certificateDigest: crypto.sha256(signer.certificateDER))
                try Store.insertKey(
                    KeyBinding(
                        node: node.node, incarnation: incarnation, fromSeq: 1, certificate: signer.certificateDER,
                        signature: try signer.sign(message)),
                    publicKey: certificate.publicKey, anchor: "own", from: nil, db, &s)

                // The carried changes, in their order, under the new incarnation.
                var renumbered: [(old: UInt64, new: UInt64)] = []
                var carriedWrites = 0
                var redactedWrites = 0
                for change in changes {
                    let kept = change.writes.filter { $0.value != nil || $0.field.isRedaction }
                    redactedWrites += change.writes.count - kept.count
                    guard !kept.isEmpty else { continue }
                    let seq = UInt64(renumbered.count + 1)
                    let writes = kept.map { w in
                        var carried = w
                        carried.origin = new
                        carried.seq = seq
                        carried.context = Store.carriedContext(
                            w.context, old: old, new: new, common: common, renumbered)
                        return carried
                    }
                    renumbered.append((change.seq, seq))
                    let digests = try writes.map { try $0.digest(crypto) }
                    let signature = try signer.sign(
                        Seal.changeMessage(
                            origin: new, seq: seq, hlc: change.hlc, record: change.record.rawValue, digests: digests))
                    for w in writes { _ = try Store.insert(w, body: w.encodedBody(), from: nil, db, &s) }
                    carriedWrites += writes.count
                    try Store.keepSeal(
                        HeldSeal(
                            hlc: Int64(bitPattern: change.hlc.rawValue),
                            record: try Store.recordID(change.record, create: true, db, &s),
                            digests: digests.sorted { $0.lexicographicallyPrecedes($1) }.flatMap { $0 },
                            signature: signature),
                        originRow: try Store.originID(new, db, &s), seq: seq, db)
                    try Audit.append(
                        db, at: wallMillis, action: "carried", actor: "operator", origin: node.node, seq: seq,
                        record: change.record.rawValue, code: "was seq \(change.seq) of incarnation \(old.incarnation)")
                }

                // Every field of a record that lost rows is decided again from what is held now.
                for record in affected {
                    guard let row = try Store.recordID(record, create: false, db, &s) else { continue }
                    let fields = try String.fetchAll(
                        db, sql: "SELECT DISTINCT field FROM field_write WHERE record = ?", arguments: [row])
                    for field in fields {
                        try Store.resolve(record: record, recordRow: row, field: try FieldKey(field), db, &s)
                    }
                    s.touched.insert(record)
                }
                try db.execute(
                    sql: """
                        UPDATE node SET incarnation = ?, last_seq = ?, rolled_back_at = NULL, rollback_seq = NULL,
                        rollback_hlc = NULL WHERE id = 1
                        """,
                    arguments: [Data(incarnation.bytes), Int64(renumbered.count)])
                try Audit.append(
                    db, at: wallMillis, action: "recovered", actor: "operator", origin: node.node,
                    seq: UInt64(renumbered.count),
                    code: "kept seq 1-\(common) of \(old.incarnation); carried \(renumbered.count) changes")
                try Store.refreshViews(db, &s)
                erased = s.erased
                out = Recovery(
                    previous: old.incarnation, incarnation: incarnation, keptThrough: common,
                    carriedChanges: renumbered.count, carriedWrites: carriedWrites, redactedWrites: redactedWrites)
                return .commit
            }
            if erased { try Store.eraseFromDisk(db) }
            guard let out, let nodeID else { preconditionFailure("committed without a recovery") }
            return (out, nodeID)
        }
        try highWater?.reset(node: node, incarnation: recovery.incarnation, seq: UInt64(recovery.carriedChanges))
        return recovery
    }

    /// A carried write's causal context: what it covered of the old incarnation up to the last
    /// common seq stays; what it covered above that was carried changes, named by their new seqs.
    static func carriedContext(
        _ context: CausalContext, old: Origin, new: Origin, common: UInt64, _ renumbered: [(old: UInt64, new: UInt64)]
    ) -> CausalContext {
        var entries = context.entries
        guard let seen = entries[old] else { return context }
        entries[old] = min(seen, common)
        if let carried = renumbered.last(where: { $0.old <= seen }) {
            entries[new] = max(entries[new] ?? 0, carried.new)
        }
        return CausalContext(entries)
    }
}
