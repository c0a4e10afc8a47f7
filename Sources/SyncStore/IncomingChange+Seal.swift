import SyncCore
import SyncCrypto

/// Signing changes made outside a store: a change loaded in bulk, or built by hand, signed as its
/// origin would sign it (Protocol/SPEC.md 13). Local writes are signed by `Store.write`; this is
/// for benchmarks that load changes of an earlier incarnation and for tests.
extension IncomingChange {
    /// This change signed by `signer` as its origin: the signature covers the digest of every body
    /// carried and every withheld digest. The store verifies it against the key bound to the origin
    /// like any change received.
    public func signed(by signer: any ChangeSigner) throws -> IncomingChange {
        let crypto = OpenSSLSealCrypto()
        let recordID = try RecordID(record)
        var digests = withheld
        for body in bodies {
            let write = try FieldWrite(origin: origin, seq: seq, hlc: hlc, record: recordID, body: body)
            digests.append(try write.digest(crypto))
        }
        var out = self
        out.signature = try signer.sign(
            Seal.changeMessage(origin: origin, seq: seq, hlc: hlc, record: record, digests: digests))
        return out
    }
}

extension KeyBinding {
    /// The binding of `signer`'s key to `origin` from seq 1, signed by the key itself: what a store
    /// makes for a new incarnation (`Store.ensureOwnKey`), for an incarnation whose changes were
    /// made elsewhere and signed with `IncomingChange.signed(by:)`.
    public static func first(of origin: Origin, signer: any ChangeSigner) throws -> KeyBinding {
        let message = Seal.keyMessage(
            node: origin.node, incarnation: origin.incarnation, fromSeq: 1,
            certificateDigest: OpenSSLSealCrypto().sha256(signer.certificateDER))
        return KeyBinding(
            node: origin.node, incarnation: origin.incarnation, fromSeq: 1, certificate: signer.certificateDER,
            signature: try signer.sign(message))
    }
}
