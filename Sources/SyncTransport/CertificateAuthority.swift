import COpenSSL

/// The network CA of CA mode, for checking certificates that arrive outside a handshake: those of
/// key bindings, which name nodes this node may never connect to.
public final class CertificateAuthority: @unchecked Sendable {
    // Set in init, never mutated; X509_STORE is safe for concurrent verification.
    private let store: OpaquePointer

    /// Loads the CA certificates (root and any intermediates) from a PEM file.
    public init(caFile: String) throws(IdentityError) {
        OpenSSLErrors.clear()
        guard let store = X509_STORE_new() else { throw IdentityError(.openSSL, "cannot make a certificate store") }
        guard X509_STORE_load_file(store, caFile) == 1 else {
            X509_STORE_free(store)
            let reasons = OpenSSLErrors.drainTexts().joined(separator: "; ")
            throw IdentityError(.invalidPEM, "cannot load the CA file \(caFile) (\(reasons))")
        }
        self.store = store
    }

    deinit { X509_STORE_free(store) }

    /// Whether the DER certificate chains to the CA (its signatures and validity dates; the CA file
    /// alone is the root of trust, never the system's CAs).
    public func vouches(for der: [UInt8]) -> Bool {
        OpenSSLErrors.clear()
        defer { OpenSSLErrors.clear() }
        guard
            let certificate: OpaquePointer = der.withUnsafeBufferPointer({ buffer in
                var cursor: UnsafePointer<UInt8>? = buffer.baseAddress
                return d2i_X509(nil, &cursor, buffer.count)
            })
        else { return false }
        defer { X509_free(certificate) }
        guard let context = X509_STORE_CTX_new() else { return false }
        defer { X509_STORE_CTX_free(context) }
        guard X509_STORE_CTX_init(context, store, certificate, nil) == 1 else { return false }
        return X509_verify_cert(context) == 1
    }
}
