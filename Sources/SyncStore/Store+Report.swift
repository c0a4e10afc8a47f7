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
        /// When it was made (the time in its id), ms.
        public var created: UInt64
        public var practice: String
        /// The current target service, if any: an index into `serviceKeys`.
        public var service: Int?
        /// Indexes into `needKeys`.
        public var needs: [Int]
    }

    /// A status event of a referral for one service (and the reason given for a decline), kept
    /// small: a hub's year holds about a million.
    public struct Event: Sendable {
        public var referral: Int64
        public var first: UInt64
        var serviceIndex: Int32
        var eventIndex: UInt16
        var reasonIndex: Int32
        /// An index into `eventKeys`.
        public var event: Int { Int(eventIndex) }
        /// An index into `serviceKeys`.
        public var service: Int? { serviceIndex < 0 ? nil : Int(serviceIndex) }
        /// An index into `reasonKeys`.
        public var reason: Int? { reasonIndex < 0 ? nil : Int(reasonIndex) }
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
        /// An index into `serviceKeys`.
        public var service: Int?
        /// Four scores of 0–10 packed a byte each (score + 1; 0 when absent).
        var packedBefore: UInt32
        var packedAfter: UInt32
        public var before: [Int]? { Self.unpack(packedBefore) }
        public var after: [Int]? { Self.unpack(packedAfter) }

        static func pack(_ scores: [Int]?) -> UInt32 {
            guard let scores, scores.count == 4, scores.allSatisfy({ (0...10).contains($0) }) else { return 0 }
            return scores.reduce(0) { $0 << 8 | UInt32($1 + 1) }
        }

        static func unpack(_ packed: UInt32) -> [Int]? {
            packed == 0 ? nil : (0..<4).map { Int((packed >> (8 * (3 - $0))) & 0xFF) - 1 }
        }
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
    /// The service ids, needs and event kinds the facts name by index.
    public var serviceKeys: [String] = []
    public var needKeys: [String] = []
    public var eventKeys: [String] = []
    /// The reasons given for declines.
    public var reasonKeys: [String] = []
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
            var services = Numbering(), needs = Numbering(), reasons = Numbering(), events = Numbering()
            func service(_ key: String) -> Int { services.number(key) }
            func need(_ key: Substring) -> Int { needs.number(String(key)) }
            func reason(_ key: String) -> Int { reasons.number(key) }
            func event(_ key: String) -> Int { events.number(key) }
            // The time a referral was made: the first 48 bits of its id's UUID (version 7).
            func created(_ key: String) -> UInt64? {
                guard let dot = key.lastIndex(of: ".") else { return nil }
                var millis: UInt64 = 0
                var digits = 0
                for c in key.utf8[key.utf8.index(after: dot)...] where c != UInt8(ascii: "-") {
                    guard let v = hexValue(c) else { return nil }
                    millis = millis << 4 | UInt64(v)
                    digits += 1
                    if digits == 12 { return millis }
                }
                return nil
            }
            let referralCount = try Int.fetchOne(db, sql: "SELECT count(*) FROM referral") ?? 0
            facts.referrals.reserveCapacity(referralCount)
            // About four status events and one addressing a referral, in a year's store.
            facts.events.reserveCapacity(referralCount * 4)
            facts.addressings.reserveCapacity(referralCount)
            let referrals = try Row.fetchCursor(
                db, sql: "SELECT record, key, practice, service, needs FROM referral")
            while let row = try referrals.next() {
                guard let made = created(row[1]) else { continue }
                // The needs as the view holds them: a JSON array of plain words.
                let needsText: String = row[4] ?? "[]"
                let needs = needsText.split(whereSeparator: { "[]\", ".contains($0) }).map(need)
                facts.referrals.append(
                    .init(
                        record: row[0], created: made, practice: row[2], service: (row[3] as String?).map(service),
                        needs: needs))
            }
            // ONS4 scores as json_extract gives them: "[5,5,5,8]", parsed without a JSON decoder.
            func scores(_ text: String?) -> [Int]? {
                guard let text else { return nil }
                let parts = text.split(whereSeparator: { "[], ".contains($0) }).compactMap { Int($0) }
                return parts.count == 4 ? parts : nil
            }
            // One pass over the log for every field the report reads (a scan per field would read
            // the whole log each time): status events, routing, outcomes, SNOMED CT codes and the
            // services' capacity history, the parts of their values taken out in SQL.
            let writes = try Row.fetchCursor(
                db,
                sql: """
                    SELECT f.record, f.hlc, f.live,
                      CASE f.field WHEN 'progress.events' THEN 0 WHEN 'routing.service' THEN 1
                        WHEN 'outcome.entries' THEN 2 WHEN 'clinical.snomed' THEN 3 WHEN 'service.capacity' THEN 4
                        ELSE 5 END,
                      CASE WHEN f.field IN ('progress.events', 'outcome.entries')
                             THEN json_extract(CAST(f.value AS TEXT), '$.service')
                           WHEN f.field = 'routing.service' THEN CAST(f.value AS TEXT) END,
                      CASE WHEN f.field = 'progress.events' THEN json_extract(CAST(f.value AS TEXT), '$.event')
                           WHEN f.field = 'clinical.snomed' THEN json_extract(CAST(f.value AS TEXT), '$.code') END,
                      CASE WHEN f.field = 'progress.events' THEN json_extract(CAST(f.value AS TEXT), '$.reason')
                           WHEN f.field = 'outcome.entries' THEN json_extract(CAST(f.value AS TEXT), '$.ons4Before')
                           WHEN f.field IN ('service.capacity', 'service.capacityValidUntil') THEN CAST(f.value AS TEXT)
                           END,
                      CASE WHEN f.field = 'outcome.entries' THEN json_extract(CAST(f.value AS TEXT), '$.ons4After')
                           WHEN f.field IN ('service.capacity', 'service.capacityValidUntil')
                             THEN (SELECT key FROM record WHERE id = f.record) END
                    FROM field_write f
                    WHERE f.value IS NOT NULL AND f.field IN ('progress.events', 'routing.service', 'outcome.entries',
                      'clinical.snomed', 'service.capacity', 'service.capacityValidUntil')
                    """)
            while let row = try writes.next() {
                let record: Int64 = row[0]
                let hlc = UInt64(bitPattern: row[1] as Int64) >> 16
                let live = (row[2] as Int64) == 1
                switch row[3] as Int64 {
                case 0:
                    guard live, let kind = row[5] as String?, kind != "referred" else { continue }
                    let declineReason = kind == "declined" ? (row[6] as String?).map(reason) : nil
                    facts.events.append(
                        .init(
                            referral: record, first: hlc, serviceIndex: Int32((row[4] as String?).map(service) ?? -1),
                            eventIndex: UInt16(event(kind)), reasonIndex: Int32(declineReason ?? -1)))
                case 1:
                    guard let s = row[4] as String? else { continue }
                    facts.addressings.append(.init(referral: record, service: service(s), first: hlc))
                case 2:
                    let before = scores(row[6]), after = scores(row[7])
                    guard live, before != nil || after != nil else { continue }
                    facts.outcomes.append(
                        .init(
                            referral: record, at: hlc, service: (row[4] as String?).map(service),
                            packedBefore: ReportFacts.Outcome.pack(before), packedAfter: ReportFacts.Outcome.pack(after)
                        ))
                case 3:
                    guard live, let code = row[5] as String? else { continue }
                    facts.snomed.append(.init(referral: record, code: code, at: hlc))
                case 4:
                    guard let key = row[7] as String?, let text = row[6] as String?,
                        let capacity = try? FieldValue.decode(
                            ServiceCapacity.self, Array(text.utf8), field: .serviceCapacity)
                    else { continue }
                    facts.capacities.append(.init(service: key, capacity: capacity))
                default:
                    guard let key = row[7] as String?, let text = row[6] as String?, let until = Int(text) else {
                        continue
                    }
                    facts.validities.append(.init(service: key, at: hlc, until: UInt64(max(0, until))))
                }
            }
            facts.serviceKeys = services.keys
            facts.needKeys = needs.keys
            facts.reasonKeys = reasons.keys
            facts.eventKeys = events.keys
            return facts
        }
    }
}

/// Numbers strings in the order first seen, so that facts name them by a small index.
private struct Numbering {
    private(set) var keys: [String] = []
    private var numbers: [String: Int] = [:]

    mutating func number(_ key: String) -> Int {
        if let n = numbers[key] { return n }
        keys.append(key)
        numbers[key] = keys.count - 1
        return keys.count - 1
    }
}

/// The value of one hex digit, or nil.
private func hexValue(_ c: UInt8) -> UInt8? {
    switch c {
    case UInt8(ascii: "0")...UInt8(ascii: "9"): return c - UInt8(ascii: "0")
    case UInt8(ascii: "a")...UInt8(ascii: "f"): return c - UInt8(ascii: "a") + 10
    case UInt8(ascii: "A")...UInt8(ascii: "F"): return c - UInt8(ascii: "A") + 10
    default: return nil
    }
}
