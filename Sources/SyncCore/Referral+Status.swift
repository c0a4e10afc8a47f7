/// A referral's status: a deterministic fold over its progress events.
public enum ReferralStatus: Hashable, Sendable, CustomStringConvertible {
    case stage(ProgressEvent.Kind)
    /// Contradictory decisions in the current episode (`accepted` and `declined`, say) that no
    /// practice or hub `settled` event has settled yet. Listed by `spsync conflicts`.
    case conflict(events: [ChangeRef])

    public var description: String {
        switch self {
        case .stage(let k): return k.rawValue
        case .conflict: return "conflict"
        }
    }
}

extension ProgressEvent.Kind {
    /// Stage order: the furthest stage wins. Kinds of one rank tie on `(hlc, origin, seq)`.
    public var rank: Int {
        switch self {
        case .referred, .settled, .reopened: return 0
        case .received: return 1
        case .contacted: return 2
        case .accepted, .declined, .unableToContact: return 3
        case .attending, .didNotAttend: return 4
        case .completed: return 5
        case .withdrawn, .closed: return 6
        }
    }

    /// The decisions of an episode; two different ones contradict each other.
    public var isDecision: Bool { self == .accepted || self == .declined || self == .unableToContact }
}

/// One progress event as the fold sees it.
public struct StampedEvent: Sendable, Equatable {
    public var ref: ChangeRef
    public var hlc: HLC
    public var event: ProgressEvent

    public init(ref: ChangeRef, hlc: HLC, event: ProgressEvent) {
        self.ref = ref
        self.hlc = hlc
        self.event = event
    }

    init?(_ write: FieldWrite) {
        guard write.field == .progressEvents, let value = write.value,
            let event = try? FieldValue.decode(ProgressEvent.self, value, field: write.field)
        else { return nil }
        self.init(ref: write.change, hlc: write.hlc, event: event)
    }

    static func precedes(_ a: StampedEvent, _ b: StampedEvent) -> Bool {
        (a.hlc, a.ref.origin, a.ref.seq) < (b.hlc, b.ref.origin, b.ref.seq)
    }
}

public enum StatusFold {
    /// The status from the live progress-event writes and the current target service.
    public static func status(events writes: [FieldWrite], currentService: RecordID?) -> ReferralStatus {
        status(events: writes.compactMap(StampedEvent.init), currentService: currentService)
    }

    /// Folds the practice/hub events and the events of the *current* target's episode: events
    /// naming an earlier target are ignored (they stay in the record, and count again if the
    /// referral comes back to that service). Unknown event kinds are ignored.
    public static func status(events all: [StampedEvent], currentService: RecordID?) -> ReferralStatus {
        let relevant = all.filter { e in
            guard let kind = e.event.kind else { return false }
            if kind.byPracticeOrHub { return true }
            return currentService != nil && e.event.service == currentService?.rawValue
        }.sorted(by: StampedEvent.precedes)

        // `reopened` undoes the `closed` or `withdrawn` before it; on its own it means nothing.
        var terminal: StampedEvent?
        for e in relevant {
            switch e.event.kind {
            case .closed, .withdrawn: terminal = e
            case .reopened: terminal = nil
            default: break
            }
        }
        if let terminal, let kind = terminal.event.kind { return .stage(kind) }

        var stages = relevant.filter { $0.event.kind.map { !$0.byPracticeOrHub || $0 == .referred } ?? false }
        let decisions = stages.filter { $0.event.kind?.isDecision == true }
        if Set(decisions.compactMap(\.event.kind)).count > 1 {
            let refs = Set(decisions.map { $0.ref.description })
            // The latest settle that names every contradictory decision decides which to keep.
            let settle = relevant.last { e in
                e.event.kind == .settled && refs.isSubset(of: Set(e.event.settles ?? []))
                    && ProgressEvent.Kind(rawValue: e.event.keep ?? "")?.isDecision == true
            }
            guard let settle, let keep = settle.event.keep else {
                return .conflict(events: decisions.map(\.ref).sorted())
            }
            stages.removeAll { $0.event.kind?.isDecision == true && $0.event.event != keep }
            if !stages.contains(where: { $0.event.event == keep }), let k = ProgressEvent.Kind(rawValue: keep) {
                stages.append(StampedEvent(ref: settle.ref, hlc: settle.hlc, event: ProgressEvent(event: k.rawValue)))
            }
        }
        // Furthest stage; within a rank, the last by tie order.
        let best = stages.max { a, b in
            let (ra, rb) = (a.event.kind?.rank ?? 0, b.event.kind?.rank ?? 0)
            return ra != rb ? ra < rb : StampedEvent.precedes(a, b)
        }
        return .stage(best?.event.kind ?? .referred)
    }
}
