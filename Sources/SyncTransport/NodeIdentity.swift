import COpenSSL

/// A node's private key and self-signed certificate: who this node is on the wire.
///
/// `generate` makes an ECDSA P-256 key and an X.509 v3 certificate naming the node id as subject
/// CN and as the SAN URI `spsync:node/<ID>`, and writes `key.pem` (mode 0600, created so) and
/// `cert.pem`. `load` reads them back and refuses a key file readable by group or others.
///
/// `@unchecked Sendable`: the `EVP_PKEY*` and `X509*` are set in `init` and never mutated after;
/// OpenSSL allows concurrent read-only use of both (each `SSL_CTX` takes its own reference).
public final class NodeIdentity: @unchecked Sendable {
    /// File name of the private key inside a node's identity directory.
    public static let keyFileName = "key.pem"
    /// File name of the certificate inside a node's identity directory.
    public static let certificateFileName = "cert.pem"
    /// Default certificate lifetime, in days (ten years: rotation, not expiry, replaces keys).
    public static let validityDaysDefault = 3650

    /// The node id the certificate names (SAN URI and CN).
    public let nodeID: String
    /// SHA-256 of the certificate's DER encoding: what peers pin.
    public let fingerprint: CertificateFingerprint
    /// The certificate in PEM form, to hand to a peer's operator.
    public let certificatePEM: String

    /// `EVP_PKEY*`, owned.
    let privateKey: OpaquePointer
    /// `X509*`, owned.
    let certificate: OpaquePointer

    init(privateKey: OpaquePointer, certificate: OpaquePointer, nodeID: String) {
        self.privateKey = privateKey
        self.certificate = certificate
        self.nodeID = nodeID
        self.fingerprint = X509Certificate.fingerprint(of: certificate)
        do {
            self.certificatePEM = String(decoding: try Self.pem { PEM_write_bio_X509($0, certificate) }, as: UTF8.self)
        } catch {
            // Encoding an already parsed or signed certificate fails only when memory runs out.
            preconditionFailure("cannot encode a certificate as PEM: \(error)")
        }
    }

    deinit {
        EVP_PKEY_free(privateKey)
        X509_free(certificate)
    }

    // MARK: - Generate

    /// Makes a new key and certificate for `nodeID` and writes them as `key.pem` and `cert.pem` in `directory`.
    ///
    /// Refuses to overwrite existing files. The directory must exist.
    public static func generate(
        nodeID: String, directory: String, validityDays: Int = validityDaysDefault
    ) throws(IdentityError) -> NodeIdentity {
        try generate(
            nodeID: nodeID, keyPath: directory + "/" + keyFileName,
            certificatePath: directory + "/" + certificateFileName, validityDays: validityDays)
    }

    /// Makes a new key and certificate for `nodeID` and writes them to the given paths.
    public static func generate(
        nodeID: String, keyPath: String, certificatePath: String, validityDays: Int = validityDaysDefault
    ) throws(IdentityError) -> NodeIdentity {
        let identity = try makeInMemory(nodeID: nodeID, validityDays: validityDays)
        let keyPEM = try pem { PEM_write_bio_PrivateKey($0, identity.privateKey, nil, nil, 0, nil, nil) }
        let certificatePEM = Array(identity.certificatePEM.utf8)
        if SecureFile.exists(certificatePath) {
            throw IdentityError(
                .alreadyExists, "\(certificatePath) already exists; refusing to overwrite a node identity")
        }
        try SecureFile.create(keyPath, bytes: keyPEM, mode: 0o600)
        do {
            try SecureFile.create(certificatePath, bytes: certificatePEM, mode: 0o644)
        } catch {
            // Do not leave a key without its certificate behind.
            SecureFile.remove(keyPath)
            throw error
        }
        return identity
    }

    /// Makes a new key and certificate for `nodeID` without touching the disk (tests, rotation staging).
    public static func makeInMemory(nodeID: String, validityDays: Int = validityDaysDefault) throws(IdentityError)
        -> NodeIdentity
    {
        try checkNodeID(nodeID)
        precondition(validityDays > 0, "validityDays must be positive")
        OpenSSLErrors.clear()
        guard let key = spsync_EVP_EC_gen_P256() else {
            throw openSSLFailure("cannot generate an ECDSA P-256 key")
        }
        guard let certificate = X509_new() else {
            EVP_PKEY_free(key)
            throw openSSLFailure("cannot allocate a certificate")
        }
        do {
            try buildCertificate(
                certificate, key: key, commonName: nodeID, validityDays: validityDays,
                extendedKeyUsage: "serverAuth,clientAuth"
            ) { certificate throws(IdentityError) in try addNodeURI(certificate, nodeID: nodeID) }
        } catch {
            EVP_PKEY_free(key)
            X509_free(certificate)
            throw error
        }
        return NodeIdentity(privateKey: key, certificate: certificate, nodeID: nodeID)
    }

    static func buildCertificate(
        _ certificate: OpaquePointer, key: OpaquePointer, commonName: String, validityDays: Int,
        extendedKeyUsage: String, subjectAltNames: (OpaquePointer) throws(IdentityError) -> Void
    ) throws(IdentityError) {
        func check(_ ok: Bool, _ what: String) throws(IdentityError) {
            if !ok { throw openSSLFailure(what) }
        }
        try check(X509_set_version(certificate, 2) == 1, "cannot set certificate version 3")  // 2 means v3

        // A random positive 127-bit serial (RFC 5280: at most 20 octets, positive, unique).
        var serial = [UInt8](repeating: 0, count: 16)
        try check(RAND_bytes(&serial, Int32(serial.count)) == 1, "cannot draw a random serial")
        serial[0] = (serial[0] & 0x7F) | 0x01
        guard let serialNumber = BN_bin2bn(serial, Int32(serial.count), nil) else {
            throw openSSLFailure("cannot make the serial number")
        }
        defer { BN_free(serialNumber) }
        try check(
            BN_to_ASN1_INTEGER(serialNumber, X509_get_serialNumber(certificate)) != nil, "cannot set the serial")

        // Valid from five minutes ago (peers' clocks differ) for `validityDays`.
        try check(X509_gmtime_adj(X509_getm_notBefore(certificate), -300) != nil, "cannot set notBefore")
        try check(
            X509_time_adj_ex(X509_getm_notAfter(certificate), Int32(validityDays), 0, nil) != nil,
            "cannot set notAfter")

        guard let name = X509_NAME_new() else { throw openSSLFailure("cannot allocate a subject name") }
        defer { X509_NAME_free(name) }
        let cnAdded = Array(commonName.utf8).withUnsafeBufferPointer { bytes in
            X509_NAME_add_entry_by_NID(
                name, NID_commonName, MBSTRING_UTF8, bytes.baseAddress, Int32(bytes.count), -1, 0)
        }
        try check(cnAdded == 1, "cannot set the subject CN")
        try check(X509_set_subject_name(certificate, name) == 1, "cannot set the subject")
        try check(X509_set_issuer_name(certificate, name) == 1, "cannot set the issuer")  // self-signed
        try check(X509_set_pubkey(certificate, key) == 1, "cannot set the public key")

        var v3 = X509V3_CTX()
        X509V3_set_ctx(&v3, certificate, certificate, nil, nil, 0)
        // Fixed strings only: the node id never goes through the config-string parser.
        let extensions: [(Int32, String)] = [
            (NID_basic_constraints, "critical,CA:FALSE"),
            (NID_key_usage, "critical,digitalSignature"),
            (NID_ext_key_usage, extendedKeyUsage),
            (NID_subject_key_identifier, "hash"),
        ]
        for (nid, value) in extensions {
            guard let ext = X509V3_EXT_conf_nid(nil, &v3, nid, value) else {
                throw openSSLFailure("cannot make the \(value) extension")
            }
            defer { X509_EXTENSION_free(ext) }
            try check(X509_add_ext(certificate, ext, -1) == 1, "cannot add the \(value) extension")
        }
        try subjectAltNames(certificate)
        try check(X509_sign(certificate, key, EVP_sha256()) > 0, "cannot sign the certificate")
    }

    /// Adds the SAN extension with the single URI `spsync:node/<ID>`, built as ASN.1 (no string parsing).
    private static func addNodeURI(_ certificate: OpaquePointer, nodeID: String) throws(IdentityError) {
        guard let names = spsync_GENERAL_NAMES_new() else { throw openSSLFailure("cannot allocate SAN") }
        defer { GENERAL_NAMES_free(names) }
        guard let name = GENERAL_NAME_new() else { throw openSSLFailure("cannot allocate a SAN entry") }
        guard let uri = ASN1_IA5STRING_new() else {
            GENERAL_NAME_free(name)
            throw openSSLFailure("cannot allocate the SAN URI")
        }
        let bytes = Array((PeerCertificate.nodeURIPrefix + nodeID).utf8)
        guard ASN1_STRING_set(uri, bytes, Int32(bytes.count)) == 1 else {
            ASN1_IA5STRING_free(uri)
            GENERAL_NAME_free(name)
            throw openSSLFailure("cannot set the SAN URI")
        }
        GENERAL_NAME_set0_value(name, GEN_URI, UnsafeMutableRawPointer(uri))  // name owns uri now
        guard spsync_GENERAL_NAMES_push(names, name) > 0 else {
            GENERAL_NAME_free(name)
            throw openSSLFailure("cannot add the SAN URI")
        }
        guard X509_add1_ext_i2d(certificate, NID_subject_alt_name, UnsafeMutableRawPointer(names), 0, 0) == 1 else {
            throw openSSLFailure("cannot add the subjectAltName extension")
        }
    }

    // MARK: - Load

    /// Loads `key.pem` and `cert.pem` from `directory`.
    public static func load(directory: String) throws(IdentityError) -> NodeIdentity {
        try load(keyPath: directory + "/" + keyFileName, certificatePath: directory + "/" + certificateFileName)
    }

    /// Loads a key and certificate, refusing a key readable by group or others and a key that is not the certificate's.
    public static func load(keyPath: String, certificatePath: String) throws(IdentityError) -> NodeIdentity {
        let (key, certificate) = try loadPair(keyPath: keyPath, certificatePath: certificatePath)
        let ids = X509Certificate.nodeIDs(of: certificate)
        guard ids.count == 1, let nodeID = ids.first else {
            EVP_PKEY_free(key)
            X509_free(certificate)
            throw IdentityError(
                .noNodeID,
                "\(certificatePath) must name exactly one node id as a SAN URI spsync:node/<ID> (found \(ids.count)); "
                    + "it was not made by `spsync init`")
        }
        if let commonName = X509Certificate.commonName(of: certificate), commonName != nodeID {
            EVP_PKEY_free(key)
            X509_free(certificate)
            throw IdentityError(
                .noNodeID, "\(certificatePath) names node \(nodeID) in its SAN but \(commonName) as its CN")
        }
        return NodeIdentity(privateKey: key, certificate: certificate, nodeID: nodeID)
    }

    /// Reads a private key and its certificate (`EVP_PKEY*`, `X509*`, both owned by the caller),
    /// refusing a key readable by group or others and a key that is not the certificate's.
    static func loadPair(keyPath: String, certificatePath: String) throws(IdentityError) -> (
        OpaquePointer, OpaquePointer
    ) {
        let keyFile = try SecureFile.readAll(keyPath)
        if keyFile.mode & 0o077 != 0 {
            let mode = String(keyFile.mode, radix: 8)
            throw IdentityError(
                .keyFileTooOpen,
                "private key \(keyPath) has mode 0\(mode) and can be read by group or others; "
                    + "run `chmod 600 \(keyPath)` (and check who may have copied it) before starting the node")
        }
        let certificateFile = try SecureFile.readAll(certificatePath)
        let certificate = try X509Certificate.parsePEM(certificateFile.bytes, what: "certificate \(certificatePath)")
        OpenSSLErrors.clear()
        let parsedKey: OpaquePointer? = keyFile.bytes.withUnsafeBytes { raw in
            guard let bio = BIO_new_mem_buf(raw.baseAddress, Int32(raw.count)) else { return nil }
            defer { BIO_free(bio) }
            return PEM_read_bio_PrivateKey(bio, nil, nil, nil)
        }
        guard let key = parsedKey else {
            X509_free(certificate)
            let reasons = OpenSSLErrors.drainTexts().joined(separator: "; ")
            throw IdentityError(.invalidPEM, "\(keyPath) is not an unencrypted PEM private key (\(reasons))")
        }
        guard X509_check_private_key(certificate, key) == 1 else {
            OpenSSLErrors.clear()
            EVP_PKEY_free(key)
            X509_free(certificate)
            throw IdentityError(
                .keyMismatch,
                "\(keyPath) is not the private key of \(certificatePath); restore the matching pair from backup")
        }
        return (key, certificate)
    }

    // MARK: - Helpers

    /// Node ids go into a CN (at most 64 characters) and a URI: printable ASCII without spaces or `/`.
    static func checkNodeID(_ nodeID: String) throws(IdentityError) {
        let bytes = Array(nodeID.utf8)
        let allowed = bytes.allSatisfy { $0 > 0x20 && $0 < 0x7F && $0 != UInt8(ascii: "/") }
        guard !bytes.isEmpty, bytes.count <= 64, allowed else {
            throw IdentityError(
                .invalidNodeID,
                "node id \"\(nodeID)\" cannot name a certificate: it must be 1 to 64 printable ASCII "
                    + "characters without spaces or \"/\"")
        }
    }

    /// Runs a PEM writer against a memory BIO and returns what it wrote.
    static func pem(_ writer: (OpaquePointer) -> Int32) throws(IdentityError) -> [UInt8] {
        OpenSSLErrors.clear()
        guard let bio = BIO_new(BIO_s_mem()) else { throw openSSLFailure("cannot allocate a memory BIO") }
        defer { BIO_free(bio) }
        guard writer(bio) == 1 else { throw openSSLFailure("cannot write PEM") }
        let count = Int(spsync_BIO_pending(bio))
        var bytes = [UInt8](repeating: 0, count: count)
        let read = BIO_read(bio, &bytes, Int32(count))
        guard read == Int32(count) else { throw openSSLFailure("cannot read PEM back") }
        return bytes
    }

    static func openSSLFailure(_ what: String) -> IdentityError {
        let reasons = OpenSSLErrors.drainTexts()
        let detail = reasons.isEmpty ? "" : " (OpenSSL: \(reasons.joined(separator: "; ")))"
        return IdentityError(.openSSL, what + detail)
    }
}
