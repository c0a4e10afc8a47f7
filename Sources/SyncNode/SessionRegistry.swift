import SyncProtocol

/// The daemon's open sessions by peer: at most one per peer (Protocol/SPEC.md section 1), each with
/// a way to cut it and to wait for its end.
///
/// Two sessions with one peer would share the sent ledger's pending decisions: one could confirm
/// the other's `NARROW` that the peer never applied, and a charity would keep contact details it
/// may not see (issue 9). So a new connection from a peer waits for the old session to end, an
/// outbound dial waits for any session with the peer to end, and when both sides dial at once the
/// connection dialled by the smaller node id wins on both sides.
actor SessionRegistry {
    enum Direction: Sendable { case inbound, outbound }

    /// A registered session: its id and what its closing `ERROR` says if it is cut.
    struct Ticket: Sendable {
        var id: Int
        var stop: SessionStop
    }

    private struct Entry {
        var peer: String
        var direction: Direction
        var stop = SessionStop()
        var cancel: (@Sendable () -> Void)?
        var cancelRequested = false
        var live = false
        var inStep = false
        var waiters: [CheckedContinuation<Void, Never>] = []
    }

    private var open: [Int: Entry] = [:]

    /// How many sessions are open now.
    var count: Int { open.count }
    private var next = 0

    private func register(_ peer: String, _ direction: Direction, live: Bool) -> Ticket {
        next += 1
        let entry = Entry(peer: peer, direction: direction, live: live)
        open[next] = entry
        return Ticket(id: next, stop: entry.stop)
    }

    /// Admits a connection `peer` made to this node (`me`): returns its id once no other session
    /// with the peer is open, or nil when this node's own dial to the peer wins (`me` sorts first).
    /// Any other session with the peer is cut and waited for: the peer's new connection supersedes
    /// its old one (which may be half-open), and this node's losing dial gives way.
    func admitInbound(_ peer: String, me: String) async -> Ticket? {
        while true {
            let existing = open.filter { $0.value.peer == peer }
            if existing.isEmpty { return register(peer, .inbound, live: true) }
            if existing.values.contains(where: { $0.direction == .outbound }),
                Array(me.utf8).lexicographicallyPrecedes(peer.utf8)
            {
                return nil
            }
            for (id, entry) in existing.sorted(by: { $0.key < $1.key }) {
                entry.stop.set(
                    .busy,
                    entry.direction == .inbound
                        ? "superseded by a newer connection from \(peer)"
                        : "\(peer) dialled this node at the same time and its connection wins")
                cut(id)
                await ended(id)
            }
        }
    }

    /// Admits a dial to `peer`: returns its id, or nil while a session with the peer is open.
    func admitOutbound(_ peer: String, live: Bool) -> Ticket? {
        guard !open.values.contains(where: { $0.peer == peer }) else { return nil }
        return register(peer, .outbound, live: live)
    }

    /// Whether any session with `peer` is open.
    func hasSession(_ peer: String) -> Bool {
        open.values.contains { $0.peer == peer }
    }

    /// Whether a live session with `peer` is open and has caught up.
    func inStep(_ peer: String) -> Bool {
        open.values.contains { $0.peer == peer && $0.live && $0.inStep }
    }

    /// Cuts every session with `peer`, saying `detail` in its closing `ERROR`, and waits for them to end.
    func supersede(_ peer: String, _ detail: String) async {
        while let (id, entry) = open.first(where: { $0.value.peer == peer }) {
            entry.stop.set(.busy, detail)
            cut(id)
            await ended(id)
        }
    }

    /// Gives a registered session its way to be cut (at once, if a cut was asked for already).
    func attach(_ id: Int, cancel: @escaping @Sendable () -> Void) {
        guard open[id] != nil else { return cancel() }
        open[id]?.cancel = cancel
        if open[id]?.cancelRequested == true { cancel() }
    }

    /// Notes that a session has caught up with its peer.
    func markInStep(_ peer: String) {
        for (id, entry) in open where entry.peer == peer { open[id]?.inStep = true }
    }

    func remove(_ id: Int) {
        guard let entry = open.removeValue(forKey: id) else { return }
        for waiter in entry.waiters { waiter.resume() }
    }

    /// Waits for session `id` to end.
    private func ended(_ id: Int) async {
        guard open[id] != nil else { return }
        await withCheckedContinuation { continuation in
            open[id]?.waiters.append(continuation)
        }
    }

    private func cut(_ id: Int) {
        open[id]?.cancelRequested = true
        open[id]?.cancel?()
    }

    /// Cuts every session whose peer matches; returns those peers.
    func cut(where shouldCut: (String) -> Bool) -> [String] {
        var cut: [String] = []
        for (id, session) in open where shouldCut(session.peer) {
            self.cut(id)
            cut.append(session.peer)
        }
        return cut.sorted()
    }
}
