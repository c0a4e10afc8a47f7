/// The canonical bytes of origin signatures (Protocol/SPEC.md section 13): what a change's origin
/// signs, and how a receiver rebuilds it from the part of the change it was sent.
///
/// The origin signs the change's envelope and one digest per field write. A write's digest covers
/// its field, kind and causal context and the digest of its *value part* (a random salt, the value
/// and any unknown fields), so a write still verifies when its value was redacted (it then travels
/// with the value digest instead of salt and value) and when a receiver is sent only some writes
/// of the change (the others travel as their write digests alone). The salt, 16 random bytes in
/// every referral write, stops anyone guessing a withheld value from its digest.
///
/// The cryptography itself (SHA-256, ECDSA P-256) is behind `SealCrypto` so this module stays pure.
public enum Seal {
    /// Bytes of a SHA-256 digest.
    public static let digestBytes = 32
    /// Bytes of a salt.
    public static let saltBytes = 16
    /// Bytes of a signature: ECDSA P-256 as r and s, 32 bytes each, big-endian.
    public static let signatureBytes = 64

    static let valueDomain = Array("spsync-value-v2".utf8) + [0]
    static let writeDomain = Array("spsync-write-v2".utf8) + [0]
    static let changeDomain = Array("spsync-change-v2".utf8) + [0]
    static let keyDomain = Array("spsync-key-v2".utf8) + [0]

    /// The input of a write's value digest: domain, salt (length-prefixed), value (length-prefixed),
    /// then the write's unknown protobuf fields as received.
    public static func valueDigestInput(salt: [UInt8], value: [UInt8], unknownFields: [UInt8]) -> [UInt8] {
        var out = valueDomain
        out.reserveCapacity(out.count + 5 + salt.count + value.count + unknownFields.count)
        out.append(UInt8(truncatingIfNeeded: salt.count))
        out.append(contentsOf: salt)
        appendUInt32(UInt32(truncatingIfNeeded: value.count), to: &out)
        out.append(contentsOf: value)
        out.append(contentsOf: unknownFields)
        return out
    }

    /// The input of a write's digest: domain, field key, kind, causal context (sorted by origin),
    /// then the value digest.
    public static func writeDigestInput(
        field: FieldKey, kind: FieldKind, context: CausalContext, valueDigest: [UInt8]
    ) -> [UInt8] {
        precondition(valueDigest.count == digestBytes, "a value digest has 32 bytes")
        var out = writeDomain
        let name = Array(field.rawValue.utf8)
        out.reserveCapacity(out.count + 8 + name.count + context.count * 40 + digestBytes)
        appendUInt16(UInt16(truncatingIfNeeded: name.count), to: &out)
        out.append(contentsOf: name)
        out.append(kind.rawValue)
        appendUInt16(UInt16(truncatingIfNeeded: context.count), to: &out)
        for entry in context.sorted {
            let node = Array(entry.origin.node.rawValue.utf8)
            out.append(UInt8(truncatingIfNeeded: node.count))
            out.append(contentsOf: node)
            out.append(contentsOf: entry.origin.incarnation.bytes)
            appendUInt64(entry.seq, to: &out)
        }
        out.append(contentsOf: valueDigest)
        return out
    }

    /// The bytes an origin signs for a change: domain, origin, seq, HLC, record, then the digests
    /// of all its writes in ascending byte order. `digests` may come in any order.
    public static func changeMessage(
        origin: Origin, seq: UInt64, hlc: HLC, record: String, digests: [[UInt8]]
    ) -> [UInt8] {
        var out = changeDomain
        let node = Array(origin.node.rawValue.utf8)
        let recordBytes = Array(record.utf8)
        out.reserveCapacity(out.count + 40 + node.count + recordBytes.count + digests.count * digestBytes)
        out.append(UInt8(truncatingIfNeeded: node.count))
        out.append(contentsOf: node)
        out.append(contentsOf: origin.incarnation.bytes)
        appendUInt64(seq, to: &out)
        appendUInt64(hlc.rawValue, to: &out)
        appendUInt16(UInt16(truncatingIfNeeded: recordBytes.count), to: &out)
        out.append(contentsOf: recordBytes)
        appendUInt16(UInt16(truncatingIfNeeded: digests.count), to: &out)
        for d in digests.sorted(by: { $0.lexicographicallyPrecedes($1) }) { out.append(contentsOf: d) }
        return out
    }

    /// The bytes a key binding's signature covers: domain, node, incarnation, first seq, and the
    /// SHA-256 of the certificate's DER.
    public static func keyMessage(node: NodeID, incarnation: Incarnation, fromSeq: UInt64, certificateDigest: [UInt8])
        -> [UInt8]
    {
        var out = keyDomain
        let name = Array(node.rawValue.utf8)
        out.append(UInt8(truncatingIfNeeded: name.count))
        out.append(contentsOf: name)
        out.append(contentsOf: incarnation.bytes)
        appendUInt64(fromSeq, to: &out)
        out.append(contentsOf: certificateDigest)
        return out
    }

    static func appendUInt16(_ v: UInt16, to out: inout [UInt8]) {
        out.append(UInt8(v >> 8))
        out.append(UInt8(truncatingIfNeeded: v))
    }

    static func appendUInt32(_ v: UInt32, to out: inout [UInt8]) {
        for shift in stride(from: 24, through: 0, by: -8) { out.append(UInt8(truncatingIfNeeded: v >> UInt32(shift))) }
    }

    static func appendUInt64(_ v: UInt64, to out: inout [UInt8]) {
        for shift in stride(from: 56, through: 0, by: -8) { out.append(UInt8(truncatingIfNeeded: v >> UInt64(shift))) }
    }
}

/// The cryptography signatures need, implemented over the system OpenSSL by SyncCrypto.
public protocol SealCrypto: Sendable {
    /// SHA-256 of `bytes`.
    func sha256(_ bytes: [UInt8]) -> [UInt8]
}

/// A key that signs this node's changes and key bindings: the private key of its certificate.
public protocol ChangeSigner: Sendable {
    /// The DER certificate whose key this is (it names the node).
    var certificateDER: [UInt8] { get }
    /// The SubjectPublicKeyInfo DER of the key (what identifies it).
    var publicKey: [UInt8] { get }
    /// An ECDSA P-256 SHA-256 signature of `message`, as 64 bytes r‖s.
    func sign(_ message: [UInt8]) throws(SyncError) -> [UInt8]
}

extension FieldWrite {
    /// The digest of the value part (salt, value, unknown fields) — or the one carried by a
    /// redacted write, which has no value part left.
    public func valueDigest(_ crypto: some SealCrypto) throws(SyncError) -> [UInt8] {
        if let value {
            return crypto.sha256(Seal.valueDigestInput(salt: salt ?? [], value: value, unknownFields: unknownFields))
        }
        guard let carried = carriedValueDigest, carried.count == Seal.digestBytes else {
            throw SyncError(.malformed, "a field write without a value carries no value digest")
        }
        return carried
    }

    /// The digest the origin signs for this write.
    public func digest(_ crypto: some SealCrypto) throws(SyncError) -> [UInt8] {
        crypto.sha256(
            Seal.writeDigestInput(field: field, kind: kind, context: context, valueDigest: try valueDigest(crypto)))
    }
}

/// A signed statement that a certificate's key signs a node's changes of one incarnation from a
/// seq on (Protocol/SPEC.md 13.3). Travels in `CHANGES` before the changes it verifies.
public struct KeyBinding: Sendable, Hashable {
    public var node: NodeID
    public var incarnation: Incarnation
    public var fromSeq: UInt64
    /// DER X.509 certificate naming `node` (`spsync:node/` SAN); its P-256 key signs the changes.
    public var certificate: [UInt8]
    /// By the certificate's own key when `fromSeq` is 1; by the key valid at `fromSeq - 1` otherwise.
    public var signature: [UInt8]

    public init(node: NodeID, incarnation: Incarnation, fromSeq: UInt64, certificate: [UInt8], signature: [UInt8]) {
        self.node = node
        self.incarnation = incarnation
        self.fromSeq = fromSeq
        self.certificate = certificate
        self.signature = signature
    }

    public var origin: Origin { Origin(node: node, incarnation: incarnation) }

    /// Largest certificate a binding may carry.
    public static let certificateBytesMax = 16 * 1024
}

/// How far a node trusts a key binding it was sent (Protocol/SPEC.md 13.4).
public enum KeyAnchor: Sendable, Equatable {
    /// The binding's node is the peer that sent it, over a connection its certificate authenticated.
    case direct
    /// The binding's node is a configured peer here and the certificate is the one pinned for it.
    case pinned
    /// The certificate chains to the network CA this node is configured with.
    case authority
    /// None of the above: accepted on first sight, vouched for by a practice or PCN hub peer.
    case firstSight
    /// Not accepted, and why.
    case refused(String)

    /// The name stored and shown in status.
    public var name: String {
        switch self {
        case .direct: return "direct"
        case .pinned: return "pinned"
        case .authority: return "ca"
        case .firstSight: return "first_sight"
        case .refused: return "refused"
        }
    }
}

/// Decides how far a binding is anchored in what this node already trusts (pinned fingerprints,
/// the network CA). The store checks the binding's own signature and conflicts afterwards.
public protocol KeyAnchorPolicy: Sendable {
    func anchor(_ binding: KeyBinding, deliveredBy peer: NodeID) -> KeyAnchor
}

/// The anchor policy without configured peers or CA: a node's own binding is direct; a binding of
/// another node is accepted on first sight when a practice or PCN hub relays it (they hold
/// referrals and relay them); a charity cannot introduce another organisation's key.
public struct DeliveryAnchorPolicy: KeyAnchorPolicy {
    public init() {}

    public func anchor(_ binding: KeyBinding, deliveredBy peer: NodeID) -> KeyAnchor {
        if binding.node == peer { return .direct }
        switch peer.role {
        case .practice, .hub: return .firstSight
        default:
            return .refused(
                "\(peer) may not introduce the key of \(binding.node): only practices and PCN hubs relay keys")
        }
    }
}
