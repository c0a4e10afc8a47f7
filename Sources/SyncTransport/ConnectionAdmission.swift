import NIOCore

/// Sits on the listening socket and admits each accepted connection to the unauthenticated budget
/// kept by `ListenerConnections` (which may close another connection to make room, or this one).
///
/// No rate limit here: a connection costs TLS work only once it speaks, so the per-address cap on
/// handshakes (`handshakesPerSecondMax`) is applied when its first bytes arrive (`HandshakeAdmission`).
///
/// Confined to the server channel's event loop; the connections' books are shared with the
/// connections' own event loops (they speak, authenticate and close there) through `ListenerConnections`.
final class ConnectionAdmission: ChannelInboundHandler {
    typealias InboundIn = any Channel
    typealias InboundOut = any Channel

    private let connections: ListenerConnections

    init(connections: ListenerConnections) {
        self.connections = connections
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard connections.admit(unwrapInboundIn(data)) else { return }
        context.fireChannelRead(data)
    }
}
