import SyncCore
import SyncTransport

/// How this node anchors the key bindings peers send (Protocol/SPEC.md 13.4), from what it already
/// trusts: a blocked certificate is refused; a node's own binding sent by that node is direct; a
/// binding of a configured peer must carry its pinned certificate (or, in CA mode, one the CA
/// issued); any other node's binding is accepted if the CA issued its certificate, else on first
/// sight when a practice or PCN hub relays it, never when a charity does.
public struct NodeKeyPolicy: KeyAnchorPolicy {
    let trust: LiveTrust
    let authority: CertificateAuthority?

    public init(trust: LiveTrust, authority: CertificateAuthority?) {
        self.trust = trust
        self.authority = authority
    }

    public func anchor(_ binding: KeyBinding, deliveredBy peer: NodeID) -> KeyAnchor {
        let certificate: PeerCertificate
        do { certificate = try PeerCertificate(der: binding.certificate) } catch {
            return .refused("the key binding of \(binding.node) carries no readable certificate")
        }
        let table = trust.current
        if table.blocked.contains(certificate.fingerprint) {
            return .refused(
                "the key binding of \(binding.node) carries the blocked certificate \(certificate.fingerprint)")
        }
        if binding.node == peer { return .direct }
        let byCA = authority?.vouches(for: binding.certificate) ?? false
        let pins = Set(table.pinned.filter { $0.value == binding.node.rawValue }.keys)
        if !pins.isEmpty || table.caPeerIDs.contains(binding.node.rawValue) {
            if pins.contains(certificate.fingerprint) { return .pinned }
            if byCA { return .authority }
            return .refused(
                "\(peer) sent a key of \(binding.node), a peer of this node, whose certificate "
                    + "\(certificate.fingerprint) is not the one pinned for it")
        }
        if byCA { return .authority }
        return DeliveryAnchorPolicy().anchor(binding, deliveredBy: peer)
    }
}
