import Testing

@testable import SyncCore

/// Properties of the merge over random histories. Each case replays from its seed.
@Suite("merge properties")
struct MergePropertyTests {
    static let cases: [UInt64] = Array(1...1500)

    func replica(_ writes: [FieldWrite]) -> Replica {
        var r = Replica()
        for w in writes { r.apply(w) }
        return r
    }

    @Test("every order with duplicates gives identical values, winners, conflicts and statuses")
    func orderAndDuplicatesDoNotMatter() {
        for seed in Self.cases {
            var gen = HistoryGenerator(seed: seed)
            let history = gen.history(steps: Int.random(in: 5...40, using: &gen.rng))
            let reference = replica(history.writes).fingerprint()
            for _ in 0..<3 {
                var shuffled = history.writes.shuffled(using: &gen.rng)
                let dupes = (0..<Int.random(in: 0...5, using: &gen.rng)).compactMap { _ in
                    history.writes.randomElement(using: &gen.rng)
                }
                for d in dupes { shuffled.insert(d, at: Int.random(in: 0...shuffled.count, using: &gen.rng)) }
                let other = replica(shuffled).fingerprint()
                #expect(other == reference, "seed \(seed)")
                if other != reference { return }
            }
        }
    }

    @Test("merge is idempotent: applying everything twice equals once")
    func idempotent() {
        for seed in Self.cases.prefix(500) {
            var gen = HistoryGenerator(seed: seed)
            let history = gen.history(steps: 30)
            var twice = replica(history.writes)
            for w in history.writes {
                let taken = twice.apply(w)
                #expect(!taken, "seed \(seed): a duplicate was taken as new")
            }
            #expect(twice.fingerprint() == replica(history.writes).fingerprint(), "seed \(seed)")
        }
    }

    @Test("merge of two replicas is commutative and associative")
    func commutativeAssociative() {
        for seed in Self.cases.prefix(500) {
            var gen = HistoryGenerator(seed: seed)
            let writes = gen.history(steps: 30).writes
            // Three overlapping parts merged in different groupings.
            let parts = (0..<3).map { _ in writes.filter { _ in Bool.random(using: &gen.rng) } }
            let ab_c = replica(parts[0] + parts[1] + parts[2]).fingerprint()
            let c_ba = replica(parts[2] + parts[1] + parts[0]).fingerprint()
            let b_ca = replica(parts[1] + parts[2] + parts[0]).fingerprint()
            #expect(ab_c == c_ba && c_ba == b_ca, "seed \(seed)")
        }
    }

    @Test("a causally later write replaces every write its writer saw")
    func laterWriteReplaces() {
        for seed in Self.cases.prefix(800) {
            var gen = HistoryGenerator(seed: seed)
            let writes = gen.history(steps: 40).writes
            let all = replica(writes)
            for w in writes where w.kind == .register {
                let live = Set(all.resolution(w.record, w.field).live)
                for other in writes where other.record == w.record && other.field == w.field && other.id != w.id {
                    if w.context.covers(other.origin, other.seq) {
                        #expect(!live.contains(other.id), "seed \(seed): \(other.id) should be replaced by \(w.id)")
                    }
                }
            }
        }
    }

    @Test("covering is transitive for registers: a write covers every write that a write it covers covers")
    func coveringIsTransitive() {
        for seed in Self.cases.prefix(800) {
            var gen = HistoryGenerator(seed: seed)
            let writes = gen.history(steps: 40).writes
            for w in writes where w.kind == .register {
                for v in writes
                where v.record == w.record && v.field == w.field && v.id != w.id && w.context.covers(v.origin, v.seq) {
                    for (origin, seq) in v.context.entries {
                        #expect(
                            w.context.covers(origin, seq),
                            "seed \(seed): \(w.id) covers \(v.id) but not \(origin):\(seq)")
                    }
                }
            }
        }
    }

    @Test("a new write's context covers what the writes held knew, even those not held")
    func contextJoinsHeldContexts() {
        let record = HistoryGenerator.referrals[0]
        let (hub, old, restored) = (
            Origin(node: HistoryGenerator.hub, incarnation: HistoryGenerator.uuid(1)),
            Origin(node: HistoryGenerator.practice, incarnation: HistoryGenerator.uuid(2)),
            Origin(node: HistoryGenerator.practice, incarnation: HistoryGenerator.uuid(3))
        )
        func routing(_ origin: Origin, _ seq: UInt64, _ millis: UInt64, _ held: [FieldWrite]) -> FieldWrite {
            FieldWrite(
                origin: origin, seq: seq, hlc: HLC(millis: 1_780_000_000_000 + millis, counter: 0), record: record,
                field: .routingService, kind: .register, value: FieldValue.text("service \(millis)"),
                context: Merge.context(replacing: held, redactions: []))
        }
        let a = routing(hub, 3, 10, [])
        let b = routing(old, 8, 20, [a])
        // Restored from a backup that had neither, given back `b` only: its write still replaces `a`.
        let c = routing(restored, 1, 30, [b])
        #expect(c.context.covers(a.origin, a.seq))
        // A node that never held `b` (a charity is sent live routing writes only) agrees `a` is dead.
        #expect(Merge.resolve([a, c], redactions: []).live == [c.id])
        #expect(Merge.resolve([a, b, c], redactions: []).live == [c.id])
    }

    @Test(
        "a redaction kills every write made before or concurrently with it, whatever its clock, but not a later write that knew of it"
    )
    func redactionKills() {
        for seed in Self.cases.prefix(800) {
            var gen = HistoryGenerator(seed: seed)
            let writes = gen.history(steps: 40).writes
            let all = replica(writes)
            for r in writes where r.field.isRedaction {
                for w in writes
                where w.record == r.record && w.field.dataClass == r.field.dataClass && !w.field.isRedaction {
                    let held = all.writes[w.record]?[w.field]?[w.id]
                    let live = all.resolution(w.record, w.field).live.contains(w.id)
                    if !w.context.covers(r.origin, r.seq) {
                        #expect(held?.value == nil, "seed \(seed): \(w.id) kept its value after \(r.id)")
                        #expect(!live, "seed \(seed)")
                    } else if all.redactions(w.record, w.field.dataClass).allSatisfy({
                        w.context.covers($0.origin, $0.seq)
                    }) {
                        #expect(
                            held?.value != nil, "seed \(seed): \(w.id) knew of every redaction and must keep its value")
                    }
                }
            }
        }
    }

    @Test("a change split into parts (some field writes now, the rest later, by another path) converges")
    func splitChangesConverge() {
        for seed in Self.cases.prefix(500) {
            var gen = HistoryGenerator(seed: seed)
            let writes = gen.history(steps: 30).writes
            // Model a filtered path: half the writes first, the rest in reverse later.
            let (now, later) = (writes.filter { $0.seq % 2 == 0 }, writes.filter { $0.seq % 2 == 1 }.reversed())
            #expect(replica(Array(now) + later).fingerprint() == replica(writes).fingerprint(), "seed \(seed)")
        }
    }

    @Test("every generated write passes validation")
    func generatedWritesAreValid() throws {
        for seed in Self.cases.prefix(200) {
            var gen = HistoryGenerator(seed: seed)
            for w in gen.history(steps: 30).writes { try Validation.check(w) }
        }
    }
}
