import Testing

@testable import SyncCore

/// Builds writes for hand-made scenarios.
struct Scenario {
    var replicas: [NodeID: Replica] = [:]
    var seqs: [NodeID: UInt64] = [:]
    var clock: UInt64 = 1_000

    static let practice = HistoryGenerator.practice
    static let hub = HistoryGenerator.hub
    static let charityA = HistoryGenerator.charities[0]
    static let charityB = HistoryGenerator.charities[1]
    static let serviceA = HistoryGenerator.services[0]  // owned by charityA
    static let serviceB = HistoryGenerator.services[2]  // owned by charityB
    static let referral = HistoryGenerator.referrals[0]

    @discardableResult
    mutating func write(
        _ node: NodeID, _ field: FieldKey, _ value: [UInt8], record: RecordID = referral, hlc: UInt64? = nil
    ) -> FieldWrite {
        let seq = (seqs[node] ?? 0) + 1
        seqs[node] = seq
        clock += 10
        let w = FieldWrite(
            origin: HistoryGenerator.origin(node), seq: seq, hlc: HLC(millis: hlc ?? clock, counter: 0), record: record,
            field: field, kind: field.knownKind ?? .register, value: value,
            context: replicas[node, default: Replica()].context(for: record, field))
        replicas[node, default: Replica()].apply(w)
        return w
    }

    @discardableResult
    mutating func event(
        _ node: NodeID, _ kind: String, service: RecordID? = nil, settles: [FieldWrite] = [], keep: String? = nil
    ) -> FieldWrite {
        let e = ProgressEvent(
            event: kind, service: service?.rawValue,
            settles: settles.isEmpty ? nil : settles.map { $0.change.description }, keep: keep)
        return write(node, .progressEvents, FieldValue.json(e))
    }

    mutating func address(_ node: NodeID, to service: RecordID) {
        write(node, .routingService, FieldValue.text(service.rawValue))
    }

    /// Copies everything `from` holds to `to`.
    mutating func sync(_ from: NodeID, _ to: NodeID) {
        for w in replicas[from, default: Replica()].writes.values.flatMap({ $0.values.flatMap { $0.values } }) {
            replicas[to, default: Replica()].apply(w)
        }
    }

    func status(_ node: NodeID) -> String { replicas[node, default: Replica()].status(Self.referral).description }
}

@Suite("status fold")
struct StatusFoldTests {
    @Test("the furthest stage of the current episode wins")
    func furthestStage() {
        var s = Scenario()
        s.event(Scenario.practice, "referred")
        s.address(Scenario.practice, to: Scenario.serviceA)
        s.sync(Scenario.practice, Scenario.charityA)
        s.event(Scenario.charityA, "accepted", service: Scenario.serviceA)
        s.event(Scenario.charityA, "received", service: Scenario.serviceA)  // later but an earlier stage
        #expect(s.status(Scenario.charityA) == "accepted")
    }

    @Test("the status fold ignores events of an earlier target's episode")
    func earlierEpisodeIgnored() {
        var s = Scenario()
        s.event(Scenario.practice, "referred")
        s.address(Scenario.practice, to: Scenario.serviceA)
        s.sync(Scenario.practice, Scenario.charityA)
        s.event(Scenario.charityA, "declined", service: Scenario.serviceA)
        s.sync(Scenario.charityA, Scenario.practice)
        #expect(s.status(Scenario.practice) == "declined")
        s.address(Scenario.practice, to: Scenario.serviceB)
        #expect(s.status(Scenario.practice) == "referred")
        // An event the first charity writes after the re-addressing is valid, and ignored.
        let late = s.event(Scenario.charityA, "accepted", service: Scenario.serviceA)
        #expect(throws: Never.self) { try Validation.check(late) }
        s.sync(Scenario.charityA, Scenario.practice)
        #expect(s.status(Scenario.practice) == "referred")
        // Back to the first service: its episode counts again, contradictions included.
        s.address(Scenario.practice, to: Scenario.serviceA)
        #expect(s.status(Scenario.practice) == "conflict")
    }

    @Test("accepted and declined in one episode are a conflict until a settled event names them")
    func settle() {
        var s = Scenario()
        s.address(Scenario.hub, to: Scenario.serviceA)
        s.sync(Scenario.hub, Scenario.charityA)
        let a = s.event(Scenario.charityA, "accepted", service: Scenario.serviceA)
        let d = s.event(Scenario.charityA, "declined", service: Scenario.serviceA)
        s.sync(Scenario.charityA, Scenario.hub)
        #expect(s.status(Scenario.hub) == "conflict")
        s.event(Scenario.hub, "settled", settles: [a], keep: "declined")  // names only one: still a conflict
        #expect(s.status(Scenario.hub) == "conflict")
        s.event(Scenario.hub, "settled", settles: [a, d], keep: "accepted")
        #expect(s.status(Scenario.hub) == "accepted")
    }

    @Test("reopened follows closed or withdrawn; alone it means nothing")
    func reopen() {
        var s = Scenario()
        s.event(Scenario.practice, "reopened")
        s.event(Scenario.practice, "referred")
        #expect(s.status(Scenario.practice) == "referred")
        s.event(Scenario.practice, "withdrawn")
        #expect(s.status(Scenario.practice) == "withdrawn")
        s.event(Scenario.practice, "reopened")
        #expect(s.status(Scenario.practice) == "referred")
        s.event(Scenario.practice, "closed")
        #expect(s.status(Scenario.practice) == "closed")
    }

    @Test("an unknown event kind from a newer node is stored and ignored by the fold")
    func unknownKind() throws {
        var s = Scenario()
        s.event(Scenario.practice, "referred")
        let w = s.event(Scenario.practice, "escalated_v9")
        try Validation.check(w)
        #expect(s.status(Scenario.practice) == "referred")
    }
}

@Suite("validation")
struct ValidationTests {
    @Test("a charity may not write a referral's clinical, contact or routing fields")
    func charityClinical() {
        var s = Scenario()
        for field in [FieldKey.clinicalNHSNumber, .contactPhone, .routingService] {
            let w = s.write(Scenario.charityA, field, FieldValue.text("9990000018"))
            #expect(throws: SyncError.self) { try Validation.check(w) }
        }
    }

    @Test("a charity may not write another charity's capacity, or events for a service it does not own")
    func charityCrossWrites() {
        var s = Scenario()
        let cap = FieldValue.json(ServiceCapacity(unit: "places", available: 1, maximum: 2, updated: 1))
        let w = s.write(Scenario.charityB, .serviceCapacity, cap, record: Scenario.serviceA)
        #expect(throws: SyncError.self) { try Validation.check(w) }
        let e = s.event(Scenario.charityB, "accepted", service: Scenario.serviceA)
        #expect(throws: SyncError.self) { try Validation.check(e) }
        let own = s.write(Scenario.charityA, .serviceCapacity, cap, record: Scenario.serviceA)
        #expect(throws: Never.self) { try Validation.check(own) }
    }

    @Test("a practice may not record a service's events; a charity may not record practice events")
    func roles() {
        var s = Scenario()
        #expect(throws: SyncError.self) {
            try Validation.check(s.event(Scenario.practice, "accepted", service: Scenario.serviceA))
        }
        #expect(throws: SyncError.self) { try Validation.check(s.event(Scenario.charityA, "closed")) }
        #expect(throws: SyncError.self) { try Validation.check(s.event(Scenario.charityA, "accepted")) }
    }

    @Test("values: NHS number check digit, capacity within maximum, ONS4 scores")
    func values() {
        var s = Scenario()
        #expect(throws: SyncError.self) {
            try Validation.check(s.write(Scenario.practice, .clinicalNHSNumber, FieldValue.text("9990000019")))
        }
        #expect(throws: Never.self) {
            try Validation.check(s.write(Scenario.practice, .clinicalNHSNumber, FieldValue.text("9990000018")))
        }
        let over = FieldValue.json(ServiceCapacity(unit: "places", available: 9, maximum: 2, updated: 1))
        #expect(throws: SyncError.self) {
            try Validation.check(s.write(Scenario.charityA, .serviceCapacity, over, record: Scenario.serviceA))
        }
        let bad = FieldValue.json(OutcomeEntry(service: nil, ons4Before: [1, 2, 3], ons4After: nil, message: nil))
        #expect(throws: SyncError.self) { try Validation.check(s.write(Scenario.hub, .outcomeEntries, bad)) }
    }

    @Test("unknown fields of a known class are accepted; the verdict never depends on current state")
    func unknownField() throws {
        var s = Scenario()
        let w = s.write(Scenario.practice, try FieldKey("contact.whatsapp"), FieldValue.text("+44"))
        try Validation.check(w)
        // A charity's event for a service that is no longer the target is still valid.
        s.address(Scenario.practice, to: Scenario.serviceB)
        try Validation.check(s.event(Scenario.charityA, "completed", service: Scenario.serviceA))
    }

    @Test("only a note's writer retracts it")
    func retraction() throws {
        var s = Scenario()
        let note = s.write(
            Scenario.charityA, .progressNotes,
            FieldValue.json(ReferralNote(text: "called", service: Scenario.serviceA.rawValue)))
        let mine = s.write(
            Scenario.charityA, .progressNotes,
            FieldValue.json(ReferralNote(service: Scenario.serviceA.rawValue, retracts: note.change.description)))
        try Validation.check(mine)
        let theirs = s.write(
            Scenario.practice, .progressNotes, FieldValue.json(ReferralNote(retracts: note.change.description)))
        #expect(throws: SyncError.self) { try Validation.check(theirs) }
    }
}

@Suite("audience")
struct AudienceTests {
    @Test(
        "a charity sees routing and consent of referrals addressed to it, contact only under explicit consent, never clinical"
    )
    func charityView() {
        var s = Scenario()
        s.address(Scenario.practice, to: Scenario.serviceA)
        let phone = s.write(Scenario.practice, .contactPhone, FieldValue.text("07700900123"))
        let nhs = s.write(Scenario.practice, .clinicalNHSNumber, FieldValue.text("9990000018"))
        let view = { (s: Scenario) in s.replicas[Scenario.practice]!.referralView(Scenario.referral) }
        #expect(!Audience.mayRead(Scenario.charityA, phone, view: view(s)))
        s.write(Scenario.practice, .consent, FieldValue.json(Consent(basis: "explicit", recordedBy: "A81001", at: 1)))
        #expect(Audience.mayRead(Scenario.charityA, phone, view: view(s)))
        #expect(!Audience.mayRead(Scenario.charityA, nhs, view: view(s)))
        #expect(!Audience.mayRead(Scenario.charityB, phone, view: view(s)))
        #expect(Audience.mayRead(Scenario.hub, nhs, view: view(s)))
        s.write(
            Scenario.practice, .consent,
            FieldValue.json(Consent(basis: "explicit", recordedBy: "A81001", at: 1, withdrawnAt: 2)))
        #expect(!Audience.mayRead(Scenario.charityA, phone, view: view(s)))
        s.address(Scenario.practice, to: Scenario.serviceB)
        let route = s.write(Scenario.practice, .routingUrgency, FieldValue.text("soon"))
        #expect(!Audience.mayRead(Scenario.charityA, route, view: view(s)))
        #expect(Audience.mayRead(Scenario.charityB, route, view: view(s)))
    }
}
