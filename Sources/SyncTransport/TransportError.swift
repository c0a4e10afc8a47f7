import COpenSSL

/// A failure of a TLS connection or of the listener, with a message that tells the operator what to do.
public struct TransportError: Error, Sendable, CustomStringConvertible {
    /// What kind of failure this is; stable names for logs, status and tests.
    public enum Code: String, Sendable, Hashable {
        /// The peer's certificate was refused by our trust policy (unknown, blocked, wrong node id).
        case untrustedPeer = "untrusted_peer"
        /// The peer (a client) presented no certificate; mutual authentication is required.
        case noPeerCertificate = "no_peer_certificate"
        /// The peer offered no TLS version we accept (for example TLS 1.2 against a 1.3-only node).
        case protocolVersion = "protocol_version"
        /// The bytes received were not TLS at all (plaintext, HTTP, garbage).
        case notTLS = "not_tls"
        /// The peer sent a TLS alert: it refused our certificate or aborted the handshake.
        case refusedByPeer = "refused_by_peer"
        /// Any other TLS handshake failure; the message carries OpenSSL's reason.
        case handshakeFailed = "handshake_failed"
        /// The handshake did not complete within the handshake timeout.
        case handshakeTimeout = "handshake_timeout"
        /// Nothing was received for the idle timeout on an established connection.
        case idleTimeout = "idle_timeout"
        /// The TCP stream ended without a TLS close_notify: data may have been cut off.
        case truncated = "truncated"
        /// The connection ended before the handshake completed, after it had begun.
        case closedDuringHandshake = "closed_during_handshake"
        /// The connection ended before the peer sent a single byte: a listener at its connection
        /// budget or rate limit closes a connection so, before any TLS.
        case closedBeforeHandshake = "closed_before_handshake"
        /// A write was refused because the connection's outgoing buffer is full.
        case writeBufferFull = "write_buffer_full"
        /// A TLS error on an established connection (bad record MAC, decode error, …).
        case tlsFailure = "tls_failure"
        /// A write or read on a connection that is already closing or closed.
        case connectionClosed = "connection_closed"
        /// The listener holds `sessionsMax` authenticated sessions already.
        case tooManyConnections = "too_many_connections"
        /// The listener's budget for connections that have not authenticated yet is taken
        /// (`unauthenticatedMax`, `unauthenticatedPerAddressMax`): a connection was closed to make room, or refused.
        case tooManyUnauthenticated = "too_many_unauthenticated"
        /// The source address exceeded its handshakes-per-second cap.
        case rateLimited = "rate_limited"
        /// The TLS context could not be configured (bad CA file, OpenSSL policy).
        case configuration = "configuration"
    }

    /// What kind of failure this is.
    public let code: Code
    /// A sentence for the operator: what happened and what to do about it.
    public let message: String
    /// The certificate fingerprint the peer offered, where one was seen.
    public let offeredFingerprint: CertificateFingerprint?
    /// OpenSSL's reason strings (from its error queue), where OpenSSL reported the failure.
    public let openSSLReasons: [String]

    /// Makes an error from its parts.
    public init(
        _ code: Code, _ message: String, offeredFingerprint: CertificateFingerprint? = nil,
        openSSLReasons: [String] = []
    ) {
        self.code = code
        self.message = message
        self.offeredFingerprint = offeredFingerprint
        self.openSSLReasons = openSSLReasons
    }

    public var description: String {
        var text = "\(code.rawValue): \(message)"
        if let offeredFingerprint { text += " [peer offered \(offeredFingerprint)]" }
        if !openSSLReasons.isEmpty { text += " (OpenSSL: \(openSSLReasons.joined(separator: "; ")))" }
        return text
    }
}

/// A failure to make, write or load a node's key and certificate.
public struct IdentityError: Error, Sendable, CustomStringConvertible {
    /// What kind of failure this is.
    public enum Code: String, Sendable, Hashable {
        /// The private key file can be read by group or others.
        case keyFileTooOpen = "key_file_too_open"
        /// A file that `generate` would write already exists.
        case alreadyExists = "already_exists"
        /// A file could not be opened, read or written.
        case fileAccess = "file_access"
        /// A file is not a valid PEM key or certificate.
        case invalidPEM = "invalid_pem"
        /// The key does not belong to the certificate.
        case keyMismatch = "key_mismatch"
        /// The certificate names no node id, or names it inconsistently.
        case noNodeID = "no_node_id"
        /// The node id cannot be put in a certificate.
        case invalidNodeID = "invalid_node_id"
        /// A web certificate was asked for a name that is neither a host name nor an IP address.
        case invalidHost = "invalid_host"
        /// OpenSSL failed while generating the key or certificate.
        case openSSL = "openssl"
    }

    /// What kind of failure this is.
    public let code: Code
    /// A sentence for the operator: what happened and what to do about it.
    public let message: String

    /// Makes an error from its parts.
    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "\(code.rawValue): \(message)" }
}

/// The calling thread's OpenSSL error queue; OpenSSL keeps one per thread, so read it right after the failing call.
enum OpenSSLErrors {
    /// Empties the queue before an OpenSSL call whose failure will be inspected.
    static func clear() {
        ERR_clear_error()
    }

    /// Empties the queue, returning each entry's library reason code and reason text, oldest first.
    static func drain() -> [(reason: Int32, text: String)] {
        var entries: [(reason: Int32, text: String)] = []
        while true {
            let code = ERR_get_error()
            if code == 0 { break }
            let reason = ERR_GET_REASON(code)
            if let text = ERR_reason_error_string(code) {
                entries.append((reason, String(cString: text)))
            } else {
                var buffer = [CChar](repeating: 0, count: 256)
                ERR_error_string_n(code, &buffer, buffer.count)
                entries.append(
                    (reason, String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)))
            }
        }
        return entries
    }

    /// Empties the queue and returns its reason texts, for messages.
    static func drainTexts() -> [String] {
        drain().map(\.text)
    }
}
