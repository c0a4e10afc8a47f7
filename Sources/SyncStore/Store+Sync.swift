import Foundation
import GRDB
import SyncCore

/// The store queries and updates the sync protocol needs: rollback evidence, audiences, the sent
/// ledger with its unacknowledged part, HOLDING, and batches that carry narrowings.
extension Store {
    // MARK: Handshake

    /// For each incarnation of `node` this store holds writes of (applied or parked), the highest seq.
    public func heldSeqs(of node: NodeID) throws -> [Incarnation: UInt64] {
        try pool.read { db in
            var out: [Incarnation: UInt64] = [:]
            let rows = try Row.fetchAll(
                db,
                sql: """
                    SELECT origin.incarnation AS inc, max(field_write.seq) AS seq FROM field_write
                    JOIN origin ON origin.id = field_write.origin WHERE origin.node_id = ? GROUP BY origin.id
                    UNION ALL
                    SELECT origin_incarnation AS inc, max(seq) AS seq FROM parked WHERE origin_node = ? GROUP BY origin_incarnation
                    """,
                arguments: [node.rawValue, node.rawValue])
            for row in rows {
                let inc = try UUIDv7(bytes: [UInt8](row["inc"] as Data))
                out[inc] = max(out[inc] ?? 0, UInt64(row["seq"] as Int64))
            }
            return out
        }
    }

    // MARK: Audiences

    /// The facts that decide a referral's audience now (winning target service, standing explicit
    /// consent); nil for a record that is not a referral or is not held here.
    public func referralView(_ record: RecordID) throws -> Audience.ReferralView? {
        guard record.referralParties != nil else { return nil }
        return try pool.read { db in
            guard
                let row = try Int64.fetchOne(
                    db, sql: "SELECT id FROM record WHERE key = ?", arguments: [record.rawValue])
            else { return nil }
            return try Store.referralView(db, recordRow: row)
        }
    }

    static func referralView(_ db: Database, recordRow: Int64) throws -> Audience.ReferralView {
        var service: RecordID?
        var explicit = false
        let rows = try Row.fetchAll(
            db, sql: "SELECT field, value FROM field_write WHERE record = ? AND winner = 1 AND field IN (?, ?)",
            arguments: [recordRow, FieldKey.routingService.rawValue, FieldKey.consent.rawValue])
        for row in rows {
            guard let value = row["value"] as Data? else { continue }
            let field: String = row["field"]
            if field == FieldKey.routingService.rawValue {
                service = try? RecordID(String(decoding: value, as: UTF8.self))
            } else if let consent = try? FieldValue.decode(Consent.self, [UInt8](value), field: .consent) {
                explicit = consent.isExplicitAndStanding
            }
        }
        return Audience.ReferralView(currentService: service, explicitConsent: explicit)
    }

    /// The live writes of some classes of a record held here, at or before a local seq, in local-seq order.
    public func liveWrites(of record: RecordID, classes: Set<DataClass>, atOrBefore localSeq: UInt64) throws
        -> [StoredWrite]
    {
        try pool.read { db in
            var s = ApplySession(hlc: .zero, wallMillis: 0)
            guard let row = try Store.recordID(record, create: false, db, &s) else { return [] }
            return try Row.fetchAll(
                db,
                sql: "SELECT * FROM field_write WHERE record = ? AND live = 1 AND local_seq <= ? ORDER BY local_seq",
                arguments: [row, Int64(localSeq)]
            ).compactMap { row -> StoredWrite? in
                let field: String = row["field"]
                guard let cls = field.split(separator: ".").first.flatMap({ DataClass(rawValue: String($0)) }),
                    classes.contains(cls)
                else { return nil }
                return try Store.storedWrite(row, record: record, db, &s)
            }
        }
    }

    /// Every element of a record's redaction set for `dataClass` (`<class>.~redact`), in log order:
    /// what a write of the class held without its value was killed by.
    public func redactionWrites(of record: RecordID, dataClass: DataClass) throws -> [StoredWrite] {
        try pool.read { db in
            var s = ApplySession(hlc: .zero, wallMillis: 0)
            guard let row = try Store.recordID(record, create: false, db, &s) else { return [] }
            return try Row.fetchAll(
                db, sql: "SELECT * FROM field_write WHERE record = ? AND field = ? ORDER BY local_seq",
                arguments: [row, FieldKey.redaction(dataClass).rawValue]
            ).map { try Store.storedWrite($0, record: record, db, &s) }
        }
    }

    // MARK: The sent ledger

    /// The classes of a record the peer incarnation holds as far as this node's decisions go:
    /// acknowledged ones, overlaid by decisions in batches not acknowledged yet.
    public func ledgerClasses(peer: NodeID, incarnation: Incarnation, record: RecordID) throws -> Set<DataClass> {
        try pool.read { db in
            let args: StatementArguments = [peer.rawValue, Data(incarnation.bytes), record.rawValue]
            var classes = Set(
                try String.fetchAll(
                    db,
                    sql:
                        "SELECT class FROM sent_ledger JOIN record ON record.id = sent_ledger.record WHERE peer = ? AND peer_incarnation = ? AND record.key = ?",
                    arguments: args
                ).compactMap(DataClass.init(rawValue:)))
            let pending = try Row.fetchAll(
                db,
                sql: """
                    SELECT class, sent FROM sent_ledger_pending JOIN record ON record.id = sent_ledger_pending.record
                    WHERE peer = ? AND peer_incarnation = ? AND record.key = ? ORDER BY up_to
                    """,
                arguments: args)
            for row in pending {
                guard let cls = DataClass(rawValue: row["class"]) else { continue }
                if row["sent"] as Int64 == 1 { classes.insert(cls) } else { classes.remove(cls) }
            }
            return classes
        }
    }

    /// Records visibility decisions carried by a batch ending at `upTo`, before it is sent.
    /// `batch` numbers the batch within its session; `visibilityOnly` says its `after` was `upTo`.
    public func recordPendingLedger(
        peer: NodeID, incarnation: Incarnation, upTo: UInt64, batch: Int, visibilityOnly: Bool,
        _ entries: [LedgerEntry]
    ) throws {
        guard !entries.isEmpty else { return }
        try pool.write { db in
            var s = ApplySession(hlc: .zero, wallMillis: 0)
            for e in entries {
                guard let row = try Store.recordID(e.record, create: false, db, &s) else { continue }
                try db.execute(
                    sql: """
                        INSERT INTO sent_ledger_pending (peer, peer_incarnation, up_to, record, class, sent, batch, visibility_only)
                        VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                        ON CONFLICT DO UPDATE SET sent = excluded.sent, batch = excluded.batch, visibility_only = excluded.visibility_only
                        """,
                    arguments: [
                        peer.rawValue, Data(incarnation.bytes), Int64(upTo), row, e.dataClass.rawValue, e.sent ? 1 : 0,
                        batch, visibilityOnly ? 1 : 0,
                    ])
            }
        }
    }

    /// The peer `ACK`ed `batches` (ending at most at `upTo`): their pending decisions join the ledger.
    public func confirmAcked(peer: NodeID, incarnation: Incarnation, upTo: UInt64, batches: [Int]) throws {
        guard !batches.isEmpty else { return }
        try pool.write { db in
            let marks = batches.map { _ in "?" }.joined(separator: ", ")
            var args: StatementArguments = [peer.rawValue, Data(incarnation.bytes)]
            args += StatementArguments(batches)
            try Store.confirmPending(db, peer: peer, incarnation: incarnation, where: "batch IN (\(marks))", args)
            try Store.noteAcked(db, peer: peer, incarnation: incarnation, upTo: upTo)
        }
    }

    /// The peer's `PULL` says it applied everything up to `after`: decisions of batches ending
    /// before it, and of the batch that moved its checkpoint to it, join the ledger; those of later
    /// batches are forgotten. Returns the records of visibility-only batches ending at `after`,
    /// whose application the checkpoint cannot show: the caller decides them afresh.
    public func confirmPulled(peer: NodeID, incarnation: Incarnation, after: UInt64) throws -> [RecordID] {
        try pool.write { db in
            let args: StatementArguments = [peer.rawValue, Data(incarnation.bytes), Int64(after)]
            let unsure = try String.fetchAll(
                db,
                sql: """
                    SELECT DISTINCT r.key FROM sent_ledger_pending p JOIN record r ON r.id = p.record
                    WHERE p.peer = ? AND p.peer_incarnation = ? AND p.up_to = ? AND p.visibility_only = 1 ORDER BY r.key
                    """,
                arguments: args)
            try Store.confirmPending(
                db, peer: peer, incarnation: incarnation, where: "(up_to < ? OR (up_to = ? AND visibility_only = 0))",
                [peer.rawValue, Data(incarnation.bytes), Int64(after), Int64(after)])
            try db.execute(
                sql: "DELETE FROM sent_ledger_pending WHERE peer = ? AND peer_incarnation = ?",
                arguments: [peer.rawValue, Data(incarnation.bytes)])
            try Store.noteAcked(db, peer: peer, incarnation: incarnation, upTo: after)
            return try unsure.map { try RecordID($0) }
        }
    }

    /// Moves the pending decisions matching `condition` (after peer and incarnation) into the ledger.
    static func confirmPending(
        _ db: Database, peer: NodeID, incarnation: Incarnation, where condition: String, _ args: StatementArguments
    ) throws {
        let rows = try Row.fetchAll(
            db,
            sql: """
                SELECT record, class, sent FROM sent_ledger_pending WHERE peer = ? AND peer_incarnation = ? AND \(condition)
                ORDER BY up_to, batch
                """,
            arguments: args)
        for row in rows {
            let target: StatementArguments = [
                peer.rawValue, Data(incarnation.bytes), row["record"] as Int64, row["class"] as String,
            ]
            if row["sent"] as Int64 == 1 {
                try db.execute(
                    sql:
                        "INSERT INTO sent_ledger (peer, peer_incarnation, record, class) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
                    arguments: target)
            } else {
                try db.execute(
                    sql: "DELETE FROM sent_ledger WHERE peer = ? AND peer_incarnation = ? AND record = ? AND class = ?",
                    arguments: target)
            }
            // A decision about a record whose resync was deferred is that resync (`deferResync`).
            try db.execute(
                sql: """
                    DELETE FROM resync_deferred WHERE peer = ? AND peer_incarnation = ?
                    AND record_key = (SELECT key FROM record WHERE id = ?)
                    """,
                arguments: [peer.rawValue, Data(incarnation.bytes), row["record"] as Int64])
        }
        try db.execute(
            sql: "DELETE FROM sent_ledger_pending WHERE peer = ? AND peer_incarnation = ? AND \(condition)",
            arguments: args)
    }

    /// How many field writes the change log holds after local seq `after`.
    public func changeCount(after: UInt64) throws -> Int {
        try pool.read { db in
            try Int.fetchOne(db, sql: "SELECT count(*) FROM field_write WHERE local_seq > ?", arguments: [Int64(after)])
                ?? 0
        }
    }

    /// The highest point of this incarnation's log `peer` has acknowledged (by `ACK` or by a
    /// `PULL`'s `after`), over its incarnations; 0 when it never has.
    public func acknowledgedUpTo(peer: NodeID) throws -> UInt64 {
        try pool.read { db in
            let own = try Store.nodeState(db).incarnation
            let upTo =
                try Int64.fetchOne(
                    db, sql: "SELECT max(up_to) FROM peer_acked WHERE peer = ? AND own_incarnation = ?",
                    arguments: [peer.rawValue, Data(own.bytes)]) ?? 0
            return UInt64(max(0, upTo))
        }
    }

    /// Remembers how far the peer incarnation has acknowledged this incarnation's log (12.16).
    static func noteAcked(_ db: Database, peer: NodeID, incarnation: Incarnation, upTo: UInt64) throws {
        guard upTo > 0 else { return }
        try db.execute(
            sql: """
                INSERT INTO peer_acked (peer, peer_incarnation, own_incarnation, up_to) VALUES (?, ?, ?, ?)
                ON CONFLICT DO UPDATE SET up_to = max(up_to, excluded.up_to)
                """,
            arguments: [
                peer.rawValue, Data(incarnation.bytes), Data(try Store.nodeState(db).incarnation.bytes), Int64(upTo),
            ])
    }

    // MARK: Full resyncs

    /// Whether to serve a `PULL` from `after` (Protocol/SPEC.md 12.16). A `PULL` from 0 by a peer
    /// incarnation that had acknowledged part of this incarnation's log is a full resync: counted,
    /// and refused once the peer made `fullResyncsPerPeerPerDayMax` of them in the last 24 hours.
    /// Returns nil when served, or why not.
    public func admitPull(peer: NodeID, peerIncarnation: Incarnation, after: UInt64, wallMillis: UInt64) throws
        -> String?
    {
        guard after == 0 else { return nil }
        return try pool.write { db in
            let own = try Store.nodeState(db).incarnation
            let acked =
                try Int64.fetchOne(
                    db,
                    sql: "SELECT up_to FROM peer_acked WHERE peer = ? AND peer_incarnation = ? AND own_incarnation = ?",
                    arguments: [peer.rawValue, Data(peerIncarnation.bytes), Data(own.bytes)]) ?? 0
            guard acked > 0 else { return nil }
            let day: UInt64 = 86_400_000
            let since = Int64(wallMillis > day ? wallMillis - day : 0)
            try db.execute(sql: "DELETE FROM full_resync WHERE at < ?", arguments: [since - Int64(day)])
            let recent =
                try Int.fetchOne(
                    db, sql: "SELECT count(*) FROM full_resync WHERE peer = ? AND at >= ?",
                    arguments: [peer.rawValue, since]) ?? 0
            guard recent < limits.fullResyncsPerPeerPerDayMax else {
                return "\(peer) asked for this node's whole log again (it had acknowledged up to \(acked)); it did so "
                    + "\(recent) times in the last 24 hours, the most allowed (fullResyncsPerPeerPerDayMax). "
                    + "Its store may be failing: check it; the limit clears within a day"
            }
            try db.execute(
                sql: "INSERT INTO full_resync (peer, at) VALUES (?, ?)", arguments: [peer.rawValue, Int64(wallMillis)])
            return nil
        }
    }

    // MARK: HOLDING

    /// Whether this node still has to list to `peer` what it holds through it: never done for this
    /// pair of incarnations (first contact, or either side restored since).
    public func holdingNeeded(peer: NodeID, peerIncarnation: Incarnation) throws -> Bool {
        try pool.read { db in
            let own = try Store.nodeState(db).incarnation
            return try Int.fetchOne(
                db,
                sql:
                    "SELECT count(*) FROM holding_sent WHERE peer = ? AND peer_incarnation = ? AND own_incarnation = ?",
                arguments: [peer.rawValue, Data(peerIncarnation.bytes), Data(own.bytes)]) == 0
        }
    }

    /// Notes that `peer` has been told what this node holds through it, for this pair of incarnations.
    public func markHoldingSent(peer: NodeID, peerIncarnation: Incarnation, wallMillis: UInt64) throws {
        try pool.write { db in
            let own = try Store.nodeState(db).incarnation
            try db.execute(
                sql:
                    "INSERT INTO holding_sent (peer, peer_incarnation, own_incarnation, at) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
                arguments: [peer.rawValue, Data(peerIncarnation.bytes), Data(own.bytes), Int64(wallMillis)])
        }
    }

    /// Notes that `peer` listed `record` in `HOLDING` while this node does not hold it: no decision
    /// can be made about it yet, and a `NARROW` would have the lister purge what may be the last
    /// copies of writes this node lost to a restore (seed 2781). The record is decided as a listed
    /// one when its writes reach this node (`resyncDeferred`); the note goes when that decision is
    /// confirmed.
    public func deferResync(peer: NodeID, incarnation: Incarnation, record: RecordID) throws {
        try pool.write { db in
            try db.execute(
                sql: """
                    INSERT INTO resync_deferred (peer, peer_incarnation, record_key) VALUES (?, ?, ?)
                    ON CONFLICT DO NOTHING
                    """,
                arguments: [peer.rawValue, Data(incarnation.bytes), record.rawValue])
        }
    }

    /// Whether `peer`'s incarnation listed `record` in `HOLDING` when this node did not hold it and
    /// no decision about it has been confirmed since (`deferResync`).
    public func resyncDeferred(peer: NodeID, incarnation: Incarnation, record: RecordID) throws -> Bool {
        try pool.read { db in
            let count = try Int.fetchOne(
                db,
                sql: "SELECT count(*) FROM resync_deferred WHERE peer = ? AND peer_incarnation = ? AND record_key = ?",
                arguments: [peer.rawValue, Data(incarnation.bytes), record.rawValue])
            return (count ?? 0) > 0
        }
    }

    /// Referrals this node holds writes of received from `peer` and is neither the practice nor the PCN of.
    /// Parked writes count: they are held, and join the state when their time comes, so a peer that
    /// forgot sending them (restored since) must hear of them to narrow them (seed 899).
    public func recordsHeld(through peer: NodeID) throws -> [RecordID] {
        try pool.read { db in
            let me = try Store.nodeState(db).node
            var held = Set(
                try String.fetchAll(
                    db,
                    sql: """
                        SELECT DISTINCT record.key FROM field_write JOIN record ON record.id = field_write.record
                        WHERE field_write.received_from = ? AND record.kind = 'referral' AND record.practice <> ? AND record.pcn <> ?
                        """,
                    arguments: [peer.rawValue, me.rawValue, me.rawValue]))
            for key in try String.fetchAll(
                db, sql: "SELECT DISTINCT record_key FROM parked WHERE received_from = ?", arguments: [peer.rawValue])
            {
                guard let record = try? RecordID(key), let (practice, pcn) = record.referralParties,
                    practice != me, pcn != me
                else { continue }
                held.insert(key)
            }
            return try held.sorted().map { try RecordID($0) }
        }
    }

    // MARK: Applying a batch

    /// Applies a batch from `peer` — key bindings first, then changes and narrowings, in order — and
    /// stores its checkpoint, all in one transaction: the one apply path of received changes (the
    /// daemon's sessions, one-shot syncs, the simulator, benchmarks and tests all come here).
    ///
    /// Bindings are accepted as `policy` anchors them. Changes go in runs between narrowings through
    /// `applyBatch`: every change is verified against its origin's key before anything of it is
    /// stored (refused ones are audited and never stored), each field write is validated, parked if
    /// stamped more than `clockSkewMaxSeconds` ahead of `wallMillis`, quarantined if it cannot be
    /// applied, and otherwise applied idempotently. A narrowing purges other origins' writes of its
    /// classes (state, change log, parked) and keeps a tombstone, unless this node is the record's
    /// practice, PCN or owner, which ignore it. A change of this node's own that proves its store
    /// was rolled back marks it so and throws `rolledBack`: nothing of the batch is applied. A batch
    /// that does not follow the stored `checkpoint` throws `conflict`; without a checkpoint (a
    /// delivery by another path) nothing is checked or stored. `faultInjection`, for tests, is
    /// called after each write and may throw to abort the whole transaction.
    @discardableResult
    public func apply(
        _ items: [IncomingItem], keys: [KeyBinding] = [], policy: any KeyAnchorPolicy = DeliveryAnchorPolicy(),
        from peer: NodeID, checkpoint: BatchCheckpoint?, wallMillis: UInt64,
        faultInjection: (@Sendable (Int) throws -> Void)? = nil
    ) throws -> SyncApplyReport {
        try markingRollback(evidenceFrom: peer, wallMillis: wallMillis) {
            try pool.writeWithoutTransaction { db in
                var report = SyncApplyReport()
                var erased = false
                try db.inTransaction(.immediate) {
                    let node = try Store.nodeState(db)
                    if let checkpoint {
                        let stored = try Store.checkpoint(db, peer: peer, incarnation: checkpoint.peerIncarnation)
                        guard stored == checkpoint.after else {
                            throw SyncError(
                                .conflict,
                                "batch from \(peer) follows seq \(checkpoint.after) but the checkpoint is at \(stored)")
                        }
                    }
                    var s = ApplySession(hlc: node.hlc, wallMillis: wallMillis)
                    s.own = (node.origin, node.lastSeq)
                    try Store.acceptKeys(keys, from: peer, policy: policy, db, &s, &report.writes, crypto, certificates)
                    var count = 0
                    var run: [IncomingChange] = []
                    func flush() throws {
                        guard !run.isEmpty else { return }
                        try Store.applyBatch(
                            run, from: peer, limits: limits, db, &s, &report.writes, certificates: certificates
                        ) {
                            count += 1
                            try faultInjection?(count)
                        }
                        run.removeAll(keepingCapacity: true)
                    }
                    for item in items {
                        switch item {
                        case .change(let change):
                            run.append(change)
                        case .narrow(let record, let classes, let cause):
                            try flush()
                            if Store.isParty(node.node, of: record) {
                                report.narrowIgnored += 1
                            } else {
                                try Store.purge(
                                    record, classes: classes, keeping: node.node, peer: peer, cause: cause, db, &s)
                                report.narrowed += 1
                            }
                        }
                    }
                    try flush()
                    if let checkpoint {
                        try db.cachedStatement(
                            sql: """
                                INSERT INTO peer_checkpoint (peer, peer_incarnation, after_local_seq, updated_at) VALUES (?, ?, ?, ?)
                                ON CONFLICT (peer, peer_incarnation) DO UPDATE SET after_local_seq = excluded.after_local_seq, updated_at = excluded.updated_at
                                """
                        ).execute(arguments: [
                            peer.rawValue, Data(checkpoint.peerIncarnation.bytes), Int64(checkpoint.upTo),
                            Int64(wallMillis),
                        ])
                    }
                    try db.cachedStatement(sql: "UPDATE node SET hlc = max(hlc, ?) WHERE id = 1").execute(arguments: [
                        Int64(bitPattern: s.hlc.last.rawValue)
                    ])
                    try Store.refreshViews(db, &s)
                    erased = s.erased
                    return .commit
                }
                if erased { try Store.eraseFromDisk(db) }
                return report
            }
        }
    }

    /// Whether `node` is the practice or PCN of a referral, or the owner of an organisation or service record.
    static func isParty(_ node: NodeID, of record: RecordID) -> Bool {
        switch record.kind {
        case .organisation(let org): return org == node
        case .service(let owner): return owner == node
        case .referral(let practice, let pcn): return node == practice || node == pcn
        }
    }

    static func purge(
        _ record: RecordID, classes: Set<DataClass>, keeping own: NodeID, peer: NodeID, cause: Int, _ db: Database,
        _ s: inout ApplySession
    ) throws {
        guard !classes.isEmpty else { return }
        // Parked writes of these classes would come back when released: drop them too.
        let parked = try Row.fetchAll(
            db,
            sql: "SELECT id, origin_incarnation, seq, hlc, body FROM parked WHERE record_key = ? AND origin_node <> ?",
            arguments: [record.rawValue, own.rawValue])
        for row in parked {
            let body = [UInt8](row["body"] as Data)
            let field =
                (try? FieldWrite(
                    origin: Origin(
                        node: own, incarnation: try UUIDv7(bytes: [UInt8](row["origin_incarnation"] as Data))),
                    seq: UInt64(row["seq"] as Int64), hlc: HLC(rawValue: 0), record: record, body: body))?.field
            if let field, classes.contains(field.dataClass) {
                s.erased = true
                try db.execute(sql: "DELETE FROM parked WHERE id = ?", arguments: [row["id"] as Int64])
            }
        }
        guard let recordRow = try recordID(record, create: false, db, &s) else { return }
        var fields: Set<String> = []
        for cls in classes {
            let pattern = "\(cls.rawValue).%"
            let purged = try Row.fetchAll(
                db,
                sql: """
                    SELECT field_write.local_seq, field_write.field, field_write.seq, origin.node_id FROM field_write
                    JOIN origin ON origin.id = field_write.origin
                    WHERE field_write.record = ? AND field_write.field LIKE ? AND origin.node_id <> ?
                    """,
                arguments: [recordRow, pattern, own.rawValue])
            for row in purged {
                s.erased = true
                try db.execute(
                    sql: "DELETE FROM field_write WHERE local_seq = ?", arguments: [row["local_seq"] as Int64])
                fields.insert(row["field"])
                try Audit.append(
                    db, at: s.wallMillis, action: "purged", actor: peer.rawValue,
                    origin: try NodeID(row["node_id"] as String),
                    seq: UInt64(row["seq"] as Int64), record: record.rawValue, field: row["field"])
            }
            try db.execute(
                sql: """
                    INSERT INTO tombstone (record, class, peer, cause, purged_at) VALUES (?, ?, ?, ?, ?)
                    ON CONFLICT (record, class) DO UPDATE SET peer = excluded.peer, cause = excluded.cause, purged_at = excluded.purged_at
                    """,
                arguments: [recordRow, cls.rawValue, peer.rawValue, cause, Int64(s.wallMillis)])
            // Every field of the class left with writes (this node's own) is decided again.
            let remaining = try String.fetchAll(
                db, sql: "SELECT DISTINCT field FROM field_write WHERE record = ? AND field LIKE ?",
                arguments: [recordRow, pattern])
            fields.formUnion(remaining)
        }
        // Redaction markers are grow-only sets that nothing replaces; only the fields they govern are re-decided.
        for f in fields.sorted() where !f.hasSuffix(".~redact") {
            try resolve(record: record, recordRow: recordRow, field: try FieldKey(f), db, &s)
        }
        s.touched.insert(record)
    }

    /// Classes of records purged here on `NARROW`, for status.
    public func tombstones() throws -> [(record: RecordID, dataClass: DataClass)] {
        try pool.read { db in
            try Row.fetchAll(
                db,
                sql:
                    "SELECT record.key AS key, class FROM tombstone JOIN record ON record.id = tombstone.record ORDER BY key, class"
            ).compactMap { row in
                guard let cls = DataClass(rawValue: row["class"]) else { return nil }
                return (try RecordID(row["key"] as String), cls)
            }
        }
    }
}
