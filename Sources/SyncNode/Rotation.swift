import Foundation
import NIOConcurrencyHelpers
import SyncCore
import SyncProtocol
import SyncTransport

/// A certificate rotation under way (`spsync cert rotate`): the next key and certificate beside the
/// current ones, the announcement signed by the current key, and the peers told so far.
///
/// Every session announces it (`ROTATE`) until each configured peer has it; the node then switches
/// to the new key the next time it starts (`spsync sync`, `spsync daemon`). Peers pin the new
/// fingerprint as "next", accept both until the node first presents the new one, then drop the old.
public struct PendingRotation: Codable, Sendable, Equatable {
    public var fingerprint: String
    /// Base64 DER of the new certificate.
    public var certificate: String
    /// Base64 ECDSA-SHA256 signature by the current key over `RotationAnnouncement.signedBytes`.
    public var signature: String
    public var announcedTo: [String]
    /// ms since the Unix epoch.
    public var startedAt: UInt64

    public static let nextKey = "key.next.pem"
    public static let nextCertificate = "cert.next.pem"

    static func path(_ home: NodeHome) -> String { home.path + "/rotation.json" }

    public var announcement: RotationAnnouncement? {
        guard let c = Data(base64Encoded: certificate), let s = Data(base64Encoded: signature) else { return nil }
        return RotationAnnouncement(certificate: [UInt8](c), signature: [UInt8](s))
    }

    public static func load(_ home: NodeHome) throws -> PendingRotation? {
        let path = path(home)
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        do {
            return try JSONDecoder().decode(PendingRotation.self, from: Data(contentsOf: URL(fileURLWithPath: path)))
        } catch {
            throw SyncError(
                .storeInvalid, "\(path) is unreadable (\(error)); remove it and run `spsync cert rotate` again")
        }
    }

    public func save(_ home: NodeHome) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        let tmp = PendingRotation.path(home) + ".tmp"
        do { try encoder.encode(self).write(to: URL(fileURLWithPath: tmp)) } catch {
            throw SyncError(.io, "cannot write \(tmp): \(error.localizedDescription)")
        }
        guard rename(tmp, PendingRotation.path(home)) == 0 else {
            throw SyncError(.io, "cannot replace \(PendingRotation.path(home))")
        }
    }

    /// Starts a rotation: a new key and certificate, and the announcement signed by the current key.
    public static func start(home: NodeHome, current: NodeIdentity, wallMillis: UInt64) throws -> PendingRotation {
        if let pending = try load(home) {
            throw SyncError(
                .exists,
                "a rotation to \(pending.fingerprint) is under way (told \(pending.announcedTo.count) peers so far); "
                    + "sync with every peer to finish it")
        }
        let keyPath = home.path + "/" + nextKey, certPath = home.path + "/" + nextCertificate
        for leftover in [keyPath, certPath] where FileManager.default.fileExists(atPath: leftover) {
            // A rotation interrupted before rotation.json was written: start it again.
            try FileManager.default.removeItem(atPath: leftover)
        }
        let next: NodeIdentity
        let signature: [UInt8]
        do {
            next = try NodeIdentity.generate(nodeID: current.nodeID, keyPath: keyPath, certificatePath: certPath)
            signature = try CertificateRotation.sign(
                RotationAnnouncement.signedBytes(next.certificateDER), with: current)
        } catch {
            throw SyncError(.io, "\(error)")
        }
        let rotation = PendingRotation(
            fingerprint: next.fingerprint.description, certificate: Data(next.certificateDER).base64EncodedString(),
            signature: Data(signature).base64EncodedString(), announcedTo: [], startedAt: wallMillis)
        try rotation.save(home)
        return rotation
    }

    /// Switches to the new key if every configured peer has been told (or there are none). The old
    /// key and certificate are kept as `key.old.pem` and `cert.old.pem`. Returns whether it switched.
    @discardableResult
    public static func promoteIfAnnounced(home: NodeHome, peers: [String]) throws -> Bool {
        guard let pending = try load(home), Set(peers).isSubset(of: Set(pending.announcedTo)) else { return false }
        let fm = FileManager.default
        for (from, to) in [
            ("key.pem", "key.old.pem"), ("cert.pem", "cert.old.pem"), (nextKey, "key.pem"),
            (nextCertificate, "cert.pem"),
        ] {
            let target = home.path + "/" + to
            if fm.fileExists(atPath: target) { try fm.removeItem(atPath: target) }
            try fm.moveItem(atPath: home.path + "/" + from, toPath: target)
        }
        try fm.removeItem(atPath: path(home))
        return true
    }

    /// Records that `peer` was told.
    public static func markAnnounced(home: NodeHome, peer: String) throws {
        guard var pending = try load(home), !pending.announcedTo.contains(peer) else { return }
        pending.announcedTo.append(peer)
        pending.announcedTo.sort()
        try pending.save(home)
    }
}

/// The trust policy of a running node, updated in place when a peer rotates its certificate.
public final class LiveTrust: TrustPolicy {
    private let policy: NIOLockedValueBox<PinnedPeerTrust>

    public init(_ initial: PinnedPeerTrust) { policy = NIOLockedValueBox(initial) }

    public func evaluate(_ certificate: PeerCertificate) -> TrustDecision {
        policy.withLockedValue { $0 }.evaluate(certificate)
    }

    public func update(_ change: (inout PinnedPeerTrust) -> Void) { policy.withLockedValue { change(&$0) } }

    /// The trust table as it stands.
    public var current: PinnedPeerTrust { policy.withLockedValue { $0 } }
}

/// Serialises edits of node.toml within one process (sessions report rotations concurrently).
enum ConfigEdits {
    static let lock = NIOLock()

    /// Applies `change` to node.toml; writes the file only when `change` changed something, so a
    /// session with nothing to record never touches it (nor fails for a full disk).
    static func edit(_ home: NodeHome, _ change: (inout NodeConfig) throws -> Void) throws {
        try lock.withLock {
            let before = try home.config()
            var config = before
            try change(&config)
            if config != before { try config.save(home.configPath) }
        }
    }
}
