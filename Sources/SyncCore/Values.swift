import Foundation

/// Structured field values are canonical JSON (sorted keys, no whitespace); text fields are UTF-8.
enum CanonicalJSON {
    static func encode(_ value: some Encodable) -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        do {
            return Array(try encoder.encode(value))
        } catch {
            // Our value types are plain structs of strings and integers; they always encode.
            preconditionFailure("canonical JSON encoding failed: \(error)")
        }
    }

    /// Whether `bytes` is a JSON array of strings in the plain form every writer produces: `[`,
    /// then strings of printable ASCII without escapes separated by commas, then `]`, no spaces.
    ///
    /// Any such text decodes as `[String]`, so a value of this shape needs no `JSONDecoder`
    /// (which costs more than the rest of a write's checks); any other text is left to the decoder,
    /// so the verdict stays the decoder's.
    static func isPlainStringArray(_ bytes: [UInt8]) -> Bool {
        guard bytes.count >= 2, bytes.first == UInt8(ascii: "["), bytes.last == UInt8(ascii: "]") else {
            return false
        }
        if bytes.count == 2 { return true }
        var inString = false
        var expectString = true
        for byte in bytes[1..<(bytes.count - 1)] {
            if inString {
                if byte == UInt8(ascii: "\"") {
                    inString = false
                } else if byte < 0x20 || byte > 0x7E || byte == UInt8(ascii: "\\") {
                    return false
                }
            } else if expectString, byte == UInt8(ascii: "\"") {
                inString = true
                expectString = false
            } else if !expectString, byte == UInt8(ascii: ",") {
                expectString = true
            } else {
                return false
            }
        }
        return !inString && !expectString
    }

    static func decode<T: Decodable>(_ type: T.Type, _ bytes: [UInt8], field: FieldKey) throws(SyncError) -> T {
        do {
            return try JSONDecoder().decode(type, from: Data(bytes))
        } catch {
            throw SyncError(.invalidValue, "\(field): the value is not a valid \(T.self)")
        }
    }
}

/// The places a service has, as its owner last set them.
public struct ServiceCapacity: Codable, Hashable, Sendable {
    /// What is counted: `places`, `sessions`, `hours`…
    public var unit: String
    public var available: Int
    public var maximum: Int
    /// When the owner set these figures, ms since the Unix epoch.
    public var updated: UInt64

    public init(unit: String, available: Int, maximum: Int, updated: UInt64) {
        self.unit = unit
        self.available = available
        self.maximum = maximum
        self.updated = updated
    }

    /// Checks the figures: counts within `capacityMax`, available at most the maximum, a unit of
    /// one line and `capacityUnitBytesMax` bytes at most.
    public func validate(limits: Limits = .standard) throws(SyncError) {
        try ValueRules.count(maximum, "capacity: maximum", 0...limits.capacityMax, limit: "capacityMax")
        try ValueRules.count(available, "capacity: available", 0...limits.capacityMax, limit: "capacityMax")
        guard available <= maximum else {
            throw SyncError(
                .invalidValue,
                "capacity: \(available) available is above the maximum of \(maximum); raise --maximum as well")
        }
        guard !unit.isEmpty, unit.utf8.count <= limits.capacityUnitBytesMax else {
            throw SyncError(.invalidValue, "capacity unit must be 1–\(limits.capacityUnitBytesMax) bytes")
        }
        try ValueRules.text(unit, "capacity unit", .line)
    }
}

/// The basis on which contact details may be shared with the service a person is referred to.
public struct Consent: Codable, Hashable, Sendable {
    /// `explicit` or `implied`; an unknown basis from a newer node is kept and treated as not explicit.
    public var basis: String
    public var recordedBy: String
    /// ms since the Unix epoch.
    public var at: UInt64
    /// Set when the person withdrew consent, ms since the Unix epoch.
    public var withdrawnAt: UInt64?

    public init(basis: String, recordedBy: String, at: UInt64, withdrawnAt: UInt64? = nil) {
        self.basis = basis
        self.recordedBy = recordedBy
        self.at = at
        self.withdrawnAt = withdrawnAt
    }

    /// Whether contact details may go to the current target's owner.
    public var isExplicitAndStanding: Bool { basis == "explicit" && withdrawnAt == nil }
}

/// An entry in a referral's progress: a status event of the practice, hub or a service's owner.
public struct ProgressEvent: Codable, Hashable, Sendable {
    /// One of `ProgressEvent.Kind`'s raw values, or a newer kind this version does not know.
    public var event: String
    /// The service whose episode a charity event belongs to.
    public var service: String?
    /// A decline reason, an attendance detail.
    public var reason: String?
    /// For `settled`: the contradictory events this settles, as change references.
    public var settles: [String]?
    /// For `settled`: the status to keep.
    public var keep: String?

    public init(
        event: String, service: String? = nil, reason: String? = nil, settles: [String]? = nil, keep: String? = nil
    ) {
        self.event = event
        self.service = service
        self.reason = reason
        self.settles = settles
        self.keep = keep
    }

    public enum Kind: String, Sendable, CaseIterable {
        // Written by the practice or the PCN hub.
        case referred, withdrawn, closed, settled, reopened
        // Written by the owner of the service the event names.
        case received, contacted, accepted, declined
        case unableToContact = "unable_to_contact"
        case attending
        case didNotAttend = "did_not_attend"
        case completed

        public var byPracticeOrHub: Bool {
            switch self {
            case .referred, .withdrawn, .closed, .settled, .reopened: return true
            default: return false
            }
        }
    }

    public var kind: Kind? { Kind(rawValue: event) }
}

/// A free-text note on a referral, or the retraction of one by its writer.
public struct ReferralNote: Codable, Hashable, Sendable {
    public var text: String?
    /// The service a charity's note belongs to.
    public var service: String?
    /// A change reference to the note this retracts.
    public var retracts: String?

    public init(text: String? = nil, service: String? = nil, retracts: String? = nil) {
        self.text = text
        self.service = service
        self.retracts = retracts
    }
}

/// An outcome record: ONS4 personal wellbeing scores and a message back to the GP.
public struct OutcomeEntry: Codable, Hashable, Sendable {
    public var service: String?
    /// Life satisfaction, worthwhile, happiness, anxiety: each 0–10.
    public var ons4Before: [Int]?
    public var ons4After: [Int]?
    public var message: String?

    public init(service: String? = nil, ons4Before: [Int]? = nil, ons4After: [Int]? = nil, message: String? = nil) {
        self.service = service
        self.ons4Before = ons4Before
        self.ons4After = ons4After
        self.message = message
    }
}

/// A SNOMED CT event recorded against the referral at the practice.
public struct SnomedEvent: Codable, Hashable, Sendable {
    public var code: String
    public var at: UInt64?

    public init(code: String, at: UInt64? = nil) {
        self.code = code
        self.at = at
    }
}

/// Service categories (social prescribing's usual list). Unknown ones from newer nodes are kept.
public enum ServiceCategory: String, CaseIterable, Sendable {
    case befriending
    case communityGroup = "community_group"
    case volunteering
    case physicalActivity = "physical_activity"
    case healthyEating = "healthy_eating"
    case mindfulness, counselling
    case peerSupport = "peer_support"
    case debtAdvice = "debt_advice"
    case housingSupport = "housing_support"
    case employmentSupport = "employment_support"
    case artsAndCreativity = "arts_and_creativity"
    case gardening
    case carersSupport = "carers_support"
    case bereavement
    case digitalInclusion = "digital_inclusion"
    case other
}

/// What a person needs help with.
public enum NeedCategory: String, CaseIterable, Sendable {
    case loneliness
    case longTermCondition = "long_term_condition"
    case mentalWellbeing = "mental_wellbeing"
    case physicalActivity = "physical_activity"
    case housing, debt, employment, carer, bereavement, mobility, other
}

/// Whether a service takes referrals now.
public enum Accepting: String, CaseIterable, Sendable {
    case open, waitlist, paused, closed
}

/// How a person reaches a service.
public enum ReferralRoute: String, CaseIterable, Sendable {
    case direct, signpost
}

/// Value codecs for the structured fields, so every writer produces the same bytes.
public enum FieldValue {
    public static func text(_ s: String) -> [UInt8] { Array(s.utf8) }
    public static func integer(_ i: Int) -> [UInt8] { Array(String(i).utf8) }
    public static func json(_ v: some Encodable) -> [UInt8] { CanonicalJSON.encode(v) }

    public static func decode<T: Decodable>(_ type: T.Type, _ bytes: [UInt8], field: FieldKey) throws(SyncError) -> T {
        try CanonicalJSON.decode(type, bytes, field: field)
    }

    public static func integer(_ bytes: [UInt8], field: FieldKey) throws(SyncError) -> Int {
        guard let i = Int(String(decoding: bytes, as: UTF8.self)) else {
            throw SyncError(
                .invalidValue, "\(field): '\(String(decoding: bytes, as: UTF8.self))' is not a whole number")
        }
        return i
    }
}

extension NeedCategory {
    /// The service categories that answer this need, best first: what a link worker is shown for a
    /// person with it (`spsync service list --need`). Social prescribing's usual pairings; a
    /// category may answer several needs.
    public var suitableCategories: [ServiceCategory] {
        switch self {
        case .loneliness:
            return [
                .befriending, .communityGroup, .peerSupport, .artsAndCreativity, .volunteering, .gardening,
                .digitalInclusion,
            ]
        case .longTermCondition: return [.physicalActivity, .healthyEating, .peerSupport, .mindfulness]
        case .mentalWellbeing:
            return [.counselling, .mindfulness, .peerSupport, .artsAndCreativity, .gardening, .befriending]
        case .physicalActivity: return [.physicalActivity, .gardening, .healthyEating]
        case .housing: return [.housingSupport]
        case .debt: return [.debtAdvice]
        case .employment: return [.employmentSupport, .volunteering, .digitalInclusion]
        case .carer: return [.carersSupport, .peerSupport]
        case .bereavement: return [.bereavement, .counselling, .befriending]
        case .mobility: return [.physicalActivity, .communityGroup, .befriending, .digitalInclusion]
        case .other: return [.other]
        }
    }
}
