/// Whether a write may enter a store: the same verdict at every node, whenever and by whichever
/// path it arrives.
///
/// The verdict depends only on the write and on facts that never change — the origin's id (which
/// gives its role) and the record's id (which gives its practice, PCN or owner) — never on the
/// current addressing, consent or status. Local writes pass the same check as received ones.
public enum Validation {
    /// Checks `write`; throws the refusal with a reason an operator can act on.
    public static func check(_ write: FieldWrite, limits: Limits = .standard) throws(SyncError) {
        let origin = write.origin.node
        let field = write.field
        guard write.seq > 0 else { throw SyncError(.malformed, "seq must be at least 1") }
        if let known = field.knownKind, known != write.kind {
            throw SyncError(.invalidField, "\(field) is a \(known) field, not a \(write.kind)")
        }
        guard write.context.count <= limits.contextEntriesMax else {
            throw SyncError(
                .limitExceeded, "\(field): causal context has more than \(limits.contextEntriesMax) entries")
        }
        if let value = write.value, value.count > limits.stringBytesMax {
            throw SyncError(.limitExceeded, "\(field): value is over \(limits.stringBytesMax) bytes")
        }

        switch write.record.kind {
        case .organisation(let org):
            guard field.dataClass == .organisation, !field.isRedaction else { throw wrongClass(write) }
            guard origin == org else { throw unauthorised(write, "only \(org) writes its own organisation record") }
        case .service(let owner):
            guard field.dataClass == .service, !field.isRedaction else { throw wrongClass(write) }
            guard origin == owner else { throw unauthorised(write, "only the owner \(owner) writes this service") }
        case .referral(let practice, let pcn):
            guard DataClass.referralClasses.contains(field.dataClass) else { throw wrongClass(write) }
            let isParty = origin == practice || origin == pcn
            try checkReferralAuthority(write, isParty: isParty, practice: practice, pcn: pcn)
        }
        if let value = write.value { try checkValue(field, value, write: write, limits: limits) }
    }

    private static func checkReferralAuthority(
        _ write: FieldWrite, isParty: Bool, practice: NodeID, pcn: NodeID
    ) throws(SyncError) {
        let origin = write.origin.node
        let field = write.field
        if field.isRedaction {
            guard isParty else { throw unauthorised(write, "only \(practice) or \(pcn) may redact a referral's data") }
            return
        }
        switch field.dataClass {
        case .routing, .consent, .contact, .clinical:
            guard isParty else {
                throw unauthorised(
                    write, "only the referral's practice \(practice) or PCN \(pcn) write \(field.dataClass)")
            }
        case .progress:
            // A value-less (redacted) write cannot be attributed; it is dead wherever its redaction is.
            guard let value = write.value else { return }
            let named: String?
            var kind: ProgressEvent.Kind? = nil
            if field == .progressEvents {
                let event = try FieldValue.decode(ProgressEvent.self, value, field: field)
                named = event.service
                kind = event.kind
            } else if field == .progressNotes {
                named = try FieldValue.decode(ReferralNote.self, value, field: field).service
            } else {
                named = nil
            }
            if let kind, kind.byPracticeOrHub {
                guard isParty else {
                    throw unauthorised(write, "'\(kind.rawValue)' is the practice's or PCN's to record")
                }
                return
            }
            if kind != nil, named == nil {
                throw SyncError(.invalidValue, "\(field): a service's event must name its service")
            }
            if let named {
                let service = try serviceID(named, field: field)
                guard service.serviceOwner == origin else {
                    throw unauthorised(write, "only the owner of \(service) records its events and notes")
                }
            } else if !isParty {
                throw unauthorised(write, "only the practice, the PCN or a named service's owner write progress")
            }
        case .outcome:
            guard let value = write.value else { return }
            let named = try FieldValue.decode(OutcomeEntry.self, value, field: field).service
            if origin == pcn { return }
            guard let named, try serviceID(named, field: field).serviceOwner == origin else {
                throw unauthorised(write, "outcomes are written by the PCN or by the owner of the service they name")
            }
        case .organisation, .service:
            throw wrongClass(write)
        }
    }

    /// Value checks for the fields this version knows: the value rules (`ValueRules`, Protocol/SPEC.md
    /// 6.2) applied to each field's value, and to the text members of its JSON. Unknown enum values
    /// are accepted, stored and relayed, so newer nodes can speak through older ones; an unknown
    /// field's value is only checked to be UTF-8.
    private static func checkValue(
        _ field: FieldKey, _ value: [UInt8], write: FieldWrite, limits: Limits
    ) throws(SyncError) {
        let label = field.rawValue
        let text = try ValueRules.utf8(value, label)
        switch field {
        case .clinicalNHSNumber:
            _ = try NHSNumber(text)
        case .clinicalDateOfBirth:
            // Not after the day the write was made (by its HLC): a fact of the write, so every node
            // agrees whenever the write reaches it. "Not after today" is the command line's rule.
            let made = CalendarDate(utcMillis: write.hlc.millis)
            if !text.isEmpty {
                try ValueRules.dateOfBirth(
                    text, label, notAfter: made.adding(days: limits.birthDateAheadDaysMax), limits: limits)
            }
        case .contactPhone:
            if !text.isEmpty { try ValueRules.ukPhone(text, label) }
        case .contactEmail:
            if !text.isEmpty { try ValueRules.email(text, label) }
        case .serviceCapacity:
            try FieldValue.decode(ServiceCapacity.self, value, field: field).validate(limits: limits)
        case .serviceAgeMin, .serviceAgeMax:
            try ValueRules.count(
                try FieldValue.integer(value, field: field), label, 0...limits.ageYearsMax, limit: "ageYearsMax")
        case .serviceWaitDays:
            try ValueRules.count(
                try FieldValue.integer(value, field: field), label, 0...limits.waitDaysMax, limit: "waitDaysMax")
        case .serviceCapacityValidUntil:
            _ = try FieldValue.integer(value, field: field)
        case .consent:
            let consent = try FieldValue.decode(Consent.self, value, field: field)
            guard (try? NodeID(consent.recordedBy)) != nil else {
                throw SyncError(.invalidValue, "consent: recordedBy must be an organisation code")
            }
            try ValueRules.text(consent.basis, "\(label): basis", .line)
        case .routingService:
            if !value.isEmpty { _ = try serviceID(text, field: field) }
        case .routingNeeds:
            // The plain form holds printable ASCII only; anything else is decoded and its needs checked.
            if !CanonicalJSON.isPlainStringArray(value) {
                for need in try FieldValue.decode([String].self, value, field: field) {
                    try ValueRules.text(need, "\(label): a need", .line)
                }
            }
        case .progressNotes:
            let note = try FieldValue.decode(ReferralNote.self, value, field: field)
            if let text = note.text { try ValueRules.text(text, "\(label): text", .freeText) }
            if let retracts = note.retracts {
                let ref = try ChangeRef(retracts)
                guard ref.origin.node == write.origin.node else {
                    throw unauthorised(write, "only a note's writer may retract it")
                }
            }
        case .progressEvents:
            let event = try FieldValue.decode(ProgressEvent.self, value, field: field)
            try ValueRules.text(event.event, "\(label): event", .line)
            if let reason = event.reason { try ValueRules.text(reason, "\(label): reason", .freeText) }
            if let keep = event.keep { try ValueRules.text(keep, "\(label): keep", .line) }
            for ref in event.settles ?? [] { _ = try ChangeRef(ref) }
        case .outcomeEntries:
            let entry = try FieldValue.decode(OutcomeEntry.self, value, field: field)
            for scores in [entry.ons4Before, entry.ons4After].compactMap({ $0 }) {
                guard scores.count == 4, scores.allSatisfy({ (0...10).contains($0) }) else {
                    throw SyncError(.invalidValue, "outcome: ONS4 has four scores, each 0–10")
                }
            }
            if let message = entry.message { try ValueRules.text(message, "\(label): message", .freeText) }
            if let service = entry.service { try ValueRules.text(service, "\(label): service", .line) }
        case .clinicalSnomed:
            let event = try FieldValue.decode(SnomedEvent.self, value, field: field)
            try ValueRules.text(event.code, "\(label): code", .line)
        default:
            if let kind = field.textKind { try ValueRules.text(text, label, kind) }
        }
    }

    private static func serviceID(_ text: String, field: FieldKey) throws(SyncError) -> RecordID {
        let id = try RecordID(text)
        guard id.serviceOwner != nil else {
            throw SyncError(.invalidValue, "\(field): \(quoted: text) is not a service id")
        }
        return id
    }

    private static func wrongClass(_ write: FieldWrite) -> SyncError {
        SyncError(.invalidField, "\(write.field) does not belong on \(write.record)")
    }

    private static func unauthorised(_ write: FieldWrite, _ why: String) -> SyncError {
        SyncError(.unauthorised, "\(write.origin.node) may not write \(write.field) of \(write.record): \(why)")
    }
}
