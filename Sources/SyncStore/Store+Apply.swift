import Foundation
import GRDB
import SyncCore
import SyncCrypto

/// Caches and bookkeeping for one write transaction.
struct ApplySession {
    var originIDs: [Origin: Int64] = [:]
    var origins: [Int64: Origin] = [:]
    var recordIDs: [RecordID: Int64] = [:]
    /// The last origin and record looked up: the writes of a change share both, so most lookups
    /// end here without hashing.
    var lastOrigin: (origin: Origin, row: Int64)?
    var lastRecord: (record: RecordID, row: Int64)?
    /// Records created in this transaction: a field of theirs not yet written here has no rows.
    var freshRecords: Set<Int64> = []
    /// The fields of fresh records written in this transaction.
    var writtenFields: Set<FieldSlot> = []
    var touched: Set<RecordID> = []
    var lastTouched: RecordID?
    var hlc: HybridLogicalClock
    let wallMillis: UInt64
    /// Whether the transaction removed values (a purge, a redaction): after it commits, the WAL is
    /// checkpointed and truncated so no copy of them stays on disk (`Store.eraseFromDisk`).
    var erased = false
    /// Key bindings read for origins in this transaction.
    var keys: [Origin: [HeldKey]] = [:]
    /// This node's current origin and last seq, when applying received changes: a change of its
    /// own beyond what the store holds proves the store was rolled back.
    var own: (origin: Origin, lastSeq: UInt64)?

    /// One field of one stored record.
    struct FieldSlot: Hashable {
        var record: Int64
        var field: FieldKey
    }

    /// After a rollback to a savepoint, cached row ids may name rows that no longer exist: drop the
    /// caches (they refill from the database) and the fresh-record shortcut.
    mutating func forgetRowsSinceSavepoint() {
        originIDs = [:]
        origins = [:]
        recordIDs = [:]
        lastOrigin = nil
        lastRecord = nil
        freshRecords = []
        writtenFields = []
        keys = [:]
    }

    init(hlc: HLC, wallMillis: UInt64) {
        self.hlc = HybridLogicalClock(last: hlc)
        self.wallMillis = wallMillis
    }
}

extension Store {
    // MARK: Erasure

    /// Removes from disk every copy of values a committed transaction removed: `secure_delete`
    /// (set on every connection) zeroes freed space in the main file; the old page images in the
    /// WAL go with a checkpoint that truncates it. A reader holding an old snapshot can delay it (the
    /// busy timeout applies); then the next erasure truncates it.
    static func eraseFromDisk(_ db: Database) throws {
        do {
            _ = try db.checkpoint(.truncate)
        } catch let error as DatabaseError where error.resultCode == .SQLITE_BUSY || error.resultCode == .SQLITE_LOCKED
        {
            // The values are gone from the tables; a reader still holds WAL frames with them. The
            // commit stands: the next erasure truncates the WAL. The audit log says so.
            try Audit.append(db, at: 0, action: "erase_deferred", code: "\(error.resultCode)")
        }
    }

    // MARK: Interning

    static func originID(_ origin: Origin, _ db: Database, _ s: inout ApplySession) throws -> Int64 {
        if let last = s.lastOrigin, last.origin == origin { return last.row }
        if let id = s.originIDs[origin] {
            s.lastOrigin = (origin, id)
            return id
        }
        let inc = Data(origin.incarnation.bytes)
        var id = try Int64.fetchOne(
            try db.cachedStatement(sql: "SELECT id FROM origin WHERE node_id = ? AND incarnation = ?"),
            arguments: [origin.node.rawValue, inc])
        if id == nil {
            try db.cachedStatement(sql: "INSERT INTO origin (node_id, incarnation) VALUES (?, ?)").execute(arguments: [
                origin.node.rawValue, inc,
            ])
            id = db.lastInsertedRowID
        }
        guard let id else { preconditionFailure("origin row vanished inside its transaction") }
        s.originIDs[origin] = id
        s.origins[id] = origin
        s.lastOrigin = (origin, id)
        return id
    }

    static func origin(id: Int64, _ db: Database, _ s: inout ApplySession) throws -> Origin {
        if let o = s.origins[id] { return o }
        guard
            let row = try Row.fetchOne(
                try db.cachedStatement(sql: "SELECT node_id, incarnation FROM origin WHERE id = ?"), arguments: [id])
        else {
            throw SyncError(.storeInvalid, "origin \(id) is missing: the store is damaged")
        }
        let o = Origin(
            node: try NodeID(row["node_id"] as String),
            incarnation: try UUIDv7(bytes: [UInt8](row["incarnation"] as Data)))
        s.origins[id] = o
        s.originIDs[o] = id
        return o
    }

    static func recordID(_ record: RecordID, create: Bool, _ db: Database, _ s: inout ApplySession) throws -> Int64? {
        if let last = s.lastRecord, last.record == record { return last.row }
        if let id = s.recordIDs[record] {
            s.lastRecord = (record, id)
            return id
        }
        let lookup = try RawStatement(db, sql: "SELECT id FROM record WHERE key = ?")
        lookup.bind(1, record.rawValue)
        if let id = try lookup.fetchInt64(db) {
            s.recordIDs[record] = id
            s.lastRecord = (record, id)
            return id
        }
        guard create else { return nil }
        let (kind, owner, practice, pcn): (String, String?, String?, String?)
        switch record.kind {
        case .organisation(let n): (kind, owner, practice, pcn) = ("organisation", n.rawValue, nil, nil)
        case .service(let o): (kind, owner, practice, pcn) = ("service", o.rawValue, nil, nil)
        case .referral(let p, let c): (kind, owner, practice, pcn) = ("referral", nil, p.rawValue, c.rawValue)
        }
        let insert = try RawStatement(
            db, sql: "INSERT INTO record (key, kind, owner, practice, pcn) VALUES (?, ?, ?, ?, ?)")
        insert.bind(1, record.rawValue)
        insert.bind(2, kind)
        insert.bind(3, owner)
        insert.bind(4, practice)
        insert.bind(5, pcn)
        try insert.execute(db)
        let id = db.lastInsertedRowID
        s.recordIDs[record] = id
        s.lastRecord = (record, id)
        s.freshRecords.insert(id)
        return id
    }

    // MARK: Reading writes back

    /// The writes held for some fields of a record, decoded from their stored bodies.
    static func writes(
        record: RecordID, recordRow: Int64, fields: [String], _ db: Database, _ s: inout ApplySession
    ) throws -> [FieldWrite] {
        guard !fields.isEmpty else { return [] }
        let marks = Array(repeating: "?", count: fields.count).joined(separator: ",")
        let rows = try Row.fetchAll(
            try db.cachedStatement(
                sql: "SELECT origin, seq, hlc, body FROM field_write WHERE record = ? AND field IN (\(marks))"),
            arguments: StatementArguments([recordRow] + fields))
        return try rows.map { row in
            let origin = try Store.origin(id: row["origin"], db, &s)
            return try FieldWrite(
                origin: origin, seq: UInt64(row["seq"] as Int64), hlc: HLC(rawValue: UInt64(bitPattern: row["hlc"])),
                record: record, body: [UInt8](row["body"] as Data))
        }
    }

    // MARK: The one insert path, for local and received writes alike

    enum InsertOutcome { case inserted, duplicate }

    /// Inserts one validated write and re-resolves its field. Idempotent per field write.
    static func insert(
        _ write: FieldWrite, body: [UInt8], from peer: NodeID?, _ db: Database, _ s: inout ApplySession
    ) throws -> InsertOutcome {
        let originRow = try originID(write.origin, db, &s)
        guard let recordRow = try recordID(write.record, create: true, db, &s) else {
            preconditionFailure("record row must exist after create")
        }
        // A new record's field that this transaction has not written, with no redaction of its
        // class written either, has no other writes: it is live and wins on its own. Never a
        // redaction: it re-decides the fields of its class written before it in this transaction
        // (a create and its redaction can arrive in one batch, issue 10).
        var alone = false
        if s.freshRecords.contains(recordRow) {
            let slot = ApplySession.FieldSlot(record: recordRow, field: write.field)
            let redaction = ApplySession.FieldSlot(record: recordRow, field: .redaction(write.field.dataClass))
            alone = !write.field.isRedaction && !s.writtenFields.contains(slot) && !s.writtenFields.contains(redaction)
            s.writtenFields.insert(slot)
        }
        let statement = try RawStatement(
            db,
            sql: """
                INSERT INTO field_write (origin, seq, hlc, record, field, kind, value, body, live, winner, received_from, arrived_at)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, 1, ?, ?, ?)
                ON CONFLICT (origin, seq, field) DO NOTHING
                """)
        statement.bind(1, originRow)
        statement.bind(2, Int64(write.seq))
        statement.bind(3, Int64(bitPattern: write.hlc.rawValue))
        statement.bind(4, recordRow)
        statement.bind(5, write.field.rawValue)
        statement.bind(6, Int64(write.kind.rawValue))
        statement.bind(7, write.value)
        statement.bind(8, body)
        statement.bind(9, alone && write.kind == .register ? 1 : 0)
        statement.bind(10, peer?.rawValue)
        statement.bind(11, Int64(s.wallMillis))
        try statement.execute(db)
        guard db.changesCount > 0 else {
            return try restoreValue(write, body: body, from: peer, recordRow: recordRow, originRow: originRow, db, &s)
        }
        if s.lastTouched != write.record {
            s.touched.insert(write.record)
            s.lastTouched = write.record
        }
        guard !alone else { return .inserted }
        if write.field.isRedaction {
            // A redaction re-decides every field of its class on this record.
            let fields = try String.fetchAll(
                db, sql: "SELECT DISTINCT field FROM field_write WHERE record = ? AND field LIKE ? AND field <> ?",
                arguments: [recordRow, "\(write.field.dataClass.rawValue).%", write.field.rawValue])
            for f in fields { try resolve(record: write.record, recordRow: recordRow, field: try FieldKey(f), db, &s) }
        } else {
            try resolve(record: write.record, recordRow: recordRow, field: write.field, db, &s)
        }
        return .inserted
    }

    /// A write held without its value takes the value from a copy that has it, unless a redaction
    /// held here kills it (seed 8488). A stripped copy can arrive without the redaction that
    /// stripped it — that redaction parked at the relay, or lost to a restore at its origin — and
    /// would otherwise stay stripped here for good while other nodes show the value. The write is
    /// logged again (a new local seq), so peers that took the stripped copy from here get the value.
    static func restoreValue(
        _ write: FieldWrite, body: [UInt8], from peer: NodeID?, recordRow: Int64, originRow: Int64, _ db: Database,
        _ s: inout ApplySession
    ) throws -> InsertOutcome {
        guard write.value != nil, !write.field.isRedaction else { return .duplicate }
        let key: StatementArguments = [originRow, Int64(write.seq), write.field.rawValue]
        guard
            try Int.fetchOne(
                db,
                sql: "SELECT count(*) FROM field_write WHERE origin = ? AND seq = ? AND field = ? AND value IS NULL",
                arguments: key) == 1
        else { return .duplicate }
        let redactions = try writes(
            record: write.record, recordRow: recordRow, fields: [FieldKey.redaction(write.field.dataClass).rawValue],
            db, &s)
        guard redactions.allSatisfy({ write.context.covers($0.origin, $0.seq) }) else { return .duplicate }
        try db.execute(sql: "DELETE FROM field_write WHERE origin = ? AND seq = ? AND field = ?", arguments: key)
        try db.execute(
            sql: """
                INSERT INTO field_write (origin, seq, hlc, record, field, kind, value, body, live, winner, received_from, arrived_at)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, 1, 0, ?, ?)
                """,
            arguments: [
                originRow, Int64(write.seq), Int64(bitPattern: write.hlc.rawValue), recordRow, write.field.rawValue,
                Int64(write.kind.rawValue), write.value.map { Data($0) }, Data(body), peer?.rawValue,
                Int64(s.wallMillis),
            ])
        s.touched.insert(write.record)
        s.lastTouched = write.record
        try resolve(record: write.record, recordRow: recordRow, field: write.field, db, &s)
        return .inserted
    }

    /// Re-decides live, winner, conflict and redaction for one field from all writes held.
    static func resolve(record: RecordID, recordRow: Int64, field: FieldKey, _ db: Database, _ s: inout ApplySession)
        throws
    {
        let redactionField = FieldKey.redaction(field.dataClass)
        let all = try writes(
            record: record, recordRow: recordRow, fields: [field.rawValue, redactionField.rawValue], db, &s)
        let own = all.filter { $0.field == field }
        let resolution = Merge.resolve(own, redactions: all.filter { $0.field == redactionField })
        let live = Set(resolution.live)
        let update = try db.cachedStatement(
            sql:
                "UPDATE field_write SET live = ?, winner = ? WHERE origin = ? AND seq = ? AND field = ? AND (live <> ? OR winner <> ?)"
        )
        for w in own {
            let isLive = live.contains(w.id) ? 1 : 0
            let isWinner = resolution.winner == w.id ? 1 : 0
            try update.execute(arguments: [
                isLive, isWinner, try originID(w.origin, db, &s), Int64(w.seq), field.rawValue, isLive, isWinner,
            ])
        }
        let strip = try db.cachedStatement(
            sql:
                "UPDATE field_write SET value = NULL, body = ? WHERE origin = ? AND seq = ? AND field = ? AND value IS NOT NULL"
        )
        for w in own where resolution.redacted.contains(w.id) && w.value != nil {
            s.erased = true
            try strip.execute(arguments: [
                Data(w.redacted(OpenSSLSealCrypto()).encodedBody()), try originID(w.origin, db, &s), Int64(w.seq),
                field.rawValue,
            ])
            try Audit.append(
                db, at: s.wallMillis, action: "redacted", origin: w.origin.node, seq: w.seq, record: record.rawValue,
                field: field.rawValue)
        }
        if resolution.inConflict {
            try db.cachedStatement(
                sql:
                    "INSERT INTO conflict (record, field, live_count) VALUES (?, ?, ?) ON CONFLICT (record, field) DO UPDATE SET live_count = excluded.live_count"
            ).execute(arguments: [recordRow, field.rawValue, resolution.live.count])
        } else {
            try db.cachedStatement(sql: "DELETE FROM conflict WHERE record = ? AND field = ?").execute(arguments: [
                recordRow, field.rawValue,
            ])
        }
    }
}
