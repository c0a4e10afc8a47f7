/// A referral's status: a deterministic function of the set of its progress events.
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
    /// The decisions of an episode; two different ones contradict each other.
    public var isDecision: Bool { self == .accepted || self == .declined || self == .unableToContact }

    /// `closed` and `withdrawn`: the referral is over until a practice or hub `reopened` it.
    public var closesReferral: Bool { self == .closed || self == .withdrawn }
}

/// Which progress event may follow which (Protocol/SPEC.md 9.1): the table the command line checks
/// a new event against, and the status fold replays the held events through.
///
/// A service's *episode* is the events naming that service: it starts at `referred` when the
/// referral is addressed to the service, and `declined`, `unable_to_contact` and `completed` end it.
/// The practice and hub events stand beside the episode: `withdrawn` and `closed` stop the referral
/// whatever its stage, `reopened` undoes them, `settled` settles contradictory decisions.
public enum Lifecycle {
    /// The service events that may follow each stage of an episode.
    public static let serviceTransitions: [ProgressEvent.Kind: [ProgressEvent.Kind]] = [
        .referred: [.received, .contacted, .accepted, .declined, .unableToContact],
        .received: [.contacted, .accepted, .declined, .unableToContact],
        .contacted: [.contacted, .accepted, .declined, .unableToContact],
        .accepted: [.attending, .didNotAttend],
        .attending: [.attending, .didNotAttend, .completed],
        .didNotAttend: [.attending, .didNotAttend],
        .declined: [],
        .unableToContact: [],
        .completed: [],
    ]

    /// Whether the service event `kind` may follow the episode's `stage`.
    public static func allows(_ kind: ProgressEvent.Kind, after stage: ProgressEvent.Kind) -> Bool {
        serviceTransitions[stage]?.contains(kind) ?? false
    }

    /// Checks that `event` may be recorded now on `record`, given the live events `held` there and
    /// the referral's current target; throws what may be recorded instead.
    ///
    /// A new event gets a clock above every event held, so it falls last in the fold's order: an
    /// event this check lets through counts at the node that wrote it. A service event is checked
    /// against the episode of the service it names. An event kind this version does not know passes.
    public static func check(
        _ event: ProgressEvent, on record: RecordID, held: [StampedEvent], currentService: RecordID?
    ) throws(SyncError) {
        guard let kind = event.kind else { return }
        let episode = kind.byPracticeOrHub ? currentService : event.service.flatMap { try? RecordID($0) }
        let status = StatusFold.status(events: held, currentService: episode)
        let refuse = { (why: String) in SyncError(.invalidTransition, "\(record): '\(kind.rawValue)' \(why)") }
        switch (kind, status) {
        case (.referred, _):
            guard !held.contains(where: { $0.event.kind != nil }) else {
                throw refuse("is recorded once, when the referral is made; it is \(status) now")
            }
        case (.settled, .conflict):
            return
        case (.settled, _):
            throw refuse("settles contradictory decisions, and it is \(status), with none to settle")
        case (.reopened, .stage(let s)) where s.closesReferral:
            return
        case (.reopened, _):
            throw refuse("follows only 'closed' or 'withdrawn'; it is \(status)")
        case (_, .stage(let s)) where s.closesReferral:
            throw refuse(
                "cannot follow '\(s.rawValue)': nothing is recorded on a \(s.rawValue) referral until the practice "
                    + "or hub records 'reopened'")
        case (.closed, _), (.withdrawn, _):
            return
        case (_, .conflict):
            throw refuse(
                "cannot be recorded while the service's decisions contradict each other: the practice or hub "
                    + "settles them first (`spsync settle`)")
        case (_, .stage(let s)):
            guard !allows(kind, after: s) else { return }
            let next = serviceTransitions[s] ?? []
            throw refuse(
                next.isEmpty
                    ? "cannot follow '\(s.rawValue)', which ends the service's episode: the practice or hub may "
                        + "address the referral to another service, or close it"
                    : "cannot follow '\(s.rawValue)': next comes "
                        + next.map { "'\($0.rawValue)'" }.joined(separator: ", "))
        }
    }
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

    public init?(_ write: FieldWrite) {
        guard write.field == .progressEvents, let value = write.value,
            let event = try? FieldValue.decode(ProgressEvent.self, value, field: write.field)
        else { return nil }
        self.init(ref: write.change, hlc: write.hlc, event: event)
    }

    static func precedes(_ a: StampedEvent, _ b: StampedEvent) -> Bool {
        (a.hlc, a.ref.origin, a.ref.seq) < (b.hlc, b.ref.origin, b.ref.seq)
    }
}

/// The status of a referral from the set of its live progress events (Protocol/SPEC.md 9.1).
///
/// The events are put in one canonical order, `(hlc, origin, seq)`, and replayed through the
/// lifecycle table; an event the table does not allow where it falls is *out of order*: held and
/// relayed like any other, but it does not count. The order depends only on the events, so every
/// node that holds the same events reaches the same status, whatever order they arrived in.
public enum StatusFold {
    /// What the fold makes of a referral's events.
    public struct Outcome: Sendable, Equatable {
        public var status: ReferralStatus
        /// Events that do not count because the lifecycle table does not allow them where they fall
        /// in the canonical order. Sorted.
        public var outOfOrder: [ChangeRef]
    }

    /// The status from the live progress-event writes and the current target service.
    public static func status(events writes: [FieldWrite], currentService: RecordID?) -> ReferralStatus {
        fold(events: writes.compactMap(StampedEvent.init), currentService: currentService).status
    }

    public static func status(events all: [StampedEvent], currentService: RecordID?) -> ReferralStatus {
        fold(events: all, currentService: currentService).status
    }

    public static func fold(events writes: [FieldWrite], currentService: RecordID?) -> Outcome {
        fold(events: writes.compactMap(StampedEvent.init), currentService: currentService)
    }

    /// Folds the practice/hub events and the events of the *current* target's episode: events
    /// naming an earlier target are ignored (they stay in the record, and count again if the
    /// referral comes back to that service). Unknown event kinds are ignored.
    public static func fold(events all: [StampedEvent], currentService: RecordID?) -> Outcome {
        var counted = all.filter { e in
            guard let kind = e.event.kind else { return false }
            if kind.byPracticeOrHub { return true }
            return currentService != nil && e.event.service == currentService?.rawValue
        }.sorted(by: StampedEvent.precedes)

        // Two different decisions in the episode contradict each other whatever their order (only a
        // restored or faulty node makes them): a conflict, until a settle names them all.
        var conflict: [ChangeRef]?
        let decisions = counted.filter { $0.event.kind?.isDecision == true }
        if Set(decisions.compactMap(\.event.kind)).count > 1 {
            let refs = Set(decisions.map { $0.ref.description })
            // The latest settle that names every contradictory decision decides which to keep.
            let settle = counted.last { e in
                e.event.kind == .settled && refs.isSubset(of: Set(e.event.settles ?? []))
                    && ProgressEvent.Kind(rawValue: e.event.keep ?? "")?.isDecision == true
            }
            if let settle, let keep = settle.event.keep {
                counted.removeAll { $0.event.kind?.isDecision == true && $0.event.event != keep }
                if !counted.contains(where: { $0.event.event == keep }) {
                    // A decision none of them made: it counts from the settle.
                    counted.append(
                        StampedEvent(
                            ref: settle.ref, hlc: settle.hlc,
                            event: ProgressEvent(event: keep, service: currentService?.rawValue)))
                    counted.sort(by: StampedEvent.precedes)
                }
            } else {
                conflict = decisions.map(\.ref).sorted()
            }
        }

        var stage = ProgressEvent.Kind.referred
        var closedBy: ProgressEvent.Kind?
        var started = false
        var outOfOrder: [ChangeRef] = []
        for e in counted {
            guard let kind = e.event.kind else { continue }
            let allowed: Bool
            switch kind {
            case .settled:
                continue  // it settles decisions (above); it is no stage
            case .referred:
                allowed = !started
            case .closed, .withdrawn:
                allowed = closedBy == nil
                if allowed { closedBy = kind }
            case .reopened:
                allowed = closedBy != nil
                if allowed { closedBy = nil }
            default:
                allowed = closedBy == nil && Lifecycle.allows(kind, after: stage)
                if allowed { stage = kind }
            }
            if allowed {
                started = true
            } else if conflict?.contains(e.ref) != true {
                outOfOrder.append(e.ref)
            }
        }
        let status: ReferralStatus
        if let closedBy {
            status = .stage(closedBy)
        } else if let conflict {
            status = .conflict(events: conflict)
        } else {
            status = .stage(stage)
        }
        return Outcome(status: status, outOfOrder: outOfOrder.sorted())
    }
}
