/// What a sync session needs of its node's store, and all it needs: the protocol's session driver
/// (`SyncProtocol`) calls this, the SQLite store (`SyncStore`) implements it, and tests run
/// sessions over an in-memory one. As Syncthing's `lib/protocol` calls a `Model`: the protocol
/// decides what is said and when; the store decides what it holds, what a peer may see and what a
/// received batch does (docs/decisions.md 55).
///
/// Every method is one short piece of store work a session waits for; none is called concurrently
/// for one session. A throw ends the session with `ERROR internal` and the store's own words
/// (`failureText`); `SyncError.conflict` and `SyncError.rolledBack` from `apply` end it with
/// `checkpoint_mismatch` and `rolled_back`.
public protocol SessionStore: AnyObject, Sendable {
    /// The limits this node enforces (frame size, window, refusals, resyncs).
    var limits: Limits { get }

    /// This node as a session with `peer` starts: who it is, what it issued, whether it knows it
    /// was rolled back, and what it holds of each of the peer's incarnations.
    func sessionStart(peer: NodeID) throws -> SessionStart

    /// Whether to serve a `PULL` of this node's log from `after` by the peer's incarnation
    /// (Protocol/SPEC.md 12.16): nil to serve it, or why not.
    func admitPull(peer: NodeID, peerIncarnation: Incarnation, after: UInt64, wallMillis: UInt64) throws -> String?

    /// How far this node has pulled from the peer's incarnation (0 for one never seen).
    func checkpoint(peer: NodeID, incarnation: Incarnation) throws -> UInt64

    /// The records to list in `HOLDING` before pulling from the peer's incarnation, or nil when this
    /// pair of incarnations has exchanged one already (it is needed at first contact, and after a
    /// restore on either side).
    func holding(peer: NodeID, peerIncarnation: Incarnation) throws -> [RecordID]?

    /// Notes that the peer's incarnation was told what this node holds through it (after the pull
    /// that followed the `HOLDING` reached the end of the peer's log).
    func markHoldingSent(peer: NodeID, peerIncarnation: Incarnation, wallMillis: UInt64) throws

    /// Builds, seals and records the next batch of this node's log for the peer (`request`): nil
    /// when the log holds nothing after `request.after` and there is nothing to resync. The store
    /// keeps the batch's visibility decisions as pending under `request.batch` until
    /// `confirmAcked` or `confirmPulled`. `keysSent` holds the key bindings sent in this session;
    /// the batch carries those its changes need that were not, and they are added.
    func prepareBatch(_ request: BatchRequest, keysSent: inout Set<KeyBindingRef>) throws -> PreparedBatch?

    /// Applies a received batch with its checkpoint, atomically (`Store.apply`).
    func applyBatch(
        _ items: [IncomingItem], keys: [KeyBinding], policy: any KeyAnchorPolicy, from peer: NodeID,
        checkpoint: BatchCheckpoint, wallMillis: UInt64
    ) throws -> SyncApplyReport

    /// The peer acknowledged `batches` (numbered by the session), ending at most at `upTo`: their
    /// pending decisions are confirmed.
    func confirmAcked(peer: NodeID, incarnation: Incarnation, upTo: UInt64, batches: [Int]) throws

    /// The peer's `PULL` says it applied everything up to `after`: decisions of batches it applied
    /// are confirmed, later ones forgotten. Returns records whose decisions it cannot vouch for (to
    /// decide afresh).
    func confirmPulled(peer: NodeID, incarnation: Incarnation, after: UInt64) throws -> [RecordID]

    /// Holding all the peer sent: purges what the referrals received say this node may no longer
    /// keep (Protocol/SPEC.md 7.5). Returns the classes purged.
    func enforceAudience(_ records: Set<RecordID>, wallMillis: UInt64) throws -> Int

    /// The peer's `HELLO` claimed to hold more of this node's changes than it issued.
    func auditFalseClaim(peer: NodeID, held: UInt64, lastSeq: UInt64, wallMillis: UInt64) throws

    /// The operator's words for a failure of this store under a session.
    func failureText(_ error: any Error) -> String
}

/// This node as a session starts (`SessionStore.sessionStart`).
public struct SessionStart: Sendable, Equatable {
    public var node: NodeID
    public var incarnation: Incarnation
    /// The highest seq this node has issued in its current incarnation.
    public var lastSeq: UInt64
    /// Whether the store knows it was put back to an older copy (it then refuses to sync).
    public var rolledBack: Bool
    /// Highest seq this node holds of each incarnation of the peer.
    public var heldOfPeer: [Incarnation: UInt64]
    public var schemaVersion: UInt32

    public init(
        node: NodeID, incarnation: Incarnation, lastSeq: UInt64, rolledBack: Bool, heldOfPeer: [Incarnation: UInt64],
        schemaVersion: UInt32
    ) {
        self.node = node
        self.incarnation = incarnation
        self.lastSeq = lastSeq
        self.rolledBack = rolledBack
        self.heldOfPeer = heldOfPeer
        self.schemaVersion = schemaVersion
    }
}

/// What the session asks the store to build (`SessionStore.prepareBatch`).
public struct BatchRequest: Sendable, Equatable {
    public var peer: NodeID
    public var peerIncarnation: Incarnation
    /// The highest seq of the peer's current incarnation it has shown it holds: only its own
    /// changes above it go back to it (as proof of a rollback).
    public var peerLastSeq: UInt64
    /// The batch follows this position of this node's log.
    public var after: UInt64
    /// Records the peer listed in `HOLDING` to decide afresh in this batch.
    public var resync: [RecordID]
    /// What the previous batch of the session left for this one.
    public var carry: BatchCarry
    /// The batch's number in its session (1 for the first): its pending decisions are kept under
    /// it, and the first says how much the pull may bring (`Changes.expectedWrites`).
    public var batch: Int
    /// The session's limits (batch size, frame size).
    public var limits: Limits

    public init(
        peer: NodeID, peerIncarnation: Incarnation, peerLastSeq: UInt64, after: UInt64, resync: [RecordID],
        carry: BatchCarry, batch: Int, limits: Limits
    ) {
        self.limits = limits
        self.peer = peer
        self.peerIncarnation = peerIncarnation
        self.peerLastSeq = peerLastSeq
        self.after = after
        self.resync = resync
        self.carry = carry
        self.batch = batch
    }
}

/// A batch built for a peer and what it leaves for the next one.
public struct PreparedBatch: Sendable, Equatable {
    public var changes: Changes
    public var carry: BatchCarry

    public init(changes: Changes, carry: BatchCarry) {
        self.changes = changes
        self.carry = carry
    }
}

/// What a batch left for the next one: resync records it had no room for, and where a `WIDEN`
/// too large for one batch was cut.
public struct BatchCarry: Sendable, Equatable {
    public var resync: [RecordID] = []
    public var widen: WidenCursor?
    public init() {}
    public var isEmpty: Bool { resync.isEmpty && widen == nil }
}

/// A record's `WIDEN` sent in parts, in batches with `up_to = after` (SPEC 12.13): the batch start
/// it belongs to, its classes, and the local seq of the last write sent so far. Its ledger entries
/// go with the last part, so a session lost halfway widens the record again whole.
public struct WidenCursor: Sendable, Equatable {
    public var after: UInt64
    public var record: RecordID
    public var classes: Set<DataClass>
    public var sentThrough: UInt64

    public init(after: UInt64, record: RecordID, classes: Set<DataClass>, sentThrough: UInt64) {
        self.after = after
        self.record = record
        self.classes = classes
        self.sentThrough = sentThrough
    }
}
