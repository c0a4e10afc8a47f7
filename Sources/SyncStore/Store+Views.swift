import Foundation
import GRDB
import SyncCore

extension Store {
    /// Refreshes the typed referral and service rows of every record a transaction touched.
    static func refreshViews(_ db: Database, _ s: inout ApplySession) throws {
        for record in s.touched {
            guard let row = try recordID(record, create: false, db, &s) else { continue }
            switch record.kind {
            case .referral(let practice, let pcn):
                try refreshReferral(record, row: row, practice: practice, pcn: pcn, db, &s)
            case .service(let owner):
                try refreshService(record, row: row, owner: owner, db, &s)
            case .organisation:
                break
            }
        }
        s.touched.removeAll()
        s.lastTouched = nil
    }

    /// The winning values of a record's registers, its live progress events and its latest HLC, in one query.
    static func recordState(
        _ record: RecordID, row: Int64, _ db: Database, _ s: inout ApplySession
    ) throws -> (values: [String: Data], events: [FieldWrite], maxHLC: Int64) {
        var values: [String: Data] = [:]
        var events: [FieldWrite] = []
        var maxHLC: Int64 = 0
        let statement = try RawStatement(
            db, sql: "SELECT origin, seq, hlc, field, value, body, live, winner FROM field_write WHERE record = ?")
        statement.bind(1, row)
        try statement.forEachRow(db) { r in
            let hlc = r.int64(2)
            maxHLC = max(maxHLC, hlc)
            let field = r.string(3)
            let isLive = r.int64(6) == 1
            let isWinner = r.int64(7) == 1
            guard isWinner || (isLive && field == FieldKey.progressEvents.rawValue), let value = r.bytes(4) else {
                return
            }
            if isWinner { values[field] = Data(value) }
            if isLive && field == FieldKey.progressEvents.rawValue {
                events.append(
                    try FieldWrite(
                        origin: try origin(id: r.int64(0), db, &s), seq: UInt64(r.int64(1)),
                        hlc: HLC(rawValue: UInt64(bitPattern: hlc)), record: record, body: r.bytes(5) ?? []))
            }
        }
        return (values, events, maxHLC)
    }

    static func refreshReferral(
        _ record: RecordID, row: Int64, practice: NodeID, pcn: NodeID, _ db: Database, _ s: inout ApplySession
    ) throws {
        let (values, events, maxHLC) = try recordState(record, row: row, db, &s)
        // A routing.service value that is not a service id (from a newer node) addresses nothing.
        let service = values[FieldKey.routingService.rawValue].flatMap {
            try? RecordID(String(decoding: $0, as: UTF8.self))
        }
        let status = StatusFold.status(events: events, currentService: service)
        let view = Audience.ReferralView(currentService: service, explicitConsent: false)
        let upsert = try RawStatement(
            db,
            sql: """
                INSERT INTO referral (record, key, practice, pcn, addressed_to, service, status, needs, urgency, updated_hlc)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                ON CONFLICT (record) DO UPDATE SET addressed_to = excluded.addressed_to, service = excluded.service,
                  status = excluded.status, needs = excluded.needs, urgency = excluded.urgency, updated_hlc = excluded.updated_hlc
                """)
        upsert.bind(1, row)
        upsert.bind(2, record.rawValue)
        upsert.bind(3, practice.rawValue)
        upsert.bind(4, pcn.rawValue)
        upsert.bind(5, (view.addressedTo(record) ?? pcn).rawValue)
        upsert.bind(6, service?.rawValue)
        upsert.bind(7, status.description)
        upsert.bind(8, values[FieldKey.routingNeeds.rawValue].map { String(decoding: $0, as: UTF8.self) })
        upsert.bind(9, values[FieldKey.routingUrgency.rawValue].map { String(decoding: $0, as: UTF8.self) })
        upsert.bind(10, maxHLC)
        try upsert.execute(db)
        if case .conflict(let refs) = status {
            try db.cachedStatement(
                sql:
                    "INSERT INTO conflict (record, field, live_count) VALUES (?, 'status', ?) ON CONFLICT (record, field) DO UPDATE SET live_count = excluded.live_count"
            ).execute(arguments: [row, refs.count])
        } else if !s.freshRecords.contains(row) {
            try db.cachedStatement(sql: "DELETE FROM conflict WHERE record = ? AND field = 'status'").execute(
                arguments: [row])
        }
    }

    static func refreshService(_ record: RecordID, row: Int64, owner: NodeID, _ db: Database, _ s: inout ApplySession)
        throws
    {
        let (values, _, maxHLC) = try recordState(record, row: row, db, &s)
        func text(_ f: FieldKey) -> String? { values[f.rawValue].map { String(decoding: $0, as: UTF8.self) } }
        func int(_ f: FieldKey) -> Int? { text(f).flatMap { Int($0) } }
        let capacity = values[FieldKey.serviceCapacity.rawValue].flatMap {
            try? FieldValue.decode(ServiceCapacity.self, [UInt8]($0), field: .serviceCapacity)
        }
        try db.cachedStatement(
            sql: """
                INSERT INTO service (record, key, owner, name, category, accepting, capacity_unit, capacity_available,
                  capacity_maximum, capacity_updated, capacity_valid_until, wait_days, updated_hlc)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                ON CONFLICT (record) DO UPDATE SET name = excluded.name, category = excluded.category,
                  accepting = excluded.accepting, capacity_unit = excluded.capacity_unit,
                  capacity_available = excluded.capacity_available, capacity_maximum = excluded.capacity_maximum,
                  capacity_updated = excluded.capacity_updated, capacity_valid_until = excluded.capacity_valid_until,
                  wait_days = excluded.wait_days, updated_hlc = excluded.updated_hlc
                """
        ).execute(arguments: [
            row, record.rawValue, owner.rawValue, text(.serviceName), text(.serviceCategory), text(.serviceAccepting),
            capacity?.unit, capacity?.available, capacity?.maximum, capacity.map { Int64($0.updated) },
            int(.serviceCapacityValidUntil), int(.serviceWaitDays), maxHLC,
        ])
    }

    // MARK: What a node may keep

    /// Purges, of some referrals, the classes this node may no longer keep by what it holds itself
    /// (Protocol/SPEC.md 7.5): a consent withdrawn or a target service of another owner takes values
    /// away here whether or not the sender's `NARROW` ever arrives. A session calls it for the
    /// referrals it received writes of, each time it has applied everything the peer sent up to the
    /// peer's `CAUGHT_UP`: judged mid-stream, a withdrawal followed by renewed consent in the next
    /// batch would purge contact details the sender rightly believes the peer holds. Other
    /// origins' writes go as on `NARROW` (state, change log, parked, with a tombstone and the audit
    /// line `purged` naming this node); this node's own writes stay. Returns the classes purged.
    @discardableResult
    public func enforceAudience(_ records: Set<RecordID>, wallMillis: UInt64) throws -> Int {
        let me = try nodeState().node
        let referrals = records.filter { r in r.referralParties.map { me != $0.practice && me != $0.pcn } ?? false }
        guard !referrals.isEmpty else { return 0 }  // the practice and the PCN keep everything
        return try pool.writeWithoutTransaction { db in
            var purged = 0
            var erased = false
            try db.inTransaction(.immediate) {
                let node = try Store.nodeState(db)
                var s = ApplySession(hlc: node.hlc, wallMillis: wallMillis)
                purged = try Store.enforceAudience(referrals, db, &s)
                try Store.refreshViews(db, &s)
                erased = s.erased
                return .commit
            }
            if erased { try Store.eraseFromDisk(db) }
            return purged
        }
    }

    static func enforceAudience(_ referrals: Set<RecordID>, _ db: Database, _ s: inout ApplySession) throws -> Int {
        var purged = 0
        let me = try nodeState(db).node
        for record in referrals.sorted(by: { $0.rawValue < $1.rawValue }) {
            guard let (practice, pcn) = record.referralParties, me != practice, me != pcn,
                let row = try recordID(record, create: false, db, &s)
            else { continue }
            let denied = try deniedClasses(db, record: record, recordRow: row, me: me)
            guard !denied.isEmpty else { continue }
            let held = try heldClasses(db, record: record, recordRow: row, excluding: me).intersection(denied)
            guard !held.isEmpty else { continue }
            let cause = held == [.contact] ? 2 : 1  // NarrowCause: consent withdrawn, re-addressed
            try purge(record, classes: held, keeping: me, peer: me, cause: cause, db, &s)
            purged += held.count
        }
        return purged
    }

    /// The classes of a referral this node may not keep by what it holds (`Audience.classesToPurge`).
    static func deniedClasses(_ db: Database, record: RecordID, recordRow: Int64, me: NodeID) throws -> Set<DataClass> {
        let (service, consent) = try audienceFacts(db, recordRow: recordRow)
        let denied = Audience.classesToPurge(me, of: record, service: service, consent: consent)
        guard !denied.subtracting([.clinical]).isEmpty else { return denied }
        // A routing or consent write held back (parked until its clock is due, quarantined) may
        // change the verdict: the facts are not whole yet, so only clinical goes now.
        let waiting = try waitingFields(db, record: record, excluding: me)
        if waiting.contains(FieldKey.routingService.rawValue) || waiting.contains(FieldKey.consent.rawValue) {
            return denied.intersection([.clinical])
        }
        return denied
    }

    /// The winning target service and consent of a referral as held here; nil for what is not held.
    static func audienceFacts(_ db: Database, recordRow: Int64) throws -> (service: RecordID?, consent: Consent?) {
        var service: RecordID?
        var consent: Consent?
        let rows = try Row.fetchAll(
            db, sql: "SELECT field, value FROM field_write WHERE record = ? AND winner = 1 AND field IN (?, ?)",
            arguments: [recordRow, FieldKey.routingService.rawValue, FieldKey.consent.rawValue])
        for row in rows {
            guard let value = row["value"] as Data? else { continue }
            if row["field"] as String == FieldKey.routingService.rawValue {
                service = try? RecordID(String(decoding: value, as: UTF8.self))
            } else {
                consent = try? FieldValue.decode(Consent.self, [UInt8](value), field: .consent)
            }
        }
        return (service, consent)
    }

    /// The classes of a record of which this store holds writes (stored or parked) of origins other than `own`.
    static func heldClasses(_ db: Database, record: RecordID, recordRow: Int64, excluding own: NodeID) throws
        -> Set<DataClass>
    {
        var fields = try String.fetchAll(
            db,
            sql: """
                SELECT DISTINCT field_write.field FROM field_write JOIN origin ON origin.id = field_write.origin
                WHERE field_write.record = ? AND origin.node_id <> ?
                """,
            arguments: [recordRow, own.rawValue])
        fields += try waitingFields(db, record: record, excluding: own, quarantined: false)
        return Set(fields.compactMap { $0.split(separator: ".").first.flatMap { DataClass(rawValue: String($0)) } })
    }

    /// The fields of a record's writes of origins other than `own` that are held back: parked (and
    /// quarantined, with `quarantined`).
    static func waitingFields(_ db: Database, record: RecordID, excluding own: NodeID, quarantined: Bool = true)
        throws -> [String]
    {
        let sql =
            "SELECT seq, body FROM parked WHERE record_key = ? AND origin_node <> ?"
            + (quarantined
                ? " UNION ALL SELECT seq, body FROM quarantine WHERE record_key = ? AND origin_node <> ?" : "")
        let args: StatementArguments =
            quarantined
            ? [record.rawValue, own.rawValue, record.rawValue, own.rawValue] : [record.rawValue, own.rawValue]
        // Only the field is read: the origin and clock are placeholders.
        let placeholder = Origin(node: own, incarnation: UUIDv7(millis: 0, random: (0, 0)))
        return try Row.fetchAll(db, sql: sql, arguments: args).compactMap { row in
            try? FieldWrite(
                origin: placeholder, seq: UInt64(row["seq"] as Int64), hlc: HLC(rawValue: 0), record: record,
                body: [UInt8](row["body"] as Data)
            ).field.rawValue
        }
    }

    /// Referrals this store holds values of that it may not keep by what it holds itself (the
    /// simulator checks those a session has just judged), of `records` or of all.
    public func audienceViolations(_ records: Set<RecordID>? = nil) throws -> [String] {
        try pool.read { db in
            let me = try Store.nodeState(db).node
            var out: [String] = []
            var s = ApplySession(hlc: .zero, wallMillis: 0)
            let keys =
                try records.map { $0.map(\.rawValue).sorted() }
                ?? String.fetchAll(db, sql: "SELECT key FROM record WHERE kind = 'referral' ORDER BY key")
            for key in keys {
                let record = try RecordID(key)
                guard let row = try Store.recordID(record, create: false, db, &s) else { continue }
                let denied = try Store.deniedClasses(db, record: record, recordRow: row, me: me)
                guard !denied.isEmpty else { continue }
                let live = try Row.fetchAll(
                    db,
                    sql: """
                        SELECT field_write.field FROM field_write JOIN origin ON origin.id = field_write.origin
                        WHERE field_write.record = ? AND origin.node_id <> ? AND field_write.live = 1
                        AND field_write.value IS NOT NULL
                        """,
                    arguments: [row, me.rawValue])
                for r in live {
                    let field: String = r["field"]
                    if let cls = field.split(separator: ".").first.flatMap({ DataClass(rawValue: String($0)) }),
                        denied.contains(cls)
                    {
                        out.append("\(me) keeps \(field) of \(record), which it may not see by what it holds")
                    }
                }
            }
            return out
        }
    }
}
