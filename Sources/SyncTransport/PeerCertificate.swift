import COpenSSL
import SyncCrypto

/// What a certificate says about who holds it: the facts a trust policy decides on.
public struct PeerCertificate: Sendable, Hashable {
    /// The URI scheme and path prefix of a node's subject alternative name: `spsync:node/<ID>`.
    public static let nodeURIPrefix = "spsync:node/"

    /// SHA-256 of the certificate's DER encoding.
    public let fingerprint: CertificateFingerprint
    /// The node id named by the certificate's single `spsync:node/` SAN URI, nil if it has none or several.
    public let nodeID: String?
    /// The subject common name, if any (informational; `nodeID` is what counts).
    public let commonName: String?
    /// True when CA mode is configured and the certificate chain verified against the configured CA.
    public let verifiedByCA: Bool
    /// The certificate's DER encoding (empty for summaries made from parts); checks signatures by
    /// its key, as a rotation announcement needs.
    public let der: [UInt8]

    /// Makes a summary from its parts (for trust policy tests and callers with their own sources).
    public init(
        fingerprint: CertificateFingerprint, nodeID: String?, commonName: String?, verifiedByCA: Bool = false,
        der: [UInt8] = []
    ) {
        self.fingerprint = fingerprint
        self.nodeID = nodeID
        self.commonName = commonName
        self.verifiedByCA = verifiedByCA
        self.der = der
    }

    /// Summarizes a DER certificate (a rotation announcement's new certificate).
    public init(der: [UInt8]) throws(IdentityError) {
        OpenSSLErrors.clear()
        let parsed: OpaquePointer? = der.withUnsafeBufferPointer { buffer in
            var cursor: UnsafePointer<UInt8>? = buffer.baseAddress
            return d2i_X509(nil, &cursor, buffer.count)
        }
        guard let parsed else {
            let reasons = OpenSSLErrors.drainTexts().joined(separator: "; ")
            throw IdentityError(.invalidPEM, "the certificate is not DER X.509 (\(reasons))")
        }
        defer { X509_free(parsed) }
        self = X509Certificate.summary(of: parsed, verifiedByCA: false)
    }

    /// Summarizes a PEM certificate (for example a peer's `cert.pem` given to `spsync peer add`).
    public init(pem: [UInt8]) throws(IdentityError) {
        let certificate = try X509Certificate.parsePEM(pem, what: "certificate")
        defer { X509_free(certificate) }
        self = X509Certificate.summary(of: certificate, verifiedByCA: false)
    }
}

/// Reading facts out of OpenSSL `X509*` certificates.
enum X509Certificate {
    /// Parses the first PEM certificate in `pem`; the caller frees it with `X509_free`.
    static func parsePEM(_ pem: [UInt8], what: String) throws(IdentityError) -> OpaquePointer {
        OpenSSLErrors.clear()
        let parsed: OpaquePointer? = pem.withUnsafeBytes { raw in
            guard let bio = BIO_new_mem_buf(raw.baseAddress, Int32(raw.count)) else { return nil }
            defer { BIO_free(bio) }
            return PEM_read_bio_X509(bio, nil, nil, nil)
        }
        guard let parsed else {
            let reasons = OpenSSLErrors.drainTexts().joined(separator: "; ")
            throw IdentityError(.invalidPEM, "the \(what) is not a PEM X.509 certificate (\(reasons))")
        }
        return parsed
    }

    /// The SHA-256 fingerprint of the certificate's DER encoding.
    static func fingerprint(of certificate: OpaquePointer) -> CertificateFingerprint {
        var digest = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE))
        var length: UInt32 = 0
        let ok = X509_digest(certificate, EVP_sha256(), &digest, &length)
        // Hashing an in-memory, already parsed certificate fails only on allocation failure.
        precondition(ok == 1 && length == UInt32(CertificateFingerprint.digestBytes), "X509_digest(SHA-256) failed")
        return CertificateFingerprint(digest: Array(digest.prefix(Int(length))))
    }

    /// The node ids named by `spsync:node/<ID>` SAN URIs, in certificate order.
    static func nodeIDs(of certificate: OpaquePointer) -> [String] { SignerCertificate.nodeIDs(of: certificate) }

    /// The first subject common name, as UTF-8.
    static func commonName(of certificate: OpaquePointer) -> String? {
        guard let subject = X509_get_subject_name(certificate) else { return nil }
        let index = X509_NAME_get_index_by_NID(subject, NID_commonName, -1)
        guard index >= 0, let entry = X509_NAME_get_entry(subject, index),
            let data = X509_NAME_ENTRY_get_data(entry)
        else { return nil }
        var utf8: UnsafeMutablePointer<UInt8>?
        let length = ASN1_STRING_to_UTF8(&utf8, data)
        guard length >= 0, let utf8 else { return nil }
        defer { spsync_OPENSSL_free(utf8) }
        return String(decoding: UnsafeBufferPointer(start: utf8, count: Int(length)), as: UTF8.self)
    }

    /// The DER encoding of `certificate`.
    static func der(of certificate: OpaquePointer) -> [UInt8] {
        let length = i2d_X509(certificate, nil)
        // Encoding a parsed certificate fails only on allocation failure.
        precondition(length > 0, "i2d_X509 failed")
        var out = [UInt8](repeating: 0, count: Int(length))
        let written = out.withUnsafeMutableBufferPointer { buffer -> Int32 in
            var cursor: UnsafeMutablePointer<UInt8>? = buffer.baseAddress
            return i2d_X509(certificate, &cursor)
        }
        precondition(written == length, "i2d_X509 wrote \(written) of \(length) bytes")
        return out
    }

    /// The trust-relevant facts of `certificate`.
    static func summary(of certificate: OpaquePointer, verifiedByCA: Bool) -> PeerCertificate {
        let ids = nodeIDs(of: certificate)
        return PeerCertificate(
            fingerprint: fingerprint(of: certificate),
            nodeID: ids.count == 1 ? ids[0] : nil,
            commonName: commonName(of: certificate),
            verifiedByCA: verifiedByCA,
            der: der(of: certificate)
        )
    }
}
