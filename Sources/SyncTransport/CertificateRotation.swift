import COpenSSL

/// Signatures for certificate rotation: a node signs its next certificate with its current key, and
/// a peer checks that signature against the certificate that authenticated the connection.
public enum CertificateRotation {
    /// ECDSA-SHA256 (DER) of `data` by `identity`'s private key.
    public static func sign(_ data: [UInt8], with identity: NodeIdentity) throws(IdentityError) -> [UInt8] {
        OpenSSLErrors.clear()
        guard let context = EVP_MD_CTX_new() else { throw IdentityError(.openSSL, "cannot make a signing context") }
        defer { EVP_MD_CTX_free(context) }
        guard EVP_DigestSignInit(context, nil, EVP_sha256(), nil, identity.privateKey) == 1 else {
            throw IdentityError(.openSSL, "cannot start signing: \(OpenSSLErrors.drainTexts().joined(separator: "; "))")
        }
        var length = 0
        let sized = data.withUnsafeBufferPointer { EVP_DigestSign(context, nil, &length, $0.baseAddress, $0.count) }
        guard sized == 1, length > 0 else {
            throw IdentityError(
                .openSSL, "cannot size the signature: \(OpenSSLErrors.drainTexts().joined(separator: "; "))")
        }
        var signature = [UInt8](repeating: 0, count: length)
        let signed = data.withUnsafeBufferPointer { input in
            signature.withUnsafeMutableBufferPointer {
                EVP_DigestSign(context, $0.baseAddress, &length, input.baseAddress, input.count)
            }
        }
        guard signed == 1 else {
            throw IdentityError(.openSSL, "signing failed: \(OpenSSLErrors.drainTexts().joined(separator: "; "))")
        }
        return Array(signature.prefix(length))
    }

    /// Whether `signature` is a valid signature of `data` by the key of the DER certificate `signer`.
    public static func verify(_ signature: [UInt8], over data: [UInt8], signer: [UInt8]) -> Bool {
        OpenSSLErrors.clear()
        defer { OpenSSLErrors.clear() }
        guard
            let certificate: OpaquePointer = signer.withUnsafeBufferPointer({ buffer in
                var cursor: UnsafePointer<UInt8>? = buffer.baseAddress
                return d2i_X509(nil, &cursor, buffer.count)
            })
        else { return false }
        defer { X509_free(certificate) }
        guard let key = X509_get0_pubkey(certificate), let context = EVP_MD_CTX_new() else { return false }
        defer { EVP_MD_CTX_free(context) }
        guard EVP_DigestVerifyInit(context, nil, EVP_sha256(), nil, key) == 1 else { return false }
        let verdict = signature.withUnsafeBufferPointer { sig in
            data.withUnsafeBufferPointer {
                EVP_DigestVerify(context, sig.baseAddress, sig.count, $0.baseAddress, $0.count)
            }
        }
        return verdict == 1
    }
}

extension NodeIdentity {
    /// The certificate's DER encoding.
    public var certificateDER: [UInt8] { X509Certificate.der(of: certificate) }
}
