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
    }

    /// Resolves the writes to one field, given the redactions of its class on the same record.
    ///
    /// A register write is dead when another known write's context covers it. Any write (register
    /// or set element) is dead, and its value stripped, when its context does not cover every known
    /// redaction of its class: it was made before or concurrently with that redaction, whatever its
    /// clock says.
    public static func resolve(_ writes: [FieldWrite], redactions: [FieldWrite]) -> Resolution {
        var live: [FieldWrite] = []
        var redacted: [WriteID] = []
        for w in writes {
            if !redactions.allSatisfy({ w.context.covers($0.origin, $0.seq) }) {
                redacted.append(w.id)
                continue
            }
            if w.kind == .register,
                writes.contains(where: { $0.id != w.id && $0.context.covers(w.origin, w.seq) })
            {
                continue
            }
            live.append(w)
        }
        live.sort(by: FieldWrite.precedes)
        let isRegister = writes.first?.kind != .set
        return Resolution(
            live: live.map(\.id),
            winner: isRegister ? live.last?.id : nil,
            inConflict: isRegister && live.count > 1,
            redacted: redacted.sorted())
    }

    /// The causal context for a new write to a field: everything known of it and of its class's redactions.
    public static func context(replacing writes: [FieldWrite], redactions: [FieldWrite]) -> CausalContext {
        var context = CausalContext()
        for w in writes { context.include(w.origin, w.seq) }
        for r in redactions { context.include(r.origin, r.seq) }
        return context
    }
}
