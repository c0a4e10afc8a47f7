import Foundation
import GRDB
import SyncCore
import SyncCrypto

/// Certificates of key bindings, parsed once per process. Keyed by their DER bytes, so an entry is
/// right whatever transaction saw it first (a rolled-back one included).
final class CertificateCache: @unchecked Sendable {
    // Guarded by `lock`.
    private let lock = NSLock()
    private var byDER: [[UInt8]: SignerCertificate] = [:]
    /// A hostile peer could send many certificates; past this many the cache starts again.
    private static let entriesMax = 4096

    func certificate(_ der: [UInt8]) throws(SyncError) -> SignerCertificate {
        if let known = lock.withLock({ byDER[der] }) { return known }
        let parsed = try SignerCertificate(der: der)
        lock.withLock {
            if byDER.count >= Self.entriesMax { byDER.removeAll() }
            byDER[der] = parsed
        }
        return parsed
    }
}

/// A key binding held in the store, its certificate parsed.
struct HeldKey {
    var binding: KeyBinding
    var certificate: SignerCertificate
    var anchor: String
}

/// What the store holds of a change's seal: enough to rebuild what its origin signed.
struct HeldSeal: Equatable {
    var hlc: Int64
    /// The record's row; nil in the seal of a received change whose record has no row yet (one is
    /// made only when something of the change is kept).
    var record: Int64?
    var digests: [UInt8]
    var signature: [UInt8]
}

/// Origin signatures in the store (Protocol/SPEC.md 13): this node's key bindings, the bindings
/// peers send, verifying each received change before anything of it is stored, and the seals a
/// relay sends on with the changes.
extension Store {
    // MARK: This node's key

    /// Makes sure the signer's key is bound to this node's current incarnation from the next seq.
    ///
    /// A new incarnation (a new store, a restore) gets a binding from seq 1 signed by the key
    /// itself. A new key for an incarnation that has signed changes (`spsync cert rotate`) gets a
    /// binding from the next seq, signed by `previous`, the key valid until now. A key that nothing
    /// hands over to (the operator put in a key the network CA issued, or lost the old one) cannot
    /// continue the incarnation — peers could not tell it from a forgery — so the store starts a new
    /// incarnation, as a restore does: nothing is lost, earlier changes keep their signatures.
    /// Returns true when it started a new incarnation.
    @discardableResult
    public func ensureOwnKey(previous: (any ChangeSigner)?, wallMillis: UInt64) throws -> Bool {
        guard let signer else {
            throw SyncError(.usage, "the store was opened without the node's key; open it through the node's home")
        }
        let certificate = try certificates.certificate(signer.certificateDER)
        let previousKey = try previous.map { try certificates.certificate($0.certificateDER).publicKey }
        let crypto = self.crypto
        // A new incarnation and its new mark are one step for any process comparing the two.
        func exclusively<T>(_ body: () throws -> T) throws -> T {
            guard let highWater else { return try body() }
            return try highWater.exclusively(body)
        }
        return try exclusively {
            let started = try pool.writeWithoutTransaction { db in
                var started = false
                try db.inTransaction(.immediate) {
                    var node = try Store.nodeState(db)
                    guard certificate.nodeIDs == [node.node.rawValue] else {
                        throw SyncError(
                            .storeInvalid,
                            "the node's certificate names \(certificate.nodeIDs.joined(separator: ", ")), not \(node.node): "
                                + "check --home")
                    }
                    var s = ApplySession(hlc: node.hlc, wallMillis: wallMillis)
                    var held = try Store.keys(for: node.origin, db, &s, certificates)
                    let next = node.lastSeq + 1
                    if let current = held.last(where: { $0.binding.fromSeq <= next }),
                        current.certificate.publicKey == certificate.publicKey
                    {
                        return .commit
                    }
                    let digest = crypto.sha256(signer.certificateDER)
                    var fromSeq: UInt64 = 1
                    var handover: (any ChangeSigner)?
                    if node.lastSeq > 0 {
                        if let previous, let current = held.last, current.certificate.publicKey == previousKey {
                            fromSeq = next
                            handover = previous
                        } else {
                            let incarnation = Store.newIncarnation(wallMillis)
                            try db.execute(
                                sql: "UPDATE node SET incarnation = ?, last_seq = 0 WHERE id = 1",
                                arguments: [Data(incarnation.bytes)])
                            try Audit.append(
                                db, at: wallMillis, action: "new_incarnation", actor: "operator", origin: node.node,
                                code: "the node's key changed without a handover")
                            node.incarnation = incarnation
                            node.lastSeq = 0
                            held = []
                            started = true
                        }
                    }
                    if fromSeq == 1 {
                        // Nothing signed under this incarnation yet, so no peer holds a binding of it.
                        try db.execute(
                            sql: "DELETE FROM signing_key WHERE node_id = ? AND incarnation = ?",
                            arguments: [node.node.rawValue, Data(node.incarnation.bytes)])
                    }
                    let message = Seal.keyMessage(
                        node: node.node, incarnation: node.incarnation, fromSeq: fromSeq, certificateDigest: digest)
                    try Store.insertKey(
                        KeyBinding(
                            node: node.node, incarnation: node.incarnation, fromSeq: fromSeq,
                            certificate: signer.certificateDER, signature: try (handover ?? signer).sign(message)),
                        publicKey: certificate.publicKey, anchor: "own", from: nil, db, &s)
                    return .commit
                }
                return started
            }
            if started, let highWater {
                let node = try nodeState()
                try highWater.reset(node: node.node, incarnation: node.incarnation, seq: node.lastSeq)
            }
            return started
        }
    }

    // MARK: Key bindings from peers

    /// Accepts key bindings outside a batch (tests, benchmarks, tools), as if `peer` had sent them.
    /// Returns the refusals.
    @discardableResult
    public func addKeyBindings(
        _ bindings: [KeyBinding], from peer: NodeID, policy: any KeyAnchorPolicy, wallMillis: UInt64
    )
        throws -> [SyncError]
    {
        try pool.write { db in
            var s = ApplySession(hlc: .zero, wallMillis: wallMillis)
            var report = ApplyReport()
            try Store.acceptKeys(bindings, from: peer, policy: policy, db, &s, &report, crypto, certificates)
            return report.keysRefused
        }
    }

    /// Accepts each binding that verifies and is anchored; refuses (audits, counts, and for a
    /// contradiction keeps evidence of) the rest. Bindings come before the changes they verify.
    static func acceptKeys(
        _ bindings: [KeyBinding], from peer: NodeID, policy: any KeyAnchorPolicy, _ db: Database,
        _ s: inout ApplySession, _ report: inout ApplyReport, _ crypto: OpenSSLSealCrypto,
        _ certificates: CertificateCache
    ) throws {
        for binding in bindings {
            do {
                if try acceptKey(binding, from: peer, policy: policy, db, &s, crypto, certificates) {
                    report.keysAccepted += 1
                }
            } catch let error as SyncError {
                report.keysRefused.append(error)
                try Audit.append(
                    db, at: s.wallMillis, action: "key_refused", actor: peer.rawValue, origin: binding.node,
                    seq: binding.fromSeq, code: error.code.rawValue)
            }
        }
    }

    /// Accepts one binding; returns false when it was held already. Throws why it is refused.
    static func acceptKey(
        _ binding: KeyBinding, from peer: NodeID, policy: any KeyAnchorPolicy, _ db: Database,
        _ s: inout ApplySession, _ crypto: OpenSSLSealCrypto, _ certificates: CertificateCache
    ) throws -> Bool {
        let who = "\(binding.node) incarnation \(binding.incarnation) from seq \(binding.fromSeq)"
        guard binding.fromSeq >= 1, binding.signature.count == Seal.signatureBytes else {
            throw SyncError(.malformed, "the key binding of \(who) has no valid signature or seq")
        }
        let certificate = try certificates.certificate(binding.certificate)
        guard certificate.nodeIDs == [binding.node.rawValue] else {
            throw SyncError(.badSignature, "the key binding of \(who) carries a certificate that does not name it")
        }
        let held = try keys(for: binding.origin, db, &s, certificates)
        if let same = held.first(where: { $0.binding.fromSeq == binding.fromSeq }) {
            if same.certificate.publicKey == certificate.publicKey { return false }
            try evidence(
                "key_conflict", binding.origin, seq: binding.fromSeq, certificate: binding.certificate,
                "a second key claimed for \(who); the one held since \(same.anchor) stays", from: peer, db, s.wallMillis
            )
            throw SyncError(
                .keyConflict, "\(peer) sent another key for \(who) than the one held: refused, kept as evidence")
        }
        let message = Seal.keyMessage(
            node: binding.node, incarnation: binding.incarnation, fromSeq: binding.fromSeq,
            certificateDigest: crypto.sha256(binding.certificate))
        let anchor: String
        if binding.fromSeq == 1 {
            guard held.isEmpty else {
                throw SyncError(.keyConflict, "the key binding of \(who) comes after later ones")
            }
            guard certificate.verify(binding.signature, over: message) else {
                throw SyncError(.badSignature, "the key binding of \(who) is not signed by its certificate's key")
            }
            let verdict = policy.anchor(binding, deliveredBy: peer)
            if case .refused(let why) = verdict { throw SyncError(.unauthorised, why) }
            anchor = verdict.name
        } else {
            // A later key is handed over by the key it follows: only the origin can extend its keys.
            guard let last = held.last else {
                throw SyncError(.badSignature, "the key binding of \(who) follows a key this node does not hold")
            }
            guard binding.fromSeq > last.binding.fromSeq else {
                try evidence(
                    "key_conflict", binding.origin, seq: binding.fromSeq, certificate: binding.certificate,
                    "a key for \(who) inserted before the key held from seq \(last.binding.fromSeq)", from: peer, db,
                    s.wallMillis)
                throw SyncError(.keyConflict, "\(peer) sent a key for \(who) that contradicts the keys held")
            }
            guard last.certificate.verify(binding.signature, over: message) else {
                throw SyncError(.badSignature, "the key binding of \(who) is not signed by the key before it")
            }
            anchor = last.anchor == "own" ? "direct" : last.anchor
        }
        try insertKey(binding, publicKey: certificate.publicKey, anchor: anchor, from: peer, db, &s)
        return true
    }

    static func insertKey(
        _ binding: KeyBinding, publicKey: [UInt8], anchor: String, from peer: NodeID?, _ db: Database,
        _ s: inout ApplySession
    ) throws {
        try db.execute(
            sql: """
                INSERT INTO signing_key (node_id, incarnation, from_seq, certificate, public_key, signature, anchor, received_from, at)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                """,
            arguments: [
                binding.node.rawValue, Data(binding.incarnation.bytes), Int64(binding.fromSeq),
                Data(binding.certificate), Data(publicKey), Data(binding.signature), anchor, peer?.rawValue,
                Int64(s.wallMillis),
            ])
        s.keys[binding.origin] = nil
    }

    /// The bindings held for an origin, by first seq.
    static func keys(
        for origin: Origin, _ db: Database, _ s: inout ApplySession, _ certificates: CertificateCache
    ) throws -> [HeldKey] {
        if let known = s.keys[origin] { return known }
        let rows = try Row.fetchAll(
            db.cachedStatement(
                sql: """
                    SELECT from_seq, certificate, signature, anchor FROM signing_key
                    WHERE node_id = ? AND incarnation = ? ORDER BY from_seq
                    """),
            arguments: [origin.node.rawValue, Data(origin.incarnation.bytes)])
        let keys = try rows.map { row in
            let der = [UInt8](row["certificate"] as Data)
            return HeldKey(
                binding: KeyBinding(
                    node: origin.node, incarnation: origin.incarnation, fromSeq: UInt64(row["from_seq"] as Int64),
                    certificate: der, signature: [UInt8](row["signature"] as Data)),
                certificate: try certificates.certificate(der), anchor: row["anchor"])
        }
        s.keys[origin] = keys
        return keys
    }

    static func evidence(
        _ kind: String, _ origin: Origin, seq: UInt64, certificate: [UInt8]?, _ detail: String, from peer: NodeID?,
        _ db: Database, _ wallMillis: UInt64
    ) throws {
        try db.execute(
            sql: """
                INSERT INTO signature_evidence (kind, node_id, incarnation, seq, certificate, detail, received_from, at)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                """,
            arguments: [
                kind, origin.node.rawValue, Data(origin.incarnation.bytes), Int64(seq), certificate.map { Data($0) },
                detail, peer?.rawValue, Int64(wallMillis),
            ])
    }

    // MARK: Verifying a received change

    /// A received change decoded and its signature checked before a batch's sequential part: the
    /// expensive part of verifying (ECDSA) runs for all the batch's changes at once, on every core.
    struct Prepared {
        /// The change's writes, or why it cannot even be decoded (then it is refused whole).
        var decoded: Result<(record: RecordID, writes: [FieldWrite]), SyncError>
        /// The sorted digests of all its writes, or why they do not form a change.
        var digests: Result<[[UInt8]], SyncError> = .success([])
        /// The signature's verdict under the key held for the origin; nil when no key is held.
        var signatureValid: Bool?
    }

    /// Decodes every change of a batch, computes its digests and finds its origin's key, then checks
    /// all their signatures in parallel. Pure computation but for the key lookups.
    static func prepare(
        _ changes: [IncomingChange], limits: Limits, _ db: Database, _ s: inout ApplySession,
        _ certificates: CertificateCache, checkSignatures: Bool = true
    ) throws -> [Prepared] {
        let crypto = OpenSSLSealCrypto()
        var prepared: [Prepared] = []
        prepared.reserveCapacity(changes.count)
        var jobs: [SignatureCheck] = []
        for (index, change) in changes.enumerated() {
            let decoded: Result<(record: RecordID, writes: [FieldWrite]), SyncError>
            do {
                let record = try RecordID(change.record)
                decoded = .success(
                    (
                        record,
                        try change.bodies.map {
                            try FieldWrite(
                                origin: change.origin, seq: change.seq, hlc: change.hlc, record: record, body: $0)
                        }
                    ))
            } catch let error as SyncError {
                decoded = .failure(error)
            } catch {
                decoded = .failure(SyncError(.malformed, "\(error)"))
            }
            var p = Prepared(decoded: decoded)
            if case .success(let d) = decoded {
                p.digests = Result { () throws(SyncError) in try sortedDigests(change, d.writes, limits, crypto) }
                if checkSignatures, case .success(let digests) = p.digests,
                    change.signature.count == Seal.signatureBytes,
                    let key = try keys(for: change.origin, db, &s, certificates).last(where: {
                        $0.binding.fromSeq <= change.seq
                    })
                {
                    jobs.append(
                        SignatureCheck(
                            index: index, key: key.certificate, signature: change.signature,
                            message: Seal.changeMessage(
                                origin: change.origin, seq: change.seq, hlc: change.hlc, record: change.record,
                                digests: digests)))
                }
            }
            prepared.append(p)
        }
        for (job, valid) in zip(jobs, SignatureCheck.run(jobs)) { prepared[job.index].signatureValid = valid }
        return prepared
    }

    /// The signature verdict of each change under the keys this store holds (nil: no key), by the
    /// path `apply` takes, without applying anything: for the protocol benchmark.
    public func signatureVerdicts(_ changes: [IncomingChange]) throws -> [Bool?] {
        try pool.read { db in
            var s = ApplySession(hlc: .zero, wallMillis: 0)
            return try Store.prepare(changes, limits: limits, db, &s, certificates).map(\.signatureValid)
        }
    }

    /// The sorted digests of a change's writes carried and withheld; throws when they cannot be
    /// those of one change (a digest of the wrong size, a write twice, more than a change may hold).
    static func sortedDigests(
        _ change: IncomingChange, _ writes: [FieldWrite], _ limits: Limits, _ crypto: OpenSSLSealCrypto
    ) throws(SyncError) -> [[UInt8]] {
        let name = "change \(change.origin.node):\(change.seq) of \(change.record)"
        var digests: [[UInt8]] = []
        digests.reserveCapacity(writes.count + change.withheld.count)
        for w in writes { digests.append(try w.digest(crypto)) }
        for d in change.withheld {
            guard d.count == Seal.digestBytes else {
                throw SyncError(.malformed, "\(name): a withheld digest is not 32 bytes")
            }
            digests.append(d)
        }
        digests.sort { $0.lexicographicallyPrecedes($1) }
        guard digests.count <= limits.fieldWritesPerChangeMax,
            zip(digests, digests.dropFirst()).allSatisfy({ $0 != $1 })
        else {
            throw SyncError(.badSignature, "\(name) lists a field write twice or more than a change may hold")
        }
        return digests
    }

    /// Checks a received change's signature verdict (from `prepare`) and its seal against one held
    /// for the same change. Returns the seal to keep. Throws `badSignature`, `unknownKey` or
    /// `keyConflict` (the change is refused), or `rolledBack` when the change is this node's own,
    /// validly signed, and beyond or different from what its store holds: proof that the store was
    /// put back to an older copy. Stores nothing but evidence: a refused change leaves no rows.
    static func verify(
        _ change: IncomingChange, _ prepared: Prepared, record: RecordID, from peer: NodeID?, _ db: Database,
        _ s: inout ApplySession
    ) throws -> HeldSeal {
        let name = "change \(change.origin.node):\(change.seq) of \(change.record)"
        guard change.signature.count == Seal.signatureBytes else {
            throw SyncError(.badSignature, "\(name) carries no origin signature")
        }
        let digests = try prepared.digests.get()
        guard let valid = prepared.signatureValid else {
            throw SyncError(
                .unknownKey,
                "\(name): no key is held for \(change.origin.node) incarnation \(change.origin.incarnation) (its key "
                    + "binding was not sent, or was refused); it comes again through a peer that can vouch for the key")
        }
        guard valid else {
            throw SyncError(.badSignature, "\(name): the signature is not \(change.origin.node)'s")
        }
        // A record without a row here cannot be the record of a change held here.
        let seal = HeldSeal(
            hlc: Int64(bitPattern: change.hlc.rawValue), record: try recordID(record, create: false, db, &s),
            digests: digests.flatMap { $0 },
            signature: change.signature)
        let originRow = try originID(change.origin, db, &s)
        let held = try heldSeal(originRow: originRow, seq: change.seq, db)
        if let own = s.own, own.origin == change.origin,
            change.seq > own.lastSeq || held.map({ !$0.sameChange(as: seal) }) ?? true
        {
            throw SyncError(
                .rolledBack,
                "\(peer.map { "\($0)" } ?? "a peer") sent this node's own change \(change.seq), signed with its key, "
                    + "which its store (at seq \(own.lastSeq)) does not hold: it was put back to an older copy",
                rollbackProof: RollbackProof(seq: change.seq, hlc: change.hlc))
        }
        if let held, !held.sameChange(as: seal) {
            try evidence(
                "equivocation", change.origin, seq: change.seq, certificate: nil,
                "\(change.origin.node) signed two different changes under seq \(change.seq)", from: peer, db,
                s.wallMillis)
            throw SyncError(
                .keyConflict, "\(name) differs from the change held under that seq: refused, kept as evidence")
        }
        return seal
    }

    static func heldSeal(originRow: Int64, seq: UInt64, _ db: Database) throws -> HeldSeal? {
        guard
            let row = try Row.fetchOne(
                db.cachedStatement(
                    sql: "SELECT hlc, record, digests, signature FROM change_seal WHERE origin = ? AND seq = ?"),
                arguments: [originRow, Int64(seq)])
        else { return nil }
        return HeldSeal(
            hlc: row["hlc"], record: row["record"], digests: [UInt8](row["digests"] as Data),
            signature: [UInt8](row["signature"] as Data))
    }

    static func keepSeal(_ seal: HeldSeal, originRow: Int64, seq: UInt64, _ db: Database) throws {
        precondition(seal.record != nil, "a seal is kept with its record's row")
        try db.cachedStatement(
            sql:
                "INSERT INTO change_seal (origin, seq, hlc, record, digests, signature) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING"
        ).execute(arguments: [originRow, Int64(seq), seal.hlc, seal.record, Data(seal.digests), Data(seal.signature)])
    }

    // MARK: Relaying

    /// Adds to each change its origin's signature and the digests of the writes of it that are not
    /// carried (filtered out for the receiver, or sent in another item), from the seals held.
    public func sealed(_ changes: [IncomingChange]) throws -> [IncomingChange] {
        try pool.read { db in
            var originRows: [Origin: Int64] = [:]
            return try changes.map { change in
                var out = change
                var originRow = originRows[change.origin]
                if originRow == nil {
                    originRow = try Int64.fetchOne(
                        db.cachedStatement(sql: "SELECT id FROM origin WHERE node_id = ? AND incarnation = ?"),
                        arguments: [change.origin.node.rawValue, Data(change.origin.incarnation.bytes)])
                    originRows[change.origin] = originRow
                }
                guard let originRow, let seal = try Store.heldSeal(originRow: originRow, seq: change.seq, db) else {
                    throw SyncError(
                        .storeInvalid,
                        "change \(change.origin.node):\(change.seq) has no seal: the store is damaged; restore it")
                }
                out.signature = seal.signature
                // Every write of the change carried (the common case: a change sent whole): nothing
                // is withheld, and no body need be decoded and hashed to find out which.
                if seal.digests.count == change.bodies.count * Seal.digestBytes,
                    Set(change.bodies).count == change.bodies.count
                {
                    out.withheld = []
                    return out
                }
                let record = try RecordID(change.record)
                var carried = Set<[UInt8]>()
                for body in change.bodies {
                    let w = try FieldWrite(
                        origin: change.origin, seq: change.seq, hlc: change.hlc, record: record, body: body)
                    carried.insert(try w.digest(crypto))
                }
                out.withheld = stride(from: 0, to: seal.digests.count, by: Seal.digestBytes).map {
                    Array(seal.digests[$0..<$0 + Seal.digestBytes])
                }.filter { !carried.contains($0) }
                return out
            }
        }
    }

    /// The key bindings that verify changes of these origins up to these seqs: for each origin, its
    /// bindings from seq 1 to the one valid at the seq, in order.
    public func keyBindings(for needed: [Origin: UInt64]) throws -> [KeyBinding] {
        try pool.read { db in
            var s = ApplySession(hlc: .zero, wallMillis: 0)
            var out: [KeyBinding] = []
            for (origin, seq) in needed.sorted(by: { $0.key < $1.key }) {
                out += try Store.keys(for: origin, db, &s, certificates).map(\.binding).filter { $0.fromSeq <= seq }
            }
            return out
        }
    }

    /// The keys held and the evidence kept, for `spsync status`.
    public func signatureSummary() throws -> SignatureSummary {
        try pool.read { db in
            let keys = try Row.fetchAll(
                db,
                sql:
                    "SELECT node_id, incarnation, from_seq, anchor, received_from, at FROM signing_key ORDER BY node_id, incarnation, from_seq"
            ).map { row in
                SignatureSummary.Key(
                    node: row["node_id"],
                    incarnation: (try? UUIDv7(bytes: [UInt8](row["incarnation"] as Data)))?.description ?? "?",
                    fromSeq: UInt64(row["from_seq"] as Int64), anchor: row["anchor"],
                    receivedFrom: row["received_from"],
                    at: UInt64(row["at"] as Int64))
            }
            let evidence = try Row.fetchAll(
                db,
                sql:
                    "SELECT kind, node_id, incarnation, seq, detail, received_from, at FROM signature_evidence ORDER BY id"
            ).map { row in
                SignatureSummary.Evidence(
                    kind: row["kind"], node: row["node_id"],
                    incarnation: (try? UUIDv7(bytes: [UInt8](row["incarnation"] as Data)))?.description ?? "?",
                    seq: UInt64(row["seq"] as Int64), detail: row["detail"], receivedFrom: row["received_from"],
                    at: UInt64(row["at"] as Int64))
            }
            return SignatureSummary(keys: keys, evidence: evidence)
        }
    }
}

/// The origin keys a node holds and the evidence of contradicting ones, as `spsync status` shows them.
public struct SignatureSummary: Sendable, Equatable, Codable {
    public struct Key: Sendable, Equatable, Codable {
        public var node: String
        public var incarnation: String
        public var fromSeq: UInt64
        /// own, direct, pinned, ca or first_sight.
        public var anchor: String
        public var receivedFrom: String?
        /// ms since the Unix epoch.
        public var at: UInt64
    }
    public struct Evidence: Sendable, Equatable, Codable {
        /// key_conflict or equivocation.
        public var kind: String
        public var node: String
        public var incarnation: String
        public var seq: UInt64
        public var detail: String
        public var receivedFrom: String?
        /// ms since the Unix epoch.
        public var at: UInt64
    }
    public var keys: [Key]
    public var evidence: [Evidence]
}

extension HeldSeal {
    /// Whether both seals are of one change (the signatures may differ: ECDSA signs with a fresh nonce).
    func sameChange(as other: HeldSeal) -> Bool {
        hlc == other.hlc && record == other.record && digests == other.digests
    }
}

/// One signature to check, and the parallel checking of many.
struct SignatureCheck: @unchecked Sendable {
    // Immutable; SignerCertificate verifies on any thread (each call has its own OpenSSL context).
    var index: Int
    var key: SignerCertificate
    var signature: [UInt8]
    var message: [UInt8]

    /// Below this many signatures a batch is checked on the calling thread.
    static let parallelMin = 16

    /// Each check's verdict, in order, computed on every core for a large batch.
    static func run(_ checks: [SignatureCheck]) -> [Bool] {
        guard checks.count >= parallelMin else { return checks.map { $0.key.verify($0.signature, over: $0.message) } }
        let verdicts = VerdictBuffer(count: checks.count)
        let workers = max(1, min(ProcessInfo.processInfo.activeProcessorCount, checks.count / 8))
        DispatchQueue.concurrentPerform(iterations: workers) { worker in
            var i = worker
            while i < checks.count {
                verdicts.set(i, checks[i].key.verify(checks[i].signature, over: checks[i].message))
                i += workers
            }
        }
        return verdicts.values
    }
}

/// Verdicts written by parallel workers, each to its own indices, read after they all finished.
final class VerdictBuffer: @unchecked Sendable {
    // Every index is written by exactly one worker; `values` is read only after concurrentPerform returns.
    private let storage: UnsafeMutableBufferPointer<Bool>

    init(count: Int) {
        storage = .allocate(capacity: count)
        storage.initialize(repeating: false)
    }

    deinit { storage.deallocate() }

    func set(_ index: Int, _ value: Bool) { storage[index] = value }

    var values: [Bool] { Array(storage) }
}
