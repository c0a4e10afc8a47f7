import Foundation
import SyncCore
import SyncProtocol

/// One peer's sync state: what the daemon keeps, what one-shot `spsync sync` records, and what
/// `spsync status`, `status --check` and `status --peer` read. The one type for it (issue 11).
public struct PeerStatus: Codable, Sendable, Equatable {
    public enum State: String, Codable, Sendable {
        /// A session is open now.
        case connected
        /// Nothing to do until the next scheduled sync.
        case idle
        /// The last attempt failed; another follows with backoff.
        case retrying
        /// Several attempts in a row failed.
        case failing
        /// Its fingerprint is blocked.
        case blocked
    }

    /// One sync with the peer, as the history keeps it.
    public struct Sync: Codable, Sendable, Equatable {
        /// When it started and ended, ms since the Unix epoch.
        public var startedAt: UInt64?
        public var endedAt: UInt64
        public var ok: Bool
        /// What ran it: `scheduled`, `live`, `inbound` (the peer dialled), `sync --now`, `spsync sync`.
        public var via: String
        /// Field writes applied from the peer and sent to it.
        public var received: Int
        public var sent: Int
        public var errorCode: PeerErrorCode?
        public var error: String?
    }

    /// How many syncs `history` keeps, newest first.
    public static let historyMax = 20

    public var id: String
    public var role: String?
    public var address: String
    public var schedule: String
    public var state: State
    /// ms since the Unix epoch.
    public var lastSuccessAt: UInt64?
    public var lastAttemptAt: UInt64?
    /// The last failure since the last success: cleared by the next success (the history keeps it).
    public var lastError: String?
    public var lastErrorCode: PeerErrorCode?
    public var lastErrorAt: UInt64?
    public var failuresInARow: Int
    /// Field writes of this node's log the peer is entitled to and has not acknowledged (0 for a
    /// peer in step); computed when status is asked for, not saved.
    public var pendingOut: UInt64?
    /// This node's last local seq when the last successful sync ended.
    public var localSeqAtLastSuccess: UInt64?
    /// Field writes applied from the peer, and sent to it, in the last sync.
    public var receivedLastSync: Int?
    public var sentLastSync: Int?
    /// The peer's clock minus ours at its last HELLO, seconds.
    public var clockSkewSeconds: Int64?
    /// ms since the Unix epoch.
    public var nextSyncAt: UInt64?
    public var protocolVersion: UInt32?
    /// The last syncs, newest first (at most `historyMax`).
    public var history: [Sync]?

    public init(id: String, role: String?, address: String, schedule: String, state: State) {
        self.id = id
        self.role = role
        self.address = address
        self.schedule = schedule
        self.state = state
        self.failuresInARow = 0
    }

    /// One row per peer of `config`, from what was saved (a new peer starts afresh; a removed one
    /// is dropped): address and schedule as configured, `blocked` when its fingerprint is, and
    /// `connected` only while `connected` says a session is open.
    public static func rows(config: NodeConfig, saved: [PeerStatus], connected: Set<String>? = nil) -> [PeerStatus] {
        config.peers.map { peer in
            var row =
                saved.first { $0.id == peer.id }
                ?? PeerStatus(
                    id: peer.id, role: peer.role, address: peer.address, schedule: peer.schedule ?? "manual",
                    state: .idle)
            row.role = peer.role ?? row.role
            row.address = peer.address
            row.schedule = peer.schedule ?? "manual"
            if peer.fingerprint.map(config.blocked.contains) == true {
                row.state = .blocked
            } else if row.state == .blocked {
                row.state = .idle
            }
            if row.state == .connected, let connected, !connected.contains(peer.id) { row.state = .idle }
            return row
        }
    }

    /// Records a finished sync: success clears the error and the failure count; a failure keeps
    /// the last success and counts. Either way it joins the history.
    public mutating func record(
        _ outcome: SessionOutcome, startedAt: UInt64?, at now: UInt64, via: String, localSeq: UInt64
    ) {
        lastAttemptAt = startedAt ?? now
        protocolVersion = outcome.protocolVersion ?? protocolVersion
        if let skew = outcome.clockSkewSeconds { clockSkewSeconds = skew }
        if outcome.succeeded {
            lastSuccessAt = now
            localSeqAtLastSuccess = localSeq
            failuresInARow = 0
            state = state == .blocked ? .blocked : .idle
            lastError = nil
            lastErrorCode = nil
            lastErrorAt = nil
        } else {
            failuresInARow += 1
            if state != .blocked { state = failuresInARow >= 3 ? .failing : .retrying }
            lastError = outcome.error ?? "the session ended without a reason"
            lastErrorCode = outcome.errorCode ?? .unknown
            lastErrorAt = now
        }
        receivedLastSync = outcome.statistics.applied
        sentLastSync = outcome.statistics.writesOut
        let sync = Sync(
            startedAt: startedAt, endedAt: now, ok: outcome.succeeded, via: via, received: outcome.statistics.applied,
            sent: outcome.statistics.writesOut, errorCode: outcome.succeeded ? nil : lastErrorCode,
            error: outcome.succeeded ? outcome.note : lastError)
        history = Array(([sync] + (history ?? [])).prefix(Self.historyMax))
    }
}

/// The daemon's live view of every peer; sessions and schedulers report into it.
public actor PeerStatusBook {
    private var peers: [String: PeerStatus] = [:]
    /// When each open session started, for the history.
    private var started: [String: UInt64] = [:]
    private let persist: @Sendable ([PeerStatus]) -> Void
    /// How long changes gather before `persist` writes them together.
    private let persistAfter: Duration
    private var dirty = false
    private var flushScheduled = false

    /// `persist` is called with every row at most once per `persistAfter` while rows change, and
    /// by `flush` (the daemon writes the rows beside the store, so `spsync status` can show them
    /// while the daemon is down; it flushes when it stops). Written after every change, a hub with
    /// 1,000 peers encoded and wrote all 1,000 rows several times per session: 606 s and 1.6 GiB
    /// for 1,000 practices dialling in (docs/performance.md).
    public init(
        _ initial: [PeerStatus], persistAfter: Duration = .seconds(1),
        persist: @escaping @Sendable ([PeerStatus]) -> Void
    ) {
        for p in initial { peers[p.id] = p }
        self.persist = persist
        self.persistAfter = persistAfter
    }

    /// Notes a change: the rows are written within `persistAfter`.
    private func changed() {
        dirty = true
        guard !flushScheduled else { return }
        flushScheduled = true
        Task { [persistAfter] in
            try? await Task.sleep(for: persistAfter)
            self.flush()
        }
    }

    /// Writes the rows now if anything changed since they were last written.
    public func flush() {
        flushScheduled = false
        guard dirty else { return }
        dirty = false
        persist(snapshot())
    }

    public func snapshot() -> [PeerStatus] { peers.values.sorted { $0.id < $1.id } }

    /// Makes the rows match node.toml after a reload: new peers get a row, removed ones lose it,
    /// and blocked ones say so.
    public func reconcile(with config: NodeConfig) {
        let rows = PeerStatus.rows(config: config, saved: snapshot())
        peers = Dictionary(uniqueKeysWithValues: rows.map { ($0.id, $0) })
        changed()
    }

    public func update(_ id: String, _ change: (inout PeerStatus) -> Void) {
        guard var p = peers[id] else { return }
        change(&p)
        peers[id] = p
        changed()
    }

    public func started(_ id: String, at now: UInt64) {
        started[id] = now
        update(id) {
            if $0.state != .blocked { $0.state = .connected }
            $0.lastAttemptAt = now
        }
    }

    /// A live session caught up: the peer is in step now; an earlier error is over.
    public func inStep(_ id: String, at now: UInt64, localSeq: UInt64) {
        update(id) {
            let recovered = $0.lastErrorAt != nil || $0.lastSuccessAt == nil
            $0.lastSuccessAt = now
            $0.localSeqAtLastSuccess = localSeq
            $0.failuresInARow = 0
            $0.lastError = nil
            $0.lastErrorCode = nil
            $0.lastErrorAt = nil
            if recovered {
                // Catching up after a failure (or for the first time) is a sync worth a history line;
                // a live session's every later catch-up is not.
                let sync = PeerStatus.Sync(
                    startedAt: started[id], endedAt: now, ok: true, via: "live", received: 0, sent: 0,
                    errorCode: nil, error: "in step")
                $0.history = Array(([sync] + ($0.history ?? [])).prefix(PeerStatus.historyMax))
            }
        }
    }

    /// When the session with `id` now open started, if one is.
    public func startedAt(_ id: String) -> UInt64? { started[id] }

    public func finished(_ id: String, _ outcome: SessionOutcome, at now: UInt64, via: String, localSeq: UInt64) {
        let began = started.removeValue(forKey: id)
        update(id) { $0.record(outcome, startedAt: began, at: now, via: via, localSeq: localSeq) }
    }
}
