import Foundation
import SpsyncTestSupport
import SyncCore
import Testing

@testable import SyncStore

/// Protocol/SPEC.md 7.5: a node purges what the record's state, as it holds it, says it may not
/// keep — without waiting for the sender's `NARROW`.
@Suite("what a receiver keeps, whatever it is sent")
struct AudienceTests {
    /// Pulls as a session would, then judges the referrals received, as a session does at `CAUGHT_UP`.
    func pullAndJudge(_ store: Store, from other: Store) throws {
        try store.pull(from: other)
        let records = try other.changes(after: 0, limit: Int.max).map(\.write.record)
        try store.enforceAudience(Set(records), wallMillis: Fixture.wall)
    }

    /// A practice store with a referral addressed to the charity's service, with explicit consent,
    /// contact details and (wrongly, for this test) a clinical value that the charity will be sent.
    func setUp(_ dir: TempDir) throws -> (practice: Store, charity: Store, referral: RecordID) {
        let practice = try Store.signed(at: dir.file("p.sqlite"), node: Fixture.practice)
        let charity = try Store.signed(at: dir.file("c.sqlite"), node: Fixture.charity)
        try TestKeys.introduceAll([practice, charity])
        let r = Fixture.referral(1)
        try practice.write(
            r,
            [
                (.routingService, Fixture.text(Fixture.service.rawValue)),
                (.consent, Fixture.consent(explicit: true)),
                (.contactGivenName, Fixture.text("Marigold")),
                (.contactPhone, Fixture.text("07700900555")),
            ], wallMillis: Fixture.wall)
        return (practice, charity, r)
    }

    @Test("a consent withdrawal received without any NARROW purges the contact details it took away")
    func withdrawalPurgesContact() throws {
        let dir = TempDir()
        let (practice, charity, r) = try setUp(dir)
        try pullAndJudge(charity, from: practice)
        #expect(try charity.live(r, .contactPhone).count == 1, "explicit consent: the charity may hold the phone")
        #expect(try charity.audienceViolations().isEmpty)

        try practice.write(r, [(.consent, Fixture.consent(explicit: true, withdrawn: true))], wallMillis: Fixture.wall)
        try charity.pull(from: practice)  // changes only: no NARROW comes with them
        #expect(try charity.live(r, .contactPhone).count == 1, "not judged yet: kept")
        try charity.enforceAudience([r], wallMillis: Fixture.wall)
        #expect(try charity.live(r, .contactPhone).isEmpty)
        #expect(try charity.live(r, .contactGivenName).isEmpty)
        #expect(try charity.writes(of: r).allSatisfy { $0.write.field.dataClass != .contact })
        #expect(try charity.live(r, .consent).count == 1, "consent itself stays: the charity may see it")
        #expect(try charity.tombstones().contains { $0.record == r && $0.dataClass == .contact })
        let purged = try charity.audit(limit: 100, action: "purged")
        #expect(purged.count == 2 && purged.allSatisfy { $0.actor == Fixture.charity.rawValue })
        #expect(try charity.audienceViolations().isEmpty)
    }

    @Test("the practice and the PCN keep everything; a clinical value sent to a charity is never kept")
    func partiesKeepAndClinicalGoes() throws {
        let dir = TempDir()
        let (practice, charity, r) = try setUp(dir)
        let hub = try Store.signed(at: dir.file("h.sqlite"), node: Fixture.hub)
        try TestKeys.introduceAll([practice, charity, hub])
        try practice.write(r, [(.clinicalNHSNumber, Fixture.text("9434765919"))], wallMillis: Fixture.wall)
        try practice.write(r, [(.consent, Fixture.consent(explicit: true, withdrawn: true))], wallMillis: Fixture.wall)
        try pullAndJudge(hub, from: practice)
        #expect(try hub.live(r, .contactPhone).count == 1)
        #expect(try hub.live(r, .clinicalNHSNumber).count == 1)
        try pullAndJudge(charity, from: practice)
        #expect(try charity.live(r, .clinicalNHSNumber).isEmpty)
        #expect(try charity.live(r, .contactPhone).isEmpty)
    }

    @Test("a target service of another owner takes every class away; a fact not held takes nothing")
    func readdressedAndUnknown() throws {
        let dir = TempDir()
        let (practice, charity, r) = try setUp(dir)
        // A referral whose consent the charity does not hold yet keeps its contact details.
        let other = Fixture.referral(2)
        try practice.write(
            other,
            [(.routingService, Fixture.text(Fixture.service.rawValue)), (.contactPhone, Fixture.text("07700900666"))],
            wallMillis: Fixture.wall)
        try pullAndJudge(charity, from: practice)
        #expect(try charity.live(other, .contactPhone).count == 1)
        try practice.write(r, [(.routingService, Fixture.text(Fixture.service2.rawValue))], wallMillis: Fixture.wall)
        try pullAndJudge(charity, from: practice)
        #expect(try charity.writes(of: r).isEmpty, "re-addressed to another charity's service: nothing of it stays")
        #expect(try charity.live(other, .contactPhone).count == 1)
    }
}
