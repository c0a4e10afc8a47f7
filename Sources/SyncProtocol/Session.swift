import SyncCore

/// One sync session with one peer, as a pure state machine: it takes messages and results and
/// returns what to do. It opens no socket, reads no clock and touches no store; the caller (a
/// `SessionDriver`) carries the actions out and feeds results back. Timers are the caller's
/// `tick(nowMillis:)` calls.
///
/// Both directions run at once: this node pulls the peer's change log (`PULL`, then `CHANGES`
/// batches it applies and `ACK`s) and serves its own (`CHANGES` on the peer's `PULL`, at most
/// `windowBatches` unacknowledged). See Protocol/SPEC.md, "Session".
public struct Session: Sendable {
    /// What the session knows of its own node when it starts.
    public struct Configuration: Sendable, Equatable {
        public var node: NodeID
        public var incarnation: Incarnation
        /// The highest seq this node has issued in its current incarnation.
        public var lastSeq: UInt64
        /// Whether the store already knows it was rolled back (it then refuses to sync).
        public var rolledBack: Bool
        /// The peer this connection was authenticated as (the certificate's node id).
        public var peer: NodeID
        /// Highest seq this node holds of each incarnation of the peer (sent in `HELLO`).
        public var heldOfPeer: [Incarnation: UInt64]
        public var mode: SessionMode
        public var schemaVersion: UInt32
        public var software: String
        public var limits: Limits
        /// A pending certificate rotation to announce to the peer (`spsync cert rotate`).
        public var rotation: RotationAnnouncement?

        public init(
            node: NodeID, incarnation: Incarnation, lastSeq: UInt64, rolledBack: Bool, peer: NodeID,
            heldOfPeer: [Incarnation: UInt64], mode: SessionMode, schemaVersion: UInt32, software: String,
            limits: Limits = .standard, rotation: RotationAnnouncement? = nil
        ) {
            self.rotation = rotation
            self.node = node
            self.incarnation = incarnation
            self.lastSeq = lastSeq
            self.rolledBack = rolledBack
            self.peer = peer
            self.heldOfPeer = heldOfPeer
            self.mode = mode
            self.schemaVersion = schemaVersion
            self.software = software
            self.limits = limits
        }
    }

    /// How a session ended.
    public enum CloseReason: Sendable, Equatable {
        /// Both sides caught up and said `BYE`.
        case done
        /// This node sent `ERROR` with this code and detail.
        case localError(ProtocolError)
        /// The peer sent `ERROR`.
        case peerError(ProtocolError)
        /// The connection ended without `BYE` or `ERROR`.
        case transportClosed
    }

    /// What the caller must do.
    public enum Action: Sendable, Equatable {
        /// Send a message to the peer.
        case send(Message)
        /// Find the checkpoint for the peer's incarnation and, if the peer cannot know what this
        /// node holds through it, the records to list; answer with `pullPrepared`.
        case preparePull(peerIncarnation: Incarnation)
        /// The peer's `PULL` asks for this node's log after `after`: ask the store whether to serve
        /// it (a full resync may be refused, SPEC 12.16); answer with `pullAdmitted` or `pullRefused`.
        case admitPull(after: UInt64)
        /// Build the next batch of this node's change log after `after` for the peer (processing
        /// `resync` records from the peer's `HOLDING` too), its decisions pending under the session's
        /// batch number `batch`; answer with `batchPrepared`.
        case prepareBatch(after: UInt64, resync: [RecordID], batch: Int)
        /// Apply a received batch atomically with its checkpoint; answer with `batchApplied` or `applyFailed`.
        case apply(Changes, peerIncarnation: Incarnation)
        /// The peer acknowledged `batches` (the oldest in flight, ending at most at `upTo`): their
        /// pending ledger decisions become the ledger.
        case confirmAcked(upTo: UInt64, batches: [Int])
        /// The peer's `PULL` says it applied everything up to `after`: pending decisions of batches
        /// it applied become the ledger, those of later batches (never applied) are forgotten.
        case confirmPulled(after: UInt64)
        /// The peer's `HELLO` claims to hold `held` changes of this node's current incarnation, more
        /// than it has issued (`lastSeq`). A claim proves nothing: it is logged and audited, and
        /// only a change signed with this node's own key beyond its store proves a rollback.
        case falseClaim(held: UInt64, lastSeq: UInt64)
        /// This node pulled the peer's change log to its end (status; the HOLDING is done).
        case pulledToEnd(peerIncarnation: Incarnation, seq: UInt64)
        /// The peer announced its next certificate: check the signature against the connection's
        /// peer certificate and, if good, pin it as the peer's next fingerprint.
        case rotationAnnounced(RotationAnnouncement)
        /// Close the connection; the session is over.
        case close(CloseReason)
    }

    public enum State: Sendable, Equatable {
        case notStarted
        case awaitingHello
        case active
        case closed(CloseReason)
    }

    struct PullState: Sendable {
        var peerIncarnation: Incarnation
        var requested = false
        /// The `up_to` of the last batch received (the next batch must follow it).
        var expectedAfter: UInt64 = 0
        var appliedUpTo: UInt64 = 0
        var queue: [Changes] = []
        var applying = false
        var caughtUpAt: UInt64?
        var reportedEnd = false
    }

    /// A batch sent and not acknowledged yet: where it ends and its number in the session.
    struct InFlight: Sendable, Equatable {
        var upTo: UInt64
        var batch: Int
    }

    struct ServeState: Sendable {
        var position: UInt64
        var unacked: [InFlight] = []
        var preparing = false
        var preparingResync = false
        var exhausted = false
        var caughtUpSent: UInt64?
        var resync: [RecordID]
    }

    public let configuration: Configuration
    public private(set) var state: State = .notStarted
    /// The peer's stream position this side has applied everything up to, when the peer last said
    /// it had no more (`CAUGHT_UP`) and nothing received waits: the moments a receiver holds the
    /// whole of what the peer sent (Protocol/SPEC.md 7.5).
    public var pulledInStepAt: UInt64? {
        guard let p = pull, let end = p.caughtUpAt, p.appliedUpTo >= end, p.queue.isEmpty, !p.applying else {
            return nil
        }
        return end
    }
    public private(set) var peerHello: Hello?
    /// The protocol version both sides speak (after `HELLO`).
    public private(set) var version: UInt32?
    /// Writes the peer sent that this node refused, this session.
    public private(set) var refusals = 0
    /// Whether the peer announced a rotation in this session (at most once).
    var rotationReceived = false
    var pull: PullState?
    var serve: ServeState?
    var peerHolding: [RecordID] = []
    /// A `PULL` received and waiting for the store's admission (`pullAdmitted`, `pullRefused`).
    var admittingPull: UInt64?
    /// Batches built in this session: the next is numbered one more.
    public private(set) var batchesBuilt = 0
    var byeSent = false
    var peerBye = false
    var startedAt: UInt64 = 0
    var lastHeard: UInt64 = 0
    var heardSinceTick = false
    var pingNonce: UInt64 = 0
    var pingOutstanding: UInt64?

    /// Records handed to one `prepareBatch` from the peer's `HOLDING`.
    static let resyncRecordsPerBatch = 64
    /// Most records a peer may list in `HOLDING` in one session.
    static let holdingRecordsMax = 1_000_000

    public init(_ configuration: Configuration) {
        self.configuration = configuration
    }

    var limits: Limits { configuration.limits }
    public var isClosed: Bool { if case .closed = state { return true } else { return false } }

    /// Whether the session stays open once caught up: only when both sides asked for live mode.
    public var isLive: Bool { configuration.mode == .live && peerHello?.mode == .live }

    // MARK: Events

    /// Starts the session: sends `HELLO`.
    public mutating func start(nowMillis: UInt64) -> [Action] {
        if isClosed { return [] }  // the connection broke before this side started
        guard case .notStarted = state else { preconditionFailure("a session starts once") }
        state = .awaitingHello
        startedAt = nowMillis
        lastHeard = nowMillis
        let hello = Hello(
            schemaVersion: configuration.schemaVersion, node: configuration.node,
            incarnation: configuration.incarnation,
            heldOfYou: configuration.heldOfPeer, software: configuration.software, wallMillis: nowMillis,
            mode: configuration.mode, lastSeq: configuration.lastSeq)
        return [.send(.hello(hello))]
    }

    /// Handles one message from the peer.
    public mutating func receive(_ message: Message) -> [Action] {
        heardSinceTick = true
        switch state {
        case .notStarted: preconditionFailure("receive before start")
        case .closed: return []
        case .awaitingHello:
            switch message {
            case .hello(let hello): return handshake(hello)
            case .error(let e): return close(.peerError(e))
            default: return fail(.unexpectedMessage, "\(message.type) before HELLO")
            }
        case .active:
            return activeReceive(message)
        }
    }

    /// A frame from the peer could not be decoded (the driver's conversion failed).
    public mutating func frameRefused(_ error: ProtocolError) -> [Action] {
        if isClosed { return [] }
        return fail(error.code, error.detail)
    }

    /// The answer to `preparePull`.
    public mutating func pullPrepared(after: UInt64, holding: [RecordID]) -> [Action] {
        guard case .active = state, var p = pull, !p.requested else { return [] }
        p.requested = true
        p.expectedAfter = after
        p.appliedUpTo = after
        pull = p
        var actions: [Action] = []
        var rest = holding[...]
        while !rest.isEmpty {
            let chunk = rest.prefix(limits.batchChangesMax)
            rest = rest.dropFirst(chunk.count)
            actions.append(.send(.holding(Array(chunk))))
        }
        actions.append(.send(.pull(incarnation: p.peerIncarnation, after: after)))
        return actions
    }

    /// The answer to `prepareBatch`: the batch, or nil when the log has nothing after `after`
    /// and there was nothing to resync.
    public mutating func batchPrepared(_ batch: Changes?) -> [Action] {
        guard case .active = state, var s = serve, s.preparing else { return [] }
        s.preparing = false
        var actions: [Action] = []
        if let batch {
            precondition(batch.after == s.position, "a batch must follow the stream position")
            s.position = batch.upTo
            batchesBuilt += 1
            s.unacked.append(InFlight(upTo: batch.upTo, batch: batchesBuilt))
            actions.append(.send(.changes(batch)))
        } else {
            precondition(!s.preparingResync, "a resync batch is always built")
            s.exhausted = true
        }
        s.preparingResync = false
        serve = s
        return actions + serveMore()
    }

    /// The answer to `admitPull`: serve the peer's log from the `PULL`'s `after`.
    public mutating func pullAdmitted() -> [Action] {
        guard case .active = state, let after = admittingPull, serve == nil else { return [] }
        admittingPull = nil
        serve = ServeState(position: after, resync: peerHolding)
        peerHolding = []
        return [.confirmPulled(after: after)] + serveMore()
    }

    /// The answer to `admitPull` when the store refuses to serve it: the session ends with
    /// `ERROR limit_exceeded` saying why.
    public mutating func pullRefused(_ reason: String) -> [Action] {
        guard case .active = state, admittingPull != nil else { return [] }
        admittingPull = nil
        return fail(.limitExceeded, reason)
    }

    /// The answer to `apply`: the batch is applied and checkpointed; `refused` writes were refused.
    public mutating func batchApplied(upTo: UInt64, refused: Int) -> [Action] {
        guard case .active = state, var p = pull, p.applying else { return [] }
        p.applying = false
        p.appliedUpTo = upTo
        pull = p
        refusals += refused
        var actions: [Action] = [.send(.ack(upTo: upTo))]
        if refusals > limits.refusalsPerSessionMax {
            return actions
                + fail(
                    .tooManyRefusals,
                    "\(refusals) refused writes this session (more than \(limits.refusalsPerSessionMax))")
        }
        actions += applyNext()
        actions += finishIfDone()
        return actions
    }

    /// The answer to `apply` when the store could not apply the batch.
    public mutating func applyFailed(_ error: ProtocolError) -> [Action] {
        if isClosed { return [] }
        return fail(error.code, error.detail)
    }

    /// New local changes exist (a local write or a batch from another peer): push them in live mode.
    public mutating func localChangesAvailable() -> [Action] {
        guard case .active = state, isLive, var s = serve, s.exhausted else { return [] }
        s.exhausted = false
        serve = s
        return serveMore()
    }

    /// Drives the timers: handshake timeout, keepalive `PING`, idle timeout.
    public mutating func tick(nowMillis: UInt64) -> [Action] {
        if heardSinceTick {
            lastHeard = max(lastHeard, nowMillis)
            heardSinceTick = false
        }
        switch state {
        case .notStarted, .closed: return []
        case .awaitingHello:
            if nowMillis >= startedAt + UInt64(limits.handshakeTimeoutSeconds) * 1000 {
                return fail(.handshakeTimeout, "no HELLO within \(limits.handshakeTimeoutSeconds) s")
            }
            return []
        case .active:
            let idleMillis = UInt64(limits.idleTimeoutSeconds) * 1000
            if nowMillis >= lastHeard + idleMillis {
                return fail(.idleTimeout, "nothing heard for \(limits.idleTimeoutSeconds) s")
            }
            if nowMillis >= lastHeard + idleMillis / 2, pingOutstanding == nil {
                pingNonce += 1
                pingOutstanding = pingNonce
                return [.send(.ping(nonce: pingNonce))]
            }
            return []
        }
    }

    /// The connection ended under the session.
    public mutating func transportClosed() -> [Action] {
        if isClosed { return [] }
        state = .closed(.transportClosed)
        return []
    }

    /// Ends the session with `ERROR` (a local decision: shutdown, a store failure).
    public mutating func abort(_ code: ErrorCode, _ detail: String) -> [Action] {
        if isClosed { return [] }
        return fail(code, detail)
    }

    // MARK: Handshake

    mutating func handshake(_ hello: Hello) -> [Action] {
        guard hello.node == configuration.peer else {
            return fail(.wrongNode, "HELLO says \(hello.node) but this connection is \(configuration.peer)'s")
        }
        let common = Set(hello.protocolVersions).intersection(ProtocolVersion.supported).filter {
            $0 >= ProtocolVersion.minimum
        }
        guard let version = common.max() else {
            return fail(
                .versionUnsupported,
                "no common protocol version: peer speaks \(hello.protocolVersions.sorted()), this node \(ProtocolVersion.supported)"
            )
        }
        self.version = version
        peerHello = hello
        if configuration.rolledBack {
            return fail(
                .rolledBack, "this node's store was put back to an older copy; it syncs again after `spsync recover`")
        }
        var claims: [Action] = []
        if let held = hello.heldOfYou[configuration.incarnation], held > configuration.lastSeq {
            claims.append(.falseClaim(held: held, lastSeq: configuration.lastSeq))
        }
        state = .active
        pull = PullState(peerIncarnation: hello.incarnation)
        // A pending rotation is announced once per session, as soon as the peer is known.
        let announce: [Action] = configuration.rotation.map { [.send(.rotate($0))] } ?? []
        return claims + announce + [.preparePull(peerIncarnation: hello.incarnation)]
    }

    // MARK: Active

    mutating func activeReceive(_ message: Message) -> [Action] {
        if peerBye, message != .bye {
            if case .error(let e) = message { return close(.peerError(e)) }
            return fail(.unexpectedMessage, "\(message.type) after BYE")
        }
        switch message {
        case .hello: return fail(.unexpectedMessage, "a second HELLO")
        case .holding(let records):
            guard serve == nil, admittingPull == nil else { return fail(.unexpectedMessage, "HOLDING after PULL") }
            guard peerHolding.count + records.count <= Session.holdingRecordsMax else {
                return fail(.limitExceeded, "HOLDING lists more than \(Session.holdingRecordsMax) records")
            }
            peerHolding += records
            return []
        case .pull(let incarnation, let after):
            guard serve == nil, admittingPull == nil else { return fail(.unexpectedMessage, "a second PULL") }
            guard incarnation == configuration.incarnation else {
                return fail(
                    .checkpointMismatch,
                    "PULL names incarnation \(incarnation), this node's is \(configuration.incarnation)")
            }
            guard after <= UInt64(Int64.max) else { return fail(.malformed, "PULL after \(after) is out of range") }
            admittingPull = after
            return [.admitPull(after: after)]
        case .changes(let batch): return receiveBatch(batch)
        case .ack(let upTo):
            guard var s = serve, s.unacked.contains(where: { $0.upTo == upTo }) else {
                return fail(.windowExceeded, "ACK \(upTo) for no batch in flight")
            }
            // Cumulative, but batches with `up_to = after` share an `up_to`: each takes its own ACK.
            var acked = s.unacked.prefix { $0.upTo < upTo }.map(\.batch)
            s.unacked.removeFirst(acked.count)
            acked.append(s.unacked.removeFirst().batch)
            serve = s
            return [.confirmAcked(upTo: upTo, batches: acked)] + serveMore() + finishIfDone()
        case .caughtUp(let seq):
            guard var p = pull, p.requested else { return fail(.unexpectedMessage, "CAUGHT_UP before PULL") }
            guard seq == p.expectedAfter else {
                return fail(
                    .checkpointMismatch, "CAUGHT_UP at \(seq) but the batches received end at \(p.expectedAfter)")
            }
            p.caughtUpAt = seq
            pull = p
            return finishIfDone()
        case .ping(let nonce): return [.send(.pong(nonce: nonce))]
        case .pong(let nonce):
            if nonce == pingOutstanding { pingOutstanding = nil }
            return []
        case .bye:
            peerBye = true
            if byeSent { return close(.done) }
            return finishIfDone()
        case .error(let e): return close(.peerError(e))
        case .rotate(let announcement):
            guard !rotationReceived else { return fail(.unexpectedMessage, "a second ROTATE") }
            rotationReceived = true
            return [.rotationAnnounced(announcement)]
        }
    }

    mutating func receiveBatch(_ batch: Changes) -> [Action] {
        guard var p = pull, p.requested else { return fail(.unexpectedMessage, "CHANGES before PULL") }
        guard batch.after == p.expectedAfter else {
            return fail(.checkpointMismatch, "CHANGES after \(batch.after) does not follow \(p.expectedAfter)")
        }
        let pending = p.queue.count + (p.applying ? 1 : 0)
        guard pending < limits.windowBatches else {
            return fail(.windowExceeded, "more than \(limits.windowBatches) batches unacknowledged")
        }
        p.expectedAfter = batch.upTo
        p.queue.append(batch)
        pull = p
        return applyNext()
    }

    mutating func applyNext() -> [Action] {
        guard var p = pull, !p.applying, !p.queue.isEmpty else { return [] }
        let batch = p.queue.removeFirst()
        p.applying = true
        pull = p
        return [.apply(batch, peerIncarnation: p.peerIncarnation)]
    }

    mutating func serveMore() -> [Action] {
        guard var s = serve, !s.preparing else { return [] }
        if !s.resync.isEmpty, s.unacked.count < limits.windowBatches {
            let chunk = Array(s.resync.prefix(Session.resyncRecordsPerBatch))
            s.resync.removeFirst(chunk.count)
            s.preparing = true
            s.preparingResync = true
            serve = s
            return [.prepareBatch(after: s.position, resync: chunk, batch: batchesBuilt + 1)]
        }
        if !s.exhausted {
            guard s.unacked.count < limits.windowBatches else { return [] }
            s.preparing = true
            serve = s
            return [.prepareBatch(after: s.position, resync: [], batch: batchesBuilt + 1)]
        }
        if s.caughtUpSent != s.position {
            s.caughtUpSent = s.position
            serve = s
            return [.send(.caughtUp(seq: s.position))] + finishIfDone()
        }
        return []
    }

    mutating func finishIfDone() -> [Action] {
        guard case .active = state else { return [] }
        var actions: [Action] = []
        if var p = pull, let end = p.caughtUpAt, p.appliedUpTo >= end, p.queue.isEmpty, !p.applying, !p.reportedEnd {
            p.reportedEnd = true
            pull = p
            actions.append(.pulledToEnd(peerIncarnation: p.peerIncarnation, seq: end))
        }
        guard !isLive, !byeSent, pull?.reportedEnd == true, let s = serve, s.exhausted, s.resync.isEmpty, !s.preparing,
            s.unacked.isEmpty, s.caughtUpSent == s.position
        else { return actions }
        byeSent = true
        actions.append(.send(.bye))
        if peerBye { actions += close(.done) }
        return actions
    }

    mutating func fail(_ code: ErrorCode, _ detail: String) -> [Action] {
        let error = ProtocolError(code, detail)
        state = .closed(.localError(error))
        return [.send(.error(error)), .close(.localError(error))]
    }

    mutating func close(_ reason: CloseReason) -> [Action] {
        state = .closed(reason)
        return [.close(reason)]
    }
}
