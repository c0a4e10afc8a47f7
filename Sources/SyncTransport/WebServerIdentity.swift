import COpenSSL

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#else
    import Darwin
#endif

/// The key and certificate of the daemon's HTTP listener when it serves TLS (`[http] tls_certificate`
/// and `tls_key`): a server certificate for the host names people type into a browser, which
/// browsers check, not a node certificate (no `spsync:node/` name; no client use).
extension NodeIdentity {
    /// Where `spsync web certificate` writes them in a node's home.
    public static let webKeyFileName = "web-key.pem"
    public static let webCertificateFileName = "web-cert.pem"

    /// Makes a key and a self-signed server certificate naming `hosts` (DNS names or IP addresses)
    /// and writes them to the given paths (key 0600). For a trial or a closed network whose browsers
    /// are told to trust it; in production an organisation uses a certificate from its own CA.
    public static func generateWebServer(
        hosts: [String], keyPath: String, certificatePath: String, validityDays: Int = 397
    ) throws(IdentityError) -> NodeIdentity {
        guard let first = hosts.first else {
            throw IdentityError(.invalidHost, "name at least one host the console is reached by")
        }
        let names = try hosts.map { host throws(IdentityError) in try WebHostName(host) }
        OpenSSLErrors.clear()
        guard let key = spsync_EVP_EC_gen_P256() else { throw openSSLFailure("cannot generate a key") }
        guard let certificate = X509_new() else {
            EVP_PKEY_free(key)
            throw openSSLFailure("cannot allocate a certificate")
        }
        do {
            try buildCertificate(
                certificate, key: key, commonName: first, validityDays: validityDays, extendedKeyUsage: "serverAuth"
            ) { certificate throws(IdentityError) in try addHostNames(certificate, names) }
        } catch {
            EVP_PKEY_free(key)
            X509_free(certificate)
            throw error
        }
        let identity = NodeIdentity(privateKey: key, certificate: certificate, nodeID: first)
        let keyPEM = try pem { PEM_write_bio_PrivateKey($0, identity.privateKey, nil, nil, 0, nil, nil) }
        if SecureFile.exists(certificatePath) || SecureFile.exists(keyPath) {
            throw IdentityError(
                .alreadyExists, "\(certificatePath) or \(keyPath) already exists; refusing to overwrite it")
        }
        try SecureFile.create(keyPath, bytes: keyPEM, mode: 0o600)
        do {
            try SecureFile.create(certificatePath, bytes: Array(identity.certificatePEM.utf8), mode: 0o644)
        } catch {
            SecureFile.remove(keyPath)
            throw error
        }
        return identity
    }

    /// Loads a web listener's key and certificate (any server certificate, from `generateWebServer`
    /// or an organisation's CA), refusing a key readable by group or others and a key that is not
    /// the certificate's.
    public static func loadWebServer(keyPath: String, certificatePath: String) throws(IdentityError) -> NodeIdentity {
        let (key, certificate) = try loadPair(keyPath: keyPath, certificatePath: certificatePath)
        let name = X509Certificate.commonName(of: certificate) ?? "web"
        return NodeIdentity(privateKey: key, certificate: certificate, nodeID: name)
    }

    /// Adds the SAN extension naming each host, built as ASN.1 (no string parsing).
    private static func addHostNames(_ certificate: OpaquePointer, _ hosts: [WebHostName]) throws(IdentityError) {
        guard let names = spsync_GENERAL_NAMES_new() else { throw openSSLFailure("cannot allocate SAN") }
        defer { GENERAL_NAMES_free(names) }
        for host in hosts {
            guard let name = GENERAL_NAME_new() else { throw openSSLFailure("cannot allocate a SAN entry") }
            switch host {
            case .dns(let text):
                guard let value = ASN1_IA5STRING_new() else {
                    GENERAL_NAME_free(name)
                    throw openSSLFailure("cannot allocate a SAN name")
                }
                let bytes = Array(text.utf8)
                ASN1_STRING_set(value, bytes, Int32(bytes.count))
                GENERAL_NAME_set0_value(name, GEN_DNS, UnsafeMutableRawPointer(value))
            case .ip(let bytes):
                guard let value = ASN1_OCTET_STRING_new() else {
                    GENERAL_NAME_free(name)
                    throw openSSLFailure("cannot allocate a SAN address")
                }
                ASN1_OCTET_STRING_set(value, bytes, Int32(bytes.count))
                GENERAL_NAME_set0_value(name, GEN_IPADD, UnsafeMutableRawPointer(value))
            }
            guard spsync_GENERAL_NAMES_push(names, name) > 0 else {
                GENERAL_NAME_free(name)
                throw openSSLFailure("cannot add a SAN entry")
            }
        }
        guard X509_add1_ext_i2d(certificate, NID_subject_alt_name, UnsafeMutableRawPointer(names), 0, 0) == 1 else {
            throw openSSLFailure("cannot add the subjectAltName extension")
        }
    }
}

/// A host a web certificate names: a DNS name (letters, digits, hyphens and dots) or an IP address.
enum WebHostName {
    case dns(String)
    case ip([UInt8])

    init(_ text: String) throws(IdentityError) {
        var v4 = in_addr()
        var v6 = in6_addr()
        if inet_pton(AF_INET, text, &v4) == 1 {
            self = .ip(withUnsafeBytes(of: &v4) { Array($0) })
        } else if inet_pton(AF_INET6, text, &v6) == 1 {
            self = .ip(withUnsafeBytes(of: &v6) { Array($0) })
        } else {
            let labels = text.split(separator: ".", omittingEmptySubsequences: false)
            let valid =
                !text.isEmpty && text.utf8.count <= 253
                && labels.allSatisfy { label in
                    !label.isEmpty && label.utf8.count <= 63 && label.first != "-" && label.last != "-"
                        && label.unicodeScalars.allSatisfy {
                            $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || $0 == "-")
                        }
                }
            guard valid else {
                throw IdentityError(
                    .invalidHost, "\(text) is not a host name or IP address (letters, digits, hyphens and dots)")
            }
            self = .dns(text.lowercased())
        }
    }
}
