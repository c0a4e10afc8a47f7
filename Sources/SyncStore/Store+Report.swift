import Foundation
import GRDB
import SyncCore

/// The facts a report is computed from, read in a few queries (one pass over each field's
/// writes, grouped in SQL), so that a hub of 200,000 referrals reports in seconds.
/// Times are ms since the Unix epoch (an event's is its change's HLC time).
///
/// Referrals are named in the facts by their row id (`Referral.record`) and services by their
/// index in `serviceKeys`, so that a million events hold no copies of 50-character ids.
public struct ReportFacts: Sendable {
    public struct Referral: Sendable {
        public var record: Int64
        public var key: String
        public var practice: String
        /// The current target service, if any.
        public var service: String?
        public var status: String
        public var needs: [String]
        public var urgency: String?
    }

    /// The first time a referral had an event of one kind for one service (and the reason given).
    public struct Event: Sendable {
        public var referral: Int64
        public var event: String
        /// An index into `serviceKeys`.
        public var service: Int?
        public var reason: String?
        public var first: UInt64
    }

    /// The first time a referral was addressed to one service (every routing write, replaced or not).
    public struct Addressing: Sendable {
        public var referral: Int64
        /// An index into `serviceKeys`.
        public var service: Int
        public var first: UInt64
    }

    public struct Outcome: Sendable {
        public var referral: Int64
        public var at: UInt64
        public var entry: OutcomeEntry
    }

    /// One capacity figure a service's owner published, replaced or not.
    public struct Capacity: Sendable {
        public var service: String
        public var capacity: ServiceCapacity
    }

    /// One "figures valid until" a service's owner published.
    public struct Validity: Sendable {
        public var service: String
        public var at: UInt64
        public var until: UInt64
    }

    /// A SNOMED CT event recorded on a referral.
    public struct Snomed: Sendable {
        public var referral: Int64
        public var code: String
        public var at: UInt64
    }

    public var referrals: [Referral] = []
    /// The service ids events and addressings name.
    public var serviceKeys: [String] = []
    public var events: [Event] = []
    public var addressings: [Addressing] = []
    public var outcomes: [Outcome] = []
    public var capacities: [Capacity] = []
    public var validities: [Validity] = []
    public var snomed: [Snomed] = []
}

extension Store {
    /// Reads the facts of every referral this store holds (and every service's capacity history).
    public func reportFacts() throws -> ReportFacts {
        try pool.read { db in
            var facts = ReportFacts()
            var serviceIndex: [String: Int] = [:]
            func service(_ key: String) -> Int {
                if let i = serviceIndex[key] { return i }
                facts.serviceKeys.append(key)
                serviceIndex[key] = facts.serviceKeys.count - 1
                return facts.serviceKeys.count - 1
            }
            let referrals = try Row.fetchCursor(
                db, sql: "SELECT record, key, practice, service, status, needs, urgency FROM referral")
            while let row = try referrals.next() {
                let needsText: String? = row["needs"]
                var needs: [String] = []
                if let needsText, let data = needsText.data(using: .utf8),
                    let parsed = try? JSONSerialization.jsonObject(with: data) as? [String]
                {
                    needs = parsed
                }
                facts.referrals.append(
                    .init(
                        record: row["record"], key: row["key"], practice: row["practice"], service: row["service"],
                        status: row["status"],
                        needs: needs, urgency: row["urgency"]))
            }
            // Status events: the first of each kind per referral and service (and reason), in SQL.
            let events = try Row.fetchCursor(
                db,
                sql: """
                    SELECT e.record AS record, e.event AS event, e.service AS service, e.reason AS reason,
                           MIN(e.hlc) AS hlc
                    FROM (SELECT record, hlc, json_extract(CAST(value AS TEXT), '$.event') AS event,
                                 json_extract(CAST(value AS TEXT), '$.service') AS service,
                                 json_extract(CAST(value AS TEXT), '$.reason') AS reason
                          FROM field_write WHERE field = 'progress.events' AND live = 1 AND value IS NOT NULL) e
                    WHERE e.event <> 'referred'
                    GROUP BY e.record, e.event, e.service, e.reason
                    """)
            while let row = try events.next() {
                facts.events.append(
                    .init(
                        referral: row["record"], event: row["event"] ?? "",
                        service: (row["service"] as String?).map(service), reason: row["reason"],
                        first: UInt64(bitPattern: row["hlc"] as Int64) >> 16))
            }
            let routing = try Row.fetchCursor(
                db,
                sql: """
                    SELECT f.record AS record, CAST(f.value AS TEXT) AS service, MIN(f.hlc) AS hlc
                    FROM field_write f
                    WHERE f.field = 'routing.service' AND f.value IS NOT NULL
                    GROUP BY f.record, f.value
                    """)
            while let row = try routing.next() {
                facts.addressings.append(
                    .init(
                        referral: row["record"], service: service(row["service"]),
                        first: UInt64(bitPattern: row["hlc"] as Int64) >> 16))
            }
            func values(_ field: FieldKey, live: Bool) throws -> [(
                record: Int64, key: String, hlc: UInt64, value: [UInt8]
            )] {
                try Row.fetchAll(
                    db,
                    sql: """
                        SELECT f.record AS record, r.key AS key, f.hlc AS hlc, f.value AS value FROM field_write f
                        JOIN record r ON r.id = f.record
                        WHERE f.field = ? AND f.value IS NOT NULL \(live ? "AND f.live = 1" : "") ORDER BY f.hlc
                        """, arguments: [field.rawValue]
                ).map {
                    (
                        record: $0["record"], key: $0["key"], hlc: UInt64(bitPattern: $0["hlc"] as Int64) >> 16,
                        value: [UInt8]($0["value"] as Data)
                    )
                }
            }
            for (record, _, hlc, value) in try values(.outcomeEntries, live: true) {
                if let entry = try? FieldValue.decode(OutcomeEntry.self, value, field: .outcomeEntries) {
                    facts.outcomes.append(.init(referral: record, at: hlc, entry: entry))
                }
            }
            for (_, key, _, value) in try values(.serviceCapacity, live: false) {
                if let capacity = try? FieldValue.decode(ServiceCapacity.self, value, field: .serviceCapacity) {
                    facts.capacities.append(.init(service: key, capacity: capacity))
                }
            }
            for (_, key, hlc, value) in try values(.serviceCapacityValidUntil, live: false) {
                if let until = try? FieldValue.integer(value, field: .serviceCapacityValidUntil) {
                    facts.validities.append(.init(service: key, at: hlc, until: UInt64(max(0, until))))
                }
            }
            for (record, _, hlc, value) in try values(.clinicalSnomed, live: true) {
                if let event = try? FieldValue.decode(SnomedEvent.self, value, field: .clinicalSnomed) {
                    facts.snomed.append(.init(referral: record, code: event.code, at: event.at ?? hlc))
                }
            }
            return facts
        }
    }
}
