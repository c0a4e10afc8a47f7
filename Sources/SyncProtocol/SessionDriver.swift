import SyncCore

/// Runs a `Session` against a node's store (any `SessionStore`: the SQLite `Store`, or an in-memory
/// one in tests) over any connection that carries frames: the caller passes
/// each frame received and each timer tick in, and sends the frames that come back out, in order.
/// When `isClosed` turns true it closes the connection (after sending the last frames returned).
///
/// The same driver serves the simulator's in-memory network, the benchmark and the TLS transport.
/// It is not thread-safe: one connection, one driver, one caller at a time. Store calls block.
///
/// ```swift
/// let driver = try SessionDriver(store: store, peer: peerID, mode: .oneShot)
/// send(driver.start(nowMillis: now))
/// for frame in incoming { send(driver.receive(frame, nowMillis: now)); if driver.isClosed { break } }
/// ```
public final class SessionDriver {
    public let store: any SessionStore
    public let peer: NodeID
    public private(set) var session: Session
    public private(set) var statistics = Statistics()
    let encoder: FrameEncoder
    var holdingNeeded = false
    /// What the last batch built left for the next (resync records, a `WIDEN` cut in parts).
    var carry = BatchCarry()
    /// Decides how far key bindings the peer sends are anchored (pinned peers, the network CA).
    let keyPolicy: any KeyAnchorPolicy
    /// Key bindings sent to the peer in this session: each goes once, before the first change it verifies.
    var keysSent: Set<KeyBindingRef> = []
    /// The highest seq of the peer's current incarnation it has shown it holds: its `HELLO`'s
    /// `last_seq`, then what it sent in this session. Only its own changes above it go back to it
    /// (as proof of a rollback), so a live session does not echo the peer's new writes.
    var peerLastSeq: UInt64?

    /// Counters for status and benchmarks.
    public struct Statistics: Sendable, Equatable {
        public var framesIn = 0
        public var framesOut = 0
        /// Frame bytes on the wire, headers included.
        public var bytesIn = 0
        public var bytesOut = 0
        public var batchesIn = 0
        public var batchesOut = 0
        /// Field writes received, applied, duplicate, parked, quarantined, refused.
        public var writesIn = 0
        /// What the peer's first batch said its log holds after this node's checkpoint (an upper
        /// bound of `writesIn` for the pull; 0 when not said): for progress only.
        public var expectedWritesIn = 0
        public var applied = 0
        public var duplicates = 0
        public var parked = 0
        public var quarantined = 0
        public var refused = 0
        public var narrowed = 0
        public var writesOut = 0
        /// Field writes refused for their origin signature (missing, wrong, unknown key, contradicting).
        public var forged = 0
        /// Key bindings the peer sent that were refused.
        public var keysRefused = 0
        /// `HELLO` claims to hold more of this node's changes than it issued.
        public var falseClaims = 0
        /// Bytes of `CHANGES` sent that signatures cost: each change's signature and withheld
        /// digests (with their protobuf tags and lengths), and the key bindings.
        /// Classes of referrals purged because what the store held said it may no longer keep them.
        public var purgedByJudgement = 0
        public var signatureBytesOut = 0
        public var keyBytesOut = 0
        public init() {}
    }

    /// Makes a driver for a session with `peer` (the node id its certificate proved).
    /// The rotation the peer announced in this session, if any (for the node to verify and pin).
    public private(set) var receivedRotation: RotationAnnouncement?
    /// Whether this node's own pending rotation was sent to the peer.
    public private(set) var rotationSent = false
    /// Whether this node pulled the peer's change log to its end in this session.
    public private(set) var pulledToEnd = false
    /// Referrals received writes of since the store last judged what it may keep of them.
    var received: Set<RecordID> = []
    /// The referrals the store judged last, and how many times it judged (the simulator checks them).
    public private(set) var judged: Set<RecordID> = []
    public private(set) var judgements = 0

    public init(
        store: any SessionStore, peer: NodeID, mode: SessionMode, software: String = "spsync", limits: Limits? = nil,
        rotation: RotationAnnouncement? = nil, keyPolicy: any KeyAnchorPolicy = DeliveryAnchorPolicy()
    ) throws {
        let node = try store.sessionStart(peer: peer)
        self.store = store
        self.peer = peer
        self.keyPolicy = keyPolicy
        let limits = limits ?? store.limits
        self.encoder = FrameEncoder(frameBytesMax: limits.frameBytesMax)
        self.session = Session(
            Session.Configuration(
                node: node.node, incarnation: node.incarnation, lastSeq: node.lastSeq, rolledBack: node.rolledBack,
                peer: peer, heldOfPeer: node.heldOfPeer, mode: mode, schemaVersion: node.schemaVersion,
                software: software, limits: limits, rotation: rotation))
    }

    public var isClosed: Bool { session.isClosed }
    public var closeReason: Session.CloseReason? {
        if case .closed(let reason) = session.state { return reason }
        return nil
    }

    /// Starts the session; returns the frames to send (`HELLO`).
    public func start(nowMillis: UInt64) -> [Frame] {
        run(session.start(nowMillis: nowMillis), nowMillis)
    }

    /// Handles one frame from the peer; returns the frames to send.
    public func receive(_ frame: Frame, nowMillis: UInt64) -> [Frame] {
        statistics.framesIn += 1
        statistics.bytesIn += frame.wireBytes
        let message: Message
        do {
            message = try Message(frame: frame, limits: session.configuration.limits)
        } catch {
            return run(session.frameRefused(error), nowMillis)
        }
        return run(session.receive(message), nowMillis)
    }

    /// Drives the session's timers; call every second or so.
    public func tick(nowMillis: UInt64) -> [Frame] {
        run(session.tick(nowMillis: nowMillis), nowMillis)
    }

    /// Tells a live session that the store has new changes to push.
    public func localChangesAvailable(nowMillis: UInt64) -> [Frame] {
        run(session.localChangesAvailable(), nowMillis)
    }

    /// The connection closed under the session.
    public func transportClosed() {
        _ = session.transportClosed()
    }

    /// Ends the session with an `ERROR` (shutdown, say); returns the frames to send.
    public func abort(_ code: ErrorCode, _ detail: String, nowMillis: UInt64) -> [Frame] {
        run(session.abort(code, detail), nowMillis)
    }

    // MARK: Carrying out actions

    func run(_ initial: [Session.Action], _ now: UInt64) -> [Frame] {
        var out: [Frame] = []
        var queue = initial[...]
        while let action = queue.popFirst() {
            queue.append(contentsOf: perform(action, now, &out))
            if queue.isEmpty, !received.isEmpty, session.pulledInStepAt != nil, !session.isClosed {
                queue.append(contentsOf: judge(now))
            }
        }
        return out
    }

    /// Holding all the peer sent, the store purges what the referrals received say it may no
    /// longer keep (Protocol/SPEC.md 7.5), whatever `NARROW`s came or did not.
    func judge(_ now: UInt64) -> [Session.Action] {
        let records = received
        received.removeAll()
        do {
            statistics.purgedByJudgement += try store.enforceAudience(records, wallMillis: now)
            judged = records
            judgements += 1
            return []
        } catch {
            return session.abort(.internal, store.failureText(error))
        }
    }

    func perform(_ action: Session.Action, _ now: UInt64, _ out: inout [Frame]) -> [Session.Action] {
        do {
            return try performThrowing(action, now, &out)
        } catch let error as ProtocolError {
            return session.abort(error.code, error.detail)
        } catch let error as SyncError where error.code == .conflict {
            return session.applyFailed(ProtocolError(.checkpointMismatch, error.message))
        } catch let error as SyncError where error.code == .rolledBack {
            return session.applyFailed(ProtocolError(.rolledBack, error.message))
        } catch {
            return session.abort(.internal, store.failureText(error))
        }
    }

    func performThrowing(_ action: Session.Action, _ now: UInt64, _ out: inout [Frame]) throws -> [Session.Action] {
        switch action {
        case .send(let message):
            let frame = message.frame
            guard frame.lengthFieldValue <= encoder.frameBytesMax else {
                throw ProtocolError(
                    .internal, "a \(message.type) message of \(frame.lengthFieldValue) bytes does not fit a frame")
            }
            if case .rotate = message { rotationSent = true }
            statistics.framesOut += 1
            statistics.bytesOut += frame.wireBytes
            if case .changes(let c) = message {
                statistics.batchesOut += 1
                for change in c.allChanges {
                    // Field 15 (1-byte tag, 1-byte length, 64 bytes); field 16 (2-byte tag, 1-byte length, 32 bytes).
                    statistics.signatureBytesOut += 66 + 35 * change.withheld.count
                }
                statistics.keyBytesOut += c.keys.reduce(0) { $0 + $1.wireBytes }
                statistics.writesOut += c.storeItems.reduce(0) { n, i in
                    if case .change(let ch) = i { n + ch.bodies.count } else { n }
                }
            }
            out.append(frame)
            return []
        case .admitPull(let after):
            guard let incarnation = session.peerHello?.incarnation else { preconditionFailure("PULL before HELLO") }
            if let refusal = try store.admitPull(
                peer: peer, peerIncarnation: incarnation, after: after, wallMillis: now)
            {
                return session.pullRefused(refusal)
            }
            return session.pullAdmitted()
        case .preparePull(let incarnation):
            let after = try store.checkpoint(peer: peer, incarnation: incarnation)
            let holding = try store.holding(peer: peer, peerIncarnation: incarnation)
            holdingNeeded = holding != nil
            return session.pullPrepared(after: after, holding: holding ?? [])
        case .prepareBatch(let after, let resync, let batch):
            guard let incarnation = session.peerHello?.incarnation else { preconditionFailure("batch before HELLO") }
            let request = BatchRequest(
                peer: peer, peerIncarnation: incarnation,
                peerLastSeq: max(peerLastSeq ?? 0, session.peerHello?.lastSeq ?? 0), after: after, resync: resync,
                carry: carry, batch: batch, limits: session.configuration.limits)
            let prepared = try store.prepareBatch(request, keysSent: &keysSent)
            carry = prepared?.carry ?? BatchCarry()
            return session.batchPrepared(prepared?.changes)
        case .apply(let batch, let incarnation):
            for change in batch.allChanges where change.origin == Origin(node: peer, incarnation: incarnation) {
                peerLastSeq = max(peerLastSeq ?? 0, change.seq)
            }
            statistics.batchesIn += 1
            if batch.expectedWrites > 0 { statistics.expectedWritesIn = Int(clamping: batch.expectedWrites) }
            for item in batch.storeItems {
                switch item {
                case .change(let c): if let record = try? RecordID(c.record) { received.insert(record) }
                case .narrow(let record, _, _): received.insert(record)
                }
            }
            let report = try store.applyBatch(
                batch.storeItems, keys: batch.keys, policy: keyPolicy, from: peer,
                checkpoint: BatchCheckpoint(peerIncarnation: incarnation, after: batch.after, upTo: batch.upTo),
                wallMillis: now)
            let w = report.writes
            statistics.forged += w.refused.filter { $0.code == .badSignature || $0.code == .keyConflict }.count
            statistics.keysRefused += w.keysRefused.count
            statistics.writesIn += w.applied + w.duplicates + w.parked + w.quarantined + w.refused.count
            statistics.applied += w.applied
            statistics.duplicates += w.duplicates
            statistics.parked += w.parked
            statistics.quarantined += w.quarantined
            statistics.refused += w.refused.count
            statistics.narrowed += report.narrowed
            return session.batchApplied(upTo: batch.upTo, refused: w.refused.count + w.keysRefused.count)
        case .confirmPulled(let after):
            guard let incarnation = session.peerHello?.incarnation else { return [] }
            // Decisions it cannot vouch for are decided afresh, like records of a HOLDING.
            let unsure = try store.confirmPulled(peer: peer, incarnation: incarnation, after: after)
            carry.resync = unsure + carry.resync.filter { !unsure.contains($0) }
            return []
        case .confirmAcked(let upTo, let batches):
            guard let incarnation = session.peerHello?.incarnation else { return [] }
            try store.confirmAcked(peer: peer, incarnation: incarnation, upTo: upTo, batches: batches)
            return []
        case .falseClaim(let held, let lastSeq):
            statistics.falseClaims += 1
            try store.auditFalseClaim(peer: peer, held: held, lastSeq: lastSeq, wallMillis: now)
            return []
        case .rotationAnnounced(let announcement):
            receivedRotation = announcement
            return []
        case .pulledToEnd(let incarnation, _):
            pulledToEnd = true
            if holdingNeeded {
                try store.markHoldingSent(peer: peer, peerIncarnation: incarnation, wallMillis: now)
                holdingNeeded = false
            }
            return []
        case .close:
            return []
        }
    }
}
