import Testing

@testable import SyncCore

/// The merge's bounds: one live value per origin, `liveValuesPerFieldMax` per register and
/// `setElementsMax` per set, each a function of the set of writes so every node agrees.
@Suite("merge bounds")
struct MergeBoundsTests {
    static let record = HistoryGenerator.referrals[0]

    /// A write with an empty context: concurrent with everything, as a faulty writer would make it.
    static func blind(_ origin: Origin, seq: UInt64, millis: UInt64, field: FieldKey = .routingNote) -> FieldWrite {
        FieldWrite(
            origin: origin, seq: seq, hlc: HLC(millis: 1_780_000_000_000 + millis, counter: 0), record: record,
            field: field, kind: field.knownKind ?? .register, value: FieldValue.text("value \(seq)"),
            context: CausalContext())
    }

    static func origin(_ n: Int) -> Origin {
        Origin(node: HistoryGenerator.practice, incarnation: HistoryGenerator.uuid(UInt64(900 + n)))
    }

    @Test("an origin's later write to a register replaces its earlier one even when its context forgets it")
    func oneLiveValuePerOrigin() {
        let o = Self.origin(0)
        // The later write has the lower clock, so only the origin's seq order can decide.
        let first = Self.blind(o, seq: 1, millis: 50)
        let second = Self.blind(o, seq: 2, millis: 10)
        let other = Self.blind(Self.origin(1), seq: 1, millis: 20)
        for writes in [[first, second, other], [other, second, first], [second, first, other]] {
            let r = Merge.resolve(writes, redactions: [])
            #expect(Set(r.live) == [second.id, other.id])
            #expect(r.inConflict)
            #expect(r.winner == other.id)
            #expect(r.overLimit.isEmpty)
        }
    }

    @Test("a register keeps its liveValuesPerFieldMax highest concurrent values, the same in any order")
    func registerBound() {
        var limits = Limits()
        limits.liveValuesPerFieldMax = 4
        let writes = (0..<7).map { Self.blind(Self.origin($0), seq: 1, millis: UInt64(100 - $0 * 7)) }
        let byPrecedence = writes.sorted(by: FieldWrite.precedes)
        var rng = SeededRandom(seed: 11)
        var first: Merge.Resolution?
        for _ in 0..<50 {
            let r = Merge.resolve(writes.shuffled(using: &rng), redactions: [], limits: limits)
            #expect(r.live == byPrecedence.suffix(4).map(\.id))
            #expect(r.overLimit == byPrecedence.prefix(3).map(\.id).sorted())
            #expect(r.winner == byPrecedence.last?.id)
            #expect(r.inConflict)
            if let first { #expect(r == first) }
            first = r
        }
        // A write that covers every value, over limit or not, ends the conflict.
        var covering = Self.blind(Self.origin(9), seq: 1, millis: 1)
        for w in writes { covering.context.include(w.origin, w.seq) }
        let settled = Merge.resolve(writes + [covering], redactions: [], limits: limits)
        #expect(settled.live == [covering.id])
        #expect(settled.overLimit.isEmpty)
        #expect(!settled.inConflict)
    }

    @Test("a set keeps its setElementsMax earliest elements, the same in any order")
    func setBound() {
        var limits = Limits()
        limits.setElementsMax = 3
        let o = Self.origin(0)
        let elements = (1...5).map {
            Self.blind(o, seq: UInt64($0), millis: UInt64(60 - $0 * 10), field: .progressNotes)
        }
        let byPrecedence = elements.sorted(by: FieldWrite.precedes)
        var rng = SeededRandom(seed: 12)
        for _ in 0..<50 {
            let r = Merge.resolve(elements.shuffled(using: &rng), redactions: [], limits: limits)
            // Set elements of one origin do not replace each other: only the bound cuts.
            #expect(r.live == byPrecedence.prefix(3).map(\.id))
            #expect(r.overLimit == byPrecedence.suffix(2).map(\.id).sorted())
            #expect(r.winner == nil)
            #expect(!r.inConflict)
        }
        // Under the bound nothing is cut.
        let small = Merge.resolve(Array(elements.prefix(3)), redactions: [], limits: limits)
        #expect(small.live.count == 3)
        #expect(small.overLimit.isEmpty)
    }

    @Test("the standard bounds leave every generated honest history as it was")
    func honestHistoriesUnaffected() {
        var generous = Limits()
        generous.liveValuesPerFieldMax = .max
        generous.setElementsMax = .max
        for seed in 1...200 {
            var generator = HistoryGenerator(seed: UInt64(seed))
            let history = generator.history(steps: 60)
            var byField: [String: [FieldWrite]] = [:]
            for w in history.writes { byField["\(w.record) \(w.field)", default: []].append(w) }
            for (_, writes) in byField where !writes[0].field.isRedaction {
                let redactions = history.writes.filter {
                    $0.record == writes[0].record && $0.field == .redaction(writes[0].field.dataClass)
                }
                let standard = Merge.resolve(writes, redactions: redactions)
                #expect(standard.overLimit.isEmpty)
                #expect(standard == Merge.resolve(writes, redactions: redactions, limits: generous))
            }
        }
    }
}
