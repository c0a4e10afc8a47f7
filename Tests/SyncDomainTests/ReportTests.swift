import Foundation
import SpsyncTestSupport
import SyncCore
import SyncDomain
import SyncReport
import SyncSimulation
import SyncStore
import Testing

#if canImport(FoundationXML)
    import FoundationXML
#endif

/// `spsync report` over known data: every figure below is worked out by hand from what the test
/// writes, then compared with the report's.
@Suite("the commissioners' report over known data")
struct ReportTests {
    static let day: UInt64 = 86_400_000
    /// Midnight (UTC) after the fixture's clock: day 0 of the period.
    static let start = (Fixture.wall / day + 1) * day

    /// A hub, two charities (Walk and Talk; Debt advice), and what happened over 30 days.
    struct Year {
        let dir = TempDir(prefix: "spsync-report-")
        let h: Domain
        let c: Domain
        let c2: Domain
        let walk: RecordID
        let debt: RecordID
        var referrals: [RecordID] = []
        /// First addressed to Walk and Talk (received there), then re-addressed to Debt advice.
        var moved: RecordID!

        func settle(_ at: UInt64) throws {
            for (a, b) in [(c, h), (c2, h), (h, c), (h, c2), (c, h), (c2, h)] {
                #expect(try MemorySync.sync(a.store, b.store, nowMillis: at).clean)
            }
        }

        init() throws {
            h = try Domain(store: try Store.signed(at: dir.file("h"), node: Fixture.hub))
            c = try Domain(store: try Store.signed(at: dir.file("c"), node: Fixture.charity))
            c2 = try Domain(store: try Store.signed(at: dir.file("c2"), node: Fixture.charity2))
            var w = Domain.NewService(name: "Walk and Talk", category: .physicalActivity)
            w.capacity = (3, 12)
            walk = try c.addService(w, at: Fixture.wall)
            debt = try c2.addService(Domain.NewService(name: "Debt advice", category: .debtAdvice), at: Fixture.wall)
            try settle(Fixture.wall + 10)
            let start = ReportTests.start, day = ReportTests.day
            // Ten referrals on day 0, a minute apart: 6 for loneliness, 3 for debt, 1 for
            // loneliness and a carer's needs.
            for k in 0..<10 {
                let needs: [NeedCategory] = k < 6 ? [.loneliness] : k < 9 ? [.debt] : [.loneliness, .carer]
                referrals.append(
                    try h.createReferral(
                        .init(
                            needs: needs, practice: Fixture.practice, consent: .explicit,
                            person: .init(givenName: "P\(k)")),
                        at: start + UInt64(k) * 60_000))
            }
            // Two coded "offered" for the GP record.
            for k in 0..<2 {
                var coded = Domain.ReferralChange()
                coded.snomed = .offered
                try h.update(referrals[k], coded, at: start + 3_600_000 + UInt64(k))
            }
            // Referral k (k = 0…7) is addressed to Walk and Talk k + 1 days after it was made:
            // days 1…8, median 4 (nearest rank), 90th percentile 8.
            // Capacity: 3 free from before the period; 0 from day 2, 5 from day 5: days 2, 3, 4 at zero.
            for k in 0..<8 {
                try h.update(referrals[k], .init(service: walk), at: start + UInt64(k + 1) * day + UInt64(k) * 60_000)
                if k == 1 { try c.setCapacity(walk, available: 0, at: start + 2 * day + 3_600_000) }
                if k == 4 { try c.setCapacity(walk, available: 5, at: start + 5 * day + 3_600_000) }
                try settle(start + UInt64(k + 1) * day + 7_200_000)
            }
            // Walk and Talk receives all 8 on day 9; contacts 6 on day 10 (exactly 10 days after
            // each was made); accepts 5 with ONS4 before, declines 1; cannot contact 1; completes
            // the 5 with ONS4 after on day 20.
            for k in 0..<8 {
                try c.update(referrals[k], .init(progress: .received), at: start + 9 * day + UInt64(k))
            }
            for k in 0..<6 {
                try c.update(referrals[k], .init(progress: .contacted), at: start + 10 * day + UInt64(k) * 60_000)
            }
            for k in 0..<5 {
                try c.update(
                    referrals[k], .init(progress: .accepted, ons4Before: try ONS4([5, 5, 5, 8])),
                    at: start + 11 * day + UInt64(k))
            }
            try c.update(
                referrals[5], .init(progress: .declined, reason: "Outside our area"), at: start + 11 * day + 10)
            try c.update(referrals[6], .init(progress: .unableToContact), at: start + 11 * day + 11)
            for k in 0..<5 {
                try c.update(referrals[k], .init(progress: .attending), at: start + 12 * day + UInt64(k))
            }
            for k in 0..<5 {
                let after = k < 4 ? [7, 6, 5, 4] : [3, 3, 3, 9]
                try c.update(
                    referrals[k], .init(progress: .completed, ons4After: try ONS4(after)),
                    at: start + 20 * day + UInt64(k))
            }
            try settle(start + 21 * day)
            // One more: addressed to Walk and Talk, received there, then re-addressed to Debt advice.
            moved = try h.createReferral(
                .init(needs: [.debt], practice: Fixture.practice, service: walk, consent: .explicit),
                at: start + 22 * day)
            try settle(start + 22 * day + 1000)
            try c.update(moved, .init(progress: .received), at: start + 22 * day + 2000)
            try settle(start + 22 * day + 3000)
            try h.update(moved, .init(service: debt), at: start + 23 * day)
            try settle(start + 23 * day + 1000)
        }
    }

    static func report(_ d: Domain, suppress: Bool) throws -> Report {
        try Report.make(d, from: start, to: start + 30 * day, suppress: suppress, nowMillis: start + 30 * day)
    }

    @Test(
        "at the hub: counts by need and driver, the funnel, acceptance, median and 90th percentile days, ONS4 with anxiety reversed, capacity days at zero, SNOMED CT counts"
    )
    func hubFigures() throws {
        let y = try Year()
        let r = try Self.report(y.h, suppress: false)
        #expect(r.referrals.value == 11)
        let drivers = Dictionary(uniqueKeysWithValues: r.byDriver.map { ($0.driver, $0.referrals.value) })
        #expect(drivers[Report.Driver.loneliness.rawValue] == 7)
        #expect(drivers[Report.Driver.socialDeterminants.rawValue] == 4)
        #expect(drivers[Report.Driver.carersBereavement.rawValue] == 1)
        #expect(r.funnel.map(\.count.value) == [11, 9, 9, 6, 5, 5, 5], "\(r.funnel.map { ($0.name, $0.count.value) })")
        let walk = try #require(r.services.first { $0.name == "Walk and Talk" })
        #expect(walk.addressed.value == 9 && walk.received.value == 9 && walk.contacted.value == 6)
        #expect(walk.accepted.value == 5 && walk.declined.value == 1 && walk.unableToContact.value == 1)
        #expect(walk.completed.value == 5)
        #expect(walk.acceptanceRate == 0.556, "5 of 9 addressed")
        // Addressed 1…8 days after being made, and the moved one on its day: 9 values, 0 to 8.
        #expect(walk.toAddressed.medianDays == 4 && walk.toAddressed.p90Days == 8, "\(walk.toAddressed)")
        #expect(walk.toFirstContact.medianDays == 10 && walk.toFirstContact.p90Days == 10)
        #expect(r.declineReasons.map(\.reason) == ["outside our area"])
        // ONS4: four people from 5,5,5,8 to 7,6,5,4, one to 3,3,3,9 — worked out by hand.
        let items = Dictionary(uniqueKeysWithValues: r.outcomes.items.map { ($0.item, $0) })
        #expect(r.outcomes.people.value == 5)
        #expect(items["life satisfaction"]?.meanAfter == 6.2 && items["life satisfaction"]?.meanChange == 1.2)
        #expect(items["worthwhile"]?.meanChange == 0.4)
        #expect(items["happiness"]?.meanChange == -0.4 && items["happiness"]?.meanImprovement == -0.4)
        #expect(items["anxiety"]?.meanBefore == 8 && items["anxiety"]?.meanAfter == 5)
        #expect(items["anxiety"]?.meanChange == -3 && items["anxiety"]?.meanImprovement == 3, "lower anxiety is better")
        #expect(items["anxiety"]?.betterIs == "lower")
        #expect(r.outcomes.improved.value == 4 && r.outcomes.improvedShare == 0.8)
        let capacity = try #require(r.capacity.first { $0.name == "Walk and Talk" })
        #expect(capacity.daysAtZero == 3 && capacity.daysUnknown == 0 && capacity.points.count == 30)
        #expect(
            capacity.points[1].available == 3 && capacity.points[2].available == 0 && capacity.points[5].available == 5)
        let codes = Dictionary(uniqueKeysWithValues: r.snomed.map { ($0.code, $0.count.value) })
        #expect(codes["871731000000106"] == 11 && codes["871691000000100"] == 2 && codes["871711000000103"] == 0)
        #expect(r.byMonth.map(\.count.value).reduce(0, +) == 11)
    }

    @Test(
        "suppressed by default: counts 1 to 4 show as <5 in the text, JSON and CSV; shares resting on them are not shown"
    )
    func suppression() throws {
        let y = try Year()
        let r = try Self.report(y.h, suppress: true)
        let walk = try #require(r.services.first { $0.name == "Walk and Talk" })
        #expect(walk.declined.suppressed && walk.declined.text == "<5" && !walk.accepted.suppressed)
        #expect(r.outcomes.improved.text == "<5" && r.outcomes.improvedShare == nil)
        #expect(r.outcomes.items.first?.meanAfter == 6.2, "means over 5 people are shown")
        let json = String(decoding: try JSONEncoder().encode(r), as: UTF8.self)
        #expect(json.contains("\"declined\":\"<5\"") && !json.contains("\"declined\":1,"))
        let services = try #require(r.csvFiles().first { $0.name == "services.csv" }?.text)
        #expect(services.contains("Walk and Talk,physical_activity,9,9,6,5,<5,<5,5,0,5,"), "\(services)")
        #expect(r.text().contains("counts from 1 to 4 are shown as <5"))
        let open = try Self.report(y.h, suppress: false)
        #expect(open.text().contains("NOT SUPPRESSED"))
        #expect(open.services.first { $0.name == "Walk and Talk" }?.declined.text == "1")
    }

    @Test("the HTML is well formed XML with every chart; the CSVs have their headers")
    func htmlAndCSV() throws {
        let y = try Year()
        let r = try Self.report(y.h, suppress: true)
        let html = r.html()
        final class Collect: NSObject, XMLParserDelegate {
            var ids: [String] = []
            func parser(
                _ parser: XMLParser, didStartElement name: String, namespaceURI: String?, qualifiedName: String?,
                attributes: [String: String] = [:]
            ) {
                if name == "svg", let id = attributes["id"] { ids.append(id) }
            }
        }
        let parser = XMLParser(data: Data(html.replacingOccurrences(of: "<!DOCTYPE html>", with: "").utf8))
        let collect = Collect()
        parser.delegate = collect
        #expect(parser.parse(), "report.html is not well formed: \(String(describing: parser.parserError))")
        #expect(collect.ids == ["chart-needs", "chart-funnel", "chart-first-contact", "chart-ons4", "chart-capacity"])
        #expect(!html.contains("<script") && !html.contains("src=") && !html.contains("https://"), "self-contained")
        let names = r.csvFiles().map(\.name)
        #expect(names.contains("referrals_by_need.csv") && names.contains("capacity_by_day.csv") && names.count == 14)
        #expect(r.csvFiles().allSatisfy { $0.text.hasSuffix("\r\n") && $0.text.contains(",") })
    }

    @Test(
        "at a charity: only referrals now addressed to its services, none re-addressed away, no other charity's service"
    )
    func charityScope() throws {
        let y = try Year()
        let r = try Self.report(y.c, suppress: false)
        #expect(r.referrals.value == 10 - 2, "the 8 addressed to Walk and Talk; not the moved one nor the unaddressed")
        #expect(r.services.map(\.name) == ["Walk and Talk"])
        #expect(r.services.first?.received.value == 8, "the moved referral's event does not count here")
        #expect(!r.text().contains("Debt advice"))
        let c2 = try Self.report(y.c2, suppress: false)
        #expect(c2.referrals.value == 1 && c2.services.map(\.name) == ["Debt advice"])
        #expect(c2.services.first?.received.value == 0, "Walk and Talk's event is not Debt advice's")
    }

    @Test("the national SNOMED CT table: four concepts with their terms; only `referred` carries one")
    func snomedTable() throws {
        #expect(
            SocialPrescribingCode.allCases.map(\.rawValue) == [
                "871731000000106", "871691000000100", "871711000000103", "1084281000000109",
            ])
        #expect(SocialPrescribingCode.forEvent(.referred) == .referral)
        for kind in ProgressEvent.Kind.allCases where kind != .referred {
            #expect(SocialPrescribingCode.forEvent(kind) == nil, "\(kind) has no national concept")
        }
        let y = try Year()
        let timeline = try y.h.timeline(y.referrals[0])
        #expect(timeline.contains { $0.snomed == "SNOMED CT 871731000000106 Referral to social prescribing service" })
        #expect(timeline.contains { $0.snomed?.contains("871691000000100") == true && $0.text.contains("offered") })
        #expect(throws: SyncError.self) {
            var change = Domain.ReferralChange()
            change.snomed = .offered
            try y.c.update(y.referrals[0], change, at: ReportTests.start + 25 * ReportTests.day)
        }
    }
}
