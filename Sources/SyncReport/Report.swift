import Foundation
import SyncCore
import SyncDomain
import SyncStore

/// The evidence a commissioner asks for, from what this node may see: referrals by need (under the
/// drivers of social prescribing), by practice and by month; per service and category, the
/// funnel, acceptance and times to addressing, first contact and acceptance; ONS4 outcomes with
/// the anxiety item's direction; capacity over time; the national SNOMED CT codes counted.
///
/// A hub sees its PCN's referrals; a practice its own patients'; a charity only referrals now
/// addressed to one of its services, with its own services' events and capacity.
///
/// Small numbers: with `suppress` (the default), counts from 1 to 4 are shown as "<5" and rates,
/// shares and times resting on fewer than 5 people are not shown, as NHS statistical disclosure
/// control does. Totals stay exact, so check before publishing that no small count can be
/// worked out by subtraction.
public struct Report: Codable, Sendable {
    /// A count that prints as "<5" when it is suppressed.
    public struct Tally: Codable, Sendable, Equatable {
        public var value: Int
        public var suppressed: Bool

        public init(_ value: Int, suppress: Bool) {
            self.value = value
            self.suppressed = suppress && (1...4).contains(value)
        }

        public var text: String { suppressed ? "<5" : String(value) }

        public func encode(to encoder: any Encoder) throws {
            var c = encoder.singleValueContainer()
            if suppressed { try c.encode("<5") } else { try c.encode(value) }
        }

        public init(from decoder: any Decoder) throws {
            let c = try decoder.singleValueContainer()
            if let v = try? c.decode(Int.self) {
                value = v
                suppressed = false
            } else {
                value = 0
                suppressed = true
            }
        }
    }

    public struct Row: Codable, Sendable {
        public var name: String
        public var count: Tally
    }

    /// The drivers social prescribing answers, and the needs under each.
    public enum Driver: String, CaseIterable, Codable, Sendable {
        case loneliness = "Loneliness and isolation"
        case longTermConditions = "Long-term conditions"
        case mentalWellbeing = "Mental wellbeing"
        case physicalActivity = "Physical activity"
        case socialDeterminants = "Housing, debt and employment (the social determinants)"
        case carersBereavement = "Carers and bereavement"
        case mobilityAgeing = "Mobility and ageing"
        case other = "Other"

        public static func of(_ need: String) -> Driver {
            switch NeedCategory(rawValue: need) {
            case .loneliness: return .loneliness
            case .longTermCondition: return .longTermConditions
            case .mentalWellbeing: return .mentalWellbeing
            case .physicalActivity: return .physicalActivity
            case .housing, .debt, .employment: return .socialDeterminants
            case .carer, .bereavement: return .carersBereavement
            case .mobility: return .mobilityAgeing
            case .other, nil: return .other
            }
        }
    }

    public struct DriverRow: Codable, Sendable {
        public var driver: String
        /// Referrals naming at least one need under the driver.
        public var referrals: Tally
        public var needs: [Row]
    }

    /// Days between two steps: how many referrals made the step, median and 90th percentile.
    public struct Timing: Codable, Sendable {
        public var referrals: Tally
        /// nil when fewer than 5 (suppressed) or none.
        public var medianDays: Double?
        public var p90Days: Double?
    }

    /// A service's (or a category's) funnel and times.
    public struct ServiceRow: Codable, Sendable {
        public var id: String
        public var name: String
        public var category: String
        public var addressed: Tally
        public var received: Tally
        public var contacted: Tally
        public var accepted: Tally
        public var declined: Tally
        public var unableToContact: Tally
        public var attending: Tally
        public var didNotAttend: Tally
        public var completed: Tally
        /// Accepted ÷ addressed; nil when either is suppressed or none were addressed.
        public var acceptanceRate: Double?
        public var toAddressed: Timing
        public var toFirstContact: Timing
        public var toAcceptance: Timing
    }

    public struct DeclineReason: Codable, Sendable {
        public var service: String
        public var reason: String
        public var count: Tally
    }

    /// One ONS4 item: mean before and after over the people with both, and the change.
    public struct OutcomeItem: Codable, Sendable {
        public var item: String
        /// "higher" for life satisfaction, worthwhile and happiness; "lower" for anxiety.
        public var betterIs: String
        public var meanBefore: Double?
        public var meanAfter: Double?
        /// After minus before, as scored.
        public var meanChange: Double?
        /// The change in the better direction (for anxiety, before minus after).
        public var meanImprovement: Double?
    }

    public struct Outcomes: Codable, Sendable {
        /// People (referrals) with ONS4 scores both before and after.
        public var people: Tally
        public var items: [OutcomeItem]
        /// People whose mean improvement over the four items (anxiety reversed) is above zero.
        public var improved: Tally
        public var improvedShare: Double?
        public var note: String
    }

    /// One service's free places, day by day (the figure in force at the end of each day).
    public struct CapacitySeries: Codable, Sendable {
        public var service: String
        public var name: String
        public var unit: String
        public struct Point: Codable, Sendable {
            public var day: String
            public var available: Int
            public var maximum: Int
        }
        public var points: [Point]
        public var daysAtZero: Int
        public var daysStale: Int
        /// Days in the period before the service published any figure.
        public var daysUnknown: Int
    }

    public struct CodeRow: Codable, Sendable {
        public var code: String
        public var term: String
        public var count: Tally
    }

    public var node: String
    public var role: String
    public var generated: String
    public var from: String
    public var to: String
    public var suppressed: Bool
    public var notes: [String]
    public var referrals: Tally
    public var byDriver: [DriverRow]
    public var byPractice: [Row]
    public var byMonth: [Row]
    /// Referrals at each step, whatever service: the funnel.
    public var funnel: [Row]
    public var services: [ServiceRow]
    public var categories: [ServiceRow]
    public var declineReasons: [DeclineReason]
    /// Days from referral to first contact, in bands.
    public var firstContact: [Row]
    public var outcomes: Outcomes
    public var capacity: [CapacitySeries]
    public var snomed: [CodeRow]
    public var snomedSource: String
}

extension Report {
    static let day: UInt64 = 86_400_000

    /// "2026-12-02" (UTC): `CalendarDate`'s arithmetic (a formatter per call would cost more than
    /// the rest of a large report).
    public static func date(_ millis: UInt64) -> String { CalendarDate(utcMillis: millis).description }

    /// Parses "YYYY-MM-DD" as the start of that day, UTC; nil for text that is not a real date
    /// from 1970 on.
    public static func parseDate(_ text: String) -> UInt64? {
        guard let d = CalendarDate(text), d.daysSinceEpoch >= 0 else { return nil }
        return UInt64(d.daysSinceEpoch) * day
    }

    /// The period a report covers, as `[from, to)` in ms: from the first day given (default a
    /// year before the end) to the end of the last day given (default today, UTC). Nil when the
    /// period starts after it ends.
    public static func period(from: String?, to: String?, nowMillis: UInt64) -> (from: UInt64, to: UInt64)? {
        let end = (to.flatMap(parseDate) ?? nowMillis / day * day) + day
        let start = from.flatMap(parseDate) ?? (end > 365 * day ? end - 365 * day : 0)
        return start < end ? (start, end) : nil
    }

    /// The value at fraction `q` of `sorted` (nearest rank).
    static func quantile(_ sorted: [Double], _ q: Double) -> Double {
        let rank = max(1, Int((q * Double(sorted.count)).rounded(.up)))
        return sorted[min(rank, sorted.count) - 1]
    }

    /// Makes the report for `domain`'s node over referrals made from `from` (inclusive) to `to`
    /// (exclusive), ms since the Unix epoch.
    public static func make(
        _ domain: Domain, from: UInt64, to: UInt64, suppress: Bool = true, nowMillis: UInt64
    ) throws -> Report {
        try make(
            facts: try domain.store.reportFacts(), domain: domain, from: from, to: to, suppress: suppress,
            nowMillis: nowMillis)
    }

    static func make(
        facts: ReportFacts, domain: Domain, from: UInt64, to: UInt64, suppress: Bool, nowMillis: UInt64
    ) throws -> Report {
        let node = domain.node
        func tally(_ n: Int) -> Tally { Tally(n, suppress: suppress) }
        func ownService(_ id: String?) -> Bool {
            guard let id, let record = try? RecordID(id) else { return false }
            return record.serviceOwner == node
        }
        // The referrals in scope: made in the period and this node's to report on.
        var created: [Int64: UInt64] = [:]
        var inScope: [ReportFacts.Referral] = []
        let own = facts.serviceKeys.map(ownService)
        for r in facts.referrals {
            let made = r.created
            guard made >= from, made < to else { continue }
            switch node.role {
            case .vcse: guard r.service.map({ own[$0] }) == true else { continue }
            case .practice: guard r.practice == node.rawValue else { continue }
            case .hub: break
            }
            created[r.record] = made
            inScope.append(r)
        }
        let services = try domain.store.services(wallMillis: nowMillis).filter {
            node.role != .vcse || ownService($0.id)
        }
        var serviceInfo: [String: (name: String, category: String)] = [:]
        for s in services { serviceInfo[s.id] = (s.name ?? s.id, s.category ?? "other") }

        // Events and addressings of referrals in scope (a charity: of its own services only).
        let events = facts.events.lazy.filter {
            created[$0.referral] != nil && (node.role != .vcse || $0.service.map { own[$0] } == true)
        }
        let addressings = facts.addressings.lazy.filter {
            created[$0.referral] != nil && (node.role != .vcse || own[$0.service])
        }

        // Needs, drivers, practices, months.
        var needCounts: [String: Int] = [:]
        var driverReferrals: [Driver: Int] = [:]
        var practices: [String: Int] = [:]
        var months: [String: Int] = [:]
        let needDriver = facts.needKeys.map(Driver.of)
        var needTallies = [Int](repeating: 0, count: facts.needKeys.count)
        for r in inScope {
            for need in Set(r.needs) { needTallies[need] += 1 }
            for driver in Set(r.needs.map { needDriver[$0] }) { driverReferrals[driver, default: 0] += 1 }
            practices[r.practice, default: 0] += 1
            months[String(date(r.created).prefix(7)), default: 0] += 1
        }
        for (i, n) in needTallies.enumerated() where n > 0 { needCounts[facts.needKeys[i], default: 0] += n }
        let byDriver = Driver.allCases.map { driver in
            DriverRow(
                driver: driver.rawValue, referrals: tally(driverReferrals[driver] ?? 0),
                needs: needCounts.filter { Driver.of($0.key) == driver }.sorted {
                    ($1.value, $0.key) < ($0.value, $1.key)
                }
                .map { Row(name: $0.key.replacingOccurrences(of: "_", with: " "), count: tally($0.value)) })
        }
        var monthRows: [Row] = []
        var month = String(date(from).prefix(7))
        let lastMonth = String(date(to - 1).prefix(7))
        while month <= lastMonth {
            monthRows.append(Row(name: month, count: tally(months[month] ?? 0)))
            let parts = month.split(separator: "-").compactMap { Int($0) }
            let (y, m) = parts[1] == 12 ? (parts[0] + 1, 1) : (parts[0], parts[1] + 1)
            month = String(format: "%04d-%02d", y, m)
        }

        // The funnel, over any service.
        // Which steps each referral reached, a bit per step: far smaller than a set per step.
        let steps = ["received", "contacted", "accepted", "attending", "completed"]
        let stepBit = facts.eventKeys.map { key in steps.firstIndex(of: key).map { UInt8(1) << $0 } ?? 0 }
        var reached: [Int64: UInt8] = [:]
        reached.reserveCapacity(inScope.count)
        for e in events where stepBit[e.event] != 0 { reached[e.referral, default: 0] |= stepBit[e.event] }
        var stepCounts = [Int](repeating: 0, count: steps.count)
        for bits in reached.values {
            for i in steps.indices where bits & (1 << i) != 0 { stepCounts[i] += 1 }
        }
        reached = [:]
        let addressedAny = Set(addressings.map(\.referral))
        let funnel =
            [
                Row(name: "referred", count: tally(inScope.count)),
                Row(name: "addressed", count: tally(addressedAny.count)),
            ]
            + steps.indices.map { Row(name: steps[$0], count: tally(stepCounts[$0])) }

        // Per service: who was addressed there, their events there, and the times.
        func timing(_ days: [Double]) -> Timing {
            let sorted = days.sorted()
            let shown = !sorted.isEmpty && !(suppress && sorted.count < 5)
            return Timing(
                referrals: tally(sorted.count), medianDays: shown ? (quantile(sorted, 0.5) * 10).rounded() / 10 : nil,
                p90Days: shown ? (quantile(sorted, 0.9) * 10).rounded() / 10 : nil)
        }
        func days(_ start: UInt64, _ end: UInt64) -> Double { end > start ? Double(end - start) / Double(day) : 0 }
        struct Group {
            var addressed: [Int64: UInt64] = [:]
            var events: [String: [Int64: UInt64]] = [:]
        }
        var byService: [String: Group] = [:]
        for a in addressings {
            let service = facts.serviceKeys[a.service]
            let earlier = byService[service]?.addressed[a.referral]
            byService[service, default: Group()].addressed[a.referral] = min(earlier ?? a.first, a.first)
        }
        var reasons: [String: [String: Int]] = [:]
        for e in events {
            guard let s = e.service.map({ facts.serviceKeys[$0] }) else { continue }
            let kind = facts.eventKeys[e.event]
            let earlier = byService[s]?.events[kind]?[e.referral]
            byService[s, default: Group()].events[kind, default: [:]][e.referral] = min(earlier ?? e.first, e.first)
            if kind == "declined" {
                reasons[s, default: [:]][
                    e.reason.map { facts.reasonKeys[$0].trimmingCharacters(in: .whitespaces).lowercased() }
                        ?? "(no reason given)", default: 0] += 1
            }
        }
        func row(id: String, name: String, category: String, _ g: Group) -> ServiceRow {
            func n(_ event: String) -> Int { g.events[event]?.count ?? 0 }
            func since(_ event: String) -> [Double] {
                (g.events[event] ?? [:]).compactMap { referral, at in created[referral].map { days($0, at) } }
            }
            let addressed = tally(g.addressed.count), accepted = tally(n("accepted"))
            return ServiceRow(
                id: id, name: name, category: category, addressed: addressed, received: tally(n("received")),
                contacted: tally(n("contacted")), accepted: accepted, declined: tally(n("declined")),
                unableToContact: tally(n("unable_to_contact")), attending: tally(n("attending")),
                didNotAttend: tally(n("did_not_attend")), completed: tally(n("completed")),
                acceptanceRate: addressed.value > 0 && !addressed.suppressed && !accepted.suppressed
                    ? (Double(accepted.value) / Double(addressed.value) * 1000).rounded() / 1000 : nil,
                toAddressed: timing(g.addressed.compactMap { referral, at in created[referral].map { days($0, at) } }),
                toFirstContact: timing(since("contacted")), toAcceptance: timing(since("accepted")))
        }
        let serviceIDs = Set(byService.keys).union(node.role == .vcse ? Set(serviceInfo.keys) : [])
        let serviceRows = serviceIDs.sorted().map { id in
            row(
                id: id, name: serviceInfo[id]?.name ?? id, category: serviceInfo[id]?.category ?? "(not held here)",
                byService[id] ?? Group())
        }.sorted { ($0.name, $0.id) < ($1.name, $1.id) }
        // Categories one at a time, each merged from its services and dropped once its row is made.
        var servicesOf: [String: [String]] = [:]
        for id in byService.keys { servicesOf[serviceInfo[id]?.category ?? "(not held here)", default: []].append(id) }
        let categoryRows = servicesOf.keys.sorted().map { category -> ServiceRow in
            var merged = Group()
            for id in servicesOf[category] ?? [] {
                guard let g = byService[id] else { continue }
                merged.addressed.merge(g.addressed) { min($0, $1) }
                for (event, referrals) in g.events {
                    merged.events[event, default: [:]].merge(referrals) { min($0, $1) }
                }
            }
            return row(
                id: category, name: category.replacingOccurrences(of: "_", with: " "), category: category, merged)
        }
        let declineReasons = reasons.flatMap { service, counts in
            counts.map {
                DeclineReason(service: serviceInfo[service]?.name ?? service, reason: $0.key, count: tally($0.value))
            }
        }.sorted { ($0.service, $1.count.value, $0.reason) < ($1.service, $0.count.value, $1.reason) }

        // Days from referral to first contact (any service), in bands.
        var firstContactAt: [Int64: UInt64] = [:]
        let contacted = facts.eventKeys.firstIndex(of: "contacted")
        for e in events where e.event == contacted {
            firstContactAt[e.referral] = min(firstContactAt[e.referral] ?? e.first, e.first)
        }
        let bands: [(String, ClosedRange<Double>)] = [
            ("under 1 day", 0...0.999), ("1–2 days", 1...2.999), ("3–7 days", 3...7.999), ("8–14 days", 8...14.999),
            ("15–28 days", 15...28.999), ("over 28 days", 29...Double.greatestFiniteMagnitude),
        ]
        var bandCounts = [Int](repeating: 0, count: bands.count)
        for (referral, at) in firstContactAt {
            guard let made = created[referral] else { continue }
            let d = days(made, at)
            if let i = bands.firstIndex(where: { $0.1.contains(d) }) { bandCounts[i] += 1 }
        }
        let firstContact = zip(bands, bandCounts).map { Row(name: $0.0.0, count: tally($0.1)) }

        let outcomes = Self.outcomes(facts, created: created, node: node, ownService: ownService, suppress: suppress)
        let capacity = Self.capacity(facts, services: services, from: from, to: min(to, nowMillis))
        // National codes: a referral's own from its making; the rest as practices recorded them.
        var codeCounts: [SocialPrescribingCode: Int] = [.referral: inScope.count]
        for s in facts.snomed where created[s.referral] != nil {
            if let code = SocialPrescribingCode(rawValue: s.code), code != .referral {
                codeCounts[code, default: 0] += 1
            }
        }
        let snomed = SocialPrescribingCode.allCases.map {
            CodeRow(code: $0.rawValue, term: $0.term, count: tally(codeCounts[$0] ?? 0))
        }
        var notes = [
            "Referrals made from \(date(from)) to \(date(to - 1)) that this node may see"
                + (node.role == .vcse
                    ? " (referrals now addressed to this charity's services)"
                    : node.role == .practice ? " (this practice's patients)" : " (its PCN)") + ".",
            "ONS4: life satisfaction, worthwhile and happiness are better higher; anxiety is better lower, so its improvement is before minus after.",
            "Acceptance rate is accepted ÷ addressed, per service; times are days from the referral being made.",
            "SNOMED CT: the referral's own concept is counted for every referral; offered, declined (by the person) and signposting as practices recorded them. Steps without a national concept are not coded.",
        ]
        notes.append(
            suppress
                ? "Small numbers suppressed: counts from 1 to 4 are shown as <5, and rates, shares and times resting on fewer than 5 are not shown (NHS statistical disclosure control). Totals are exact: check no small count can be worked out by subtraction before publishing."
                : "NOT SUPPRESSED (--no-suppress): counts from 1 to 4 are shown as they are. For viewing at the node only; do not share."
        )
        return Report(
            node: node.rawValue, role: node.role.rawValue,
            generated: ISO8601DateFormatter().string(from: Date(timeIntervalSince1970: Double(nowMillis) / 1000)),
            from: date(from), to: date(to - 1), suppressed: suppress, notes: notes, referrals: tally(inScope.count),
            byDriver: byDriver,
            byPractice: practices.sorted { $0.key < $1.key }.map { practice, count in
                Row(
                    name: domain.organisationName(practice).map { "\($0) (\(practice))" } ?? practice,
                    count: tally(count))
            },
            byMonth: monthRows, funnel: funnel, services: serviceRows, categories: categoryRows,
            declineReasons: declineReasons, firstContact: firstContact, outcomes: outcomes, capacity: capacity,
            snomed: snomed, snomedSource: SocialPrescribingCode.source)
    }

    static func outcomes(
        _ facts: ReportFacts, created: [Int64: UInt64], node: NodeID, ownService: (String?) -> Bool, suppress: Bool
    ) -> Outcomes {
        // Per person (referral): the earliest scores before and the latest after.
        var before: [Int64: (UInt64, [Int])] = [:]
        var after: [Int64: (UInt64, [Int])] = [:]
        for o in facts.outcomes where created[o.referral] != nil {
            if node.role == .vcse, !ownService(o.service.map { facts.serviceKeys[$0] }) { continue }
            if let b = o.before, before[o.referral].map({ o.at < $0.0 }) ?? true {
                before[o.referral] = (o.at, b)
            }
            if let a = o.after, after[o.referral].map({ o.at > $0.0 }) ?? true {
                after[o.referral] = (o.at, a)
            }
        }
        let pairs = before.compactMap { key, b in after[key].map { (b.1, $0.1) } }
        let names = ["life satisfaction", "worthwhile", "happiness", "anxiety"]
        let show = !pairs.isEmpty && !(suppress && pairs.count < 5)
        let items = names.enumerated().map { i, name in
            let lowerIsBetter = i == 3
            func mean(_ values: [Int]) -> Double? {
                show ? (Double(values.reduce(0, +)) / Double(values.count) * 100).rounded() / 100 : nil
            }
            let b = mean(pairs.map { $0.0[i] }), a = mean(pairs.map { $0.1[i] })
            let change = mean(pairs.map { $0.1[i] - $0.0[i] })
            return OutcomeItem(
                item: name, betterIs: lowerIsBetter ? "lower" : "higher", meanBefore: b, meanAfter: a,
                meanChange: change, meanImprovement: change.map { lowerIsBetter ? -$0 : $0 })
        }
        let improved = pairs.filter { b, a in
            let gain = (0..<3).map { a[$0] - b[$0] }.reduce(0, +) + (b[3] - a[3])
            return gain > 0
        }.count
        let improvedTally = Tally(improved, suppress: suppress)
        return Outcomes(
            people: Tally(pairs.count, suppress: suppress), items: items, improved: improvedTally,
            improvedShare: show && !improvedTally.suppressed
                ? (Double(improved) / Double(pairs.count) * 1000).rounded() / 1000 : nil,
            note:
                "Improved: the mean change over the four items, with anxiety reversed, is above zero. People with scores both before and after only."
        )
    }

    static func capacity(
        _ facts: ReportFacts, services: [ServiceSummary], from: UInt64, to: UInt64
    ) -> [CapacitySeries] {
        var history: [String: [ServiceCapacity]] = [:]
        for c in facts.capacities { history[c.service, default: []].append(c.capacity) }
        var validity: [String: [ReportFacts.Validity]] = [:]
        for v in facts.validities { validity[v.service, default: []].append(v) }
        return services.compactMap { s -> CapacitySeries? in
            let figures = (history[s.id] ?? []).sorted { $0.updated < $1.updated }
            guard !figures.isEmpty else { return nil }
            let validities = (validity[s.id] ?? []).sorted { $0.at < $1.at }
            var points: [CapacitySeries.Point] = []
            var zero = 0, stale = 0, unknown = 0
            var i = 0, v = 0
            var current: ServiceCapacity?
            var until: UInt64?
            var dayStart = from
            while dayStart < to {
                let end = dayStart + day
                while i < figures.count, figures[i].updated < end {
                    current = figures[i]
                    i += 1
                }
                while v < validities.count, validities[v].at < end {
                    until = validities[v].until
                    v += 1
                }
                if let c = current {
                    points.append(.init(day: date(dayStart), available: c.available, maximum: c.maximum))
                    if c.available == 0 { zero += 1 }
                    if let until, until < end { stale += 1 }
                } else {
                    unknown += 1
                }
                dayStart = end
            }
            return CapacitySeries(
                service: s.id, name: s.name ?? s.id, unit: figures.last?.unit ?? "places", points: points,
                daysAtZero: zero, daysStale: stale, daysUnknown: unknown)
        }
    }
}
