import SyncCore
import SyncProtocol
import Testing

/// The session and its driver over an in-memory store (`MemoryStore`): the protocol's own rules —
/// the window, `CAUGHT_UP`, `PULL` admission, the timers, batch numbering — with no SQLite.
@Suite("sessions over an in-memory store")
struct MemorySessionTests {
    static let t0: UInt64 = 1_780_000_000_000
    static let practice = "U12345"
    static let charity = "GB-CHC-1234567"

    /// Runs two drivers against each other until neither has anything to send.
    func pump(_ a: SessionDriver, _ b: SessionDriver) {
        var toB = a.start(nowMillis: Self.t0)
        var toA = b.start(nowMillis: Self.t0)
        while !toA.isEmpty || !toB.isEmpty {
            let (inA, inB) = (toA, toB)
            (toA, toB) = ([], [])
            for frame in inA where !a.isClosed { toB += a.receive(frame, nowMillis: Self.t0) }
            for frame in inB where !b.isClosed { toA += b.receive(frame, nowMillis: Self.t0) }
        }
    }

    /// A peer played by hand: its `HELLO` to `store`'s node.
    func hello(from peer: MemoryStore, mode: SessionMode = .oneShot) -> Frame {
        Message.hello(
            Hello(
                schemaVersion: 1, node: peer.node, incarnation: peer.incarnation, heldOfYou: [:], software: "test",
                wallMillis: Self.t0, mode: mode)
        ).frame
    }

    func messages(_ frames: [Frame]) throws -> [Message] {
        try frames.map { try Message(frame: $0) }
    }

    func errorCode(_ frames: [Frame]) throws -> ErrorCode? {
        for case .error(let e) in try messages(frames) { return e.code }
        return nil
    }

    @Test("two nodes sync both ways in several batches, each batch's decisions confirmed by its number, once")
    func bothWays() throws {
        var limits = Limits.standard
        limits.batchChangesMax = 10
        limits.windowBatches = 2
        let p = try MemoryStore(Self.practice, limits: limits, seed: 1)
        let c = try MemoryStore(Self.charity, limits: limits, seed: 2)
        try p.write(35, writes: 3)
        try c.write(12)
        let a = try SessionDriver(store: p, peer: c.node, mode: .oneShot)
        let b = try SessionDriver(store: c, peer: p.node, mode: .oneShot)
        pump(a, b)
        #expect(a.closeReason == .done && b.closeReason == .done)
        #expect(p.heldChanges == c.heldChanges && p.heldChanges.count == 47)
        #expect(c.snapshot.applied == 105 && p.snapshot.applied == 12)
        // Each batch built was acknowledged once, in order, by its number; at least the four that
        // 35 changes in batches of 10 need (the log grows with what the peer sends meanwhile).
        #expect(a.session.batchesBuilt >= 4 && b.session.batchesBuilt >= 2)
        #expect(p.snapshot.acked.flatMap { $0 } == Array(1...a.session.batchesBuilt))
        #expect(c.snapshot.acked.flatMap { $0 } == Array(1...b.session.batchesBuilt))
        #expect(p.snapshot.pulled == [0] && c.snapshot.pulled == [0])
        #expect(try p.checkpoint(peer: c.node, incarnation: c.incarnation) == 47)
        // Again: nothing moves, both start from their checkpoints.
        let a2 = try SessionDriver(store: p, peer: c.node, mode: .oneShot)
        let b2 = try SessionDriver(store: c, peer: p.node, mode: .oneShot)
        pump(a2, b2)
        #expect(a2.closeReason == .done && b2.closeReason == .done)
        #expect(a2.statistics.applied == 0 && b2.statistics.applied == 0)
        #expect(p.snapshot.pulled == [0, 47])
    }

    @Test("a peer sending more batches than the window before the first is applied is refused (window_exceeded)")
    func windowExceeded() throws {
        let p = try MemoryStore(Self.practice)
        let c = try MemoryStore(Self.charity, seed: 2)
        var limits = Limits.standard
        limits.windowBatches = 2
        var session = Session(
            Session.Configuration(
                node: p.node, incarnation: p.incarnation, lastSeq: 0, rolledBack: false, peer: c.node,
                heldOfPeer: [:], mode: .oneShot, schemaVersion: 1, software: "test", limits: limits))
        _ = session.start(nowMillis: Self.t0)
        let hello = Hello(
            schemaVersion: 1, node: c.node, incarnation: c.incarnation, heldOfYou: [:], software: "test",
            wallMillis: Self.t0, mode: .oneShot)
        #expect(session.receive(.hello(hello)) == [.preparePull(peerIncarnation: c.incarnation)])
        _ = session.pullPrepared(after: 0, holding: [])
        let first = session.receive(.changes(Changes(after: 0, upTo: 1, items: [])))
        #expect(first == [.apply(Changes(after: 0, upTo: 1, items: []), peerIncarnation: c.incarnation)])
        // Applying the first; the second waits; a third is one too many.
        #expect(session.receive(.changes(Changes(after: 1, upTo: 2, items: []))) == [])
        let third = session.receive(.changes(Changes(after: 2, upTo: 3, items: [])))
        guard case .send(.error(let e))? = third.first else {
            Issue.record("no ERROR: \(third)")
            return
        }
        #expect(e.code == .windowExceeded)
        #expect(session.isClosed)
    }

    @Test("CAUGHT_UP at another point than the batches received end is refused (checkpoint_mismatch)")
    func caughtUpMismatch() throws {
        let p = try MemoryStore(Self.practice)
        let c = try MemoryStore(Self.charity, seed: 2)
        try c.write(1)
        let a = try SessionDriver(store: p, peer: c.node, mode: .oneShot)
        _ = a.start(nowMillis: Self.t0)
        let answer = try messages(a.receive(hello(from: c), nowMillis: Self.t0))
        #expect(answer.contains(.pull(incarnation: c.incarnation, after: 0)))
        let change = c.snapshot.log[0].change
        let acked = a.receive(
            Message.changes(Changes(after: 0, upTo: 5, items: [.change(change)])).frame, nowMillis: Self.t0)
        #expect(try messages(acked) == [.ack(upTo: 5)])
        let refused = a.receive(Message.caughtUp(seq: 3).frame, nowMillis: Self.t0)
        #expect(try errorCode(refused) == .checkpointMismatch)
        #expect(a.isClosed && p.snapshot.applied == 1)
    }

    @Test("an ACK for no batch in flight is refused (window_exceeded)")
    func ackForNothing() throws {
        let p = try MemoryStore(Self.practice)
        let c = try MemoryStore(Self.charity, seed: 2)
        let a = try SessionDriver(store: p, peer: c.node, mode: .oneShot)
        _ = a.start(nowMillis: Self.t0)
        _ = a.receive(hello(from: c), nowMillis: Self.t0)
        let refused = a.receive(Message.ack(upTo: 9).frame, nowMillis: Self.t0)
        #expect(try errorCode(refused) == .windowExceeded)
    }

    @Test("no HELLO within handshakeTimeoutSeconds ends the session (handshake_timeout)")
    func handshakeTimeout() throws {
        let p = try MemoryStore(Self.practice)
        let c = try MemoryStore(Self.charity, seed: 2)
        let a = try SessionDriver(store: p, peer: c.node, mode: .oneShot)
        _ = a.start(nowMillis: Self.t0)
        let limit = UInt64(p.limits.handshakeTimeoutSeconds) * 1000
        #expect(a.tick(nowMillis: Self.t0 + limit - 1).isEmpty && !a.isClosed)
        #expect(try errorCode(a.tick(nowMillis: Self.t0 + limit)) == .handshakeTimeout)
        #expect(a.isClosed)
    }

    @Test("a silent peer is pinged at half the idle timeout and dropped at it (idle_timeout)")
    func idleTimeout() throws {
        let p = try MemoryStore(Self.practice)
        let c = try MemoryStore(Self.charity, seed: 2)
        let a = try SessionDriver(store: p, peer: c.node, mode: .live)
        _ = a.start(nowMillis: Self.t0)
        _ = a.receive(hello(from: c, mode: .live), nowMillis: Self.t0)
        #expect(a.tick(nowMillis: Self.t0).isEmpty)
        let idle = UInt64(p.limits.idleTimeoutSeconds) * 1000
        #expect(try messages(a.tick(nowMillis: Self.t0 + idle / 2)) == [.ping(nonce: 1)])
        #expect(!a.isClosed)
        #expect(try errorCode(a.tick(nowMillis: Self.t0 + idle)) == .idleTimeout)
        #expect(a.isClosed)
    }

    @Test("a PULL the store will not serve is refused with its reason (limit_exceeded); one it serves is confirmed")
    func pullAdmission() throws {
        let reason = "asked for this node's whole log again too often"
        let p = try MemoryStore(Self.practice) { after in after == 0 ? reason : nil }
        let c = try MemoryStore(Self.charity, seed: 2)
        try p.write(3)
        let a = try SessionDriver(store: p, peer: c.node, mode: .oneShot)
        _ = a.start(nowMillis: Self.t0)
        _ = a.receive(hello(from: c), nowMillis: Self.t0)
        let refused = try messages(
            a.receive(Message.pull(incarnation: p.incarnation, after: 0).frame, nowMillis: Self.t0))
        guard case .error(let e)? = refused.first else {
            Issue.record("no ERROR: \(refused)")
            return
        }
        #expect(e.code == .limitExceeded && e.detail == reason)
        #expect(p.snapshot.pullsAsked == [0] && p.snapshot.pulled.isEmpty)

        let b = try SessionDriver(store: p, peer: c.node, mode: .oneShot)
        _ = b.start(nowMillis: Self.t0)
        _ = b.receive(hello(from: c), nowMillis: Self.t0)
        let served = try messages(
            b.receive(Message.pull(incarnation: p.incarnation, after: 1).frame, nowMillis: Self.t0))
        #expect(p.snapshot.pulled == [1])
        guard case .changes(let batch)? = served.first else {
            Issue.record("no CHANGES: \(served)")
            return
        }
        #expect(batch.after == 1 && batch.upTo == 3 && batch.changeCount == 2)
    }

    @Test("two sessions with one peer race on its checkpoint: the second batch is refused (checkpoint_mismatch)")
    func twoSessionsRace() throws {
        // Why the daemon keeps one connection per pair of peers (decision 26): here both are open.
        let p = try MemoryStore(Self.practice)
        let c = try MemoryStore(Self.charity, seed: 2)
        try c.write(2)
        let batch = Message.changes(Changes(after: 0, upTo: 2, items: c.snapshot.log.map { .change($0.change) })).frame
        let first = try SessionDriver(store: p, peer: c.node, mode: .live)
        let second = try SessionDriver(store: p, peer: c.node, mode: .live)
        for d in [first, second] {
            _ = d.start(nowMillis: Self.t0)
            _ = d.receive(hello(from: c, mode: .live), nowMillis: Self.t0)
        }
        #expect(try messages(first.receive(batch, nowMillis: Self.t0)) == [.ack(upTo: 2)])
        #expect(try errorCode(second.receive(batch, nowMillis: Self.t0)) == .checkpointMismatch)
        #expect(p.snapshot.applied == 2)
    }
}
