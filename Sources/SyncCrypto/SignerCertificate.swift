import COpenSSL
import SyncCore

/// A certificate whose P-256 key signs a node's changes, parsed once to verify many signatures.
///
/// OpenSSL keys are reference-counted and may verify on several threads at once, each with its own
/// context, so one instance serves every session.
public final class SignerCertificate: @unchecked Sendable {
    // `certificate` and `key` are owned here, never mutated after init, freed in deinit.
    private let certificate: OpaquePointer
    private let key: OpaquePointer
    /// The node ids named by `spsync:node/` SAN URIs, in certificate order.
    public let nodeIDs: [String]
    /// The key's SubjectPublicKeyInfo DER: two certificates with the same key are the same signer.
    public let publicKey: [UInt8]
    public let der: [UInt8]

    /// Parses a DER certificate; refuses one whose key is not ECDSA P-256.
    public init(der: [UInt8]) throws(SyncError) {
        ERR_clear_error()
        let parsed: OpaquePointer? = der.withUnsafeBufferPointer { buffer in
            var cursor: UnsafePointer<UInt8>? = buffer.baseAddress
            return d2i_X509(nil, &cursor, buffer.count)
        }
        guard let parsed else {
            ERR_clear_error()
            throw SyncError(.malformed, "a key binding's certificate is not DER X.509")
        }
        guard let key = X509_get0_pubkey(parsed), EVP_PKEY_get_base_id(key) == NID_X9_62_id_ecPublicKey,
            Self.isP256(key)
        else {
            X509_free(parsed)
            throw SyncError(.malformed, "a key binding's certificate key is not ECDSA P-256")
        }
        EVP_PKEY_up_ref(key)
        self.certificate = parsed
        self.key = key
        self.nodeIDs = Self.nodeIDs(of: parsed)
        self.publicKey = Self.subjectPublicKeyInfo(key)
        self.der = der
    }

    deinit {
        EVP_PKEY_free(key)
        X509_free(certificate)
    }

    /// Whether `signature` (64 bytes r‖s) is this key's ECDSA-SHA256 signature of `message`.
    public func verify(_ signature: [UInt8], over message: [UInt8]) -> Bool {
        guard let der = ECDSASignature.der(fromRaw: signature), let context = EVP_MD_CTX_new() else { return false }
        defer { EVP_MD_CTX_free(context) }
        guard EVP_DigestVerifyInit(context, nil, EVP_sha256(), nil, key) == 1 else {
            ERR_clear_error()
            return false
        }
        let verdict = der.withUnsafeBufferPointer { sig in
            message.withUnsafeBufferPointer {
                EVP_DigestVerify(context, sig.baseAddress, sig.count, $0.baseAddress, $0.count)
            }
        }
        if verdict != 1 { ERR_clear_error() }
        return verdict == 1
    }

    /// The node ids named by `spsync:node/<ID>` SAN URIs of an `X509*`, in certificate order.
    public static func nodeIDs(of certificate: OpaquePointer) -> [String] {
        guard let names = spsync_X509_get_subject_alt_names(certificate) else { return [] }
        defer { GENERAL_NAMES_free(names) }
        var ids: [String] = []
        for index in 0..<spsync_GENERAL_NAMES_count(names) {
            var length: Int32 = 0
            guard let bytes = spsync_GENERAL_NAME_uri(spsync_GENERAL_NAMES_value(names, index), &length) else {
                continue
            }
            let uri = String(decoding: UnsafeBufferPointer(start: bytes, count: Int(length)), as: UTF8.self)
            if uri.hasPrefix(nodeURIPrefix) { ids.append(String(uri.dropFirst(nodeURIPrefix.count))) }
        }
        return ids
    }

    /// The URI scheme and path prefix of a node's subject alternative name: `spsync:node/<ID>`.
    public static let nodeURIPrefix = "spsync:node/"

    static func isP256(_ key: OpaquePointer) -> Bool {
        var name = [CChar](repeating: 0, count: 64)
        var length = 0
        guard EVP_PKEY_get_utf8_string_param(key, "group", &name, name.count, &length) == 1 else {
            ERR_clear_error()
            return false
        }
        let group = String(decoding: name.prefix(length).map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return group == "prime256v1" || group == "P-256"
    }

    static func subjectPublicKeyInfo(_ key: OpaquePointer) -> [UInt8] {
        let length = i2d_PUBKEY(key, nil)
        precondition(length > 0, "i2d_PUBKEY failed")
        var out = [UInt8](repeating: 0, count: Int(length))
        _ = out.withUnsafeMutableBufferPointer { buffer -> Int32 in
            var cursor: UnsafeMutablePointer<UInt8>? = buffer.baseAddress
            return i2d_PUBKEY(key, &cursor)
        }
        return out
    }
}

/// ECDSA P-256 signatures as the protocol carries them (64 bytes r‖s) and as OpenSSL takes them (DER).
public enum ECDSASignature {
    /// DER `ECDSA-Sig-Value` of a 64-byte r‖s signature; nil for any other length or a zero r or s.
    public static func der(fromRaw raw: [UInt8]) -> [UInt8]? {
        guard raw.count == Seal.signatureBytes else { return nil }
        func integer(_ bytes: ArraySlice<UInt8>) -> [UInt8]? {
            var b = Array(bytes.drop(while: { $0 == 0 }))
            guard !b.isEmpty else { return nil }
            if b[0] & 0x80 != 0 { b.insert(0, at: 0) }
            return [0x02, UInt8(b.count)] + b
        }
        guard let r = integer(raw[0..<32]), let s = integer(raw[32..<64]) else { return nil }
        let body = r + s
        return [0x30, UInt8(body.count)] + body
    }

    /// The 64-byte r‖s form of a DER `ECDSA-Sig-Value`; nil when it is not one of P-256.
    public static func raw(fromDER der: [UInt8]) -> [UInt8]? {
        var i = 0
        func take() -> UInt8? {
            guard i < der.count else { return nil }
            defer { i += 1 }
            return der[i]
        }
        guard take() == 0x30, let total = take(), Int(total) == der.count - 2, total < 0x80 else { return nil }
        var out: [UInt8] = []
        for _ in 0..<2 {
            guard take() == 0x02, let n = take(), n > 0, n <= 33, i + Int(n) <= der.count else { return nil }
            var value = Array(der[i..<i + Int(n)])
            i += Int(n)
            while value.count > 32, value.first == 0 { value.removeFirst() }
            guard value.count <= 32 else { return nil }
            out += [UInt8](repeating: 0, count: 32 - value.count) + value
        }
        return i == der.count ? out : nil
    }
}
