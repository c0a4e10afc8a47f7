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
                try refreshService(record, row: row, owner: owner, db)
            case .organisation:
                break
            }
        }
        s.touched.removeAll()
    }

    static func winners(_ db: Database, row: Int64) throws -> (values: [String: Data], maxHLC: Int64) {
        var values: [String: Data] = [:]
        for r in try Row.fetchAll(db, sql: "SELECT field, value FROM field_write WHERE record = ? AND winner = 1", arguments: [row]) {
            if let v = r["value"] as Data? { values[r["field"]] = v }
        }
        let maxHLC = try Int64.fetchOne(db, sql: "SELECT max(hlc) FROM field_write WHERE record = ?", arguments: [row]) ?? 0
        return (values, maxHLC)
    }

    static func refreshReferral(_ record: RecordID, row: Int64, practice: NodeID, pcn: NodeID, _ db: Database, _ s: inout ApplySession) throws {
        let (values, maxHLC) = try winners(db, row: row)
        let service = values[FieldKey.routingService.rawValue].flatMap { try? RecordID(String(decoding: $0, as: UTF8.self)) }
        let events = try writes(record: record, recordRow: row, fields: [FieldKey.progressEvents.rawValue], db, &s)
        let live = try Set(Int64.fetchAll(db, sql: "SELECT seq FROM field_write WHERE record = ? AND field = ? AND live = 1", arguments: [row, FieldKey.progressEvents.rawValue]))
        let status = StatusFold.status(events: events.filter { live.contains(Int64($0.seq)) && $0.value != nil }, currentService: service)
        let view = Audience.ReferralView(currentService: service, explicitConsent: false)
        try db.execute(
            sql: """
                INSERT INTO referral (record, key, practice, pcn, addressed_to, service, status, needs, urgency, updated_hlc)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                ON CONFLICT (record) DO UPDATE SET addressed_to = excluded.addressed_to, service = excluded.service,
                  status = excluded.status, needs = excluded.needs, urgency = excluded.urgency, updated_hlc = excluded.updated_hlc
                """,
            arguments: [
                row, record.rawValue, practice.rawValue, pcn.rawValue, (view.addressedTo(record) ?? pcn).rawValue,
                service?.rawValue, status.description,
                values[FieldKey.routingNeeds.rawValue].map { String(decoding: $0, as: UTF8.self) },
                values[FieldKey.routingUrgency.rawValue].map { String(decoding: $0, as: UTF8.self) }, maxHLC,
            ])
        if case .conflict(let refs) = status {
            try db.execute(
                sql: "INSERT INTO conflict (record, field, live_count) VALUES (?, 'status', ?) ON CONFLICT (record, field) DO UPDATE SET live_count = excluded.live_count",
                arguments: [row, refs.count])
        } else {
            try db.execute(sql: "DELETE FROM conflict WHERE record = ? AND field = 'status'", arguments: [row])
        }
    }

    static func refreshService(_ record: RecordID, row: Int64, owner: NodeID, _ db: Database) throws {
        let (values, maxHLC) = try winners(db, row: row)
        func text(_ f: FieldKey) -> String? { values[f.rawValue].map { String(decoding: $0, as: UTF8.self) } }
        func int(_ f: FieldKey) -> Int? { text(f).flatMap { Int($0) } }
        let capacity = values[FieldKey.serviceCapacity.rawValue].flatMap {
            try? FieldValue.decode(ServiceCapacity.self, [UInt8]($0), field: .serviceCapacity)
        }
        try db.execute(
            sql: """
                INSERT INTO service (record, key, owner, name, category, accepting, capacity_unit, capacity_available,
                  capacity_maximum, capacity_updated, capacity_valid_until, wait_days, updated_hlc)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                ON CONFLICT (record) DO UPDATE SET name = excluded.name, category = excluded.category,
                  accepting = excluded.accepting, capacity_unit = excluded.capacity_unit,
                  capacity_available = excluded.capacity_available, capacity_maximum = excluded.capacity_maximum,
                  capacity_updated = excluded.capacity_updated, capacity_valid_until = excluded.capacity_valid_until,
                  wait_days = excluded.wait_days, updated_hlc = excluded.updated_hlc
                """,
            arguments: [
                row, record.rawValue, owner.rawValue, text(.serviceName), text(.serviceCategory), text(.serviceAccepting),
                capacity?.unit, capacity?.available, capacity?.maximum, capacity.map { Int64($0.updated) },
                int(.serviceCapacityValidUntil), int(.serviceWaitDays), maxHLC,
            ])
    }
}
