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
}
