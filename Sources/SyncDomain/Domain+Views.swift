import Foundation
import SyncCore
import SyncStore

/// What people are shown: a service whole, and listings with names instead of ids.
extension Domain {
    /// Everything a service's owner published, as this node holds it.
    public struct ServiceDetail: Sendable, Equatable, Codable {
        public var id: String
        public var reference: String
        public var owner: String
        public var name: String?
        public var category: String?
        public var description: String?
        public var eligibility: String?
        public var ageMin: Int?
        public var ageMax: Int?
        /// Postcode districts served.
        public var area: [String]
        public var schedule: String?
        public var route: String?
        public var accepting: String?
        public var waitDays: Int?
        public var capacity: ServiceSummary.Capacity?
        public var capacityValidUntil: UInt64?
        public var stale: Bool
    }

    /// A service this node holds, whole.
    public func serviceDetail(_ id: RecordID, wallMillis: UInt64) throws -> ServiceDetail {
        let summary = try store.service(id, wallMillis: wallMillis)
        func text(_ field: FieldKey) throws -> String? {
            let live = try store.live(id, field)
            return (live.first { $0.winner } ?? live.first)?.write.text
        }
        func number(_ field: FieldKey) throws -> Int? { try text(field).flatMap { Int($0) } }
        return ServiceDetail(
            id: id.rawValue, reference: Self.shortReference(id), owner: summary.owner, name: summary.name,
            category: summary.category, description: try text(.serviceDescription),
            eligibility: try text(.serviceEligibility), ageMin: try number(.serviceAgeMin),
            ageMax: try number(.serviceAgeMax), area: Self.districts(try text(.serviceArea)),
            schedule: try text(.serviceSchedule), route: try text(.serviceRoute), accepting: summary.accepting,
            waitDays: summary.waitDays, capacity: summary.capacity, capacityValidUntil: summary.capacityValidUntil,
            stale: summary.stale)
    }

    /// "LS1, ls2" → ["LS1", "LS2"].
    static func districts(_ text: String?) -> [String] {
        (text ?? "").split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces).uppercased() }.filter {
            !$0.isEmpty
        }
    }

    /// Which services a listing shows.
    public struct ServiceFilter: Sendable {
        public var owner: NodeID?
        public var category: ServiceCategory?
        /// Services whose category answers this need (`NeedCategory.suitableCategories`).
        public var need: NeedCategory?
        /// A postcode district the service covers (LS1).
        public var area: String?
        /// Only services with a free place that take referrals (open or waitlist) and whose figures are not stale.
        public var available = false
        /// Only services whose capacity figures are stale.
        public var stale = false

        public init(
            owner: NodeID? = nil, category: ServiceCategory? = nil, need: NeedCategory? = nil, area: String? = nil,
            available: Bool = false, stale: Bool = false
        ) {
            self.owner = owner
            self.category = category
            self.need = need
            self.area = area
            self.available = available
            self.stale = stale
        }
    }

    /// The services this node knows that pass `filter`; for a need, in the order of its suitable
    /// categories, then by name.
    public func services(_ filter: ServiceFilter, wallMillis: UInt64) throws -> [ServiceDetail] {
        var out: [ServiceDetail] = []
        for summary in try store.services(owner: filter.owner, wallMillis: wallMillis) {
            if let category = filter.category, summary.category != category.rawValue { continue }
            if let need = filter.need,
                !need.suitableCategories.map(\.rawValue).contains(summary.category ?? "")
            {
                continue
            }
            if filter.available {
                guard let c = summary.capacity, c.available > 0, !summary.stale,
                    summary.accepting == nil || summary.accepting == Accepting.open.rawValue
                        || summary.accepting == Accepting.waitlist.rawValue
                else { continue }
            }
            if filter.stale, !summary.stale { continue }
            let detail = try serviceDetail(try RecordID(summary.id), wallMillis: wallMillis)
            if let area = filter.area, !detail.area.contains(area.trimmingCharacters(in: .whitespaces).uppercased()) {
                continue
            }
            out.append(detail)
        }
        if let need = filter.need {
            let rank = Dictionary(
                need.suitableCategories.enumerated().map { ($1.rawValue, $0) }, uniquingKeysWith: { a, _ in a })
            out.sort { (rank[$0.category ?? ""] ?? 99, $0.name ?? "") < (rank[$1.category ?? ""] ?? 99, $1.name ?? "") }
        }
        return out
    }

    /// A referral as a list shows it: names instead of ids, the person's given name where this node
    /// may see it, urgency, and when it was made.
    public struct ReferralLine: Sendable, Equatable, Codable {
        public var id: String
        public var reference: String
        public var status: String
        public var urgency: String?
        /// ms since the Unix epoch, from the referral's id.
        public var created: UInt64
        public var updated: UInt64
        public var practice: String
        public var to: String
        public var service: String?
        public var serviceName: String?
        public var person: String?
        public var needs: [String]
    }

    /// Which referrals a listing shows.
    public struct ReferralFilter: Sendable {
        public var status: ProgressEvent.Kind?
        public var service: RecordID?
        public var need: NeedCategory?
        public var practice: NodeID?
        public var urgency: Urgency?
        /// Made at or after (ms since the Unix epoch).
        public var since: UInt64?

        public init(
            status: ProgressEvent.Kind? = nil, service: RecordID? = nil, need: NeedCategory? = nil,
            practice: NodeID? = nil, urgency: Urgency? = nil, since: UInt64? = nil
        ) {
            self.status = status
            self.service = service
            self.need = need
            self.practice = practice
            self.urgency = urgency
            self.since = since
        }
    }

    /// The referrals this node holds that pass `filter`, newest first by when they were made (a
    /// referral keeps its place when it changes).
    public func referrals(_ filter: ReferralFilter) throws -> [ReferralLine] {
        var names: [String: String] = [:]
        for s in try store.services(wallMillis: 0) { names[s.id] = s.name }
        let given = try store.liveTexts(of: .contactGivenName)
        var out: [ReferralLine] = []
        for r in try store.referrals(status: filter.status?.rawValue) {
            if let service = filter.service, r.service != service.rawValue { continue }
            if let need = filter.need, !r.needs.contains(need.rawValue) { continue }
            if let practice = filter.practice, r.practice != practice.rawValue { continue }
            if let urgency = filter.urgency, r.urgency != urgency.rawValue { continue }
            let id = try RecordID(r.id)
            let created = Self.createdMillis(id) ?? 0
            if let since = filter.since, created < since { continue }
            out.append(
                ReferralLine(
                    id: r.id, reference: Self.shortReference(id), status: r.status, urgency: r.urgency,
                    created: created, updated: r.updated, practice: r.practice, to: r.to, service: r.service,
                    serviceName: r.service.flatMap { names[$0] },
                    person: given[r.id], needs: r.needs))
        }
        return out.sorted { ($0.created, $0.id) > ($1.created, $1.id) }
    }
}
