import Logging
import NIOConcurrencyHelpers
import NIOCore
import SyncProtocol

/// Builds the per-connection pipeline shared by the listener and the dialer: TLS, framing, error policy.
enum TransportPipeline {
    /// Adds TLS and frame handlers to `channel` and returns a future that yields the connection once authenticated.
    ///
    /// A `ReadHold` at the end of the pipeline keeps the socket paused after the handshake (the TLS
    /// handler reads by itself until then); `TransportConnection.executeThenClose` releases it once
    /// the frame consumer is installed, so no frame is decrypted before someone takes it.
    ///
    /// On a listener, `connections` are its books: a `HandshakeAdmission` before TLS tells them
    /// when the connection first speaks, and closes it there if its address is over
    /// `handshakesPerSecondMax`. (The listener moves it to the sessions once it authenticates.)
    static func configure(
        channel: any Channel, tlsContext: TLSContext, role: TLSHandler.Role, configuration: TransportConfiguration,
        logger: Logger, refusals: RefusalLog?, connections: ListenerConnections? = nil
    ) throws -> EventLoopFuture<TransportConnection> {
        channel.eventLoop.preconditionInEventLoop()
        let authenticated = channel.eventLoop.makePromise(of: AuthenticatedPeer.self)
        let remoteAddress = channel.remoteAddress
        let failure = ConnectionFailure()
        if let connections {
            try channel.pipeline.syncOperations.addHandler(HandshakeAdmission(connections: connections))
        }
        try channel.pipeline.syncOperations.addHandlers(
            TLSHandler(context: tlsContext, role: role, authenticationPromise: authenticated),
            ByteToMessageHandler(FrameChannelDecoder(frameBytesMax: configuration.frameBytesMax)),
            MessageToByteHandler(FrameChannelEncoder(frameBytesMax: configuration.frameBytesMax)),
            ConnectionErrorPolicy(logger: logger, refusals: refusals, remoteAddress: remoteAddress, failure: failure),
            ReadHold()
        )
        let buffered = configuration.inboundFramesBufferedMax
        return authenticated.futureResult.map { peer in
            TransportConnection(
                peer: peer, remoteAddress: remoteAddress, channel: channel, inboundFramesBufferedMax: buffered,
                failure: failure)
        }
    }
}

/// Logs a connection's first error (as a refusal if it came before authentication) and closes the connection.
///
/// Whatever one connection does, it only ever closes itself: errors never travel to the listener.
final class ConnectionErrorPolicy: ChannelInboundHandler {
    typealias InboundIn = Frame
    typealias InboundOut = Frame

    private let logger: Logger
    private let refusals: RefusalLog?
    private let remoteAddress: SocketAddress?
    private let failure: ConnectionFailure
    private var peer: AuthenticatedPeer?
    private var reported = false

    init(logger: Logger, refusals: RefusalLog?, remoteAddress: SocketAddress?, failure: ConnectionFailure) {
        self.logger = logger
        self.refusals = refusals
        self.remoteAddress = remoteAddress
        self.failure = failure
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case .peerAuthenticated(let peer)? = event as? TLSUserEvent {
            self.peer = peer
            logger.info(
                "peer authenticated",
                metadata: [
                    "peer": "\(peer.peerID)", "fingerprint": "\(peer.fingerprint)", "tls": "\(peer.tlsVersion)",
                    "cipher": "\(peer.cipher)", "remote": "\(remoteAddress.map { "\($0)" } ?? "unknown")",
                ])
        }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if !reported {
            reported = true
            failure.record(error)
            report(error)
        }
        context.fireErrorCaught(error)
        context.close(promise: nil)
    }

    private func report(_ error: any Error) {
        let remote = remoteAddress.map { "\($0)" } ?? "unknown"
        if let peer {
            logger.warning(
                "connection failed: \(error)",
                metadata: ["peer": "\(peer.peerID)", "fingerprint": "\(peer.fingerprint)", "remote": "\(remote)"])
            return
        }
        let transportError =
            error as? TransportError
            ?? TransportError(.handshakeFailed, "the connection failed before authentication: \(error)")
        if let refusals {
            refusals.record(ConnectionRefusal(error: transportError, remoteAddress: remoteAddress))
        } else {
            logger.debug(
                "connection failed before authentication: \(transportError)", metadata: ["remote": "\(remote)"])
        }
    }
}

/// The first error a connection failed with, kept so that a later, vaguer error (a write on a
/// closed channel) can be reported as its cause.
final class ConnectionFailure: Sendable {
    private let first = NIOLockedValueBox<(any Error)?>(nil)

    /// Keeps `error` if it is the first.
    func record(_ error: any Error) {
        first.withLockedValue { first in
            if first == nil { first = error }
        }
    }

    /// The first recorded error, if any.
    var error: (any Error)? {
        first.withLockedValue { $0 }
    }
}

/// Swallows the pipeline's read requests until released: keeps a connection's socket paused
/// between authentication and the moment its consumer starts.
final class ReadHold: ChannelOutboundHandler {
    typealias OutboundIn = Any

    private var held = true
    private var context: ChannelHandlerContext?

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
    }

    func read(context: ChannelHandlerContext) {
        if !held { context.read() }
    }

    /// Lets reads through from now on, and asks for one.
    func release() {
        guard held else { return }
        held = false
        context?.read()
    }
}
