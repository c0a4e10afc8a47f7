import Foundation
import GRDB
import SyncCore

/// What a tampered store does to attack its peers through its change log (for the simulator and
/// tests only: `@_spi(Tampering) import SyncStore`).
///
/// Each attack adds rows to this store — field writes and the seal a relay sends them with — that
/// its ordinary sessions then send on, and leaves the genuine rows alone, so honest changes still
/// flow through the tampered node: a real relay can always withhold, which signatures cannot
/// prevent, and an attack that stopped the honest flow would test withholding instead.
///
/// An attack under another origin files its change under a seq that origin never issues (above
/// `floor`, at least `tamperedSeqFloor`): a row under a seq the origin later issues would make this
/// store refuse the genuine change as equivocation, which is withholding again. Tampered nodes that
/// attack with floors far apart never make two forgeries under one seq.
extension Store {
    /// Seqs from here up are never issued by an honest origin of a test network (2^40 changes).
    /// A forger's range may start at any multiple of it.
    @_spi(Tampering) public static let tamperedSeqFloor: UInt64 = 1 << 40

    /// Copies the held writes of another origin's change (all of them, or those of `fields`) under
    /// a seq its origin never issued, with the genuine signature and the genuine change's digests:
    /// everything but the seq is what the origin signed. Returns the writes made.
    @_spi(Tampering)
    public func tamperedReplay(
        _ change: ChangeRef, fields: Set<FieldKey>? = nil, above floor: UInt64 = tamperedSeqFloor, wallMillis: UInt64
    ) throws -> [WriteID] {
        try tamperedCopy(change, above: floor, wallMillis: wallMillis) { writes, seal in
            (writes.filter { fields?.contains($0.field) ?? true }, seal)
        }
    }

    /// Copies one held write of another origin's change with `value` in place of its own, under a
    /// seq its origin never issued, with the genuine signature; the change's other writes go as
    /// their genuine digests. Returns the write made.
    @_spi(Tampering)
    public func tamperedAlteration(
        _ write: WriteID, value: [UInt8], above floor: UInt64 = tamperedSeqFloor, wallMillis: UInt64
    ) throws -> [WriteID] {
        let crypto = self.crypto
        let change = ChangeRef(origin: write.origin, seq: write.seq)
        return try tamperedCopy(change, above: floor, wallMillis: wallMillis) { writes, seal in
            guard let genuine = writes.first(where: { $0.field == write.field }) else {
                throw SyncError(.notFound, "\(write) is not held here")
            }
            guard genuine.value != nil, genuine.value != value else {
                throw SyncError(.usage, "an alteration gives \(write) a value other than the one it has")
            }
            var altered = genuine
            altered.value = value
            let old = try genuine.digest(crypto)
            var digests = Self.split(seal.digests).filter { $0 != old }
            digests.append(try altered.digest(crypto))
            digests.sort { $0.lexicographicallyPrecedes($1) }
            var out = seal
            out.digests = digests.flatMap { $0 }
            return ([altered], out)
        }
    }

    /// Copies the held writes of another origin's change under a seq its origin never issued, with
    /// the signature stripped: 64 zero bytes, so the `CHANGES` frame stays well formed and each
    /// receiver refuses the change alone. Returns the writes made.
    @_spi(Tampering)
    public func tamperedStrip(
        _ change: ChangeRef, fields: Set<FieldKey>? = nil, above floor: UInt64 = tamperedSeqFloor, wallMillis: UInt64
    ) throws -> [WriteID] {
        try tamperedCopy(change, above: floor, wallMillis: wallMillis) { writes, seal in
            var out = seal
            out.signature = Array(repeating: 0, count: Seal.signatureBytes)
            return (writes.filter { fields?.contains($0.field) ?? true }, out)
        }
    }

    /// Makes a change that claims `origin`, another node's real origin, signed with this node's own
    /// key, under a seq that origin never issued (`tamperedWrite(_:_:wallMillis:claiming:)`).
    @_spi(Tampering)
    public func tamperedClaim(
        _ record: RecordID, _ values: [(FieldKey, [UInt8])], claiming origin: Origin,
        above floor: UInt64 = tamperedSeqFloor, wallMillis: UInt64
    ) throws -> [WriteID] {
        let ref = try tamperedWrite(
            record, values, wallMillis: wallMillis, claiming: origin, seq: try nextTamperedSeq(of: origin, above: floor)
        )
        return values.map { WriteID(origin: ref.origin, seq: ref.seq, field: $0.0) }
    }

    /// Makes a change under an incarnation of `node` that `node` never had, signed with `signer` —
    /// a key of the forger's making whose certificate names `node` — and holds a key binding of
    /// that key for the incarnation, as if `node` had sent it, for its sessions to send on. Peers
    /// that anchor keys to the certificates their network issued refuse the binding, and then the
    /// change for want of a key. Returns the writes made.
    @_spi(Tampering)
    public func tamperedIncarnation(
        _ record: RecordID, _ values: [(FieldKey, [UInt8])], of node: NodeID, incarnation: Incarnation,
        signer: any ChangeSigner, above floor: UInt64 = tamperedSeqFloor, wallMillis: UInt64
    ) throws -> [WriteID] {
        let message = Seal.keyMessage(
            node: node, incarnation: incarnation, fromSeq: 1, certificateDigest: crypto.sha256(signer.certificateDER))
        let binding = KeyBinding(
            node: node, incarnation: incarnation, fromSeq: 1, certificate: signer.certificateDER,
            signature: try signer.sign(message))
        if let refusal = try addKeyBindings(
            [binding], from: node, policy: DeliveryAnchorPolicy(), wallMillis: wallMillis
        )
        .first {
            throw refusal
        }
        let origin = Origin(node: node, incarnation: incarnation)
        let ref = try tamperedWrite(
            record, values, wallMillis: wallMillis, claiming: origin,
            seq: try nextTamperedSeq(of: origin, above: floor), signedBy: signer)
        return values.map { WriteID(origin: ref.origin, seq: ref.seq, field: $0.0) }
    }

    // MARK: Copies of held changes

    /// The next seq above `floor` (at least `tamperedSeqFloor`) and above every seq of `origin`
    /// this store holds.
    func nextTamperedSeq(of origin: Origin, above floor: UInt64) throws -> UInt64 {
        try pool.read { db in try Store.nextTamperedSeq(of: origin, above: floor, db) }
    }

    static func nextTamperedSeq(of origin: Origin, above floor: UInt64, _ db: Database) throws -> UInt64 {
        let held =
            try Int64.fetchOne(
                db,
                sql: """
                    SELECT max(field_write.seq) FROM field_write JOIN origin ON origin.id = field_write.origin
                    WHERE origin.node_id = ? AND origin.incarnation = ?
                    """,
                arguments: [origin.node.rawValue, Data(origin.incarnation.bytes)]) ?? 0
        return max(tamperedSeqFloor, floor, UInt64(held)) + 1
    }

    /// Copies some held writes of `change` (as `alter` chooses and changes them, with the seal to
    /// send them with) under the next tampered seq of its origin, in one transaction.
    private func tamperedCopy(
        _ change: ChangeRef, above floor: UInt64, wallMillis: UInt64,
        alter: ([FieldWrite], HeldSeal) throws -> (writes: [FieldWrite], seal: HeldSeal)
    ) throws -> [WriteID] {
        try pool.writeWithoutTransaction { db in
            var made: [WriteID] = []
            try db.inTransaction(.immediate) {
                let node = try Store.nodeState(db)
                precondition(change.origin.node != node.node, "a tampered copy is of another origin's change")
                var s = ApplySession(hlc: node.hlc, wallMillis: wallMillis)
                let seq = try Store.nextTamperedSeq(of: change.origin, above: floor, db)
                let originRow = try Store.originID(change.origin, db, &s)
                guard let seal = try Store.heldSeal(originRow: originRow, seq: change.seq, db),
                    let recordRow = seal.record,
                    let recordKey = try String.fetchOne(
                        db, sql: "SELECT key FROM record WHERE id = ?", arguments: [recordRow])
                else {
                    throw SyncError(.notFound, "change \(change) is not held here")
                }
                let record = try RecordID(recordKey)
                let held = try Row.fetchAll(
                    db, sql: "SELECT body FROM field_write WHERE origin = ? AND seq = ? ORDER BY field",
                    arguments: [originRow, Int64(change.seq)]
                ).map { row in
                    try FieldWrite(
                        origin: change.origin, seq: change.seq, hlc: HLC(rawValue: UInt64(bitPattern: seal.hlc)),
                        record: record, body: [UInt8](row["body"] as Data))
                }
                let (writes, copySeal) = try alter(held, seal)
                guard !writes.isEmpty else { throw SyncError(.notFound, "nothing of change \(change) to copy") }
                for var w in writes {
                    w.seq = seq
                    _ = try Store.insert(w, body: w.encodedBody(), from: nil, db, &s)
                    try Audit.append(
                        db, at: wallMillis, action: "local_write", actor: "tampered", origin: w.origin.node, seq: seq,
                        record: record.rawValue, field: w.field.rawValue)
                    made.append(w.id)
                }
                try Store.keepSeal(copySeal, originRow: originRow, seq: seq, db)
                try Store.refreshViews(db, &s)
                return .commit
            }
            return made
        }
    }

    /// A seal's digests, one array each.
    static func split(_ digests: [UInt8]) -> [[UInt8]] {
        stride(from: 0, to: digests.count, by: Seal.digestBytes).map {
            Array(digests[$0..<$0 + Seal.digestBytes])
        }
    }
}
