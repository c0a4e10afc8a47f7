import Foundation
import SyncCore
import SyncProtocol

/// One peer's sync state as `spsync status` shows it.
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

    public var id: String
    public var role: String?
    public var address: String
    public var schedule: String
    public var state: State
    /// ms since the Unix epoch.
    public var lastSuccessAt: UInt64?
    public var lastAttemptAt: UInt64?
    public var lastError: String?
    public var lastErrorCode: String?
    public var failuresInARow: Int
    /// Changes recorded here since the last successful sync with this peer: an upper bound on what
    /// it has still to receive (some may be filtered out for it).
    public var pendingOut: UInt64?
    /// This node's last local seq when the last successful sync ended.
    public var localSeqAtLastSuccess: UInt64?
    /// Field writes applied from the peer in the last sync.
    public var receivedLastSync: Int?
    /// The peer's clock minus ours at its last HELLO, seconds.
    public var clockSkewSeconds: Int64?
    /// ms since the Unix epoch.
    public var nextSyncAt: UInt64?
    public var protocolVersion: UInt32?

    public init(id: String, role: String?, address: String, schedule: String, state: State) {
        self.id = id
        self.role = role
        self.address = address
        self.schedule = schedule
        self.state = state
        self.failuresInARow = 0
    }
}

/// The daemon's live view of every peer; sessions and schedulers report into it.
public actor PeerStatusBook {
    private var peers: [String: PeerStatus] = [:]
    private let persist: @Sendable ([PeerStatus]) -> Void

    /// `persist` is called after every change (the daemon writes the rows to the store, so
    /// `spsync status` can show them while the daemon is down).
    public init(_ initial: [PeerStatus], persist: @escaping @Sendable ([PeerStatus]) -> Void) {
        for p in initial { peers[p.id] = p }
        self.persist = persist
    }

    public func snapshot() -> [PeerStatus] { peers.values.sorted { $0.id < $1.id } }

    /// Makes the rows match node.toml after a reload: new peers get a row, removed ones lose it,
    /// and blocked ones say so.
    public func reconcile(with config: NodeConfig) {
        let ids = Set(config.peers.map(\.id))
        peers = peers.filter { ids.contains($0.key) }
        for peer in config.peers {
            var row =
                peers[peer.id]
                ?? PeerStatus(
                    id: peer.id, role: peer.role, address: peer.address, schedule: peer.schedule ?? "manual",
                    state: .idle)
            row.address = peer.address
            row.schedule = peer.schedule ?? "manual"
            if peer.fingerprint.map(config.blocked.contains) == true {
                row.state = .blocked
            } else if row.state == .blocked {
                row.state = .idle
            }
            peers[peer.id] = row
        }
        persist(snapshot())
    }

    public func update(_ id: String, _ change: (inout PeerStatus) -> Void) {
        guard var p = peers[id] else { return }
        change(&p)
        peers[id] = p
        persist(snapshot())
    }

    public func started(_ id: String, at now: UInt64) {
        update(id) {
            $0.state = .connected
            $0.lastAttemptAt = now
        }
    }

    /// A live session caught up: the peer is in step now.
    public func inStep(_ id: String, at now: UInt64, localSeq: UInt64) {
        update(id) {
            $0.lastSuccessAt = now
            $0.localSeqAtLastSuccess = localSeq
            $0.failuresInARow = 0
            $0.lastError = nil
            $0.lastErrorCode = nil
        }
    }

    public func finished(_ id: String, _ outcome: SessionOutcome, at now: UInt64, localSeq: UInt64) {
        update(id) {
            $0.lastAttemptAt = now
            $0.protocolVersion = outcome.protocolVersion ?? $0.protocolVersion
            if let skew = outcome.clockSkewSeconds { $0.clockSkewSeconds = skew }
            if outcome.succeeded {
                $0.lastSuccessAt = now
                $0.localSeqAtLastSuccess = localSeq
                $0.failuresInARow = 0
                $0.state = .idle
                $0.receivedLastSync = outcome.statistics.applied
            } else {
                $0.failuresInARow += 1
                $0.state = $0.failuresInARow >= 3 ? .failing : .retrying
                $0.lastError = outcome.error
                $0.lastErrorCode = outcome.errorCode
                if outcome.statistics.applied > 0 { $0.receivedLastSync = outcome.statistics.applied }
            }
        }
    }
}
