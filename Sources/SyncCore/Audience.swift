/// Who may see what of a record, now. Filtering on send uses it; it reads mutable state (the
/// current target, consent), unlike validation.
public enum Audience {
    /// The facts about a referral's current state that decide its audience.
    public struct ReferralView: Sendable, Equatable {
        /// The winning target service, if the referral has been addressed to one.
        public var currentService: RecordID?
        /// Whether explicit consent stands (contact details may go to the target's owner).
        public var explicitConsent: Bool

        public init(currentService: RecordID?, explicitConsent: Bool) {
            self.currentService = currentService
            self.explicitConsent = explicitConsent
        }

        /// Who the referral is addressed to: the target service's owner, or else the PCN hub.
        public func addressedTo(_ record: RecordID) -> NodeID? {
            currentService?.serviceOwner ?? record.referralParties?.pcn
        }
    }

    /// The referral classes `reader` may see of a referral it is neither the practice nor the PCN
    /// of (Protocol/SPEC.md 7.2): the owner of the current target service sees routing, consent,
    /// progress and outcome, and contact while explicit consent stands; anyone else sees none.
    public static func visibleClasses(_ reader: NodeID, view: ReferralView) -> Set<DataClass> {
        guard let owner = view.currentService?.serviceOwner, owner == reader else { return [] }
        var classes: Set<DataClass> = [.routing, .consent, .progress, .outcome]
        if view.explicitConsent { classes.insert(.contact) }
        return classes
    }

    /// The classes of a referral `reader` holds but must not keep, judged from what it holds
    /// itself (Protocol/SPEC.md 7.5). Only positive evidence counts: a winning target service owned
    /// by someone else takes every class away, a winning consent that is not explicit and standing
    /// takes contact away; clinical is never kept. A fact not held yet (a `WIDEN` cut in parts may bring contact before
    /// consent) takes nothing away: the sender's filter and `NARROW` cover that time.
    public static func classesToPurge(
        _ reader: NodeID, of record: RecordID, service: RecordID?, consent: Consent?
    ) -> Set<DataClass> {
        guard let (practice, pcn) = record.referralParties, reader != practice, reader != pcn else { return [] }
        if let owner = service?.serviceOwner, owner != reader { return Set(DataClass.referralClasses) }
        var classes: Set<DataClass> = [.clinical]  // never anyone's but the practice's and the PCN's
        if let consent, !consent.isExplicitAndStanding { classes.insert(.contact) }
        return classes
    }

    /// Whether `reader` may hold `write` now. `view` is required for referrals.
    ///
    /// The practice and PCN named in a referral's id see every class. The owner of the current
    /// target service sees routing (current values: the caller sends only live routing writes),
    /// consent, contact only while explicit consent stands, never clinical, and of progress and
    /// outcome only the practice/hub status events and the entries that name its own services.
    public static func mayRead(_ reader: NodeID, _ write: FieldWrite, view: ReferralView?) -> Bool {
        guard let (practice, pcn) = write.record.referralParties else { return true }  // directory data
        if reader == practice || reader == pcn { return true }
        guard let view, let owner = view.currentService?.serviceOwner, owner == reader else { return false }
        switch write.field.dataClass {
        case .routing, .consent: return true
        case .contact: return view.explicitConsent
        case .clinical, .organisation, .service: return false
        case .progress, .outcome:
            if write.field.isRedaction { return true }
            guard let value = write.value else { return false }
            return namesServiceOwned(by: reader, write.field, value)
        }
    }

    private static func namesServiceOwned(by reader: NodeID, _ field: FieldKey, _ value: [UInt8]) -> Bool {
        let service: String?
        switch field {
        case .progressEvents:
            guard let e = try? FieldValue.decode(ProgressEvent.self, value, field: field) else { return false }
            if e.kind?.byPracticeOrHub == true { return true }
            service = e.service
        case .progressNotes: service = (try? FieldValue.decode(ReferralNote.self, value, field: field))?.service
        case .outcomeEntries: service = (try? FieldValue.decode(OutcomeEntry.self, value, field: field))?.service
        default: return false
        }
        guard let service, let id = try? RecordID(service) else { return false }
        return id.serviceOwner == reader
    }
}
