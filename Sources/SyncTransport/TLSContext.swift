import COpenSSL

/// A configured OpenSSL `SSL_CTX` for spsync: mutual TLS, no resumption, trust by policy.
///
/// `@unchecked Sendable`: the `SSL_CTX*` is fully configured in `init` and never changed after;
/// OpenSSL allows a configured `SSL_CTX` to be shared by `SSL` objects on many threads.
public final class TLSContext: @unchecked Sendable {
    /// The configuration this context was built from.
    public let configuration: TLSConfiguration
    /// `SSL_CTX*`, owned.
    let context: OpaquePointer

    /// TLS 1.3 suites: all AEAD.
    static let tls13CipherSuites = "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256"
    /// TLS 1.2 suites, used only with `tls_min = "1.2"`: ECDHE key exchange and AEAD ciphers only.
    static let tls12CipherList =
        "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:"
        + "ECDHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-RSA-CHACHA20-POLY1305"

    /// Builds the `SSL_CTX` for `configuration`.
    public init(configuration: TLSConfiguration) throws(TransportError) {
        OpenSSLErrors.clear()
        guard let context = SSL_CTX_new(TLS_method()) else {
            throw Self.failure("cannot create an OpenSSL TLS context")
        }
        do {
            try Self.configure(context, configuration)
        } catch {
            SSL_CTX_free(context)
            throw error
        }
        self.context = context
        self.configuration = configuration
    }

    deinit {
        SSL_CTX_free(context)
    }

    private static func configure(_ context: OpaquePointer, _ configuration: TLSConfiguration) throws(TransportError) {
        func check(_ ok: Bool, _ what: String) throws(TransportError) {
            if !ok { throw failure(what) }
        }
        let minimum = configuration.minimumVersion == .tls13 ? TLS1_3_VERSION : TLS1_2_VERSION
        try check(spsync_SSL_CTX_set_min_proto_version(context, minimum) == 1, "cannot set the minimum TLS version")
        if let maximum = configuration.testing.maximumVersion {
            try check(spsync_SSL_CTX_set_max_proto_version(context, maximum) == 1, "cannot set the maximum TLS version")
        }
        try check(SSL_CTX_set_ciphersuites(context, tls13CipherSuites) == 1, "cannot set the TLS 1.3 cipher suites")
        try check(SSL_CTX_set_cipher_list(context, tls12CipherList) == 1, "cannot set the TLS 1.2 cipher list")
        try check(spsync_SSL_CTX_set1_groups_list(context, "X25519:P-256:P-384") == 1, "cannot set the key groups")

        // No renegotiation; no tickets, session cache or resumption (a removed peer must not get back
        // in on a ticket); no early data; no compression.
        _ = SSL_CTX_set_options(
            context,
            spsync_SSL_OP_NO_RENEGOTIATION() | spsync_SSL_OP_NO_TICKET() | spsync_SSL_OP_NO_COMPRESSION()
                | spsync_SSL_OP_CIPHER_SERVER_PREFERENCE() | spsync_SSL_OP_NO_SESSION_RESUMPTION_ON_RENEGOTIATION())
        _ = spsync_SSL_CTX_set_session_cache_off(context)
        try check(SSL_CTX_set_num_tickets(context, 0) == 1, "cannot disable session tickets")
        try check(SSL_CTX_set_max_early_data(context, 0) == 1, "cannot disable early data")

        if configuration.testing.presentsCertificate {
            let identity = configuration.identity
            try check(SSL_CTX_use_certificate(context, identity.certificate) == 1, "cannot use the node certificate")
            try check(SSL_CTX_use_PrivateKey(context, identity.privateKey) == 1, "cannot use the node key")
            try check(SSL_CTX_check_private_key(context) == 1, "the node key does not match its certificate")
        }
        if let caFilePath = configuration.caFilePath {
            try check(
                SSL_CTX_load_verify_locations(context, caFilePath, nil) == 1,
                "cannot load the network CA file \(caFilePath); check that it exists and holds PEM certificates")
        }

        // Mutual authentication between nodes: a server demands a client certificate. The chain check is
        // replaced by `certificateVerifyCallback`, which applies the trust policy (pinning, CA mode).
        // A browser-facing server asks for none (the console signs people in itself).
        switch configuration.clientCertificates {
        case .required:
            SSL_CTX_set_verify(context, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nil)
            SSL_CTX_set_cert_verify_callback(context, certificateVerifyCallback, nil)
        case .notRequested:
            SSL_CTX_set_verify(context, SSL_VERIFY_NONE, nil)
        }
    }

    /// Makes a new `SSL*` for one connection, bound to `verifier` for the trust decision.
    func makeConnection(isServer: Bool, verifier: PeerVerifier) throws(TransportError) -> OpaquePointer {
        OpenSSLErrors.clear()
        guard let ssl = SSL_new(context) else { throw Self.failure("cannot create a TLS connection") }
        // The handler owns the verifier and frees `ssl` before releasing it, so an unretained pointer is safe.
        _ = spsync_SSL_set_app_data(ssl, Unmanaged.passUnretained(verifier).toOpaque())
        if isServer {
            SSL_set_accept_state(ssl)
        } else {
            SSL_set_connect_state(ssl)
        }
        return ssl
    }

    static func failure(_ what: String) -> TransportError {
        let reasons = OpenSSLErrors.drainTexts()
        return TransportError(.configuration, what, openSSLReasons: reasons)
    }
}

/// OpenSSL's certificate verification hook, replacing its chain verification for every handshake.
///
/// Runs on the connection's event loop inside `SSL_do_handshake`, with the peer's chain in `storeContext`.
private let certificateVerifyCallback: @convention(c) (OpaquePointer?, UnsafeMutableRawPointer?) -> Int32 = {
    storeContext, _ in
    guard let storeContext,
        let sslPointer = X509_STORE_CTX_get_ex_data(storeContext, SSL_get_ex_data_X509_STORE_CTX_idx()),
        let verifierPointer = spsync_SSL_get_app_data(OpaquePointer(sslPointer))
    else { return 0 }
    let verifier = Unmanaged<PeerVerifier>.fromOpaque(verifierPointer).takeUnretainedValue()
    return verifier.verify(storeContext) ? 1 : 0
}

/// The trust decision for one connection: runs the policy on the presented certificate and remembers the verdict.
///
/// Confined to the connection's event loop (used only from inside OpenSSL calls made there).
final class PeerVerifier {
    /// The outcome of verification, if it has run.
    enum Result {
        case accepted(PeerCertificate, peerID: String)
        case rejected(PeerCertificate?, reason: String)
    }

    let trust: any TrustPolicy
    let caMode: Bool
    let expectedPeerID: String?
    private(set) var result: Result?

    init(trust: any TrustPolicy, caMode: Bool, expectedPeerID: String?) {
        self.trust = trust
        self.caMode = caMode
        self.expectedPeerID = expectedPeerID
    }

    /// Decides on the leaf certificate in `storeContext`; returns whether the handshake may go on.
    func verify(_ storeContext: OpaquePointer) -> Bool {
        guard let leaf = X509_STORE_CTX_get0_cert(storeContext) else {
            return reject(nil, "the peer presented no certificate", storeContext)
        }
        // CA mode: OpenSSL's chain verification against the configured CA only; pinning otherwise.
        var verifiedByCA = false
        var caFailure: String?
        if caMode {
            verifiedByCA = X509_verify_cert(storeContext) == 1
            if !verifiedByCA {
                caFailure = String(cString: X509_verify_cert_error_string(Int(X509_STORE_CTX_get_error(storeContext))))
            }
        }
        OpenSSLErrors.clear()
        let certificate = X509Certificate.summary(of: leaf, verifiedByCA: verifiedByCA)
        switch trust.evaluate(certificate) {
        case .reject(let reason):
            // In CA mode, say why the CA did not vouch for it (another CA, expired, not for this purpose).
            let detail = caFailure.map { " (network CA check: \($0))" } ?? ""
            return reject(certificate, reason + detail, storeContext)
        case .accept(let peerID):
            if let expectedPeerID, expectedPeerID != peerID {
                return reject(
                    certificate,
                    "dialed peer \(expectedPeerID) but the certificate belongs to peer \(peerID); "
                        + "check the address configured for \(expectedPeerID)", storeContext)
            }
            result = .accepted(certificate, peerID: peerID)
            X509_STORE_CTX_set_error(storeContext, X509_V_OK)
            return true
        }
    }

    private func reject(_ certificate: PeerCertificate?, _ reason: String, _ storeContext: OpaquePointer) -> Bool {
        result = .rejected(certificate, reason: reason)
        // Sent to the peer as a bad_certificate alert.
        X509_STORE_CTX_set_error(storeContext, X509_V_ERR_CERT_REJECTED)
        return false
    }
}
