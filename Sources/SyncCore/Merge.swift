/// The merge rules: what a set of known writes to one field means.
///
/// The result is a pure function of the *set* of writes, so any order, any duplicates and any
/// split of the same writes give the same answer at every node — convergence by construction.
public enum Merge {
    /// The outcome for one field of one record.
    public struct Resolution: Equatable, Sendable {
        /// Writes that no other known write replaces and that know of every redaction of their class.
        /// For a set field, these are its elements. Sorted by tie order, lowest first.
        public var live: [WriteID]
        /// For a register: the live write with the highest `(hlc, origin, seq)`.
        public var winner: WriteID?
        /// For a register: more than one live write, until a write that covers them all.
        public var inConflict: Bool
        /// Writes that a redaction kills: their values must be stripped wherever they are held.
        public var redacted: [WriteID]
        /// Writes that would be live but for `liveValuesPerFieldMax` (a register's lowest values) or
        /// `setElementsMax` (a set's latest elements): held and relayed like dead writes, not live.
        public var overLimit: [WriteID] = []
    }

    /// Resolves the writes to one field, given the redactions of its class on the same record.
    ///
    /// A register write is dead when another known write's context covers it, or when its own
    /// origin wrote the field again later (a higher seq): an origin's writes are ordered, and an
    /// honest writer's later write always covers its earlier one, so this changes nothing for honest
    /// histories and bounds a register's live values by the origins that wrote it. Any write
    /// (register or set element) is dead, and its value stripped, when its context does not cover
    /// every known redaction of its class: it was made before or concurrently with that redaction,
    /// whatever its clock says.
    ///
    /// The limits then bound what is live, as a function of the same set of writes, so every node
    /// agrees: a register keeps its `liveValuesPerFieldMax` highest values, a set its
    /// `setElementsMax` earliest elements (what it already showed stays); the rest are `overLimit`.
    public static func resolve(
        _ writes: [FieldWrite], redactions: [FieldWrite], limits: Limits = .standard
    ) -> Resolution {
        var live: [FieldWrite] = []
        var redacted: [WriteID] = []
        for w in writes {
            if !redactions.allSatisfy({ w.context.covers($0.origin, $0.seq) }) {
                redacted.append(w.id)
                continue
            }
            if w.kind == .register,
                writes.contains(where: {
                    $0.id != w.id && ($0.context.covers(w.origin, w.seq) || ($0.origin == w.origin && $0.seq > w.seq))
                })
            {
                continue
            }
            live.append(w)
        }
        live.sort(by: FieldWrite.precedes)
        let isRegister = writes.first?.kind != .set
        var overLimit: [WriteID] = []
        if isRegister, live.count > limits.liveValuesPerFieldMax {
            overLimit = live.prefix(live.count - limits.liveValuesPerFieldMax).map(\.id)
            live.removeFirst(overLimit.count)
        } else if !isRegister, live.count > limits.setElementsMax {
            overLimit = live.suffix(live.count - limits.setElementsMax).map(\.id)
            live.removeLast(overLimit.count)
        }
        return Resolution(
            live: live.map(\.id),
            winner: isRegister ? live.last?.id : nil,
            inConflict: isRegister && live.count > 1,
            redacted: redacted.sorted(),
            overLimit: overLimit.sorted())
    }

    /// The causal context for a new write to a field: everything known of it and of its class's
    /// redactions — the writes held and, for a register, what their own contexts say their writers
    /// knew of the field.
    ///
    /// Joining the held register writes' contexts makes "covers" transitive: a write that replaces
    /// `b`, where `b` replaced `a`, covers `a` too, even if this writer never held `a`. A node that
    /// holds `a` and the new write but not `b` (a charity is sent live routing writes only, and `b`
    /// was never live while it was the target) then agrees with everyone that `a` is dead. Without
    /// the join a restored node, given back its old incarnation's `b` but never `a`, wrote a value
    /// that left `a` live there (a conflict no other node saw). Only registers: a set element's
    /// liveness depends on no other element, and the contexts joined are then only ever those of
    /// the origins allowed to write the field (a charity's context never reaches a party's write).
    public static func context(replacing writes: [FieldWrite], redactions: [FieldWrite]) -> CausalContext {
        var context = CausalContext()
        for w in writes {
            context.include(w.origin, w.seq)
            guard w.kind == .register else { continue }
            for (origin, seq) in w.context.entries { context.include(origin, seq) }
        }
        for r in redactions { context.include(r.origin, r.seq) }
        return context
    }
}
