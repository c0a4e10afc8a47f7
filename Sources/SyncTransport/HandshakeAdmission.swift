import NIOCore

/// Sits before the TLS handler of each connection a listener accepted and tells the listener's
/// books when the connection's first bytes arrive: from then on it goes after the silent ones when
/// room is made, and its handshake counts against its address's `handshakesPerSecondMax`. Over
/// that limit the connection is closed and its bytes never reach TLS, so no handshake work is spent.
///
/// A connection that sends nothing is never counted here: a flood of silent connections, however
/// fast, cannot use up the handshakes of a peer dialling from the same address.
final class HandshakeAdmission: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    private enum State {
        /// Nothing has arrived yet.
        case silent
        /// The first bytes arrived and the handshake may go on: pass everything through.
        case admitted
        /// Closed for the rate limit: drop whatever else arrives before the close completes.
        case refused
    }

    private let connections: ListenerConnections
    private var state = State.silent

    init(connections: ListenerConnections) {
        self.connections = connections
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch state {
        case .silent:
            guard connections.beginHandshake(context.channel) else {
                state = .refused
                return
            }
            state = .admitted
            context.fireChannelRead(data)
        case .admitted:
            context.fireChannelRead(data)
        case .refused:
            return
        }
    }
}

@available(*, unavailable)
extension HandshakeAdmission: Sendable {}
