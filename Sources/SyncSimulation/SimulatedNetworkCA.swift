import SyncCore

/// The key policy of a simulated network with a CA: the simulator knows every node's genuine
/// certificate, as a network CA that issued them would vouch for them, so a key binding is anchored
/// when its certificate is its node's, whoever relays it, and refused otherwise.
public struct SimulatedNetworkCA: KeyAnchorPolicy {
    /// Each node's genuine certificate (DER).
    public let certificates: [NodeID: [UInt8]]

    public init(certificates: [NodeID: [UInt8]]) {
        self.certificates = certificates
    }

    public func anchor(_ binding: KeyBinding, deliveredBy peer: NodeID) -> KeyAnchor {
        guard let genuine = certificates[binding.node], genuine == binding.certificate else {
            return .refused("the certificate in \(binding.node)'s key binding is not the one the network CA issued it")
        }
        return binding.node == peer ? .direct : .authority
    }
}
