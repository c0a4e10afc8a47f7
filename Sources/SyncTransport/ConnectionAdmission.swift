import NIOCore

/// Sits on the listening socket and admits accepted connections: a cap on new connections per
/// source address per second, then the unauthenticated budget kept by `ListenerConnections`.
/// Refused sockets are closed before any TLS work is spent on them.
///
/// Confined to the server channel's event loop; the connections' books are shared with the
/// connections' own event loops (they authenticate and close there) through `ListenerConnections`.
final class ConnectionAdmission: ChannelInboundHandler {
    typealias InboundIn = any Channel
    typealias InboundOut = any Channel

    private struct Window {
        var start: NIODeadline
        var count: Int
    }

    private let connections: ListenerConnections
    private let handshakesPerSecondMax: Int
    private let refusals: RefusalLog
    private let clock: @Sendable () -> NIODeadline
    private var windows: [String: Window] = [:]

    init(
        connections: ListenerConnections, handshakesPerSecondMax: Int, refusals: RefusalLog,
        clock: @escaping @Sendable () -> NIODeadline = { NIODeadline.now() }
    ) {
        self.connections = connections
        self.handshakesPerSecondMax = handshakesPerSecondMax
        self.refusals = refusals
        self.clock = clock
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let child = unwrapInboundIn(data)
        let remoteAddress = child.remoteAddress
        let now = clock()
        let source = remoteAddress?.ipAddress ?? "unknown"
        var window = windows[source] ?? Window(start: now, count: 0)
        if now - window.start >= .seconds(1) {
            window = Window(start: now, count: 0)
        }
        window.count += 1
        windows[source] = window
        pruneWindows(now: now)
        if window.count > handshakesPerSecondMax {
            refuse(
                child,
                TransportError(
                    .rateLimited,
                    "more than \(handshakesPerSecondMax) new connections in one second from \(source) "
                        + "(handshakesPerSecondMax)"), remoteAddress)
            return
        }
        // Rate first: a newcomer refused for its rate must not make another connection leave.
        guard connections.admit(child) else { return }
        context.fireChannelRead(data)
    }

    private func refuse(_ child: any Channel, _ error: TransportError, _ remoteAddress: SocketAddress?) {
        child.close(promise: nil)
        refusals.record(ConnectionRefusal(error: error, remoteAddress: remoteAddress))
    }

    /// Forgets per-address windows older than a second once the table grows, so it stays bounded.
    private func pruneWindows(now: NIODeadline) {
        guard windows.count > 4096 else { return }
        windows = windows.filter { now - $0.value.start < .seconds(1) }
    }
}
