/// A class of data: who may write it and who may see it follow from the class and the record's id.
public enum DataClass: String, Sendable, CaseIterable, Codable {
    /// An organisation's own record (name, role, PCN, public contact).
    case organisation
    /// A service in the directory: seen by every node, written by its owner.
    case service
    case routing
    case consent
    case contact
    case clinical
    case progress
    case outcome

    /// The classes a referral has.
    public static let referralClasses: [DataClass] = [.routing, .consent, .contact, .clinical, .progress, .outcome]
}

/// Whether a field holds one value (a multi-value register) or a grow-only set.
public enum FieldKind: UInt8, Sendable, Codable {
    case register = 0
    case set = 1
}

/// A field's name on the wire and in the store: `class.name`, for example `contact.phone`.
///
/// The class is part of the name so that a node can check, filter and relay a field it does not
/// know yet (a newer node's field) by its class alone. A field of an unknown class is refused.
public struct FieldKey: Hashable, Comparable, Sendable, CustomStringConvertible {
    public let dataClass: DataClass
    public let name: String

    public init(_ dataClass: DataClass, _ name: String) {
        self.dataClass = dataClass
        self.name = name
    }

    public init(_ text: String) throws(SyncError) {
        guard let dot = text.firstIndex(of: ".") else {
            throw SyncError(.invalidField, "\(quoted: text) is not a field name (class.name)")
        }
        guard let cls = DataClass(rawValue: String(text[..<dot])) else {
            throw SyncError(.invalidField, "field \(quoted: text) has an unknown class")
        }
        let name = String(text[text.index(after: dot)...])
        guard !name.isEmpty, name.utf8.count <= 64,
            name.utf8.allSatisfy({
                ($0 >= 48 && $0 <= 57) || ($0 >= 65 && $0 <= 90) || ($0 >= 97 && $0 <= 122) || $0 == 126 || $0 == 95
            })
        else {
            throw SyncError(.invalidField, "field \(quoted: text) has an invalid name")
        }
        self.init(cls, name)
    }

    public var rawValue: String { "\(dataClass.rawValue).\(name)" }
    public var description: String { rawValue }

    public static func < (lhs: FieldKey, rhs: FieldKey) -> Bool { lhs.rawValue < rhs.rawValue }

    /// The redaction markers of a class: a grow-only set written by `spsync referral redact`.
    public static func redaction(_ dataClass: DataClass) -> FieldKey { FieldKey(dataClass, "~redact") }

    public var isRedaction: Bool { name == "~redact" }

    /// The kind this field must have, or nil for a field this version does not know (then the
    /// write's own kind is trusted, and the write is stored and relayed untouched).
    public var knownKind: FieldKind? {
        if isRedaction { return .set }
        return FieldKey.catalogue[self]
    }

    /// For a known field whose value is plain text with no shape of its own, what that text may hold
    /// (Protocol/SPEC.md 6.2); nil for other fields: numbers, JSON, ids, shaped text (phone, email,
    /// date of birth, NHS number), and fields this version does not know.
    public var textKind: ValueRules.TextKind? {
        if isRedaction { return .freeText }
        switch self {
        case .orgName, .orgRole, .orgPCN, .serviceName, .serviceCategory, .serviceArea, .serviceRoute,
            .serviceAccepting, .routingUrgency, .contactGivenName, .contactPreferred, .contactInterpreter:
            return .line
        case .orgContact, .serviceDescription, .serviceEligibility, .serviceSchedule, .routingNote,
            .contactAccessNeeds, .clinicalAddress:
            return .freeText
        default:
            return nil
        }
    }

    // Organisation.
    public static let orgName = FieldKey(.organisation, "name")
    public static let orgRole = FieldKey(.organisation, "role")
    public static let orgPCN = FieldKey(.organisation, "pcn")
    public static let orgContact = FieldKey(.organisation, "contact")
    // Service (Open Referral HSDS 3.1 names where they exist).
    public static let serviceName = FieldKey(.service, "name")
    public static let serviceDescription = FieldKey(.service, "description")
    public static let serviceCategory = FieldKey(.service, "category")
    public static let serviceEligibility = FieldKey(.service, "eligibility")
    public static let serviceAgeMin = FieldKey(.service, "ageMin")
    public static let serviceAgeMax = FieldKey(.service, "ageMax")
    public static let serviceArea = FieldKey(.service, "area")
    public static let serviceSchedule = FieldKey(.service, "schedule")
    public static let serviceRoute = FieldKey(.service, "route")
    public static let serviceAccepting = FieldKey(.service, "accepting")
    public static let serviceCapacity = FieldKey(.service, "capacity")
    public static let serviceWaitDays = FieldKey(.service, "waitDays")
    public static let serviceCapacityValidUntil = FieldKey(.service, "capacityValidUntil")
    // Referral: routing.
    public static let routingService = FieldKey(.routing, "service")
    public static let routingNeeds = FieldKey(.routing, "needs")
    public static let routingUrgency = FieldKey(.routing, "urgency")
    public static let routingNote = FieldKey(.routing, "note")
    // Referral: consent.
    public static let consent = FieldKey(.consent, "consent")
    // Referral: contact.
    public static let contactGivenName = FieldKey(.contact, "givenName")
    public static let contactPreferred = FieldKey(.contact, "preferredContact")
    public static let contactPhone = FieldKey(.contact, "phone")
    public static let contactEmail = FieldKey(.contact, "email")
    public static let contactAccessNeeds = FieldKey(.contact, "accessNeeds")
    public static let contactInterpreter = FieldKey(.contact, "interpreter")
    // Referral: clinical.
    public static let clinicalNHSNumber = FieldKey(.clinical, "nhsNumber")
    public static let clinicalDateOfBirth = FieldKey(.clinical, "dateOfBirth")
    public static let clinicalAddress = FieldKey(.clinical, "address")
    public static let clinicalSnomed = FieldKey(.clinical, "snomed")
    // Referral: progress and outcome.
    public static let progressEvents = FieldKey(.progress, "events")
    public static let progressNotes = FieldKey(.progress, "notes")
    public static let outcomeEntries = FieldKey(.outcome, "entries")

    /// Every field this version knows, with its kind.
    public static let catalogue: [FieldKey: FieldKind] = {
        var c: [FieldKey: FieldKind] = [:]
        let registers: [FieldKey] = [
            orgName, orgRole, orgPCN, orgContact,
            serviceName, serviceDescription, serviceCategory, serviceEligibility, serviceAgeMin, serviceAgeMax,
            serviceArea, serviceSchedule, serviceRoute, serviceAccepting, serviceCapacity, serviceWaitDays,
            serviceCapacityValidUntil,
            routingService, routingNeeds, routingUrgency, routingNote, consent,
            contactGivenName, contactPreferred, contactPhone, contactEmail, contactAccessNeeds, contactInterpreter,
            clinicalNHSNumber, clinicalDateOfBirth, clinicalAddress,
        ]
        for k in registers { c[k] = .register }
        for k in [clinicalSnomed, progressEvents, progressNotes, outcomeEntries] { c[k] = .set }
        return c
    }()
}
