import Foundation
import GRDB
import SyncCore
import SyncCrypto

extension Store {
    // MARK: Local writes

    /// Makes one change at this node: validates every field write exactly as a received one would
    /// be, allocates seq and HLC inside `BEGIN IMMEDIATE`, and applies it. Returns its reference.
    @discardableResult
    public func write(
        _ record: RecordID, _ values: [(FieldKey, [UInt8])], wallMillis: UInt64, actor: String = "operator"
    ) throws -> ChangeRef {
        try makeChange(record, values, wallMillis: wallMillis, actor: actor, validate: true)
    }

    /// Makes a change as a tampered node would: without validation, so peers must refuse it. With
    /// `claiming`, the change claims another origin (and that origin's next seq as this store knows
    /// it, or `seq`) but is signed with this node's key, as a forger's would be, or with `signedBy`.
    /// For the simulator and tests only (`@_spi(Tampering) import SyncStore`).
    @_spi(Tampering)
    @discardableResult
    public func tamperedWrite(
        _ record: RecordID, _ values: [(FieldKey, [UInt8])], wallMillis: UInt64, claiming: Origin? = nil,
        seq: UInt64? = nil, signedBy: (any ChangeSigner)? = nil
    ) throws -> ChangeRef {
        precondition(claiming != nil || (seq == nil && signedBy == nil), "seq and signedBy go with claiming")
        return try makeChange(
            record, values, wallMillis: wallMillis, actor: "tampered", validate: false, claiming: claiming,
            claimedSeq: seq, signedBy: signedBy)
    }

    private func makeChange(
        _ record: RecordID, _ values: [(FieldKey, [UInt8])], wallMillis: UInt64, actor: String, validate: Bool,
        claiming: Origin? = nil, claimedSeq: UInt64? = nil, signedBy: (any ChangeSigner)? = nil
    ) throws -> ChangeRef {
        guard let signer = signedBy ?? signer else {
            throw SyncError(
                .usage, "this store was opened without the node's key, so it cannot sign a change; use the node's home")
        }
        let signerKey = try certificates.certificate(signer.certificateDER).publicKey
        guard !values.isEmpty else { throw SyncError(.usage, "nothing to write") }
        guard values.count <= limits.fieldWritesPerChangeMax else {
            throw SyncError(.limitExceeded, "a change may write at most \(limits.fieldWritesPerChangeMax) fields")
        }
        guard Set(values.map(\.0)).count == values.count else {
            throw SyncError(.usage, "a change writes each field once")
        }
        let ref = try pool.writeWithoutTransaction { db in
            var ref: ChangeRef?
            var erased = false
            try db.inTransaction(.immediate) {
                let node = try Store.nodeState(db)
                if let at = node.rolledBackAt {
                    throw Store.rolledBackError(at: at)
                }
                var clock = HybridLogicalClock(last: node.hlc)
                let ahead = clock.aheadMillis(ofWall: wallMillis)
                guard ahead <= limits.clockSkewMaxMillis else {
                    throw SyncError(
                        .clockAhead,
                        "refusing local writes: this node's clock (HLC) is \(ahead / 1000) s ahead of the system clock, "
                            + "more than the \(limits.clockSkewMaxSeconds) s allowed. Check the system time (timedatectl) "
                            + "and NTP; writes resume once the system clock catches up")
                }
                let hlc = clock.tick(wallMillis: wallMillis)
                var s = ApplySession(hlc: hlc, wallMillis: wallMillis)
                let origin = claiming ?? node.origin
                var seq = node.lastSeq + 1
                if let claiming {
                    let row = try Store.originID(claiming, db, &s)
                    seq =
                        try claimedSeq
                        ?? UInt64(
                            try Int64.fetchOne(
                                db, sql: "SELECT max(seq) FROM field_write WHERE origin = ?", arguments: [row]) ?? 0)
                        + 1
                } else {
                    // The key must be the one bound to this seq: a rotation may have taken effect
                    // since this command loaded the key.
                    let bound = try Store.keys(for: node.origin, db, &s, certificates).last {
                        $0.binding.fromSeq <= seq
                    }
                    guard bound?.certificate.publicKey == signerKey else {
                        throw SyncError(
                            .conflict,
                            "the node's key changed while this command ran (a certificate rotation took effect): "
                                + "run the command again")
                    }
                }
                let recordRow = try Store.recordID(record, create: false, db, &s)
                var writes: [FieldWrite] = []
                for (field, value) in values {
                    var context = CausalContext()
                    var liveEvents: [FieldWrite] = []
                    if let recordRow {
                        let redaction = FieldKey.redaction(field.dataClass)
                        let known = try Store.writes(
                            record: record, recordRow: recordRow, fields: [field.rawValue, redaction.rawValue], db, &s)
                        let own = known.filter { $0.field == field }
                        let redactions = field.isRedaction ? [] : known.filter { $0.field == redaction }
                        context = Merge.context(replacing: own, redactions: redactions)
                        if validate, field.knownKind == .set {
                            let live = Set(Merge.resolve(own, redactions: redactions).live)
                            guard live.count < limits.setElementsMax else {
                                throw SyncError(
                                    .limitExceeded,
                                    "\(record) already holds \(live.count) entries in \(field), the most one record "
                                        + "may hold (setElementsMax); close or settle this referral and start a new one"
                                )
                            }
                            if field == .progressEvents { liveEvents = own.filter { live.contains($0.id) } }
                        }
                    }
                    // A referral's values may be withheld from a receiver, which then holds only their
                    // digests: a random salt makes those digests unguessable.
                    let salt: [UInt8]? = record.referralParties == nil ? nil : Store.newSalt()
                    let w = FieldWrite(
                        origin: origin, seq: seq, hlc: hlc, record: record, field: field,
                        kind: field.knownKind ?? .register, value: value, context: context, salt: salt)
                    if validate {
                        try Validation.check(w, limits: limits)
                        if field == .progressEvents {
                            // The lifecycle table (Protocol/SPEC.md 9.1), checked inside this
                            // transaction so that two commands cannot both pass on the same state.
                            let event = try FieldValue.decode(ProgressEvent.self, value, field: field)
                            let target = try Store.currentService(
                                record, recordRow: recordRow, writing: values, db)
                            try Lifecycle.check(
                                event, on: record, held: liveEvents.compactMap(StampedEvent.init),
                                currentService: target)
                        }
                    }
                    writes.append(w)
                }
                let digests = try writes.map { try $0.digest(crypto) }
                let signature = try signer.sign(
                    Seal.changeMessage(origin: origin, seq: seq, hlc: hlc, record: record.rawValue, digests: digests))
                for w in writes {
                    _ = try Store.insert(w, body: w.encodedBody(), from: nil, db, &s)
                    try Audit.append(
                        db, at: wallMillis, action: "local_write", actor: actor, origin: w.origin.node, seq: seq,
                        record: record.rawValue, field: w.field.rawValue)
                }
                guard let recordRow = try Store.recordID(record, create: true, db, &s) else {
                    preconditionFailure("record row must exist after create")
                }
                try Store.keepSeal(
                    HeldSeal(
                        hlc: Int64(bitPattern: hlc.rawValue), record: recordRow,
                        digests: digests.sorted { $0.lexicographicallyPrecedes($1) }.flatMap { $0 },
                        signature: signature),
                    originRow: try Store.originID(origin, db, &s), seq: seq, db)
                if claiming == nil {
                    try db.cachedStatement(sql: "UPDATE node SET last_seq = ?, hlc = ? WHERE id = 1").execute(
                        arguments: [Int64(seq), Int64(bitPattern: hlc.rawValue)])
                }
                try Store.refreshViews(db, &s)
                ref = ChangeRef(origin: origin, seq: seq)
                erased = s.erased
                return .commit
            }
            if erased { try Store.eraseFromDisk(db) }
            guard let ref else { preconditionFailure("committed without a change reference") }
            return ref
        }
        if claiming == nil {
            // After the commit, so the mark is never ahead of the store; a mark left behind (the
            // disk is full, say) only makes the check at open weaker, so it does not fail the write.
            try? highWater?.raise(node: ref.origin.node, incarnation: ref.origin.incarnation, seq: ref.seq)
        }
        return ref
    }

    /// The service a referral is addressed to once a local change with `values` is made: the one
    /// the change writes, else the current winner (the referral view is up to date at the start of
    /// every write transaction).
    static func currentService(
        _ record: RecordID, recordRow: Int64?, writing values: [(FieldKey, [UInt8])], _ db: Database
    ) throws -> RecordID? {
        let text: String?
        if let written = values.first(where: { $0.0 == .routingService }) {
            text = String(decoding: written.1, as: UTF8.self)
        } else if let recordRow {
            text = try String.fetchOne(
                db, sql: "SELECT service FROM referral WHERE record = ?", arguments: [recordRow])
        } else {
            text = nil
        }
        return text.flatMap { try? RecordID($0) }
    }

    // MARK: Received batches

    /// Runs an apply; when it found proof that this store was rolled back, marks the store so
    /// (local writes stop until `spsync restore`) before passing the error on.
    func markingRollback<T>(evidenceFrom peer: NodeID, wallMillis: UInt64, _ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch let error as SyncError where error.code == .rolledBack {
            try markRolledBack(wallMillis: wallMillis, evidence: peer.rawValue, proof: error.rollbackProof)
            throw error
        }
    }

    /// Applies the changes of a batch, with the same outcome as applying them one by one with
    /// `applyChange`.
    ///
    /// A savepoint per change costs SQLite a copy of every page the change touches (its statement
    /// journal), which was a large share of a batch's time. So the batch first runs under one
    /// savepoint with no savepoint per change. Should a write fail with a database error, the batch
    /// is rolled back to that savepoint, the report and session are set back to where they were,
    /// and the changes are applied again one by one, each under its own savepoint, exactly as
    /// `applyChange` applies them alone, which sets aside only the bad writes.
    static func applyBatch(
        _ changes: [IncomingChange], from peer: NodeID?, limits: Limits, _ db: Database,
        _ s: inout ApplySession, _ report: inout ApplyReport, certificates: CertificateCache,
        afterEach: () throws -> Void = {}
    ) throws {
        let prepared = try prepare(changes, limits: limits, db, &s, certificates)
        let savedReport = report
        let savedSession = s
        try db.cachedStatement(sql: "SAVEPOINT spsync_batch").execute()
        do {
            for (change, p) in zip(changes, prepared) {
                try applyChange(
                    change, from: peer, limits: limits, db, &s, &report, isolated: false, prepared: p,
                    certificates: certificates, afterEach: afterEach)
            }
            try db.cachedStatement(sql: "RELEASE spsync_batch").execute()
        } catch let error as DatabaseError {
            // A full disk or a failing volume is the store's, not a write's: the whole batch fails
            // with it (SQLite may have rolled the transaction back already, savepoints and all).
            try checkTransient(error)
            try db.cachedStatement(sql: "ROLLBACK TO spsync_batch").execute()
            try db.cachedStatement(sql: "RELEASE spsync_batch").execute()
            report = savedReport
            s = savedSession
            for (change, p) in zip(changes, prepared) {
                try applyChange(
                    change, from: peer, limits: limits, db, &s, &report, prepared: p, certificates: certificates,
                    afterEach: afterEach)
            }
        }
    }

    /// Applies one received change: verifies its origin signature (refusing the whole change when it
    /// fails), validates each field write (refusing and auditing the bad ones), keeps its seal, parks
    /// the far-future ones, and inserts the rest.
    ///
    /// `isolated` runs the inserts under a savepoint of their own so a database error sets aside
    /// only the bad write; without it (inside `applyBatch`'s savepoint) the error is thrown.
    /// `verified` is for parked changes, whose signature was checked when they arrived.
    static func applyChange(
        _ change: IncomingChange, from peer: NodeID?, limits: Limits, _ db: Database,
        _ s: inout ApplySession, _ report: inout ApplyReport, isolated: Bool = true, verified: Bool = false,
        prepared: Prepared? = nil, certificates: CertificateCache, afterEach: () throws -> Void = {}
    ) throws {
        var accepted: [(FieldWrite, [UInt8])] = []
        // A parked change was verified when it arrived: only decode it again.
        let p =
            try prepared ?? prepare([change], limits: limits, db, &s, certificates, checkSignatures: !verified)[0]
        // The signature covers every write of the change, so one that does not decode fails it whole.
        let record: RecordID
        let writes: [FieldWrite]
        switch p.decoded {
        case .success(let d): (record, writes) = d
        case .failure(let error):
            for _ in change.bodies { try refuse(change, nil, error, from: peer, db, &s, &report) }
            return
        }
        var seal: HeldSeal?
        if !verified {
            do {
                seal = try verify(change, p, record: record, from: peer, db, &s)
            } catch let error as SyncError where error.code != .rolledBack {
                for w in writes { try refuse(change, w.field.rawValue, error, from: peer, db, &s, &report) }
                return
            }
        }
        for (write, body) in zip(writes, change.bodies) {
            do {
                try Validation.check(write, limits: limits)
                accepted.append((write, body))
            } catch {
                try refuse(change, write.field.rawValue, error, from: peer, db, &s, &report)
            }
        }
        if var seal, !accepted.isEmpty {
            // The record's row is made only now that something of the change is kept.
            if seal.record == nil { seal.record = try recordID(record, create: true, db, &s) }
            try keepSeal(seal, originRow: try originID(change.origin, db, &s), seq: change.seq, db)
        }
        if change.hlc.millis > s.wallMillis + limits.clockSkewMaxMillis {
            for (write, body) in accepted {
                try db.cachedStatement(
                    sql: """
                        INSERT INTO parked (origin_node, origin_incarnation, seq, hlc, record_key, body, received_from, parked_at)
                        VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING
                        """
                ).execute(arguments: [
                    write.origin.node.rawValue, Data(write.origin.incarnation.bytes), Int64(write.seq),
                    Int64(bitPattern: write.hlc.rawValue), change.record, Data(body), peer?.rawValue,
                    Int64(s.wallMillis),
                ])
                if db.changesCount > 0 {
                    report.parked += 1
                    try Audit.append(
                        db, at: s.wallMillis, action: "parked", actor: peer?.rawValue, origin: write.origin.node,
                        seq: write.seq, record: change.record, field: write.field.rawValue)
                }
            }
            return
        }
        guard isolated else {
            for (write, body) in accepted {
                try insertCounted(write, body, from: peer, db, &s, &report)
                try afterEach()
            }
            return
        }
        // One savepoint per change; if a write fails for a reason that will not pass, the change is
        // rolled back to it and retried write by write, so only the bad write is set aside.
        let savedReport = report
        try db.cachedStatement(sql: "SAVEPOINT spsync_change").execute()
        do {
            for (write, body) in accepted {
                try insertCounted(write, body, from: peer, db, &s, &report)
                try afterEach()
            }
            try db.cachedStatement(sql: "RELEASE spsync_change").execute()
        } catch let error as DatabaseError {
            try checkTransient(error)
            try db.cachedStatement(sql: "ROLLBACK TO spsync_change").execute()
            try db.cachedStatement(sql: "RELEASE spsync_change").execute()
            report = savedReport
            s.forgetRowsSinceSavepoint()
            for (write, body) in accepted {
                try db.cachedStatement(sql: "SAVEPOINT spsync_write").execute()
                do {
                    try insertCounted(write, body, from: peer, db, &s, &report)
                    try db.cachedStatement(sql: "RELEASE spsync_write").execute()
                } catch let error as DatabaseError {
                    try checkTransient(error)
                    try db.cachedStatement(sql: "ROLLBACK TO spsync_write").execute()
                    try db.cachedStatement(sql: "RELEASE spsync_write").execute()
                    try quarantine(write, body, change.record, error, from: peer, db, &s, &report)
                }
            }
        }
    }

    private static func insertCounted(
        _ write: FieldWrite, _ body: [UInt8], from peer: NodeID?, _ db: Database, _ s: inout ApplySession,
        _ report: inout ApplyReport
    ) throws {
        switch try Store.insert(write, body: body, from: peer, db, &s) {
        case .inserted:
            report.applied += 1
            s.hlc.observe(write.hlc)
        case .duplicate:
            report.duplicates += 1
        }
    }

    /// Trouble that will pass (a full disk, I/O, a lock) aborts the whole batch: nothing is applied
    /// and the peer sends it again later.
    /// Rethrows an error of the store rather than of one write (full disk, failing volume, busy,
    /// out of memory) before any savepoint is touched: SQLite may have rolled the whole transaction
    /// back. `Store.operatorError` and `Store.syncFailure` turn it into the operator's words.
    private static func checkTransient(_ error: DatabaseError) throws {
        switch error.resultCode {
        case .SQLITE_FULL, .SQLITE_IOERR, .SQLITE_BUSY, .SQLITE_LOCKED, .SQLITE_NOMEM, .SQLITE_READONLY,
            .SQLITE_CANTOPEN, .SQLITE_ABORT:
            throw error
        default:
            return
        }
    }

    private static func refuse(
        _ change: IncomingChange, _ field: String?, _ error: SyncError, from peer: NodeID?, _ db: Database,
        _ s: inout ApplySession, _ report: inout ApplyReport
    ) throws {
        report.refused.append(error)
        try Audit.append(
            db, at: s.wallMillis, action: "refused", actor: peer?.rawValue, origin: change.origin.node, seq: change.seq,
            record: change.record, field: field, code: error.code.rawValue)
    }

    /// Sets aside a write the store cannot take for a reason that will not pass; the stream moves on.
    private static func quarantine(
        _ write: FieldWrite, _ body: [UInt8], _ recordKey: String, _ error: DatabaseError, from peer: NodeID?,
        _ db: Database, _ s: inout ApplySession, _ report: inout ApplyReport
    ) throws {
        report.quarantined += 1
        try db.cachedStatement(
            sql:
                "INSERT INTO quarantine (origin_node, origin_incarnation, seq, record_key, body, error, received_from, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
        ).execute(arguments: [
            write.origin.node.rawValue, Data(write.origin.incarnation.bytes), Int64(write.seq), recordKey, Data(body),
            "\(error.resultCode): \(error.message ?? "")", peer?.rawValue, Int64(s.wallMillis),
        ])
        try Audit.append(
            db, at: s.wallMillis, action: "quarantined", actor: peer?.rawValue, origin: write.origin.node,
            seq: write.seq, record: recordKey, field: write.field.rawValue, code: "\(error.resultCode)")
    }

    /// Applies parked writes whose time has come; they get their local seq now and flow on.
    @discardableResult
    public func releaseParked(wallMillis: UInt64) throws -> Int {
        try pool.writeWithoutTransaction { db in
            var released = 0
            var erased = false
            try db.inTransaction(.immediate) {
                let node = try Store.nodeState(db)
                var s = ApplySession(hlc: node.hlc, wallMillis: wallMillis)
                var report = ApplyReport()
                let due = try Row.fetchAll(
                    db, sql: "SELECT * FROM parked WHERE (hlc >> 16) <= ? ORDER BY hlc",
                    arguments: [Int64(wallMillis + limits.clockSkewMaxMillis)])
                for row in due {
                    let origin = Origin(
                        node: try NodeID(row["origin_node"] as String),
                        incarnation: try UUIDv7(bytes: [UInt8](row["origin_incarnation"] as Data)))
                    let change = IncomingChange(
                        origin: origin, seq: UInt64(row["seq"] as Int64),
                        hlc: HLC(rawValue: UInt64(bitPattern: row["hlc"])),
                        record: row["record_key"], bodies: [[UInt8](row["body"] as Data)])
                    // The peer it came from is kept for the audit trail; an unreadable one is recorded as unknown.
                    let peer = (row["received_from"] as String?).flatMap { try? NodeID($0) }
                    try Store.applyChange(
                        change, from: peer, limits: limits, db, &s, &report, verified: true, certificates: certificates)
                    try db.cachedStatement(sql: "DELETE FROM parked WHERE id = ?").execute(arguments: [
                        row["id"] as Int64
                    ])
                    released += 1
                }
                try db.cachedStatement(sql: "UPDATE node SET hlc = max(hlc, ?) WHERE id = 1").execute(arguments: [
                    Int64(bitPattern: s.hlc.last.rawValue)
                ])
                try Store.refreshViews(db, &s)
                erased = s.erased
                return .commit
            }
            if erased { try Store.eraseFromDisk(db) }
            return released
        }
    }

    // MARK: Checkpoints and the sent ledger

    static func checkpoint(_ db: Database, peer: NodeID, incarnation: Incarnation) throws -> UInt64 {
        let v = try Int64.fetchOne(
            db, sql: "SELECT after_local_seq FROM peer_checkpoint WHERE peer = ? AND peer_incarnation = ?",
            arguments: [peer.rawValue, Data(incarnation.bytes)])
        return UInt64(v ?? 0)
    }

    /// How far this node has pulled from `peer`'s incarnation (0 for one never seen: start over).
    public func checkpoint(peer: NodeID, incarnation: Incarnation) throws -> UInt64 {
        try pool.read { db in try Store.checkpoint(db, peer: peer, incarnation: incarnation) }
    }
}
