import Testing

@testable import SyncCore

/// Progress events made by hand: each at its own clock time, by a chosen origin.
struct EventLog {
    static let referral = HistoryGenerator.referrals[0]
    static let service = HistoryGenerator.services[0]  // owned by the first charity
    static let charity = HistoryGenerator.charities[0]
    /// The charity after a restore from a backup: a new incarnation that forgot its events.
    static let restoredCharity = Origin(
        node: HistoryGenerator.charities[0], incarnation: UUIDv7(millis: 1_780_000_000_000, random: (9, 9)))

    var writes: [FieldWrite] = []
    var seqs: [Origin: UInt64] = [:]

    /// Adds an event written at `millis` by `origin` (the charity by default, naming its service;
    /// a practice or hub event names none).
    @discardableResult
    mutating func add(
        _ kind: String, at millis: UInt64, by origin: Origin? = nil, settles: [FieldWrite] = [], keep: String? = nil
    ) -> FieldWrite {
        let byService = !(ProgressEvent.Kind(rawValue: kind)?.byPracticeOrHub ?? false)
        let origin = origin ?? HistoryGenerator.origin(byService ? Self.charity : HistoryGenerator.practice)
        let seq = (seqs[origin] ?? 0) + 1
        seqs[origin] = seq
        let event = ProgressEvent(
            event: kind, service: byService ? Self.service.rawValue : nil,
            settles: settles.isEmpty ? nil : settles.map(\.change.description), keep: keep)
        let w = FieldWrite(
            origin: origin, seq: seq, hlc: HLC(millis: 1_780_000_000_000 + millis, counter: 0), record: Self.referral,
            field: .progressEvents, kind: .set, value: FieldValue.json(event))
        writes.append(w)
        return w
    }

    /// The events of `kinds`, one after another by the charity (service events) or the practice.
    static func path(_ kinds: [String]) -> EventLog {
        var log = EventLog()
        log.add("referred", at: 0)
        for (i, kind) in kinds.enumerated() { log.add(kind, at: UInt64(10 * (i + 1))) }
        return log
    }

    var held: [StampedEvent] { writes.compactMap(StampedEvent.init) }

    func check(_ kind: String) throws(SyncError) {
        try Lifecycle.check(
            ProgressEvent(
                event: kind,
                service: ProgressEvent.Kind(rawValue: kind)?.byPracticeOrHub == false ? Self.service.rawValue : nil),
            on: Self.referral, held: held, currentService: Self.service)
    }

    var fold: StatusFold.Outcome { StatusFold.fold(events: writes, currentService: Self.service) }
}

/// Every ordering of `items` (Heap's algorithm).
func permutations<T>(_ items: [T]) -> [[T]] {
    var a = items
    var out: [[T]] = []
    func generate(_ k: Int) {
        if k <= 1 { return out.append(a) }
        generate(k - 1)
        for i in 0..<(k - 1) {
            a.swapAt(k % 2 == 0 ? i : 0, k - 1)
            generate(k - 1)
        }
    }
    generate(a.count)
    return out
}

@Suite("referral lifecycle")
struct LifecycleTests {
    /// A way to reach each stage of a service's episode.
    static let paths: [ProgressEvent.Kind: [String]] = [
        .referred: [], .received: ["received"], .contacted: ["received", "contacted"], .accepted: ["accepted"],
        .attending: ["contacted", "accepted", "attending"], .didNotAttend: ["accepted", "did_not_attend"],
        .declined: ["declined"], .unableToContact: ["received", "unable_to_contact"],
        .completed: ["accepted", "attending", "completed"],
    ]

    @Test("after each stage, exactly the service events the table lists may be recorded", arguments: Array(paths.keys))
    func table(stage: ProgressEvent.Kind) throws {
        let log = EventLog.path(Self.paths[stage] ?? [])
        #expect(log.fold.status == .stage(stage))
        for kind in ProgressEvent.Kind.allCases where !kind.byPracticeOrHub {
            var allowed = true
            do { try log.check(kind.rawValue) } catch { allowed = false }
            #expect(allowed == Lifecycle.allows(kind, after: stage), "\(kind) after \(stage)")
        }
        // The practice or hub may close or withdraw at any stage.
        try log.check("closed")
        try log.check("withdrawn")
    }

    @Test("the transitions the tester found are refused, saying what may come next")
    func testersTransitions() {
        expectRefused(["'completed' cannot follow 'referred'", "next comes 'received', 'contacted', 'accepted'"]) {
            () throws(SyncError) in try EventLog.path([]).check("completed")
        }
        expectRefused(["'contacted' cannot follow 'declined', which ends the service's episode", "another service"]) {
            () throws(SyncError) in try EventLog.path(["declined"]).check("contacted")
        }
        expectRefused(["'accepted' cannot follow 'declined'"]) { () throws(SyncError) in
            try EventLog.path(["declined"]).check("accepted")
        }
        expectRefused(["'received' cannot follow 'accepted'"]) { () throws(SyncError) in
            try EventLog.path(["accepted"]).check("received")
        }
    }

    @Test("practice and hub events: once referred; closed and withdrawn until reopened; settled only a conflict")
    func practiceEvents() throws {
        expectRefused(["'referred' is recorded once"]) { () throws(SyncError) in try EventLog.path([]).check("referred")
        }
        try EventLog().check("referred")
        expectRefused(["'reopened' follows only 'closed' or 'withdrawn'"]) { () throws(SyncError) in
            try EventLog.path(["accepted"]).check("reopened")
        }
        expectRefused(["'settled' settles contradictory decisions"]) { () throws(SyncError) in
            try EventLog.path(["accepted"]).check("settled")
        }
        let closed = EventLog.path(["accepted", "closed"])
        for kind in ["attending", "closed", "withdrawn"] {
            expectRefused(["cannot follow 'closed'", "'reopened'"]) { () throws(SyncError) in try closed.check(kind) }
        }
        try closed.check("reopened")
        var reopened = closed
        reopened.add("reopened", at: 100)
        #expect(reopened.fold.status == .stage(.accepted))
        try reopened.check("attending")

        var contradicted = EventLog.path(["accepted"])
        contradicted.add("declined", at: 50, by: EventLog.restoredCharity)
        #expect(contradicted.fold.status.description == "conflict")
        try contradicted.check("settled")
        try contradicted.check("closed")
        expectRefused(["while the service's decisions contradict", "spsync settle"]) { () throws(SyncError) in
            try contradicted.check("attending")
        }
    }

    @Test("an event from a peer that the table does not allow where it falls is held but does not count")
    func outOfOrderFromPeers() {
        // Completed straight from referred (a faulty or older peer): referred, and flagged.
        var skipped = EventLog.path([])
        let completed = skipped.add("completed", at: 20)
        #expect(skipped.fold.status == .stage(.referred))
        #expect(skipped.fold.outOfOrder == [completed.change])

        // Contacted after declined.
        var late = EventLog.path(["declined"])
        let contacted = late.add("contacted", at: 30)
        #expect(late.fold.status == .stage(.declined))
        #expect(late.fold.outOfOrder == [contacted.change])

        // The charity records attending while, unknown to it, the practice closes the referral: the
        // close falls first, so attending does not count, even after the practice reopens.
        var concurrent = EventLog.path(["accepted"])
        concurrent.add("closed", at: 25)
        let attending = concurrent.add("attending", at: 26)
        #expect(concurrent.fold.status == .stage(.closed))
        concurrent.add("reopened", at: 40)
        #expect(concurrent.fold.status == .stage(.accepted))
        #expect(concurrent.fold.outOfOrder == [attending.change])
    }

    @Test(
        "the derived status is the same for every order of the same events, out-of-order and contradictory ones included",
        arguments: [0, 1, 2])
    func everyOrder(scenario: Int) {
        var log = EventLog()
        let address = FieldWrite(
            origin: HistoryGenerator.origin(HistoryGenerator.practice), seq: 99, hlc: HLC(millis: 5, counter: 0),
            record: EventLog.referral, field: .routingService, kind: .register,
            value: FieldValue.text(EventLog.service.rawValue))
        switch scenario {
        case 0:
            // A close concurrent with the episode, an event after completion, a reopen.
            log.add("referred", at: 0)
            log.add("accepted", at: 10)
            log.add("attending", at: 20)
            log.add("closed", at: 25)
            log.add("completed", at: 30)
            log.add("contacted", at: 40)
            log.add("reopened", at: 50)
        case 1:
            // Contradictory decisions from a restored charity, settled by the hub; events around them.
            log.add("referred", at: 0)
            let accepted = log.add("accepted", at: 10)
            log.add("attending", at: 20)
            let declined = log.add("declined", at: 15, by: EventLog.restoredCharity)
            log.add(
                "settled", at: 30, by: HistoryGenerator.origin(HistoryGenerator.hub), settles: [accepted, declined],
                keep: "accepted")
            log.add("completed", at: 40)
        default:
            // Skipped stages and repeats, withdrawn then closed.
            log.add("referred", at: 0)
            log.add("completed", at: 5)
            log.add("received", at: 10)
            log.add("contacted", at: 20)
            log.add("contacted", at: 21)
            log.add("withdrawn", at: 30)
            log.add("closed", at: 31)
        }
        let expected = StatusFold.fold(events: log.writes, currentService: EventLog.service)
        var statuses: Set<String> = []
        for (n, order) in permutations(log.writes).enumerated() {
            // The fold alone, given the events in this order…
            #expect(StatusFold.fold(events: order, currentService: EventLog.service) == expected)
            // …and a replica that received them in this order, the address arriving anywhere among them.
            var replica = Replica()
            var arrivals = order
            arrivals.insert(address, at: n % (order.count + 1))
            for w in arrivals { replica.apply(w) }
            statuses.insert(replica.status(EventLog.referral).description)
        }
        #expect(statuses == [expected.status.description])
        #expect(
            expected.status.description == ["attending", "completed", "withdrawn"][scenario],
            "scenario \(scenario): \(expected)")
    }
}
