import SyncCore
import SyncStore

/// What a node's people do, as use cases: make and address referrals, record their progress,
/// consent, notes and outcomes, redact, settle and resolve; publish services and set their
/// capacity. Each checks who may do it here and builds the field writes — the one place they are
/// built — then makes one change in the store (which validates every write as a peer would).
///
/// The CLI, `spsync demo`, the simulator and the benchmarks call it; the web console will too.
/// Errors are `SyncError`s whose messages say what to do, in the words of the use case rather
/// than of a command's options.
public struct Domain: Sendable {
    public let store: Store
    /// This node.
    public let node: NodeID
    /// A practice's PCN hub (`[node] pcn` in node.toml); nil for a hub or a charity.
    public let pcn: NodeID?

    public init(store: Store, pcn: NodeID? = nil) throws {
        self.store = store
        self.node = try store.nodeState().node
        self.pcn = pcn
    }

    // MARK: Referrals

    /// Contact and clinical details of the person referred. Contact details go to the target
    /// service's owner while explicit consent stands; clinical details never leave the practice and hub.
    public struct Person: Sendable, Hashable {
        public var givenName: String?
        public var phone: String?
        public var email: String?
        public var preferredContact: ContactMethod?
        public var accessNeeds: String?
        public var interpreter: String?
        public var nhsNumber: NHSNumber?
        /// YYYY-MM-DD.
        public var dateOfBirth: String?
        public var address: String?

        public init(
            givenName: String? = nil, phone: String? = nil, email: String? = nil,
            preferredContact: ContactMethod? = nil, accessNeeds: String? = nil, interpreter: String? = nil,
            nhsNumber: NHSNumber? = nil, dateOfBirth: String? = nil, address: String? = nil
        ) {
            self.givenName = givenName
            self.phone = phone
            self.email = email
            self.preferredContact = preferredContact
            self.accessNeeds = accessNeeds
            self.interpreter = interpreter
            self.nhsNumber = nhsNumber
            self.dateOfBirth = dateOfBirth
            self.address = address
        }

        var contactFields: [(FieldKey, [UInt8])] {
            [
                (FieldKey.contactGivenName, givenName), (.contactPhone, phone), (.contactEmail, email),
                (.contactPreferred, preferredContact?.rawValue), (.contactAccessNeeds, accessNeeds),
                (.contactInterpreter, interpreter),
            ].compactMap { key, value in value.map { (key, FieldValue.text($0)) } }
        }

        var clinicalFields: [(FieldKey, [UInt8])] {
            [
                (FieldKey.clinicalNHSNumber, nhsNumber?.digits), (.clinicalDateOfBirth, dateOfBirth),
                (.clinicalAddress, address),
            ].compactMap { key, value in value.map { (key, FieldValue.text($0)) } }
        }

        var isEmpty: Bool { contactFields.isEmpty && clinicalFields.isEmpty }
    }

    /// A new referral.
    public struct NewReferral: Sendable {
        /// The person's practice: a hub names it; a practice refers its own patients (leave nil).
        public var practice: NodeID?
        /// Who it is addressed to, when the caller names it: the PCN hub, or the service's owner.
        public var to: NodeID?
        public var service: RecordID?
        /// Address it to `service` even though this node has not received that service yet.
        public var serviceNotYetSynced = false
        public var needs: [NeedCategory]
        public var urgency: Urgency?
        public var note: String?
        public var consent: ConsentBasis?
        public var person = Person()
        /// The UUID of the referral's id; nil makes a new one. Simulations and benchmarks give
        /// theirs, so that a run can be repeated.
        public var uuid: UUIDv7?

        public init(
            needs: [NeedCategory], practice: NodeID? = nil, to: NodeID? = nil, service: RecordID? = nil,
            serviceNotYetSynced: Bool = false, urgency: Urgency? = nil, note: String? = nil,
            consent: ConsentBasis? = nil, person: Person = Person(), uuid: UUIDv7? = nil
        ) {
            self.uuid = uuid
            self.needs = needs
            self.practice = practice
            self.to = to
            self.service = service
            self.serviceNotYetSynced = serviceNotYetSynced
            self.urgency = urgency
            self.note = note
            self.consent = consent
            self.person = person
        }
    }

    /// Makes a referral (practices and hubs). Returns its id.
    @discardableResult
    public func createReferral(_ new: NewReferral, at wallMillis: UInt64) throws -> RecordID {
        try requireReferrer()
        guard !new.needs.isEmpty else { throw SyncError(.usage, "a referral names at least one need") }
        let (practice, pcn): (NodeID, NodeID)
        if node.role == .practice {
            guard let hub = self.pcn else {
                throw SyncError(.usage, "node.toml names no pcn for this practice: add `pcn = \"U…\"` under [node]")
            }
            if let named = new.practice, named != node {
                throw SyncError(.usage, "a practice refers its own patients; \(named) refers its own")
            }
            (practice, pcn) = (node, hub)
        } else {
            guard let named = new.practice else {
                throw SyncError(.usage, "a hub names the person's practice (its ODS code, e.g. A81001)")
            }
            guard named.role == .practice else {
                throw SyncError(.usage, "\(named) is not a practice ODS code")
            }
            (practice, pcn) = (named, node)
        }
        if let service = new.service {
            let owner = try serviceOwner(service)
            if let to = new.to, to != owner {
                throw SyncError(
                    .usage,
                    "\(service) is run by \(owner): a referral to a service is addressed to its owner, so address it to \(owner)"
                )
            }
            try requireKnown(service, notYetSynced: new.serviceNotYetSynced)
        } else if let to = new.to, to != pcn {
            throw SyncError(.usage, "\(to): a referral goes to the PCN hub \(pcn), or to a charity's service")
        }
        let contact = new.person.contactFields
        if !contact.isEmpty, new.consent == nil {
            throw SyncError(
                .usage,
                "contact details need a basis for sharing them: give consent (explicit or implied), or leave the contact details out"
            )
        }
        let id = try RecordID.referral(
            practice: practice, pcn: pcn, uuid: new.uuid ?? Store.newUUID(wallMillis: wallMillis))
        let fields = Self.referralFields(new, by: node, at: wallMillis)
        try store.write(id, fields, wallMillis: wallMillis)
        return id
    }

    /// The field writes of a new referral as `createReferral` makes them, without its checks: for
    /// benchmarks and tests that build the changes a peer receives. `node` records the consent.
    public static func referralFields(_ new: NewReferral, by node: NodeID, at wallMillis: UInt64)
        -> [(FieldKey, [UInt8])]
    {
        var fields: [(FieldKey, [UInt8])] = [
            (.routingNeeds, FieldValue.json(Set(new.needs.map(\.rawValue)).sorted())),
            (.progressEvents, FieldValue.json(ProgressEvent(event: ProgressEvent.Kind.referred.rawValue))),
        ]
        if let service = new.service { fields.append((.routingService, FieldValue.text(service.rawValue))) }
        if let urgency = new.urgency { fields.append((.routingUrgency, FieldValue.text(urgency.rawValue))) }
        if let note = new.note { fields.append((.routingNote, FieldValue.text(note))) }
        if let consent = new.consent {
            fields.append((.consent, consentValue(.given(consent), held: nil, by: node, at: wallMillis)))
        }
        return fields + new.person.contactFields + new.person.clinicalFields
    }

    /// The value of a consent write: given on a basis, or withdrawn (keeping the basis and time of
    /// the consent `held`, when there is one).
    public static func consentValue(_ change: ConsentChange, held: Consent?, by node: NodeID, at wallMillis: UInt64)
        -> [UInt8]
    {
        switch change {
        case .withdrawn:
            return FieldValue.json(
                Consent(
                    basis: held?.basis ?? ConsentBasis.explicit.rawValue, recordedBy: node.rawValue,
                    at: held?.at ?? wallMillis, withdrawnAt: wallMillis))
        case .given(let basis):
            return FieldValue.json(Consent(basis: basis.rawValue, recordedBy: node.rawValue, at: wallMillis))
        }
    }

    /// Changes to an existing referral, made as one change. Each part has its own rule of who may
    /// make it (`update`).
    public struct ReferralChange: Sendable {
        /// Address it to this service (practice and hub).
        public var service: RecordID?
        public var serviceNotYetSynced = false
        /// Practice and hub.
        public var urgency: Urgency?
        /// A status event: the practice's or hub's own (`withdrawn`, `closed`, `reopened`), or the
        /// current service's owner's (`received` … `completed`). `settled` goes through `settle`.
        public var progress: ProgressEvent.Kind?
        /// Why, with `progress` (a decline reason, say).
        public var reason: String?
        public var note: String?
        /// Practice and hub.
        public var consent: ConsentChange?
        public var ons4Before: ONS4?
        public var ons4After: ONS4?
        /// The message back to the GP.
        public var outcome: String?
        /// Practice and hub.
        public var person = Person()
        /// With `progress` `accepted` at a charity: take one of the service's free places in the same
        /// step (refused, with nothing written, when it has none).
        public var takePlace = false
        /// A national SNOMED CT concept to record for the GP record (practice and hub): offered,
        /// declined by the person, signposting. The referral's own concept comes with `referred`.
        public var snomed: SocialPrescribingCode?

        public init(
            service: RecordID? = nil, serviceNotYetSynced: Bool = false, urgency: Urgency? = nil,
            progress: ProgressEvent.Kind? = nil, reason: String? = nil, note: String? = nil,
            consent: ConsentChange? = nil, ons4Before: ONS4? = nil, ons4After: ONS4? = nil, outcome: String? = nil,
            person: Person = Person()
        ) {
            self.service = service
            self.serviceNotYetSynced = serviceNotYetSynced
            self.urgency = urgency
            self.progress = progress
            self.reason = reason
            self.note = note
            self.consent = consent
            self.ons4Before = ons4Before
            self.ons4After = ons4After
            self.outcome = outcome
            self.person = person
        }
    }

    /// Makes `change` to a referral this node holds, as one change; returns its reference.
    @discardableResult
    public func update(_ referral: RecordID, _ change: ReferralChange, at wallMillis: UInt64) throws -> ChangeRef {
        guard let (practice, pcn) = referral.referralParties else {
            throw SyncError(.usage, "\(referral) is not a referral id (R.…)")
        }
        let current = try store.referral(referral)
        let isParty = node == practice || node == pcn
        func requireParty(_ what: String) throws {
            guard isParty else {
                throw SyncError(
                    .unauthorised,
                    "\(what) is for the referral's practice \(practice) or PCN \(pcn) to change, not \(node)")
            }
        }
        // A charity's events, notes and outcomes name its service: the current target, which it must own.
        func ownService() throws -> String {
            guard let s = current.service, (try? RecordID(s))?.serviceOwner == node else {
                throw SyncError(
                    .unauthorised,
                    "\(referral) is not addressed to a service of \(node): only the current service's owner records its progress"
                )
            }
            return s
        }
        var fields: [(FieldKey, [UInt8])] = []
        if let service = change.service {
            try requireParty("addressing")
            _ = try serviceOwner(service)
            try requireKnown(service, notYetSynced: change.serviceNotYetSynced)
            fields.append((.routingService, FieldValue.text(service.rawValue)))
        }
        if let urgency = change.urgency {
            try requireParty("urgency")
            fields.append((.routingUrgency, FieldValue.text(urgency.rawValue)))
        }
        if let kind = change.progress {
            guard kind != .settled else {
                throw SyncError(.usage, "contradictory decisions are settled with settle, naming the status to keep")
            }
            if kind.byPracticeOrHub {
                guard isParty else {
                    throw SyncError(
                        .unauthorised,
                        "'\(kind.rawValue)' is the practice's or PCN's to record; a service records received, contacted, accepted, declined, unable_to_contact, attending, did_not_attend, completed"
                    )
                }
                fields.append(
                    (.progressEvents, FieldValue.json(ProgressEvent(event: kind.rawValue, reason: change.reason))))
            } else {
                guard !isParty || node.role == .vcse else {
                    throw SyncError(
                        .unauthorised, "'\(kind.rawValue)' is for the service's owner to record, not \(node)")
                }
                fields.append(
                    (
                        .progressEvents,
                        FieldValue.json(
                            ProgressEvent(event: kind.rawValue, service: try ownService(), reason: change.reason))
                    ))
            }
        }
        if let note = change.note {
            let n = isParty ? ReferralNote(text: note) : ReferralNote(text: note, service: try ownService())
            fields.append((.progressNotes, FieldValue.json(n)))
        }
        if let consent = change.consent {
            try requireParty("consent")
            let held = try store.live(referral, .consent).first?.write.value.flatMap {
                try? FieldValue.decode(Consent.self, $0, field: .consent)
            }
            fields.append((.consent, Self.consentValue(consent, held: held, by: node, at: wallMillis)))
        }
        if change.ons4Before != nil || change.ons4After != nil || change.outcome != nil {
            let service = node == pcn ? current.service : try ownService()
            let entry = OutcomeEntry(
                service: service, ons4Before: change.ons4Before?.scores, ons4After: change.ons4After?.scores,
                message: change.outcome)
            fields.append((.outcomeEntries, FieldValue.json(entry)))
        }
        if let code = change.snomed {
            try requireParty("a SNOMED CT code")
            fields.append((.clinicalSnomed, FieldValue.json(SnomedEvent(code: code.rawValue, at: wallMillis))))
        }
        if !change.person.isEmpty {
            try requireParty("the person's details")
            fields += change.person.contactFields
            fields += change.person.clinicalFields
        }
        guard !fields.isEmpty else {
            throw SyncError(
                .usage,
                "nothing to change: give a service, urgency, status, note, consent, an outcome, a SNOMED CT code or details"
            )
        }
        var place: (service: RecordID, left: Int)?
        if change.takePlace {
            guard change.progress == .accepted, let s = try? RecordID(try ownService()) else {
                throw SyncError(.usage, "a place is taken when the service accepts the referral")
            }
            let summary = try store.service(s, wallMillis: wallMillis)
            guard let capacity = summary.capacity, capacity.available > 0 else {
                throw SyncError(
                    .usage,
                    "\(summary.name ?? s.rawValue) has no free \(summary.capacity?.unit ?? "places") to take: set its capacity first, or accept without taking one"
                )
            }
            place = (s, capacity.available - 1)
        }
        let ref = try store.write(referral, fields, wallMillis: wallMillis)
        if let place { try setCapacity(place.service, available: place.left, at: wallMillis) }
        return ref
    }

    /// Strips a class of a referral's data everywhere it reaches (practice and hub).
    @discardableResult
    public func redact(_ referral: RecordID, _ dataClass: DataClass, reason: String, at wallMillis: UInt64) throws
        -> ChangeRef
    {
        try requireReferrer()
        guard DataClass.referralClasses.contains(dataClass) else {
            throw SyncError(
                .usage, "\(dataClass.rawValue): use routing, consent, contact, clinical, progress or outcome")
        }
        _ = try store.referral(referral)
        return try store.write(referral, [(.redaction(dataClass), FieldValue.text(reason))], wallMillis: wallMillis)
    }

    /// Settles contradictory decisions of the current episode, keeping `keep` (practice and hub).
    @discardableResult
    public func settle(_ referral: RecordID, keep: ProgressEvent.Kind, at wallMillis: UInt64) throws -> ChangeRef {
        try requireReferrer()
        guard keep.isDecision else {
            throw SyncError(.usage, "keep accepted, declined or unable_to_contact")
        }
        guard
            let conflict = try store.conflicts().first(where: {
                $0.record == referral.rawValue && $0.field == "status"
            })
        else {
            throw SyncError(.notFound, "\(referral) has no contradictory decisions to settle here")
        }
        let event = ProgressEvent(
            event: ProgressEvent.Kind.settled.rawValue, settles: conflict.candidates.map(\.write), keep: keep.rawValue)
        return try store.write(referral, [(.progressEvents, FieldValue.json(event))], wallMillis: wallMillis)
    }

    /// How a conflict on a field is resolved: keep one of its live values, or write a new one.
    public enum Resolution: Sendable, Hashable {
        /// A live write's reference, as `conflicts` lists it.
        case keep(String)
        case value([UInt8])
    }

    /// Resolves a field in conflict with a write whose context covers every live value.
    @discardableResult
    public func resolve(_ record: RecordID, _ field: FieldKey, _ resolution: Resolution, at wallMillis: UInt64)
        throws -> ChangeRef
    {
        let live = try store.live(record, field)
        guard live.count > 1 else {
            throw SyncError(.notFound, "\(record) \(field) is not in conflict here (see the list of conflicts)")
        }
        let chosen: [UInt8]
        switch resolution {
        case .keep(let reference):
            guard let w = live.first(where: { $0.write.change.description == reference }), let v = w.write.value else {
                throw SyncError(.usage, "\(reference) is not one of the live values of \(field)")
            }
            chosen = v
        case .value(let v):
            chosen = v
        }
        return try store.write(record, [(field, chosen)], wallMillis: wallMillis)
    }

    // MARK: Rules

    /// Referrals are made and addressed by practices and PCN hubs.
    func requireReferrer() throws {
        guard node.role != .vcse else {
            throw SyncError(
                .unauthorised,
                "\(node) is a charity: referrals are made by practices and PCN hubs; a charity records the progress of referrals to its services"
            )
        }
    }

    func serviceOwner(_ service: RecordID) throws -> NodeID {
        guard let owner = service.serviceOwner else {
            throw SyncError(.usage, "\(service) is not a service id (S.…)")
        }
        return owner
    }

    /// A service this node does not hold — mistyped, or not synced here yet — is refused unless
    /// the caller says it is not synced yet: its owner may have published it and not yet reached this node.
    func requireKnown(_ service: RecordID, notYetSynced: Bool) throws {
        guard !notYetSynced else { return }
        do {
            _ = try store.service(service, wallMillis: 0)
        } catch let error as SyncError where error.code == .notFound {
            throw SyncError(
                .notFound,
                "no service \(service) is known here: sync first, or check the id; address it anyway only if its owner "
                    + "published it and it has not reached this node yet")
        }
    }
}
