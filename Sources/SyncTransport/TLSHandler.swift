import COpenSSL
import NIOCore

/// A peer that completed the TLS handshake and passed the trust policy.
public struct AuthenticatedPeer: Sendable, Hashable, CustomStringConvertible {
    /// The configured peer id the trust policy accepted the certificate as.
    public let peerID: String
    /// The certificate the peer presented.
    public let certificate: PeerCertificate
    /// The negotiated protocol, for example `TLSv1.3`.
    public let tlsVersion: String
    /// The negotiated cipher suite, for example `TLS_AES_256_GCM_SHA384`.
    public let cipher: String

    /// The fingerprint of the peer's certificate.
    public var fingerprint: CertificateFingerprint { certificate.fingerprint }

    public var description: String { "peer \(peerID) \(fingerprint) \(tlsVersion) \(cipher)" }
}

/// User events fired by `TLSHandler` through the pipeline.
public enum TLSUserEvent: Sendable {
    /// The handshake completed and the peer's certificate passed the trust policy; fired before any
    /// application byte is passed up.
    case peerAuthenticated(AuthenticatedPeer)
}

/// TLS over OpenSSL memory BIOs: ciphertext on the network side, plaintext `ByteBuffer`s on the application side.
///
/// Every OpenSSL call for the connection happens on the channel's event loop (the handler is not
/// `Sendable`). After every SSL call the write BIO is drained to the network, so handshake records
/// and alerts are never left behind. No application byte passes up before the peer is authenticated.
///
/// Backpressure: ciphertext is pulled from the socket only when the pipeline asks to `read`, and
/// plaintext is decrypted only on demand, at most `readBatchBytesMax` per read, so a slow consumer
/// stops the socket instead of growing buffers. Writes before authentication are held (up to
/// `writeBufferBytesMax`); ciphertext handed to the socket but not yet written counts against the
/// same limit, and writes beyond it fail with `writeBufferFull`.
///
/// On the client, TLS 1.3 finishes the handshake before the server has judged the client's
/// certificate: a server's refusal arrives as an alert on the client's first read and is reported
/// as `refusedByPeer` then.
public final class TLSHandler: ChannelDuplexHandler {
    public typealias InboundIn = ByteBuffer
    public typealias InboundOut = ByteBuffer
    public typealias OutboundIn = ByteBuffer
    public typealias OutboundOut = ByteBuffer

    /// Which end of the connection this handler is.
    public enum Role: Sendable, Hashable {
        /// Accepts connections; demands a client certificate.
        case server
        /// Dials; `expectedPeerID` (if given) must be the peer the server's certificate is accepted as.
        case client(expectedPeerID: String?)
    }

    private enum State {
        /// Added, channel not active yet.
        case idle
        /// Handshake under way; nothing passes up.
        case handshaking
        /// Authenticated; application data flows.
        case established
        /// close_notify queued; waiting for it to reach the socket before closing TCP.
        case closing
        /// Closed or failed; OpenSSL is no longer called except to free.
        case closed
    }

    private let tlsContext: TLSContext
    private let configuration: TLSConfiguration
    private let verifier: PeerVerifier
    /// `SSL*`, owned; it owns both BIOs.
    private let ssl: OpaquePointer
    /// Memory BIO with ciphertext from the network, read by OpenSSL.
    private let networkToSSL: OpaquePointer
    /// Memory BIO with ciphertext OpenSSL produced, to send.
    private let sslToNetwork: OpaquePointer
    private var authenticationPromise: EventLoopPromise<AuthenticatedPeer>?

    private var state = State.idle
    private var peer: AuthenticatedPeer?
    /// Plaintext written before authentication, with its promises.
    private var heldWrites = CircularBuffer<(ByteBuffer, EventLoopPromise<Void>?)>()
    private var heldWriteBytes = 0
    private var flushHeld = false
    /// Ciphertext handed to the socket whose write has not completed yet.
    private var unsentCiphertextBytes = 0
    /// The pipeline asked for a read that has not been answered with data yet.
    private var readRequested = false
    /// Plaintext went up since the last `channelReadComplete` passed up.
    private var deliveredSinceReadComplete = false
    /// Inside the decrypt loop (guards against re-entrant reads from `fireChannelRead`).
    private var delivering = false
    private var closeNotifyReceived = false
    /// Whether this end dialed, and whether any application data has arrived: a client whose peer
    /// hangs up right after the handshake, before any data, was most likely refused.
    private let isClient: Bool
    private var receivedApplicationData = false
    /// Whether any byte at all has arrived: a peer that closes before sending one never began the
    /// handshake (a listener at its connection budget or rate limit closes so), so it cannot have
    /// judged our certificate.
    private var receivedAnyBytes = false
    private var handshakeTimer: Scheduled<Void>?
    private var idleTimer: Scheduled<Void>?
    private var lastInbound = NIODeadline.now()

    /// Makes a handler for one connection; `authenticationPromise` completes when the peer is authenticated or the connection fails first.
    public init(
        context tlsContext: TLSContext, role: Role, authenticationPromise: EventLoopPromise<AuthenticatedPeer>? = nil
    ) throws(TransportError) {
        let configuration = tlsContext.configuration
        let expectedPeerID: String?
        switch role {
        case .server: expectedPeerID = nil
        case .client(let expected): expectedPeerID = expected
        }
        let verifier = PeerVerifier(
            trust: configuration.trust, caMode: configuration.caFilePath != nil, expectedPeerID: expectedPeerID)
        let ssl = try tlsContext.makeConnection(isServer: role == .server, verifier: verifier)
        guard let networkToSSL = BIO_new(BIO_s_mem()) else {
            SSL_free(ssl)
            throw TLSContext.failure("cannot allocate a memory BIO")
        }
        guard let sslToNetwork = BIO_new(BIO_s_mem()) else {
            BIO_free(networkToSSL)
            SSL_free(ssl)
            throw TLSContext.failure("cannot allocate a memory BIO")
        }
        SSL_set_bio(ssl, networkToSSL, sslToNetwork)  // the SSL owns both BIOs from here on
        self.tlsContext = tlsContext
        self.isClient = role != .server
        self.configuration = configuration
        self.verifier = verifier
        self.ssl = ssl
        self.networkToSSL = networkToSSL
        self.sslToNetwork = sslToNetwork
        self.authenticationPromise = authenticationPromise
    }

    deinit {
        SSL_free(ssl)
    }

    // MARK: - Lifecycle

    public func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { startHandshake(context: context) }
    }

    public func handlerRemoved(context: ChannelHandlerContext) {
        cancelTimers()
        failHeldWrites(TransportError(.connectionClosed, "the TLS handler was removed from the pipeline"))
        authenticationPromise?.fail(
            TransportError(.connectionClosed, "the TLS handler was removed before authentication"))
        authenticationPromise = nil
    }

    public func channelActive(context: ChannelHandlerContext) {
        startHandshake(context: context)
        context.fireChannelActive()
    }

    public func channelInactive(context: ChannelHandlerContext) {
        let previous = state
        if previous == .established {
            // Decrypt what is already here: it may end with the peer's close_notify.
            _ = deliverPlaintext(context: context, limit: Int.max)
        }
        state = .closed
        cancelTimers()
        failHeldWrites(TransportError(.connectionClosed, "the connection closed before the data could be sent"))
        switch previous {
        case .idle, .handshaking:
            let error =
                receivedAnyBytes
                ? TransportError(
                    .closedDuringHandshake,
                    "the connection closed during the TLS handshake; the peer may have refused our certificate "
                        + "or is not an spsync node")
                : closedBeforeHandshake("the peer closed the connection")
            failAuthentication(error)
            context.fireErrorCaught(error)
        case .established:
            if !closeNotifyReceived {
                context.fireErrorCaught(truncation("the peer closed TCP without a TLS close_notify"))
            }
        case .closing, .closed:
            break
        }
        context.fireChannelInactive()
    }

    public func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? ChannelEvent, event == .inputClosed, state == .established {
            _ = deliverPlaintext(context: context, limit: Int.max)
            if state == .established && !closeNotifyReceived {
                fail(context: context, truncation("the peer ended its stream without a TLS close_notify"))
                return
            }
        }
        context.fireUserInboundEventTriggered(event)
    }

    /// The error for a stream that ended without close_notify. Right after a client's handshake,
    /// before any data, that is how a TLS 1.3 server's refusal of our certificate looks when its
    /// alert was lost to the close: say so, with our fingerprint.
    private func truncation(_ what: String) -> TransportError {
        guard isClient, !receivedApplicationData else {
            return TransportError(
                .truncated,
                what + ": data may have been cut off; the sync resumes from the last checkpoint on the next connection")
        }
        return TransportError(
            .truncated,
            what + " right after the handshake, before any data: the peer probably does not trust our certificate "
                + "(fingerprint \(configuration.identity.fingerprint)); ask its operator to check it",
            offeredFingerprint: peer?.fingerprint)
    }

    /// The error for a connection that ended before the peer sent a single byte: `what` happened
    /// before the TLS handshake began.
    private func closedBeforeHandshake(_ what: String) -> TransportError {
        guard isClient else {
            return TransportError(
                .closedBeforeHandshake,
                what + " before sending anything: a port scan, a client that gave up, or not an spsync node")
        }
        return TransportError(
            .closedBeforeHandshake,
            what + " before the TLS handshake began (nothing was received): a listener at its connection limit "
                + "or its per-address rate limit closes connections so; retry later, and if it goes on, ask the "
                + "peer's operator (the peer's log says why it closed the connection)")
    }

    // MARK: - Inbound

    public func errorCaught(context: ChannelHandlerContext, error: any Error) {
        switch state {
        case .idle, .handshaking:
            // A socket error (reset, refused) during the handshake: report it as what it means here.
            // A listener that closes a connection it will not serve, with our ClientHello unread,
            // resets it: before any byte back, that is the listener's budget, not our certificate.
            fail(
                context: context,
                receivedAnyBytes
                    ? TransportError(
                        .closedDuringHandshake,
                        "the connection failed during the TLS handshake (\(error)); the peer may have refused "
                            + "the connection or is not an spsync node")
                    : closedBeforeHandshake("the connection failed (\(error))"))
        case .established:
            // Typically a reset. On a client right after connecting, it is how a TLS 1.3 server's
            // refusal of our certificate looks when its alert was lost to the reset.
            fail(
                context: context,
                TransportError(
                    .truncated,
                    "the connection failed (\(error)) without a TLS close_notify; if this happens right after "
                        + "connecting, the peer may not trust our certificate (fingerprint "
                        + "\(configuration.identity.fingerprint))",
                    offeredFingerprint: peer?.fingerprint))
        case .closing, .closed:
            context.fireErrorCaught(error)
        }
    }

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard state == .handshaking || state == .established else { return }
        receivedAnyBytes = true
        lastInbound = .now()
        var buffer = unwrapInboundIn(data)
        // A memory BIO grows as needed, so BIO_write takes everything; the loop is for form's sake.
        while buffer.readableBytes > 0 {
            let written = buffer.withUnsafeReadableBytes { bytes in
                BIO_write(networkToSSL, bytes.baseAddress, Int32(clamping: bytes.count))
            }
            guard written > 0 else {
                fail(context: context, TransportError(.tlsFailure, "cannot buffer received ciphertext"))
                return
            }
            buffer.moveReaderIndex(forwardBy: Int(written))
        }
        switch state {
        case .handshaking:
            driveHandshake(context: context)
        case .established:
            if readRequested && !delivering {
                _ = deliverPlaintext(context: context, limit: configuration.readBatchBytesMax)
            }
        case .idle, .closing, .closed:
            break
        }
    }

    public func channelReadComplete(context: ChannelHandlerContext) {
        if deliveredSinceReadComplete {
            deliveredSinceReadComplete = false
            readRequested = false
            context.fireChannelReadComplete()
        }
        // The handshake always needs bytes; an unanswered read needs more ciphertext.
        if state == .handshaking || (state == .established && readRequested) {
            context.read()
        }
    }

    // MARK: - Outbound

    public func read(context: ChannelHandlerContext) {
        readRequested = true
        guard state == .established else {
            context.read()
            return
        }
        guard !delivering else { return }
        if deliverPlaintext(context: context, limit: configuration.readBatchBytesMax) > 0 {
            deliveredSinceReadComplete = false
            readRequested = false
            context.fireChannelReadComplete()
        }
        // Always pass the read on: this readComplete did not come from the socket, so autoRead will
        // not ask again. The ciphertext backlog stays bounded because deliverPlaintext leaves at
        // most readBatchBytesMax of it behind.
        if state == .established {
            context.read()
        }
    }

    public func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let buffer = unwrapOutboundIn(data)
        switch state {
        case .idle, .handshaking:
            guard heldWriteBytes + buffer.readableBytes <= configuration.writeBufferBytesMax else {
                promise?.fail(writeBufferFull(buffer.readableBytes))
                return
            }
            heldWriteBytes += buffer.readableBytes
            heldWrites.append((buffer, promise))
        case .established:
            encrypt(context: context, buffer, promise: promise)
        case .closing, .closed:
            promise?.fail(TransportError(.connectionClosed, "cannot write: the TLS connection is closing or closed"))
        }
    }

    public func flush(context: ChannelHandlerContext) {
        switch state {
        case .idle, .handshaking:
            flushHeld = true
        case .established, .closing, .closed:
            context.flush()
        }
    }

    public func close(context: ChannelHandlerContext, mode: CloseMode, promise: EventLoopPromise<Void>?) {
        if mode == .input {
            context.close(mode: mode, promise: promise)
            return
        }
        switch state {
        case .established:
            state = .closing
            cancelTimers()
            OpenSSLErrors.clear()
            _ = SSL_shutdown(ssl)  // queues close_notify; we do not wait for the peer's (TLS 1.3 allows it)
            OpenSSLErrors.clear()
            closeAfterSending(context: context, mode: mode, promise: promise)
        case .closing:
            // Already sending close_notify: complete with the channel's close.
            if let promise { context.channel.closeFuture.cascade(to: promise) }
        case .idle, .handshaking:
            state = .closed
            cancelTimers()
            let error = TransportError(.connectionClosed, "the connection was closed locally during the handshake")
            failHeldWrites(error)
            failAuthentication(error)
            context.close(mode: .all, promise: promise)
        case .closed:
            context.close(mode: mode, promise: promise)
        }
    }

    // MARK: - Handshake

    private func startHandshake(context: ChannelHandlerContext) {
        guard state == .idle else { return }
        state = .handshaking
        let seconds = configuration.handshakeTimeoutSeconds
        handshakeTimer = context.eventLoop.assumeIsolated().scheduleTask(in: .seconds(seconds)) {
            guard self.state == .handshaking || self.state == .idle else { return }
            self.fail(
                context: context,
                TransportError(
                    .handshakeTimeout,
                    "the TLS handshake did not complete within \(seconds) s (handshakeTimeoutSeconds); "
                        + "the peer stalled, is overloaded, or is not an spsync node"))
        }
        driveHandshake(context: context)
        if state == .handshaking { context.read() }
    }

    private func driveHandshake(context: ChannelHandlerContext) {
        OpenSSLErrors.clear()
        let result = SSL_do_handshake(ssl)
        let errorKind = result == 1 ? SSL_ERROR_NONE : SSL_get_error(ssl, result)
        let queue = errorKind == SSL_ERROR_NONE || errorKind == SSL_ERROR_WANT_READ ? [] : OpenSSLErrors.drain()
        // Always send what OpenSSL produced: handshake messages, or the alert explaining a failure.
        sendCiphertext(context: context, promise: nil)
        context.flush()
        if result == 1 {
            handshakeCompleted(context: context)
        } else if errorKind != SSL_ERROR_WANT_READ {
            fail(context: context, handshakeFailure(errorKind: errorKind, queue: queue), alreadySent: true)
        }
    }

    private func handshakeCompleted(context: ChannelHandlerContext) {
        if !isClient && configuration.clientCertificates == .notRequested {
            // A browser-facing server: the client is anonymous at the TLS layer.
            established(context: context, peer: nil)
            return
        }
        // The verify callback must have accepted this very certificate (defence in depth: no
        // resumption path may skip it).
        guard case .accepted(let certificate, let peerID) = verifier.result,
            let presented = SSL_get1_peer_certificate(ssl)
        else {
            fail(context: context, TransportError(.untrustedPeer, "the peer's certificate was not verified"))
            return
        }
        let presentedFingerprint = X509Certificate.fingerprint(of: presented)
        X509_free(presented)
        guard presentedFingerprint == certificate.fingerprint else {
            fail(
                context: context,
                TransportError(
                    .untrustedPeer, "the certificate in the session differs from the one verified",
                    offeredFingerprint: presentedFingerprint))
            return
        }
        let cipher = SSL_get_current_cipher(ssl).map { String(cString: SSL_CIPHER_get_name($0)) } ?? "unknown"
        let peer = AuthenticatedPeer(
            peerID: peerID, certificate: certificate, tlsVersion: String(cString: SSL_get_version(ssl)), cipher: cipher)
        established(context: context, peer: peer)
    }

    /// The handshake is done (and the peer authenticated, when one is asked for): held writes go
    /// out and application data flows.
    private func established(context: ChannelHandlerContext, peer: AuthenticatedPeer?) {
        self.peer = peer
        state = .established
        handshakeTimer?.cancel()
        handshakeTimer = nil
        armIdleTimer(context: context, at: lastInbound + .seconds(configuration.idleTimeoutSeconds))

        if let peer {
            authenticationPromise?.succeed(peer)
            authenticationPromise = nil
            context.fireUserInboundEventTriggered(TLSUserEvent.peerAuthenticated(peer))
        }

        // Writes made during the handshake go out now, in order.
        while state == .established, let (buffer, promise) = heldWrites.popFirst() {
            heldWriteBytes -= buffer.readableBytes
            encrypt(context: context, buffer, promise: promise)
        }
        if flushHeld && state == .established {
            flushHeld = false
            context.flush()
        }
        // The peer's first application data may have arrived with its Finished message.
        if state == .established && readRequested && !delivering {
            _ = deliverPlaintext(context: context, limit: configuration.readBatchBytesMax)
        }
    }

    private func handshakeFailure(errorKind: Int32, queue: [(reason: Int32, text: String)]) -> TransportError {
        let reasons = queue.map(\.text)
        if case .rejected(let certificate, let reason) = verifier.result {
            return TransportError(
                .untrustedPeer, "refused the peer's certificate: \(reason)",
                offeredFingerprint: certificate?.fingerprint, openSSLReasons: reasons)
        }
        let codes = Set(queue.map(\.reason))
        if codes.contains(SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE) {
            return TransportError(
                .noPeerCertificate,
                "the client presented no certificate; spsync requires mutual TLS with the peer's node certificate",
                openSSLReasons: reasons)
        }
        let versionReasons: Set<Int32> = [
            SSL_R_UNSUPPORTED_PROTOCOL, SSL_R_NO_PROTOCOLS_AVAILABLE, SSL_R_TLSV1_ALERT_PROTOCOL_VERSION,
            SSL_R_WRONG_SSL_VERSION,
        ]
        if !codes.isDisjoint(with: versionReasons) {
            return TransportError(
                .protocolVersion,
                "no common TLS version: this node accepts TLS \(configuration.minimumVersion.rawValue) and later "
                    + "(tls_min); upgrade the peer's OpenSSL or align tls_min on both nodes",
                openSSLReasons: reasons)
        }
        let notTLSReasons: Set<Int32> = [
            SSL_R_WRONG_VERSION_NUMBER, SSL_R_HTTP_REQUEST, SSL_R_HTTPS_PROXY_REQUEST, SSL_R_PACKET_LENGTH_TOO_LONG,
            SSL_R_UNKNOWN_PROTOCOL, SSL_R_RECORD_LENGTH_MISMATCH, SSL_R_BAD_PACKET_LENGTH,
        ]
        if !codes.isDisjoint(with: notTLSReasons) {
            return TransportError(
                .notTLS, "the peer did not speak TLS (plaintext or another protocol on the spsync port)",
                openSSLReasons: reasons)
        }
        if let alert = queue.first(where: { Self.isAlertReason($0.reason) }) {
            return refusedByPeer(alert.text, reasons: reasons)
        }
        return TransportError(
            .handshakeFailed, "the TLS handshake failed (SSL_get_error \(errorKind))", openSSLReasons: reasons)
    }

    private func refusedByPeer(_ alert: String, reasons: [String]) -> TransportError {
        TransportError(
            .refusedByPeer,
            "the peer ended the handshake with a TLS alert (\(alert)); it probably does not trust our "
                + "certificate: ask its operator to add this node with fingerprint "
                + "\(configuration.identity.fingerprint)",
            openSSLReasons: reasons)
    }

    /// OpenSSL reports a received alert as reason `SSL_AD_REASON_OFFSET + alert number`.
    private static func isAlertReason(_ reason: Int32) -> Bool {
        reason >= SSL_AD_REASON_OFFSET && reason < SSL_AD_REASON_OFFSET + 256
    }

    // MARK: - Data

    /// Decrypts and passes up about `limit` bytes of plaintext, more while over `limit` of ciphertext waits;
    /// returns how many bytes went up.
    private func deliverPlaintext(context: ChannelHandlerContext, limit: Int) -> Int {
        delivering = true
        defer { delivering = false }
        let chunkBytes = 16 * 1024  // one TLS record's worth of plaintext at most
        var total = 0
        while state == .established
            && (total < limit || Int(spsync_BIO_pending(networkToSSL)) > configuration.readBatchBytesMax)
        {
            OpenSSLErrors.clear()
            var buffer = context.channel.allocator.buffer(capacity: chunkBytes)
            var result: Int32 = 0
            buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: chunkBytes) { bytes in
                result = SSL_read(ssl, bytes.baseAddress, Int32(clamping: bytes.count))
                return Int(max(result, 0))
            }
            if result > 0 {
                receivedApplicationData = true
                total += Int(result)
                deliveredSinceReadComplete = true
                context.fireChannelRead(wrapInboundOut(buffer))
                continue
            }
            let errorKind = SSL_get_error(ssl, result)
            let queue = errorKind == SSL_ERROR_WANT_READ ? [] : OpenSSLErrors.drain()
            // SSL_read may have produced records to send (a KeyUpdate answer, an alert).
            sendCiphertext(context: context, promise: nil)
            context.flush()
            switch errorKind {
            case SSL_ERROR_WANT_READ:
                // Needs more ciphertext; also what a consumed post-handshake message looks like.
                return total
            case SSL_ERROR_ZERO_RETURN:
                closeNotifyReceived = true
                context.close(promise: nil)  // answers with our close_notify
                return total
            default:
                fail(context: context, establishedFailure(errorKind: errorKind, queue: queue), alreadySent: true)
                return total
            }
        }
        if spsync_BIO_pending(sslToNetwork) > 0 {
            sendCiphertext(context: context, promise: nil)
            context.flush()
        }
        return total
    }

    private func establishedFailure(errorKind: Int32, queue: [(reason: Int32, text: String)]) -> TransportError {
        let reasons = queue.map(\.text)
        if let alert = queue.first(where: { Self.isAlertReason($0.reason) }) {
            // On a client this is where a TLS 1.3 server's refusal of our certificate shows up.
            return refusedByPeer(alert.text, reasons: reasons)
        }
        return TransportError(
            .tlsFailure, "TLS error on an established connection (SSL_get_error \(errorKind))",
            offeredFingerprint: peer?.fingerprint, openSSLReasons: reasons)
    }

    private func encrypt(context: ChannelHandlerContext, _ buffer: ByteBuffer, promise: EventLoopPromise<Void>?) {
        guard buffer.readableBytes > 0 else {
            promise?.succeed()
            return
        }
        guard unsentCiphertextBytes + buffer.readableBytes <= configuration.writeBufferBytesMax else {
            // Fail the connection, not just this write: the writes after it would go out with a hole
            // before them, and a writer that passes no promise (NIOAsyncChannel) would never know.
            let error = writeBufferFull(buffer.readableBytes)
            promise?.fail(error)
            fail(context: context, error)
            return
        }
        precondition(buffer.readableBytes <= Int(Int32.max), "a single write must fit SSL_write's Int32 length")
        OpenSSLErrors.clear()
        let result = buffer.withUnsafeReadableBytes { bytes in
            SSL_write(ssl, bytes.baseAddress, Int32(bytes.count))
        }
        // A memory BIO never pushes back, so SSL_write writes all or fails.
        guard result == Int32(buffer.readableBytes) else {
            let errorKind = SSL_get_error(ssl, result)
            let error = establishedFailure(errorKind: errorKind, queue: OpenSSLErrors.drain())
            promise?.fail(error)
            fail(context: context, error)
            return
        }
        sendCiphertext(context: context, promise: promise)
    }

    /// Moves everything in the write BIO into one buffer and writes it (not flushed).
    private func sendCiphertext(context: ChannelHandlerContext, promise: EventLoopPromise<Void>?) {
        let pending = Int(spsync_BIO_pending(sslToNetwork))
        guard pending > 0 else {
            promise?.succeed()
            return
        }
        var out = context.channel.allocator.buffer(capacity: pending)
        out.writeWithUnsafeMutableBytes(minimumWritableBytes: pending) { bytes in
            Int(max(BIO_read(sslToNetwork, bytes.baseAddress, Int32(clamping: pending)), 0))
        }
        let count = out.readableBytes
        unsentCiphertextBytes += count
        let written = context.eventLoop.makePromise(of: Void.self)
        written.futureResult.assumeIsolated().whenComplete { _ in
            self.unsentCiphertextBytes -= count
        }
        if let promise { written.futureResult.cascade(to: promise) }
        context.write(wrapOutboundOut(out), promise: written)
    }

    // MARK: - Failure, close, timers

    /// Reports `error`, sends any pending alert, and closes the connection; later failures are ignored.
    private func fail(context: ChannelHandlerContext, _ error: TransportError, alreadySent: Bool = false) {
        guard state != .closed else { return }
        let wasEstablished = state == .established
        state = .closed
        cancelTimers()
        failHeldWrites(error)
        failAuthentication(error)
        if wasEstablished && (error.code == .idleTimeout) {
            // An orderly end for a silent peer: it sees close_notify, not a truncation.
            OpenSSLErrors.clear()
            _ = SSL_shutdown(ssl)
            OpenSSLErrors.clear()
        }
        context.fireErrorCaught(error)
        closeAfterSending(context: context, mode: .all, promise: nil)
    }

    /// Writes what is in the write BIO (an alert, close_notify), then closes TCP once it is written or after a bound.
    private func closeAfterSending(context: ChannelHandlerContext, mode: CloseMode, promise: EventLoopPromise<Void>?) {
        let sent = context.eventLoop.makePromise(of: Void.self)
        sendCiphertext(context: context, promise: sent)
        context.flush()
        // A peer that never reads must not keep the socket open: close anyway after the handshake bound.
        let guardTimer = context.eventLoop.assumeIsolated().scheduleTask(
            in: .seconds(configuration.handshakeTimeoutSeconds)
        ) {
            sent.fail(TransportError(.connectionClosed, "close_notify could not be sent in time"))
        }
        sent.futureResult.assumeIsolated().whenComplete { _ in
            guardTimer.cancel()
            context.close(mode: mode, promise: promise)
        }
    }

    private func failAuthentication(_ error: TransportError) {
        authenticationPromise?.fail(error)
        authenticationPromise = nil
    }

    private func failHeldWrites(_ error: TransportError) {
        while let (_, promise) = heldWrites.popFirst() {
            promise?.fail(error)
        }
        heldWriteBytes = 0
    }

    private func writeBufferFull(_ bytes: Int) -> TransportError {
        TransportError(
            .writeBufferFull,
            "cannot queue \(bytes) more bytes: the connection's send buffer is at its limit of "
                + "\(configuration.writeBufferBytesMax) bytes (writeBufferBytesMax); the peer is not reading")
    }

    private func armIdleTimer(context: ChannelHandlerContext, at deadline: NIODeadline) {
        idleTimer?.cancel()
        let seconds = configuration.idleTimeoutSeconds
        idleTimer = context.eventLoop.assumeIsolated().scheduleTask(deadline: deadline) {
            guard self.state == .established else { return }
            let due = self.lastInbound + .seconds(seconds)
            if due > .now() {
                self.armIdleTimer(context: context, at: due)
            } else if !self.readRequested {
                // We are holding the peer back (backpressure): silence is ours, not the peer's.
                self.armIdleTimer(context: context, at: .now() + .seconds(seconds))
            } else {
                self.fail(
                    context: context,
                    TransportError(
                        .idleTimeout,
                        "nothing received for \(seconds) s (idleTimeoutSeconds); closing the silent connection",
                        offeredFingerprint: self.peer?.fingerprint))
            }
        }
    }

    private func cancelTimers() {
        handshakeTimer?.cancel()
        handshakeTimer = nil
        idleTimer?.cancel()
        idleTimer = nil
    }
}

@available(*, unavailable)
extension TLSHandler: Sendable {}
