import SpsyncTestSupport
import SyncCore
import SyncDomain
import SyncSimulation
import SyncStore
import Testing

@Suite("the domain API: use cases and who may do them")
struct DomainTests {
    /// A practice (its PCN named), its hub and two charities; each charity has published one service
    /// and the practice and hub hold both.
    struct Net {
        let dir = TempDir(prefix: "spsync-domain-")
        let p: Domain
        let h: Domain
        let c: Domain
        let c2: Domain
        let walk: RecordID
        let debt: RecordID

        init() throws {
            p = try Domain(store: try Store.signed(at: dir.file("p"), node: Fixture.practice), pcn: Fixture.hub)
            h = try Domain(store: try Store.signed(at: dir.file("h"), node: Fixture.hub))
            c = try Domain(store: try Store.signed(at: dir.file("c"), node: Fixture.charity))
            c2 = try Domain(store: try Store.signed(at: dir.file("c2"), node: Fixture.charity2))
            var walk = Domain.NewService(name: "Walk and Talk", category: .physicalActivity)
            walk.capacity = (3, 12)
            walk.area = "LS1,LS2"
            self.walk = try c.addService(walk, at: Fixture.wall)
            debt = try c2.addService(Domain.NewService(name: "Debt advice", category: .debtAdvice), at: Fixture.wall)
            try settle()
        }

        func settle() throws {
            for (a, b) in [(p, h), (c, h), (c2, h), (p, h)] {
                #expect(try MemorySync.sync(a.store, b.store, nowMillis: Fixture.wall + 10).clean)
            }
        }

        func fields(_ d: Domain, _ r: RecordID) throws -> Set<String> {
            Set(try d.store.writes(of: r).map(\.write.field.rawValue))
        }
    }

    func code(_ body: () throws -> Void) -> SyncError.Code? {
        do {
            try body()
            return nil
        } catch let e as SyncError {
            return e.code
        } catch {
            return nil
        }
    }

    @Test("a practice refers to a charity's service: one change with every field the use case names")
    func createReferral() throws {
        let net = try Net()
        let person = Domain.Person(givenName: "Pat", phone: "07700 900123", nhsNumber: try NHSNumber("9434765919"))
        let r = try net.p.createReferral(
            Domain.NewReferral(
                needs: [.loneliness, .loneliness, .mobility], to: Fixture.charity, service: net.walk, urgency: .soon,
                note: "Prefers mornings", consent: .explicit, person: person), at: Fixture.wall + 20)
        #expect(r.referralParties?.practice == Fixture.practice && r.referralParties?.pcn == Fixture.hub)
        let writes = try net.p.store.writes(of: r)
        #expect(Set(writes.map(\.write.change)).count == 1)
        #expect(
            try net.fields(net.p, r) == [
                "routing.needs", "progress.events", "routing.service", "routing.urgency", "routing.note",
                "consent.consent", "contact.givenName", "contact.phone", "clinical.nhsNumber",
            ])
        #expect(try net.p.store.referral(r).needs == ["loneliness", "mobility"])
        #expect(try net.p.store.referral(r).status == "referred")
        try net.settle()
        #expect(try net.fields(net.c, r).contains("contact.phone"))
        #expect(!(try net.fields(net.c, r).contains("clinical.nhsNumber")))
        // Listings show the person's given name where the node holds it, with the service's name.
        let line = try #require(try net.c.referrals(.init()).first { $0.id == r.rawValue })
        #expect(line.person == "Pat" && line.serviceName != nil && line.urgency == "soon")
        // Redacted, the name leaves the listing too.
        try net.p.redact(r, .contact, reason: "entered in error", at: Fixture.wall + 30)
        #expect(try net.p.referrals(.init()).first { $0.id == r.rawValue }?.person == nil)
    }

    @Test("who may make a referral, and to what: refusals change nothing")
    func createRefusals() throws {
        let net = try Net()
        let before = try net.p.store.counts().changes
        let unknown = try RecordID.service(owner: Fixture.charity, uuid: Fixture.uuid(77))
        #expect(
            code { try net.c.createReferral(Domain.NewReferral(needs: [.debt], practice: Fixture.practice), at: 1) }
                == .unauthorised)
        #expect(code { try net.h.createReferral(Domain.NewReferral(needs: [.debt]), at: 1) } == .usage)
        #expect(code { try net.p.createReferral(Domain.NewReferral(needs: []), at: 1) } == .usage)
        #expect(
            code {
                try net.p.createReferral(
                    Domain.NewReferral(needs: [.debt], person: Domain.Person(phone: "07700 900123")), at: 1)
            } == .usage)
        #expect(
            code {
                try net.p.createReferral(
                    Domain.NewReferral(needs: [.debt], to: Fixture.charity2, service: net.walk), at: 1)
            }
                == .usage)
        #expect(
            code { try net.p.createReferral(Domain.NewReferral(needs: [.debt], service: unknown), at: 1) } == .notFound)
        #expect(try net.p.store.counts().changes == before)
        // Named as not synced yet, a service this node does not hold is accepted.
        let r = try net.p.createReferral(
            Domain.NewReferral(needs: [.debt], service: unknown, serviceNotYetSynced: true), at: Fixture.wall + 30)
        #expect(try net.p.store.referral(r).service == unknown.rawValue)
        // A hub names the practice.
        let byHub = try net.h.createReferral(
            Domain.NewReferral(needs: [.housing], practice: Fixture.practice), at: Fixture.wall + 31)
        #expect(byHub.referralParties?.pcn == Fixture.hub)
    }

    @Test("progress: the practice and hub record theirs, the current service's owner its own, nobody else")
    func progressRules() throws {
        let net = try Net()
        let r = try net.p.createReferral(
            Domain.NewReferral(needs: [.loneliness], service: net.walk, consent: .explicit), at: Fixture.wall + 20)
        try net.settle()
        #expect(
            code { try net.p.update(r, Domain.ReferralChange(progress: .accepted), at: Fixture.wall + 21) }
                == .unauthorised)
        #expect(
            code { try net.c.update(r, Domain.ReferralChange(progress: .closed), at: Fixture.wall + 21) }
                == .unauthorised)
        #expect(
            code { try net.c.update(r, Domain.ReferralChange(urgency: .urgent), at: Fixture.wall + 21) }
                == .unauthorised)
        #expect(
            code { try net.c.update(r, Domain.ReferralChange(consent: .withdrawn), at: Fixture.wall + 21) }
                == .unauthorised)
        #expect(
            code {
                try net.c.update(r, Domain.ReferralChange(person: Domain.Person(givenName: "X")), at: Fixture.wall + 21)
            } == .unauthorised)
        #expect(
            code { try net.p.update(r, Domain.ReferralChange(progress: .settled), at: Fixture.wall + 21) } == .usage)
        #expect(code { try net.p.update(r, Domain.ReferralChange(), at: Fixture.wall + 21) } == .usage)
        try net.c.update(r, Domain.ReferralChange(progress: .received), at: Fixture.wall + 22)
        try net.c.update(
            r, Domain.ReferralChange(progress: .accepted, note: "Starts Tuesday"), at: Fixture.wall + 23)
        #expect(try net.c.store.referral(r).status == "accepted")
        let event = try net.c.store.live(r, .progressEvents).compactMap {
            try? FieldValue.decode(ProgressEvent.self, $0.write.value ?? [], field: .progressEvents)
        }.first { $0.event == "accepted" }
        #expect(event?.service == net.walk.rawValue)
        // Re-addressed to the second charity's service: the first records nothing more.
        try net.h.update(r, Domain.ReferralChange(service: net.debt, urgency: .urgent), at: Fixture.wall + 24)
        try net.settle()
        #expect(
            code { try net.c.update(r, Domain.ReferralChange(note: "late"), at: Fixture.wall + 25) } == .unauthorised)
        try net.c2.update(
            r,
            Domain.ReferralChange(
                progress: .received, ons4Before: try ONS4(parsing: "5, 6,5,7"), outcome: "first session booked"),
            at: Fixture.wall + 26)
        let outcome = try net.c2.store.live(r, .outcomeEntries).first?.write.value.map {
            try FieldValue.decode(OutcomeEntry.self, $0, field: .outcomeEntries)
        }
        #expect(outcome?.service == net.debt.rawValue && outcome?.ons4Before == [5, 6, 5, 7])
        // Consent withdrawn keeps its basis and time and says when it was withdrawn.
        try net.p.update(r, Domain.ReferralChange(consent: .withdrawn), at: Fixture.wall + 27)
        let consent = try net.p.store.live(r, .consent).first?.write.value.map {
            try FieldValue.decode(Consent.self, $0, field: .consent)
        }
        #expect(consent?.basis == "explicit" && consent?.withdrawnAt == Fixture.wall + 27)
    }

    @Test("services: a charity publishes and sets capacity on its own; nobody else can")
    func services() throws {
        let net = try Net()
        #expect(code { try net.p.addService(Domain.NewService(name: "X", category: .other), at: 1) } == .unauthorised)
        #expect(code { try net.c2.setCapacity(net.walk, available: 1, at: Fixture.wall + 40) } == .unauthorised)
        #expect(code { try net.c2.setCapacity(net.debt, available: 1, at: Fixture.wall + 40) } == .usage)
        let capacity = try net.c.setCapacity(net.walk, available: 0, accepting: .waitlist, at: Fixture.wall + 41)
        #expect(capacity == ServiceCapacity(unit: "places", available: 0, maximum: 12, updated: Fixture.wall + 41))
        let summary = try net.c.store.service(net.walk, wallMillis: Fixture.wall + 41)
        #expect(summary.name == "Walk and Talk" && summary.accepting == "waitlist")
        #expect(summary.capacity?.available == 0)
        try net.c2.setAccepting(net.debt, .paused, at: Fixture.wall + 42)
        try net.settle()
        #expect(try net.p.store.service(net.debt, wallMillis: Fixture.wall + 43).accepting == "paused")
        #expect(try net.p.store.service(net.walk, wallMillis: Fixture.wall + 43).capacity?.available == 0)
    }

    @Test("typed values keep what a newer node sends; ONS4 takes four scores 0-10")
    func typedValues() throws {
        #expect(Known<Urgency>(raw: "soon") == .known(.soon))
        #expect(Known<Urgency>(raw: "whenever").raw == "whenever")
        #expect(Known<ServiceCategory>(raw: "sea_swimming").value == nil)
        #expect(try ONS4(parsing: "0,10, 5 ,3").scores == [0, 10, 5, 3])
        for bad in ["1,2,3", "1,2,3,11", "a,b,c,d", "1,2,3,4,5", ""] {
            #expect(throws: SyncError.self) { try ONS4(parsing: bad) }
        }
    }
}
