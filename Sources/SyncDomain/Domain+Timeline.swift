import Foundation
import SyncCore
import SyncStore

/// A referral's history as sentences people read ("Riverside PCN addressed it to Walk and Talk"),
/// and conflicts as choices between who wrote what, when.
extension Domain {
    /// One thing that happened to a referral.
    public struct TimelineEntry: Sendable, Equatable, Codable {
        /// When it was written (ms since the Unix epoch, from its clock).
        public var at: UInt64
        /// The organisation, by its name where this node holds it, else its code.
        public var by: String
        public var node: String
        /// What it did, as a sentence without its subject: "addressed it to Walk and Talk".
        public var text: String
        public var field: String
        /// The value as written, or "(redacted)".
        public var value: String?
        public var change: String
        public var hlc: String
        /// False once a later write replaced it.
        public var live: Bool
        /// A progress event the lifecycle table does not allow where it falls: it does not count.
        public var outOfOrder: Bool
        public var receivedFrom: String?
        /// The national SNOMED CT concept this step carries, where one exists
        /// ("SNOMED CT 871731000000106 Referral to social prescribing service").
        public var snomed: String? = nil
    }

    /// The SNOMED CT concept a write carries, where one exists: a referral's `referred` event, or a
    /// code the practice recorded.
    public static func snomedCode(_ w: FieldWrite) -> SocialPrescribingCode? {
        guard let value = w.value else { return nil }
        switch w.field {
        case .progressEvents:
            return (try? FieldValue.decode(ProgressEvent.self, value, field: w.field))
                .flatMap { ProgressEvent.Kind(rawValue: $0.event) }.flatMap(SocialPrescribingCode.forEvent)
        case .clinicalSnomed:
            return (try? FieldValue.decode(SnomedEvent.self, value, field: w.field))
                .flatMap { SocialPrescribingCode(rawValue: $0.code) }
        default:
            return nil
        }
    }

    /// The name an organisation gave itself (its directory record), where this node holds it.
    public func organisationName(_ node: String) -> String? {
        guard let id = try? NodeID(node), let live = try? store.live(.organisation(id), .orgName) else { return nil }
        return (live.first { $0.winner } ?? live.first)?.write.text
    }

    /// A service's name, where this node holds it.
    public func serviceName(_ id: String) -> String? {
        guard let record = try? RecordID(id) else { return nil }
        return try? store.service(record, wallMillis: 0).name
    }

    /// Every write held of a referral, oldest first, as sentences.
    public func timeline(_ referral: RecordID) throws -> [TimelineEntry] {
        let summary = try store.referral(referral)
        let writes = try store.writes(of: referral).sorted { FieldWrite.precedes($0.write, $1.write) }
        // The same fold as the status the listing shows, for the events it does not count.
        let fold = StatusFold.fold(
            events: writes.filter { $0.live && $0.write.field == .progressEvents }.map(\.write),
            currentService: summary.service.flatMap { try? RecordID($0) })
        let outOfOrder = Set(fold.outOfOrder)
        var names: [String: String] = [:]
        func name(_ node: String) -> String {
            if let n = names[node] { return n }
            let n = organisationName(node) ?? node
            names[node] = n
            return n
        }
        return writes.map { w in
            TimelineEntry(
                at: w.write.hlc.millis, by: name(w.write.origin.node.rawValue), node: w.write.origin.node.rawValue,
                text: sentence(w.write), field: w.write.field.rawValue,
                value: w.write.value == nil ? "(redacted)" : w.write.text, change: w.write.change.description,
                hlc: w.write.hlc.description, live: w.live,
                outOfOrder: w.live && w.write.field == .progressEvents && outOfOrder.contains(w.write.change),
                receivedFrom: w.receivedFrom, snomed: Self.snomedCode(w.write)?.label)
        }
    }

    /// What one write did, in words.
    func sentence(_ w: FieldWrite) -> String {
        guard let value = w.value else { return "recorded \(Self.fieldWords(w.field)): (redacted)" }
        let text = String(decoding: value, as: UTF8.self)
        func service(_ id: String?) -> String { id.map { serviceName($0) ?? $0 } ?? "its service" }
        if w.field.isRedaction { return "redacted the \(w.field.dataClass.rawValue) details: \(text)" }
        switch w.field {
        case .routingService: return "addressed it to \(service(text))"
        case .clinicalSnomed:
            let code = (try? FieldValue.decode(SnomedEvent.self, value, field: w.field))?.code ?? text
            let term = SocialPrescribingCode(rawValue: code)?.term.lowercased() ?? "a code this version does not know"
            return "coded \(term) for the GP record"
        case .routingNeeds:
            let needs = (try? JSONDecoder().decode([String].self, from: Data(value))) ?? [text]
            return
                "noted the needs: \(needs.map { $0.replacingOccurrences(of: "_", with: " ") }.joined(separator: ", "))"
        case .routingUrgency: return "set the urgency to \(text)"
        case .routingNote: return "added a note for the service: \(text)"
        case .consent:
            guard let c = try? FieldValue.decode(Consent.self, value, field: .consent) else { break }
            return c.withdrawnAt != nil ? "recorded that the person withdrew consent" : "recorded \(c.basis) consent"
        case .progressEvents:
            guard let e = try? FieldValue.decode(ProgressEvent.self, value, field: .progressEvents) else { break }
            let reason = e.reason.map { ": \($0)" } ?? ""
            switch e.kind {
            case .referred: return "referred the person" + (e.service.map { " to \(service($0))" } ?? "")
            case .received: return "received it at \(service(e.service))"
            case .contacted: return "contacted the person" + reason
            case .accepted: return "accepted it for \(service(e.service))" + reason
            case .declined: return "declined it" + reason
            case .unableToContact: return "could not contact the person" + reason
            case .attending: return "recorded that the person is attending" + reason
            case .didNotAttend: return "recorded that the person did not attend" + reason
            case .completed: return "recorded that the person completed \(service(e.service))" + reason
            case .withdrawn: return "withdrew the referral" + reason
            case .closed: return "closed the referral" + reason
            case .reopened: return "reopened the referral" + reason
            case .settled:
                return
                    "settled the contradictory decisions, keeping \(e.keep?.replacingOccurrences(of: "_", with: " ") ?? "one")"
            case nil: return "recorded '\(e.event)'" + reason
            }
        case .progressNotes:
            guard let n = try? FieldValue.decode(ReferralNote.self, value, field: .progressNotes) else { break }
            if let retracted = n.retracts { return "retracted its note \(retracted)" }
            return "added a note: \(n.text ?? "")"
        case .outcomeEntries:
            guard let o = try? FieldValue.decode(OutcomeEntry.self, value, field: .outcomeEntries) else { break }
            var parts: [String] = []
            if let b = o.ons4Before { parts.append("ONS4 before \(b.map(String.init).joined(separator: ","))") }
            if let a = o.ons4After { parts.append("ONS4 after \(a.map(String.init).joined(separator: ","))") }
            if let m = o.message { parts.append("message: \(m)") }
            return "recorded an outcome: " + parts.joined(separator: "; ")
        default: break
        }
        return "recorded \(Self.fieldWords(w.field)): \(text)"
    }

    /// "contact.givenName" → "the person's given name".
    static func fieldWords(_ field: FieldKey) -> String {
        switch field {
        case .contactGivenName: return "the person's given name"
        case .contactPhone: return "the person's phone number"
        case .contactEmail: return "the person's email address"
        case .contactPreferred: return "how the person prefers to be contacted"
        case .contactAccessNeeds: return "the person's access needs"
        case .contactInterpreter: return "the person's interpreter needs"
        case .clinicalNHSNumber: return "the NHS number"
        case .clinicalDateOfBirth: return "the date of birth"
        case .clinicalAddress: return "the address"
        case .clinicalSnomed: return "a SNOMED CT code"
        default: return field.rawValue
        }
    }
}
