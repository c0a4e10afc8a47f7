/// The wire-neutral things a sync session exchanges with a node's store: changes as received,
/// the items and batches of `CHANGES`, checkpoints, and what applying a batch did. The protocol
/// (`SyncProtocol`) turns them into frames; the store (`SyncStore`) keeps them; neither sees the
/// other's types (Protocol/SPEC.md 6, docs/decisions.md 55).

/// A change as it arrives from a peer: the envelope, the wire bytes of each field write carried,
/// its origin's signature, and the digests of the change's writes that are not carried.
public struct IncomingChange: Sendable, Equatable {
    public var origin: Origin
    public var seq: UInt64
    public var hlc: HLC
    public var record: String
    public var bodies: [[UInt8]]
    /// The origin's signature over the change (64 bytes r‖s; Protocol/SPEC.md 13).
    public var signature: [UInt8]
    /// The write digests of the change's writes not carried here (32 bytes each).
    public var withheld: [[UInt8]]

    public init(
        origin: Origin, seq: UInt64, hlc: HLC, record: String, bodies: [[UInt8]], signature: [UInt8] = [],
        withheld: [[UInt8]] = []
    ) {
        self.origin = origin
        self.seq = seq
        self.hlc = hlc
        self.record = record
        self.bodies = bodies
        self.signature = signature
        self.withheld = withheld
    }
}

/// Where a batch from a peer sits in that peer's change log; stored with the batch, atomically.
public struct BatchCheckpoint: Sendable, Equatable {
    public var peerIncarnation: Incarnation
    /// The peer's local seq this batch follows: must equal the stored checkpoint.
    public var after: UInt64
    /// The peer's local seq this batch brings the checkpoint to.
    public var upTo: UInt64

    public init(peerIncarnation: Incarnation, after: UInt64, upTo: UInt64) {
        self.peerIncarnation = peerIncarnation
        self.after = after
        self.upTo = upTo
    }
}

/// What applying a batch did.
public struct ApplyReport: Sendable, Equatable {
    public var applied = 0
    public var duplicates = 0
    public var parked = 0
    public var quarantined = 0
    /// Refused writes with their codes (the audit log has them too).
    public var refused: [SyncError] = []
    /// Key bindings accepted, and refused with why.
    public var keysAccepted = 0
    public var keysRefused: [SyncError] = []
    public init() {}
}

/// One item of a received batch as the store applies it: a change (or part of one), or a
/// narrowing of what this node may hold of a record.
public enum IncomingItem: Sendable, Equatable {
    case change(IncomingChange)
    /// Purge other origins' writes of these classes of the record (never this node's own).
    case narrow(record: RecordID, classes: Set<DataClass>, cause: Int)
}

/// What applying a sync batch did, beyond the writes.
public struct SyncApplyReport: Sendable, Equatable {
    public var writes = ApplyReport()
    /// Narrowings applied (records purged of some classes).
    public var narrowed = 0
    /// Narrowings ignored because this node is the record's practice, PCN or owner.
    public var narrowIgnored = 0
    public init() {}
}

/// A visibility decision sent to a peer in a batch: a class of a record widened (sent) or narrowed.
public struct LedgerEntry: Sendable, Hashable {
    public var record: RecordID
    public var dataClass: DataClass
    public var sent: Bool

    public init(record: RecordID, dataClass: DataClass, sent: Bool) {
        self.record = record
        self.dataClass = dataClass
        self.sent = sent
    }
}

/// Why a class of a record was narrowed; wire values of `NarrowCause`.
public enum NarrowCause: Int, Sendable, Equatable {
    case unspecified = 0
    case readdressed = 1
    case consentWithdrawn = 2
    case resync = 3
}

/// `WIDEN`: classes of a record became visible; the live writes the receiver may now see.
public struct Widen: Sendable, Equatable {
    public var record: RecordID
    public var classes: [DataClass]
    public var changes: [IncomingChange]

    public init(record: RecordID, classes: [DataClass], changes: [IncomingChange]) {
        self.record = record
        self.classes = classes
        self.changes = changes
    }
}

/// `NARROW`: classes of a record are no longer visible to the receiver.
public struct Narrow: Sendable, Equatable {
    public var record: RecordID
    /// Classes this version knows; unknown class names on the wire are ignored.
    public var classes: [DataClass]
    public var cause: NarrowCause

    public init(record: RecordID, classes: [DataClass], cause: NarrowCause) {
        self.record = record
        self.classes = classes
        self.cause = cause
    }
}

/// One item of a `CHANGES` batch.
public enum BatchItem: Sendable, Equatable {
    case change(IncomingChange)
    case widen(Widen)
    case narrow(Narrow)
}

/// `CHANGES`: the sender's change log in (after, upTo], filtered for the receiver.
public struct Changes: Sendable, Equatable {
    public var after: UInt64
    public var upTo: UInt64
    public var items: [BatchItem]
    /// Key bindings that verify the batch's changes, not sent before in the session.
    public var keys: [KeyBinding]
    /// In the first batch answering a `PULL`: field writes the sender's log holds after its
    /// `after`, an upper bound of what the pull brings (progress only); 0 otherwise.
    public var expectedWrites: UInt64

    public init(
        after: UInt64, upTo: UInt64, items: [BatchItem], keys: [KeyBinding] = [], expectedWrites: UInt64 = 0
    ) {
        self.after = after
        self.upTo = upTo
        self.items = items
        self.keys = keys
        self.expectedWrites = expectedWrites
    }

    /// Every change the batch carries, directly or in `WIDEN`s, with where each sits.
    public var allChanges: [IncomingChange] {
        items.flatMap { item -> [IncomingChange] in
            switch item {
            case .change(let c): return [c]
            case .widen(let w): return w.changes
            case .narrow: return []
            }
        }
    }

    /// Number of changes carried directly (what `batchChangesMax` bounds; `WIDEN` contents are
    /// bounded by `frameBytesMax` alone).
    public var changeCount: Int {
        items.reduce(0) { n, item in
            if case .change = item { return n + 1 }
            return n
        }
    }

    /// The items as the store applies them, in order.
    public var storeItems: [IncomingItem] {
        items.flatMap { item -> [IncomingItem] in
            switch item {
            case .change(let c): return [.change(c)]
            case .widen(let w): return w.changes.map { .change($0) }
            case .narrow(let n): return [.narrow(record: n.record, classes: Set(n.classes), cause: n.cause.rawValue)]
            }
        }
    }
}

/// A key binding as sent in a session: its origin and first seq.
public struct KeyBindingRef: Hashable, Sendable {
    public var origin: Origin
    public var fromSeq: UInt64

    public init(origin: Origin, fromSeq: UInt64) {
        self.origin = origin
        self.fromSeq = fromSeq
    }
}
