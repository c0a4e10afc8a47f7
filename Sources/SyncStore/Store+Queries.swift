import Foundation
import GRDB
import SyncCore

/// A referral as listings show it.
public struct ReferralSummary: Sendable, Equatable, Codable {
    public var id: String
    public var status: String
    /// Who it is addressed to: the target service's owner, else the PCN hub.
    public var to: String
    public var service: String?
    public var practice: String
    public var pcn: String
    public var needs: [String]
    public var urgency: String?
    /// ms since the Unix epoch of its latest write.
    public var updated: UInt64
}

/// A service in the directory as listings show it.
public struct ServiceSummary: Sendable, Equatable, Codable {
    public struct Capacity: Sendable, Equatable, Codable {
        public var unit: String
        public var available: Int
        public var maximum: Int
        /// ms since the Unix epoch.
        public var updated: UInt64
    }
    public var id: String
    public var name: String?
    public var category: String?
    public var owner: String
    public var capacity: Capacity?
    public var accepting: String?
    public var waitDays: Int?
    /// ms since the Unix epoch; nil when the owner set no validity.
    public var capacityValidUntil: UInt64?
    /// True once the capacity's valid-until has passed: readers should not rely on it.
    public var stale: Bool
}

/// A field or a referral status waiting for a person to decide.
public struct ConflictSummary: Sendable, Equatable, Codable {
    public struct Candidate: Sendable, Equatable, Codable {
        /// The write (or event) reference to name with `spsync resolve --keep`.
        public var write: String
        public var origin: String
        public var hlc: String
        public var value: String?
    }
    public var record: String
    /// The field, or `status` for contradictory progress events.
    public var field: String
    public var candidates: [Candidate]
}

/// Counts for `spsync status`.
public struct StoreCounts: Sendable, Equatable, Codable {
    public var referrals: Int
    public var services: Int
    public var changes: Int
    public var conflicts: Int
    public var parked: Int
    public var quarantined: Int
    public var refused: Int
    /// Of the refused writes, those whose origin signature failed (forged, altered, unsigned, an
    /// unknown key, or a second change under one seq).
    public var forged: Int
    /// Key bindings peers sent that were refused.
    public var keysRefused: Int
    /// `HELLO`s claiming more of this node's changes than it made (ignored).
    public var falseClaims: Int
}

/// One field write as held, for relaying and for `referral show`.
public struct StoredWrite: Sendable, Equatable {
    public var localSeq: UInt64
    public var write: FieldWrite
    /// The wire bytes held for it.
    public var body: [UInt8]
    public var live: Bool
    public var winner: Bool
    public var receivedFrom: String?
}

extension Store {
    public func referrals(status: String? = nil) throws -> [ReferralSummary] {
        try pool.read { db in
            try Row.fetchAll(
                db, sql: "SELECT * FROM referral WHERE (?1 IS NULL OR status = ?1) ORDER BY updated_hlc DESC, key",
                arguments: [status]
            ).map(Store.referralSummary)
        }
    }

    public func referral(_ id: RecordID) throws -> ReferralSummary {
        try pool.read { db in
            guard let row = try Row.fetchOne(db, sql: "SELECT * FROM referral WHERE key = ?", arguments: [id.rawValue])
            else {
                throw SyncError(.notFound, "no referral \(id) here: check the id with `spsync referral list`")
            }
            return Store.referralSummary(row)
        }
    }

    static func referralSummary(_ row: Row) -> ReferralSummary {
        let needs =
            (row["needs"] as String?).flatMap { try? JSONDecoder().decode([String].self, from: Data($0.utf8)) } ?? []
        return ReferralSummary(
            id: row["key"], status: row["status"], to: row["addressed_to"], service: row["service"],
            practice: row["practice"], pcn: row["pcn"], needs: needs, urgency: row["urgency"],
            updated: UInt64(bitPattern: row["updated_hlc"] as Int64) >> 16)
    }

    public func services(owner: NodeID? = nil, wallMillis: UInt64) throws -> [ServiceSummary] {
        try pool.read { db in
            try Row.fetchAll(
                db, sql: "SELECT * FROM service WHERE (?1 IS NULL OR owner = ?1) ORDER BY name, key",
                arguments: [owner?.rawValue]
            ).map { Store.serviceSummary($0, wallMillis: wallMillis) }
        }
    }

    public func service(_ id: RecordID, wallMillis: UInt64) throws -> ServiceSummary {
        try pool.read { db in
            guard let row = try Row.fetchOne(db, sql: "SELECT * FROM service WHERE key = ?", arguments: [id.rawValue])
            else {
                throw SyncError(.notFound, "no service \(id) here: check the id with `spsync service list`")
            }
            return Store.serviceSummary(row, wallMillis: wallMillis)
        }
    }

    static func serviceSummary(_ row: Row, wallMillis: UInt64) -> ServiceSummary {
        var capacity: ServiceSummary.Capacity?
        if let unit = row["capacity_unit"] as String?, let a = row["capacity_available"] as Int?,
            let m = row["capacity_maximum"] as Int?
        {
            capacity = .init(
                unit: unit, available: a, maximum: m, updated: UInt64(row["capacity_updated"] as Int64? ?? 0))
        }
        let validUntil = (row["capacity_valid_until"] as Int64?).map { UInt64($0) }
        return ServiceSummary(
            id: row["key"], name: row["name"], category: row["category"], owner: row["owner"], capacity: capacity,
            accepting: row["accepting"], waitDays: row["wait_days"], capacityValidUntil: validUntil,
            stale: validUntil.map { $0 < wallMillis } ?? false)
    }

    /// Every write held for a record, in arrival order.
    public func writes(of record: RecordID) throws -> [StoredWrite] {
        try pool.read { db in
            var s = ApplySession(hlc: .zero, wallMillis: 0)
            guard let row = try Store.recordID(record, create: false, db, &s) else {
                throw SyncError(.notFound, "no record \(record) here")
            }
            return try Row.fetchAll(
                db, sql: "SELECT * FROM field_write WHERE record = ? ORDER BY local_seq", arguments: [row]
            ).map {
                try Store.storedWrite($0, record: record, db, &s)
            }
        }
    }

    static func storedWrite(_ row: Row, record: RecordID, _ db: Database, _ s: inout ApplySession) throws -> StoredWrite
    {
        let body = [UInt8](row["body"] as Data)
        let origin = try Store.origin(id: row["origin"], db, &s)
        let w = try FieldWrite(
            origin: origin, seq: UInt64(row["seq"] as Int64), hlc: HLC(rawValue: UInt64(bitPattern: row["hlc"])),
            record: record, body: body)
        return StoredWrite(
            localSeq: UInt64(row["local_seq"] as Int64), write: w, body: body, live: row["live"] == 1,
            winner: row["winner"] == 1, receivedFrom: row["received_from"])
    }

    /// Field writes after `localSeq` in arrival order, at most `limit` (for `PULL`).
    public func changes(after localSeq: UInt64, limit: Int) throws -> [StoredWrite] {
        try pool.read { db in
            var s = ApplySession(hlc: .zero, wallMillis: 0)
            // A change's writes are consecutive and share their record: parse its id once.
            var last: (row: Int64, id: RecordID)?
            return try Row.fetchAll(
                db.cachedStatement(
                    sql:
                        "SELECT field_write.*, record.key AS record_key FROM field_write JOIN record ON record.id = field_write.record WHERE local_seq > ? ORDER BY local_seq LIMIT ?"
                ),
                arguments: [Int64(localSeq), limit]
            ).map { row in
                let recordRow: Int64 = row["record"]
                let record: RecordID
                if let last, last.row == recordRow {
                    record = last.id
                } else {
                    record = try RecordID(row["record_key"] as String)
                    last = (recordRow, record)
                }
                return try Store.storedWrite(row, record: record, db, &s)
            }
        }
    }

    /// The highest local seq in the change log.
    public func lastLocalSeq() throws -> UInt64 {
        try pool.read { db in UInt64(try Int64.fetchOne(db, sql: "SELECT max(local_seq) FROM field_write") ?? 0) }
    }

    /// The live writes of one field (its candidates when in conflict).
    /// The text of `field`'s winning live write (or a live one) for every record that has one, by
    /// record key: one query for a listing, where `live` per record would read each record's writes.
    public func liveTexts(of field: FieldKey) throws -> [String: String] {
        try pool.read { db in
            var out: [String: String] = [:]
            let rows = try Row.fetchCursor(
                db,
                sql: """
                    SELECT record.key AS key, field_write.value AS value FROM field_write
                    JOIN record ON record.id = field_write.record
                    WHERE field_write.field = ? AND field_write.live = 1 AND field_write.value IS NOT NULL
                    ORDER BY field_write.winner
                    """, arguments: [field.rawValue])
            // Winners come last, so a winner's text replaces any other live one's.
            while let row = try rows.next() {
                out[row["key"]] = String(decoding: row["value"] as Data, as: UTF8.self)
            }
            return out
        }
    }

    public func live(_ record: RecordID, _ field: FieldKey) throws -> [StoredWrite] {
        try writes(of: record).filter { $0.write.field == field && $0.live }
    }

    public func conflicts() throws -> [ConflictSummary] {
        let rows = try pool.read { db in
            try Row.fetchAll(
                db,
                sql:
                    "SELECT record.key AS key, conflict.field AS field FROM conflict JOIN record ON record.id = conflict.record ORDER BY key, field"
            )
        }
        return try rows.map { row in
            let record = try RecordID(row["key"] as String)
            let field: String = row["field"]
            let held = try writes(of: record)
            let candidates: [StoredWrite]
            if field == "status" {
                var replica = Replica()
                for w in held { replica.apply(w.write) }
                guard case .conflict(let refs) = replica.status(record) else {
                    return ConflictSummary(record: record.rawValue, field: field, candidates: [])
                }
                candidates = held.filter { $0.write.field == .progressEvents && refs.contains($0.write.change) }
            } else {
                candidates = held.filter { $0.write.field.rawValue == field && $0.live }
            }
            return ConflictSummary(
                record: record.rawValue, field: field,
                candidates: candidates.map {
                    .init(
                        write: $0.write.change.description, origin: $0.write.origin.node.rawValue,
                        hlc: $0.write.hlc.description, value: $0.write.text)
                })
        }
    }

    public func counts() throws -> StoreCounts {
        try pool.read { db in
            func count(_ sql: String) throws -> Int { try Int.fetchOne(db, sql: sql) ?? 0 }
            return StoreCounts(
                referrals: try count("SELECT count(*) FROM referral"),
                services: try count("SELECT count(*) FROM service"),
                changes: try count("SELECT count(*) FROM field_write"),
                conflicts: try count("SELECT count(*) FROM conflict"),
                parked: try count("SELECT count(*) FROM parked"),
                quarantined: try count("SELECT count(*) FROM quarantine"),
                refused: try count("SELECT count(*) FROM audit WHERE action = 'refused'"),
                forged: try count(
                    "SELECT count(*) FROM audit WHERE action = 'refused' AND code IN ('bad_signature', 'key_conflict')"),
                keysRefused: try count("SELECT count(*) FROM audit WHERE action = 'key_refused'"),
                falseClaims: try count("SELECT count(*) FROM audit WHERE action = 'false_claim'"))
        }
    }
}
