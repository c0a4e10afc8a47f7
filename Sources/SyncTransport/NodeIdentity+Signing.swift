import SyncCore
import SyncCrypto

/// A node's identity signs its changes and key bindings with the key of its certificate
/// (Protocol/SPEC.md 13): ECDSA P-256 SHA-256, carried as 64 bytes r‖s.
extension NodeIdentity: ChangeSigner {
    public var publicKey: [UInt8] {
        // A loaded identity's certificate always parses: it was checked against its key on load.
        (try? SignerCertificate(der: certificateDER))?.publicKey ?? []
    }

    public func sign(_ message: [UInt8]) throws(SyncError) -> [UInt8] {
        let der: [UInt8]
        do { der = try CertificateRotation.sign(message, with: self) } catch {
            throw SyncError(.io, "cannot sign with the node's key: \(error)")
        }
        guard let raw = ECDSASignature.raw(fromDER: der) else {
            throw SyncError(.io, "the node's key is not ECDSA P-256: make it with `spsync init` or a P-256 CA key")
        }
        return raw
    }
}
