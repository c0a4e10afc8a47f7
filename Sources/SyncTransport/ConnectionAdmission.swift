import NIOCore

/// Sits on the listening socket and admits accepted connections: a cap on concurrent connections
/// and on new connections per source address per second. Refused sockets are closed before any
/// TLS work is spent on them.
///
/// Confined to the server channel's event loop; child closes hop back to it to update the count.
final class ConnectionAdmission: ChannelInboundHandler {
    typealias InboundIn = any Channel
    typealias InboundOut = any Channel

    private struct Window {
        var start: NIODeadline
        var count: Int
    }

    private let sessionsMax: Int
    private let handshakesPerSecondMax: Int
    private let refusals: RefusalLog
    private let clock: @Sendable () -> NIODeadline
    private var open = 0
    private var windows: [String: Window] = [:]

    init(
        sessionsMax: Int, handshakesPerSecondMax: Int, refusals: RefusalLog,
        clock: @escaping @Sendable () -> NIODeadline = { NIODeadline.now() }
    ) {
        self.sessionsMax = sessionsMax
        self.handshakesPerSecondMax = handshakesPerSecondMax
        self.refusals = refusals
        self.clock = clock
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let child = unwrapInboundIn(data)
        let remoteAddress = child.remoteAddress
        if open >= sessionsMax {
            refuse(
                child,
                TransportError(
                    .tooManyConnections,
                    "the listener holds \(sessionsMax) connections already (sessionsMax); the peer should retry later"
                ), remoteAddress)
            return
        }
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
        open += 1
        let admission = NIOLoopBound(self, eventLoop: context.eventLoop)
        child.closeFuture.hop(to: context.eventLoop).whenComplete { _ in
            admission.value.open -= 1
        }
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
