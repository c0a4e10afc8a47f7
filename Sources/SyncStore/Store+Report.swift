import Foundation
import GRDB
import SyncCore

/// The facts a report is computed from, read in a few queries (one pass over each field's
/// writes, grouped in SQL), so that a hub of 200,000 referrals reports in seconds.
/// Times are ms since the Unix epoch (an event's is its change's HLC time).
public struct ReportFacts: Sendable {
    public struct Referral: Sendable {
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
        public var referral: String
        public var event: String
        public var service: String?
        public var reason: String?
        public var first: UInt64
    }

    /// The first time a referral was addressed to one service (every routing write, replaced or not).
    public struct Addressing: Sendable {
        public var referral: String
        public var service: String
        public var first: UInt64
    }

    public struct Outcome: Sendable {
        public var referral: String
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
        public var referral: String
        public var code: String
        public var at: UInt64
    }

    public var referrals: [Referral] = []
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
            let referrals = try Row.fetchCursor(
                db, sql: "SELECT key, practice, service, status, needs, urgency FROM referral")
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
                        key: row["key"], practice: row["practice"], service: row["service"], status: row["status"],
                        needs: needs, urgency: row["urgency"]))
            }
            // Status events: the first of each kind per referral and service (and reason), in SQL.
            let events = try Row.fetchCursor(
                db,
                sql: """
                    SELECT r.key AS key, e.event AS event, e.service AS service, e.reason AS reason, MIN(e.hlc) AS hlc
                    FROM (SELECT record, hlc, json_extract(CAST(value AS TEXT), '$.event') AS event,
                                 json_extract(CAST(value AS TEXT), '$.service') AS service,
                                 json_extract(CAST(value AS TEXT), '$.reason') AS reason
                          FROM field_write WHERE field = 'progress.events' AND live = 1 AND value IS NOT NULL) e
                    JOIN record r ON r.id = e.record
                    WHERE e.event <> 'referred'
                    GROUP BY e.record, e.event, e.service, e.reason
                    """)
            while let row = try events.next() {
                facts.events.append(
                    .init(
                        referral: row["key"], event: row["event"] ?? "", service: row["service"], reason: row["reason"],
                        first: UInt64(bitPattern: row["hlc"] as Int64) >> 16))
            }
            let routing = try Row.fetchCursor(
                db,
                sql: """
                    SELECT r.key AS key, CAST(f.value AS TEXT) AS service, MIN(f.hlc) AS hlc
                    FROM field_write f JOIN record r ON r.id = f.record
                    WHERE f.field = 'routing.service' AND f.value IS NOT NULL
                    GROUP BY f.record, f.value
                    """)
            while let row = try routing.next() {
                facts.addressings.append(
                    .init(
                        referral: row["key"], service: row["service"],
                        first: UInt64(bitPattern: row["hlc"] as Int64) >> 16))
            }
            func values(_ field: FieldKey, live: Bool) throws -> [(key: String, hlc: UInt64, value: [UInt8])] {
                try Row.fetchAll(
                    db,
                    sql: """
                        SELECT r.key AS key, f.hlc AS hlc, f.value AS value FROM field_write f
                        JOIN record r ON r.id = f.record
                        WHERE f.field = ? AND f.value IS NOT NULL \(live ? "AND f.live = 1" : "") ORDER BY f.hlc
                        """, arguments: [field.rawValue]
                ).map {
                    (
                        key: $0["key"], hlc: UInt64(bitPattern: $0["hlc"] as Int64) >> 16,
                        value: [UInt8]($0["value"] as Data)
                    )
                }
            }
            for (key, hlc, value) in try values(.outcomeEntries, live: true) {
                if let entry = try? FieldValue.decode(OutcomeEntry.self, value, field: .outcomeEntries) {
                    facts.outcomes.append(.init(referral: key, at: hlc, entry: entry))
                }
            }
            for (key, _, value) in try values(.serviceCapacity, live: false) {
                if let capacity = try? FieldValue.decode(ServiceCapacity.self, value, field: .serviceCapacity) {
                    facts.capacities.append(.init(service: key, capacity: capacity))
                }
            }
            for (key, hlc, value) in try values(.serviceCapacityValidUntil, live: false) {
                if let until = try? FieldValue.integer(value, field: .serviceCapacityValidUntil) {
                    facts.validities.append(.init(service: key, at: hlc, until: UInt64(max(0, until))))
                }
            }
            for (key, hlc, value) in try values(.clinicalSnomed, live: true) {
                if let event = try? FieldValue.decode(SnomedEvent.self, value, field: .clinicalSnomed) {
                    facts.snomed.append(.init(referral: key, code: event.code, at: event.at ?? hlc))
                }
            }
            return facts
        }
    }
}
