import Foundation
import SyncCore
import SyncDomain
import SyncNode
import SyncSimulation
import SyncStore

/// `spsync-bench year`: a realistic PCN year in real node homes, for trying `spsync report` and
/// for its benchmark. A hub (Riverside PCN), three practices and four charities with seven
/// services are made by `spsync init` with their clocks a year back; then, day by day, the hub
/// makes referrals for the practices' patients (needs drawn by how often they occur), addresses
/// most of them to a service that answers the need, and codes some for the GP record; each
/// charity receives, contacts, accepts or declines, records attendance, ONS4 scores and outcomes,
/// and publishes its free places weekly. Every write goes through the domain API and every
/// change reaches the others through the real sync session code (in memory, no sockets).
enum PCNYear {
    struct Charity {
        let code: String
        let name: String
        let services: [(name: String, category: ServiceCategory, places: Int)]
    }

    static let practices = [
        ("A81001", "Riverside Surgery"), ("A81002", "Hill Street Medical Centre"), ("A81003", "Park View Practice"),
    ]
    static let charities = [
        Charity(
            code: "GB-CHC-1100001", name: "Riverside Befriending",
            services: [("Tea and Chat", .befriending, 30), ("Phone Friends", .befriending, 35)]),
        Charity(
            code: "GB-CHC-1100002", name: "Green Steps",
            services: [("Walk and Talk", .physicalActivity, 25), ("Allotment Club", .gardening, 35)]),
        Charity(
            code: "GB-CHC-1100003", name: "Money Matters", services: [("Debt Advice", .debtAdvice, 15)]),
        Charity(
            code: "GB-CHC-1100004", name: "Minds Together",
            services: [("Peer Support Group", .peerSupport, 40), ("Carers' Cafe", .carersSupport, 8)]),
    ]
    /// How often each need is named, per 100 referrals (a referral names one or two).
    static let needWeights: [(NeedCategory, Int)] = [
        (.loneliness, 30), (.mentalWellbeing, 18), (.longTermCondition, 12), (.physicalActivity, 10), (.debt, 8),
        (.housing, 6), (.carer, 5), (.bereavement, 4), (.mobility, 4), (.employment, 2), (.other, 1),
    ]
    static let declineReasons = [
        "outside our area", "needs more support than we offer", "no places this term", "chose another service",
    ]
    static let givenNames = ["Pat", "Sam", "Alex", "Jo", "Chris", "Kim", "Lee", "Ray", "Viv", "Mo", "Ash", "Bev"]
    static let day: UInt64 = 86_400_000

    /// What one referral goes through at its service, planned when it is addressed.
    struct Plan {
        var referral: RecordID
        var charity: Int
        var service: RecordID
        var steps: [(day: Int, change: Domain.ReferralChange)]
    }

    struct Made {
        var hubHome: String
        var referrals: Int
        var seconds: Double
    }

    static func run() throws {
        let out = stringOption("--out") ?? (NSTemporaryDirectory() + "spsync-pcn-year-" + UUID().uuidString)
        let referrals = option("--referrals", default: 3000)
        let made = try make(
            root: out, referrals: referrals, seed: UInt64(option("--seed", default: 1)), progress: true,
            syncEvery: option("--sync-every", default: 1))
        print(
            "made a PCN year: \(made.referrals) referrals in \(String(format: "%.0f", made.seconds)) s; homes in \(out)"
        )
        print("next: spsync report --home \(made.hubHome) --out \(out)/report")
    }

    static func stringOption(_ name: String) -> String? {
        let args = CommandLine.arguments
        guard let i = args.firstIndex(of: name), i + 1 < args.count else { return nil }
        return args[i + 1]
    }

    /// `spsync init` for one node, its clock `offsetDays` back.
    static func initHome(_ home: String, org: String, name: String, pcn: String?, offsetDays: Int) throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: NetworkBench.spsync)
        p.arguments = ["init", "--home", home, "--org", org, "--name", name] + (pcn.map { ["--pcn", $0] } ?? [])
        p.environment = ProcessInfo.processInfo.environment.merging([
            "SPSYNC_CLOCK_OFFSET_SECONDS": String(-offsetDays * 86_400)
        ]) { $1 }
        p.standardOutput = FileHandle.nullDevice
        try p.run()
        p.waitUntilExit()
        guard p.terminationStatus == 0 else { throw SyncError(.io, "spsync init \(org) failed") }
    }

    /// `syncEvery`: days between the exchanges (and the charities' working days); 1 for a daily
    /// rhythm, more to make a large year faster (the charities then act on their due steps late).
    static func make(root: String, referrals total: Int, seed: UInt64, progress: Bool, syncEvery: Int = 1) throws
        -> Made
    {
        let started = Date()
        var rng = SeededRandom(seed: seed &* 0x9E37_79B9_7F4A_7C15 &+ 7)
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        let days = 365
        let first = (UInt64(Date().timeIntervalSince1970 * 1000) / day - UInt64(days)) * day
        let hubID = try NodeID("U12345")
        try initHome(root + "/hub", org: hubID.rawValue, name: "Riverside PCN", pcn: nil, offsetDays: days + 1)
        for (code, name) in practices {
            try initHome(root + "/" + code, org: code, name: name, pcn: hubID.rawValue, offsetDays: days + 1)
        }
        for c in charities {
            try initHome(root + "/" + c.code, org: c.code, name: c.name, pcn: nil, offsetDays: days + 1)
        }
        let hub = try NodeHome(path: root + "/hub").store()
        let hubDomain = try Domain(store: hub)
        let charityStores = try charities.map { try NodeHome(path: root + "/" + $0.code).store() }
        let charityDomains = try charityStores.map { try Domain(store: $0) }
        // The practices' and charities' own records reach the hub (names instead of codes).
        for code in practices.map(\.0) {
            let p = try NodeHome(path: root + "/" + code).store()
            _ = try MemorySync.sync(hub, p, nowMillis: first)
        }
        // Each charity publishes its services.
        var services: [(charity: Int, id: RecordID, category: ServiceCategory, places: Int)] = []
        for (i, c) in charities.enumerated() {
            for s in c.services {
                var new = Domain.NewService(name: s.name, category: s.category)
                // Places grow with the year's referrals, so some services have room and some fill up.
                let places = max(s.places, s.places * total / 1500)
                new.capacity = (available: places, maximum: places)
                new.validDays = 14
                new.area = "RV1,RV2,RV3"
                new.schedule = "Weekly"
                new.description = "\(s.name), run by \(c.name)"
                let id = try charityDomains[i].addService(new, at: first + 8 * 3_600_000)
                services.append((i, id, s.category, places))
            }
        }
        func exchange(_ at: UInt64) throws {
            for c in charityStores {
                _ = try MemorySync.sync(c, hub, nowMillis: at)
                _ = try MemorySync.sync(hub, c, nowMillis: at)
            }
        }
        try exchange(first + 9 * 3_600_000)

        var plans: [Plan] = []
        var unaddressed: [(referral: RecordID, needs: [NeedCategory], due: Int)] = []
        var active = [Int](repeating: 0, count: services.count)  // people attending, per service
        var made = 0
        let weightTotal = needWeights.map(\.1).reduce(0, +)
        func need() -> NeedCategory {
            var roll = rng.below(weightTotal)
            for (n, w) in needWeights {
                if roll < w { return n }
                roll -= w
            }
            return .other
        }
        for d in 0..<days {
            let morning = first + UInt64(d) * day + 9 * 3_600_000
            let weekday = (d + 3) % 7  // 0 = Monday, roughly
            // Referrals made today: fewer at weekends, the year's total spread over the days.
            let share = Double(total) / Double(days) * (weekday >= 5 ? 0.3 : 1.28)
            var today = Int(share)
            if Double(rng.below(1000)) / 1000 < share - Double(today) { today += 1 }
            today = min(today, total - made)
            for k in 0..<today {
                // Made between 9:00 and 11:30, before the addressing at 12:00.
                let at = morning + UInt64(k) * min(60_000, 9_000_000 / UInt64(max(today, 1)))
                var needs = [need()]
                if rng.chance(25) { needs.append(need()) }
                let practice = try NodeID(practices[rng.below(practices.count)].0)
                let r = try hubDomain.createReferral(
                    Domain.NewReferral(
                        needs: needs, practice: practice,
                        urgency: rng.chance(10) ? .urgent : rng.chance(20) ? .soon : .routine,
                        consent: rng.chance(80) ? .explicit : .implied,
                        person: .init(givenName: givenNames[rng.below(givenNames.count)])), at: at)
                made += 1
                if rng.chance(12) {
                    var coded = Domain.ReferralChange()
                    coded.snomed = rng.chance(70) ? .signposting : .offered
                    try hubDomain.update(r, coded, at: at + 1000)
                }
                if rng.chance(4) {
                    var declined = Domain.ReferralChange(progress: .withdrawn, reason: "the person declined")
                    declined.snomed = .declined
                    try hubDomain.update(r, declined, at: at + 2000)
                    continue
                }
                unaddressed.append((r, needs, d + (rng.chance(60) ? 0 : 1 + rng.below(6))))
            }
            // The link workers address what is due to a service that answers the need.
            var waiting: [(referral: RecordID, needs: [NeedCategory], due: Int)] = []
            for u in unaddressed {
                guard u.due <= d else {
                    waiting.append(u)
                    continue
                }
                let fitting = services.indices.filter { i in
                    u.needs.contains { $0.suitableCategories.contains(services[i].category) }
                }
                guard !fitting.isEmpty, !rng.chance(8) else { continue }  // some are signposted elsewhere
                let s = fitting[rng.below(fitting.count)]
                try hubDomain.update(u.referral, .init(service: services[s].id), at: morning + 3 * 3_600_000)
                plans.append(plan(u.referral, service: s, charity: services[s].charity, services[s].id, from: d, &rng))
            }
            unaddressed = waiting
            let working = d % syncEvery == 0 || d == days - 1
            if working { try exchange(morning + 4 * 3_600_000) }
            // The charities work through what is due today.
            var later: [Plan] = []
            for var p in plans where working || !p.steps.isEmpty {
                guard working else {
                    later.append(p)
                    continue
                }
                while let step = p.steps.first, step.day <= d {
                    p.steps.removeFirst()
                    let s = services.firstIndex { $0.id == p.service }!
                    if step.change.progress == .accepted { active[s] += 1 }
                    if step.change.progress == .completed || step.change.progress == .didNotAttend {
                        active[s] = max(0, active[s] - 1)
                    }
                    do {
                        try charityDomains[p.charity].update(p.referral, step.change, at: morning + 5 * 3_600_000)
                    } catch let e as SyncError where e.code == .invalidTransition {
                        continue
                    }
                }
                if !p.steps.isEmpty { later.append(p) }
            }
            plans = later
            // Free places, published on a service's day each week (now and then a week is missed).
            for (i, s) in services.enumerated() where (d + i) % 7 == 0 && !rng.chance(15) {
                let free = max(0, s.places - active[i])
                try charityDomains[s.charity].setCapacity(
                    s.id, available: free, validDays: 14, at: morning + 6 * 3_600_000)
            }
            if working { try exchange(morning + 8 * 3_600_000) }
            if progress && d % 30 == 29 {
                FileHandle.standardError.write(
                    Data(
                        "day \(d + 1) of \(days): \(made) referrals, \(String(format: "%.0f", Date().timeIntervalSince(started))) s\n"
                            .utf8))
            }
        }
        return Made(hubHome: root + "/hub", referrals: made, seconds: Date().timeIntervalSince(started))
    }

    /// What happens to a referral at its service, day by day from `d`.
    static func plan(
        _ r: RecordID, service s: Int, charity: Int, _ service: RecordID, from d: Int, _ rng: inout SeededRandom
    ) -> Plan {
        var steps: [(day: Int, change: Domain.ReferralChange)] = []
        var day = d + 1 + rng.below(2)
        steps.append((day, .init(progress: .received)))
        if rng.chance(8) {
            steps.append((day + 7 + rng.below(7), .init(progress: .unableToContact)))
            return Plan(referral: r, charity: charity, service: service, steps: steps)
        }
        day += 1 + rng.below(rng.chance(70) ? 4 : 12)
        steps.append((day, .init(progress: .contacted)))
        day += rng.below(5)
        if rng.chance(15) {
            steps.append((day, .init(progress: .declined, reason: declineReasons[rng.below(declineReasons.count)])))
            return Plan(referral: r, charity: charity, service: service, steps: steps)
        }
        let before = [3 + rng.below(4), 3 + rng.below(5), 3 + rng.below(4), 4 + rng.below(5)]
        var accepted = Domain.ReferralChange(progress: .accepted)
        accepted.ons4Before = try? ONS4(before)
        steps.append((day, accepted))
        day += 3 + rng.below(11)
        steps.append((day, .init(progress: .attending)))
        if rng.chance(12) {
            steps.append((day + 7 + rng.below(14), .init(progress: .didNotAttend)))
            return Plan(referral: r, charity: charity, service: service, steps: steps)
        }
        day += 30 + rng.below(60)
        // Most people's wellbeing improves a little; anxiety, lower is better, mostly falls.
        func moved(_ v: Int, _ better: Int) -> Int {
            min(10, max(0, v + better * (rng.below(5) - 2 + (rng.chance(60) ? 1 : 0))))
        }
        let after = [moved(before[0], 1), moved(before[1], 1), moved(before[2], 1), moved(before[3], -1)]
        var completed = Domain.ReferralChange(progress: .completed)
        completed.ons4After = try? ONS4(after)
        completed.outcome = "Completed the programme; met others nearby and plans to keep going."
        steps.append((day, completed))
        return Plan(referral: r, charity: charity, service: service, steps: steps)
    }
}
