import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import SyncCore
import SyncProtocol
import SyncStore
import SyncTransport

/// Everything a node needs to talk to its peers: configuration, store, identity, TLS and an event loop group.
public final class NodeRuntime: Sendable {
    public let home: NodeHome
    /// node.toml as read when the node opened, and typed (`NodeSettings`).
    public let settings: NodeSettings
    public var config: NodeConfig { settings.file }
    public var node: NodeID { settings.node }
    public let store: Store
    public let identity: NodeIdentity
    public let transport: TransportConfiguration
    /// The trust table, updated in place when a peer rotates its certificate.
    public let trust: LiveTrust
    /// Each peer's announced next fingerprint, as node.toml holds it: a session presenting one of
    /// these promotes it (`afterSession`). Kept here so that the other sessions — all of them but
    /// the one after a rotation — read and parse no node.toml: a hub with 1,000 peers parsed its
    /// whole node.toml after every session (469 s and 1.6 GiB for 1,000 practices dialling in).
    let announcedNext: NIOLockedValueBox<[String: CertificateFingerprint]>
    /// How key bindings from peers are anchored (pinned peers, the network CA).
    public let keyPolicy: NodeKeyPolicy

    /// This node's rotation under way, announced to each peer in its sessions: read afresh for
    /// each session, so `spsync cert rotate` reaches a running daemon's next session.
    public var rotation: RotationAnnouncement? {
        do { return try PendingRotation.load(home)?.announcement } catch {
            logger.warning("cannot read the rotation under way", metadata: ["error": "\(error)"])
            return nil
        }
    }
    public let group: MultiThreadedEventLoopGroup
    /// The threads store work runs on (SQLite calls block): never Swift's cooperative pool, which
    /// has one thread per core and is shared by every session, the listener and the HTTP side.
    public let storeThreads: NIOThreadPool
    public let logger: Logger

    /// Threads for store work: enough that a session applying a batch does not hold up another's
    /// reads (SQLite serialises the writes themselves).
    public static let storeThreadCount = max(2, System.coreCount)

    /// Opens the node in `home`: refuses a private key readable by others, a home, config or store
    /// that others can write, a config that does not match the store, or peers whose entries are
    /// invalid. The checks come before a pending rotation is promoted, so a refusal moves no file.
    public init(home: NodeHome, logger: Logger, threads: Int = 1) throws {
        self.home = home
        let config = try home.checkedConfig()
        let settings = try NodeSettings(config)
        self.settings = settings
        // A rotation every peer has heard of takes effect now, before the key is loaded: the store
        // then binds the new key from its next seq, handed over by the old one.
        if try PendingRotation.promoteIfAnnounced(home: home, peers: config.peers.map(\.id)) {
            logger.notice(
                "switched to the rotated key and certificate; the old ones are kept as key.old.pem and cert.old.pem")
        }
        self.identity = try home.identity()
        // Refuses a certificate or store of another node than node.toml names.
        self.store = try home.store(identity: identity)
        let trust = LiveTrust(NodeRuntime.trust(settings))
        self.announcedNext = NIOLockedValueBox(NodeRuntime.announcedNext(settings))
        self.trust = trust
        do {
            self.keyPolicy = NodeKeyPolicy(
                trust: trust, authority: try config.node.caFile.map { try CertificateAuthority(caFile: $0) })
        } catch {
            throw SyncError(.usage, "node.toml ca_file: \(error)")
        }
        let minimum = settings.tlsMinimum
        let limits = store.limits
        var transport = TransportConfiguration(
            tls: TLSConfiguration(
                identity: identity, trust: trust, minimumVersion: minimum, caFilePath: config.node.caFile,
                handshakeTimeoutSeconds: Int64(limits.handshakeTimeoutSeconds),
                idleTimeoutSeconds: Int64(limits.idleTimeoutSeconds),
                // A session has at most `windowBatches` batches of at most a frame each in flight (and
                // small control frames); the TLS write buffer holds twice that, so a healthy session
                // never trips the limit, which closes the connection rather than drop a write.
                writeBufferBytesMax: max(16 * 1024 * 1024, 2 * limits.windowBatches * limits.frameBytesMax)),
            frameBytesMax: limits.frameBytesMax, sessionsMax: limits.sessionsMax,
            unauthenticatedMax: limits.unauthenticatedMax,
            unauthenticatedPerAddressMax: limits.unauthenticatedPerAddressMax,
            handshakesPerSecondMax: limits.handshakesPerSecondMax)
        transport.dialFrom = settings.dialFrom
        self.transport = transport
        self.group = MultiThreadedEventLoopGroup(numberOfThreads: threads)
        self.storeThreads = NIOThreadPool(numberOfThreads: NodeRuntime.storeThreadCount)
        self.storeThreads.start()
        self.logger = logger
    }

    /// Runs blocking store work on the store threads and waits for it without holding a thread of
    /// the cooperative pool.
    public func storeWork<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await storeThreads.runIfActive(body)
    }

    /// The trust policy from node.toml: each peer's pinned (and announced next) fingerprint, blocked
    /// keys, and in CA mode every configured peer id.
    static func trust(_ settings: NodeSettings) -> PinnedPeerTrust {
        var pinned: [CertificateFingerprint: String] = [:]
        for peer in settings.peers {
            for fingerprint in [peer.fingerprint, peer.nextFingerprint].compactMap({ $0 }) {
                pinned[fingerprint] = peer.id.rawValue
            }
        }
        let caPeers = settings.file.node.caFile == nil ? [] : Set(settings.peers.map(\.id.rawValue))
        return PinnedPeerTrust(pinned: pinned, caPeerIDs: caPeers, blocked: settings.blocked)
    }

    /// Each peer's announced next fingerprint in `settings`.
    static func announcedNext(_ settings: NodeSettings) -> [String: CertificateFingerprint] {
        var out: [String: CertificateFingerprint] = [:]
        for peer in settings.peers { if let next = peer.nextFingerprint { out[peer.id.rawValue] = next } }
        return out
    }

    /// Carries out what a session learnt about certificates: that this node's rotation reached the
    /// peer; that the peer announced its next certificate (checked against the one that
    /// authenticated the connection, then pinned as the peer's next fingerprint); that the peer
    /// presented its announced next certificate (promoted, the old fingerprint dropped).
    public func afterSession(_ outcome: SessionOutcome) {
        let peer = outcome.peer
        do {
            if outcome.rotationSent {
                try PendingRotation.markAnnounced(home: home, peer: peer)
            }
            if let next = outcome.peerNextFingerprint {
                try ConfigEdits.edit(home) { config in
                    guard let i = config.peers.firstIndex(where: { $0.id == peer }) else { return }
                    config.peers[i].nextFingerprint = next.description
                }
                trust.update { $0.pinned[next] = peer }
                announcedNext.withLockedValue { $0[peer] = next }
                logger.notice(
                    "peer announced its next certificate", metadata: ["peer": "\(peer)", "fingerprint": "\(next)"])
            }
            if let presented = outcome.presentedFingerprint,
                announcedNext.withLockedValue({ $0[peer] }) == presented
            {
                var dropped: CertificateFingerprint?
                try ConfigEdits.edit(home) { config in
                    guard let i = config.peers.firstIndex(where: { $0.id == peer }),
                        config.peers[i].nextFingerprint == presented.description
                    else { return }
                    // A malformed old pin has nothing to drop from the trust table.
                    dropped = config.peers[i].fingerprint.flatMap { try? CertificateFingerprint(parsing: $0) }
                    config.peers[i].fingerprint = presented.description
                    config.peers[i].nextFingerprint = nil
                }
                announcedNext.withLockedValue { $0[peer] = nil }
                if let dropped {
                    trust.update { $0.pinned[dropped] = nil }
                    logger.notice(
                        "peer switched to its rotated certificate",
                        metadata: ["peer": "\(peer)", "fingerprint": "\(presented)"])
                }
            }
        } catch {
            logger.error("cannot record a certificate rotation", metadata: ["peer": "\(peer)", "error": "\(error)"])
        }
        let stats = outcome.statistics
        if stats.forged > 0 {
            logger.warning(
                "refused writes whose origin signature does not verify (forged, altered or unsigned): nothing of them was stored or relayed; see `spsync status`",
                metadata: ["peer": "\(peer)", "writes": "\(stats.forged)"])
        }
        if stats.keysRefused > 0 {
            logger.warning(
                "refused key bindings (see `spsync status`)",
                metadata: ["peer": "\(peer)", "bindings": "\(stats.keysRefused)"])
        }
        if stats.falseClaims > 0 {
            logger.warning(
                "peer claims to hold more of this node's changes than it made: ignored unless it sends them signed with this node's key",
                metadata: ["peer": "\(peer)"])
        }
        if let problem = outcome.rotationProblem {
            logger.warning(
                "peer's rotation announcement refused", metadata: ["peer": "\(peer)", "reason": "\(problem)"])
        }
    }

    /// Closes the event loop group and the store threads.
    public func shutdown() async {
        do { try await group.shutdownGracefully() } catch {
            logger.warning("event loop shutdown failed", metadata: ["error": "\(error)"])
        }
        do { try await storeThreads.shutdownGracefully() } catch {
            logger.warning("store thread shutdown failed", metadata: ["error": "\(error)"])
        }
    }
}
