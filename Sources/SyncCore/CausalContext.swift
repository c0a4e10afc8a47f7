/// What a write's writer had seen of the field it writes: for each origin, the highest seq of that
/// origin's writes to this field (and of redactions of the field's class) it knew of.
///
/// A write replaces exactly the writes its context covers. Because seqs count up per origin and an
/// origin's own writes to a field are ordered, one number per origin says it compactly.
public struct CausalContext: Hashable, Sendable {
    /// Highest seq seen per origin. Never holds a zero.
    public private(set) var entries: [Origin: UInt64]

    public init(_ entries: [Origin: UInt64] = [:]) { self.entries = entries.filter { $0.value > 0 } }

    /// Whether this context has seen the write `seq` of `origin`.
    public func covers(_ origin: Origin, _ seq: UInt64) -> Bool { (entries[origin] ?? 0) >= seq }

    /// Adds `seq` of `origin`, keeping the highest.
    public mutating func include(_ origin: Origin, _ seq: UInt64) {
        if seq > entries[origin] ?? 0 { entries[origin] = seq }
    }

    /// Entries in a deterministic order (by origin), as they are encoded.
    public var sorted: [(origin: Origin, seq: UInt64)] {
        entries.sorted { $0.key < $1.key }.map { (origin: $0.key, seq: $0.value) }
    }

    public var isEmpty: Bool { entries.isEmpty }
    public var count: Int { entries.count }
}
