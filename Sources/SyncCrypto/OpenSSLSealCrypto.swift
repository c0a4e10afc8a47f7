import COpenSSL
import SyncCore

/// SHA-256 over the system OpenSSL, for the digests of origin signatures.
public struct OpenSSLSealCrypto: SealCrypto {
    public init() {}

    public func sha256(_ bytes: [UInt8]) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: Seal.digestBytes)
        var length: UInt32 = 0
        let ok = bytes.withUnsafeBufferPointer { input in
            out.withUnsafeMutableBufferPointer {
                EVP_Digest(input.baseAddress, input.count, $0.baseAddress, &length, SHA256Algorithm.shared.md, nil)
            }
        }
        // Hashing bytes in memory fails only when OpenSSL cannot allocate.
        precondition(ok == 1 && length == UInt32(Seal.digestBytes), "EVP_Digest(SHA-256) failed")
        return out
    }
}

/// The SHA-256 implementation, fetched once: an implicit fetch on every call costs a lookup.
final class SHA256Algorithm: @unchecked Sendable {
    // Immutable after init; OpenSSL's fetched EVP_MD objects are safe to share between threads.
    let md: OpaquePointer

    static let shared = SHA256Algorithm()

    private init() {
        guard let md = EVP_MD_fetch(nil, "SHA256", nil) else {
            preconditionFailure("the system OpenSSL has no SHA-256")
        }
        self.md = md
    }
}
