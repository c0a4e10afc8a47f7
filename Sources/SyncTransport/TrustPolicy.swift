import SyncCore

/// The verdict of a trust policy on a presented certificate.
public enum TrustDecision: Sendable, Hashable {
    /// The certificate belongs to the configured peer `peerID`.
    case accept(peerID: String)
    /// The certificate is refused; `reason` is logged and reported, so make it actionable.
    case reject(reason: String)
}

/// Decides whether a peer's certificate is trusted, and which configured peer it is.
///
/// Called on the connection's event loop, inside the TLS handshake, before any application byte
/// is read: implementations must be quick and must not block (read a snapshot of the peer table,
/// do not query a database). OpenSSL's own chain verification is not used for self-signed
/// certificates: this policy is the only gate.
public protocol TrustPolicy: Sendable {
    /// Returns whether `certificate` is accepted, and as which peer.
    func evaluate(_ certificate: PeerCertificate) -> TrustDecision
}

/// A trust policy given as a closure.
public struct ClosureTrustPolicy: TrustPolicy {
    private let body: @Sendable (PeerCertificate) -> TrustDecision

    /// Wraps `body` as a policy.
    public init(_ body: @escaping @Sendable (PeerCertificate) -> TrustDecision) {
        self.body = body
    }

    public func evaluate(_ certificate: PeerCertificate) -> TrustDecision {
        body(certificate)
    }
}

/// Pinning, as the daemon configures it: known fingerprints, optional CA-vouched peer ids, blocked keys.
///
/// Evaluation order: a blocked fingerprint is refused; a pinned fingerprint is accepted as its
/// peer only if the certificate's SAN names that same peer; otherwise a certificate that verified
/// against the configured CA (CA mode) is accepted if its SAN names a peer in `caPeerIDs`;
/// everything else is refused with the fingerprint and node id it offered.
public struct PinnedPeerTrust: TrustPolicy {
    /// Pinned fingerprints and the peer id each belongs to.
    public var pinned: [CertificateFingerprint: String]
    /// Peer ids that may also authenticate with any certificate signed by the configured CA.
    public var caPeerIDs: Set<String>
    /// Fingerprints refused for good (`spsync peer block`).
    public var blocked: Set<CertificateFingerprint>

    /// Makes a policy from the peer table.
    public init(
        pinned: [CertificateFingerprint: String], caPeerIDs: Set<String> = [], blocked: Set<CertificateFingerprint> = []
    ) {
        self.pinned = pinned
        self.caPeerIDs = caPeerIDs
        self.blocked = blocked
    }

    public func evaluate(_ certificate: PeerCertificate) -> TrustDecision {
        let fingerprint = certificate.fingerprint
        // Whatever the certificate names is the peer's claim, unverified until a pin or the CA
        // vouches for it: shown escaped and quoted, never as a command to run.
        let named = certificate.nodeID.map { "node \(quoted: $0)" } ?? "no single spsync:node/ SAN URI"
        let claimed =
            certificate.nodeID.map { "claims to be node \(quoted: $0)" } ?? "names no single spsync:node/ SAN URI"
        let commonName = certificate.commonName.map { ", CN \(quoted: $0)" } ?? ""
        if blocked.contains(fingerprint) {
            return .reject(reason: "fingerprint \(fingerprint) (\(named)) is blocked")
        }
        if let peerID = pinned[fingerprint] {
            guard certificate.nodeID == peerID else {
                return .reject(
                    reason: "fingerprint \(fingerprint) is pinned to peer \(peerID) but the certificate names "
                        + "\(named); check the peer entry with `spsync peer list`")
            }
            return .accept(peerID: peerID)
        }
        if certificate.verifiedByCA, let nodeID = certificate.nodeID, caPeerIDs.contains(nodeID) {
            return .accept(peerID: nodeID)
        }
        if let nodeID = certificate.nodeID, case let pins = pinned.filter({ $0.value == nodeID }).keys, !pins.isEmpty {
            let pin = pins.map(\.description).sorted().joined(separator: " or ")
            return .reject(
                reason: "fingerprint \(fingerprint) offered by \(named) is not the one pinned for peer \(nodeID) "
                    + "(\(pin)): if \(nodeID) made a new key, check the new fingerprint with its operator (their "
                    + "`spsync id`), then `spsync peer set \(nodeID) --fingerprint \(fingerprint)`")
        }
        if let nodeID = certificate.nodeID, caPeerIDs.contains(nodeID) {
            return .reject(
                reason: "unknown fingerprint \(fingerprint) (\(named)): peer \(nodeID) is configured, but this "
                    + "certificate is not its pinned one and the network CA did not vouch for it")
        }
        return .reject(
            reason: "unknown fingerprint \(fingerprint): the certificate \(claimed)\(commonName) (the peer's own "
                + "claim, not verified); if you expect a new peer, compare this fingerprint with the one its "
                + "organisation's operator reads out to you from `spsync id` before adding it")
    }
}
