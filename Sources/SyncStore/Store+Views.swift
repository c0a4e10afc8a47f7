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
    }

    /// The winning values of a record's registers, its live progress events and its latest HLC, in one query.
    static func recordState(
        _ record: RecordID, row: Int64, _ db: Database, _ s: inout ApplySession
    ) throws -> (values: [String: Data], events: [FieldWrite], maxHLC: Int64) {
        var values: [String: Data] = [:]
        var events: [FieldWrite] = []
        var maxHLC: Int64 = 0
        let rows = try Row.fetchCursor(
            try db.cachedStatement(
                sql: "SELECT origin, seq, hlc, field, value, body, live, winner FROM field_write WHERE record = ?"),
            arguments: [row])
        while let r = try rows.next() {
            let hlc: Int64 = r["hlc"]
            maxHLC = max(maxHLC, hlc)
            let field: String = r["field"]
            if r["winner"] == 1, let v = r["value"] as Data? { values[field] = v }
            if field == FieldKey.progressEvents.rawValue, r["live"] == 1, r["value"] as Data? != nil {
                events.append(
                    try FieldWrite(
                        origin: try origin(id: r["origin"], db, &s), seq: UInt64(r["seq"] as Int64),
                        hlc: HLC(rawValue: UInt64(bitPattern: hlc)), record: record, body: [UInt8](r["body"] as Data)))
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
        try db.cachedStatement(
            sql: """
                INSERT INTO referral (record, key, practice, pcn, addressed_to, service, status, needs, urgency, updated_hlc)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                ON CONFLICT (record) DO UPDATE SET addressed_to = excluded.addressed_to, service = excluded.service,
                  status = excluded.status, needs = excluded.needs, urgency = excluded.urgency, updated_hlc = excluded.updated_hlc
                """
        ).execute(arguments: [
            row, record.rawValue, practice.rawValue, pcn.rawValue, (view.addressedTo(record) ?? pcn).rawValue,
            service?.rawValue, status.description,
            values[FieldKey.routingNeeds.rawValue].map { String(decoding: $0, as: UTF8.self) },
            values[FieldKey.routingUrgency.rawValue].map { String(decoding: $0, as: UTF8.self) }, maxHLC,
        ])
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
