/// Everything a TLS endpoint (listener or dialer) needs: who we are, whom we trust, and the limits.
public struct TLSConfiguration: Sendable {
    /// The lowest TLS version accepted; TLS 1.3 unless the operator sets `tls_min = "1.2"`.
    public enum MinimumVersion: String, Sendable, Hashable {
        /// TLS 1.3 only (the default).
        case tls13 = "1.3"
        /// TLS 1.2 or 1.3; TLS 1.2 is limited to ECDHE key exchange with AEAD ciphers.
        case tls12 = "1.2"
    }

    /// This node's key and certificate.
    public var identity: NodeIdentity
    /// Decides which peer certificates are accepted, and as which peer.
    public var trust: any TrustPolicy
    /// The lowest TLS version accepted.
    public var minimumVersion: MinimumVersion
    /// A PEM file of network CA certificates (CA mode); nil for pinning only.
    public var caFilePath: String?
    /// How long a TLS handshake (and authentication) may take, in seconds.
    public var handshakeTimeoutSeconds: Int64
    /// How long an established connection may stay silent while we wait for bytes, in seconds.
    public var idleTimeoutSeconds: Int64
    /// The most bytes a connection may buffer for sending before writes fail; well above `frameBytesMax`.
    public var writeBufferBytesMax: Int
    /// The most plaintext decrypted and passed up per read request, in bytes (read backpressure granularity).
    public var readBatchBytesMax: Int

    /// Whether a server asks its clients for a certificate. Peers always do (mutual TLS); the
    /// HTTP listener serving browsers does not, and authenticates people itself (console sign-in).
    public enum ClientCertificates: Sendable, Hashable {
        /// Mutual TLS: a client without a certificate the trust policy accepts is refused.
        case required
        /// A browser-facing server: no client certificate is asked for; the trust policy is unused.
        case notRequested
    }

    /// Whether a server asks its clients for a certificate; `.required` unless set otherwise.
    public var clientCertificates: ClientCertificates = .required

    /// Test-only knobs that make a misbehaving endpoint; never set in production.
    var testing = TestingOverrides()

    /// Makes a configuration with the defaults of DESIGN.md (TLS 1.3 only, 10 s handshake, 5 min idle).
    public init(
        identity: NodeIdentity,
        trust: any TrustPolicy,
        minimumVersion: MinimumVersion = .tls13,
        caFilePath: String? = nil,
        handshakeTimeoutSeconds: Int64 = 10,
        idleTimeoutSeconds: Int64 = 300,
        writeBufferBytesMax: Int = 16 * 1024 * 1024,
        readBatchBytesMax: Int = 64 * 1024
    ) {
        precondition(handshakeTimeoutSeconds > 0 && idleTimeoutSeconds > 0, "timeouts must be positive")
        precondition(writeBufferBytesMax > 0 && readBatchBytesMax > 0, "buffer limits must be positive")
        self.identity = identity
        self.trust = trust
        self.minimumVersion = minimumVersion
        self.caFilePath = caFilePath
        self.handshakeTimeoutSeconds = handshakeTimeoutSeconds
        self.idleTimeoutSeconds = idleTimeoutSeconds
        self.writeBufferBytesMax = writeBufferBytesMax
        self.readBatchBytesMax = readBatchBytesMax
    }
}

/// Ways to make a deliberately non-conforming endpoint, for tests of the refusals.
struct TestingOverrides: Sendable {
    /// When false, the endpoint presents no certificate (a client without mutual TLS).
    var presentsCertificate = true
    /// Caps the TLS version (for example `TLS1_2_VERSION` to act as a TLS 1.2-only client).
    var maximumVersion: Int32?
}
