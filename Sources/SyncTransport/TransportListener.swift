import Logging
import NIOCore
import NIOPosix
import SyncProtocol

/// Accepts TLS connections from peers and hands each authenticated one to a caller's handler.
///
/// Refusals (untrusted certificates, missing client certificates, wrong TLS versions, garbage,
/// stalled or silent handshakes, caps and budgets) close that connection only, are logged with the offered
/// fingerprint at a bounded rate, and are reported to `onRefusal`; the listener keeps serving. A
/// peer that authenticates while `sessionsMax` sessions are open is told `ERROR busy` first.
public final class TransportListener: Sendable {
    /// The address the listener is bound to (with the real port when bound to port 0).
    public let localAddress: SocketAddress?

    /// Yields, per accepted connection, a future that completes once its peer is authenticated and
    /// the listener has decided whether it gets a session.
    ///
    /// The child initializer must complete at once (NIO registers the socket only after it), so
    /// waiting for authentication happens in `run`, one child task per connection.
    private let serverChannel: NIOAsyncChannel<EventLoopFuture<PeerAdmission>, Never>

    private init(serverChannel: NIOAsyncChannel<EventLoopFuture<PeerAdmission>, Never>) {
        self.serverChannel = serverChannel
        self.localAddress = serverChannel.channel.localAddress
    }

    /// Binds a listener on `host:port` (port 0 picks a free port); call `run` to serve.
    public static func bind(
        host: String, port: Int, configuration: TransportConfiguration, group: any EventLoopGroup, logger: Logger,
        onRefusal: (@Sendable (ConnectionRefusal) -> Void)? = nil
    ) async throws -> TransportListener {
        let tlsContext = try TLSContext(configuration: configuration.tls)
        let refusals = RefusalLog(
            logger: logger, linesPerMinuteMax: configuration.refusalLogLinesPerMinuteMax, onRefusal: onRefusal,
            timers: group.next(), clock: configuration.clock)
        let connections = ListenerConnections(
            budget: AdmissionBudget(
                sessionsMax: configuration.sessionsMax, unauthenticatedMax: configuration.unauthenticatedMax,
                unauthenticatedPerAddressMax: configuration.unauthenticatedPerAddressMax),
            handshakesPerSecondMax: configuration.handshakesPerSecondMax, refusals: refusals,
            clock: configuration.clock)
        let serverChannel = try await ServerBootstrap(group: group)
            .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
            .serverChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(ConnectionAdmission(connections: connections))
                }
            }
            .childChannelOption(ChannelOptions.socketOption(.tcp_nodelay), value: 1)
            .bind(host: host, port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    // The connection leaves the unauthenticated budget for a session (or is refused
                    // one) the moment it authenticates, on its event loop, before `run` sees it.
                    try TransportPipeline.configure(
                        channel: channel, tlsContext: tlsContext, role: .server, configuration: configuration,
                        logger: logger, refusals: refusals, connections: connections
                    ).map { connections.authenticated($0) }
                }
            }
        logger.info(
            "listening",
            metadata: [
                "address": "\(serverChannel.channel.localAddress.map { "\($0)" } ?? "unknown")",
                "fingerprint": "\(configuration.tls.identity.fingerprint)",
            ])
        return TransportListener(serverChannel: serverChannel)
    }

    /// Serves until `close()`: runs `handler` for each authenticated connection, concurrently, in child tasks.
    ///
    /// The handler owns the connection: it must call `executeThenClose` (or `close()`) on it.
    /// Returns after the listening socket closed and every handler returned. Call it once.
    public func run(_ handler: @escaping @Sendable (TransportConnection) async -> Void) async throws {
        try await serverChannel.executeThenClose { connections in
            await withDiscardingTaskGroup { group in
                do {
                    for try await authenticated in connections {
                        group.addTask {
                            let admission: PeerAdmission
                            do {
                                admission = try await authenticated.get()
                            } catch {
                                // Refused before authentication (already logged and reported by
                                // ConnectionErrorPolicy or ListenerConnections); the connection is closed.
                                return
                            }
                            switch admission {
                            case .session(let connection):
                                await handler(connection)
                            case .busy(let connection, let error):
                                // Refused for want of a session (recorded by ListenerConnections):
                                // the peer learns why, instead of seeing its connection cut.
                                await connection.refuse(error)
                            case .closed:
                                return
                            }
                        }
                    }
                } catch {
                    // The listening socket failed; the handlers in flight finish on their own.
                }
            }
        }
    }

    /// Stops accepting: closes the listening socket. Established connections are not touched.
    public func close() async {
        do {
            try await serverChannel.channel.close()
        } catch {
            // Already closed.
        }
    }
}

/// Dials peers: TCP, TLS with the trust policy, then frames.
public enum TransportDialer {
    /// Connects to `host:port` and returns once the server's certificate passed the trust policy.
    ///
    /// With `expectedPeerID`, a server authenticated as any other configured peer is refused. In
    /// TLS 1.3 the server judges our certificate after our handshake finishes: if it refuses us,
    /// the first read on the connection fails with `TransportError.Code.refusedByPeer`.
    public static func connect(
        host: String, port: Int, expectedPeerID: String?, configuration: TransportConfiguration,
        group: any EventLoopGroup, logger: Logger
    ) async throws -> TransportConnection {
        let tlsContext = try TLSContext(configuration: configuration.tls)
        return try await connect(
            host: host, port: port, expectedPeerID: expectedPeerID, tlsContext: tlsContext,
            configuration: configuration, group: group, logger: logger)
    }

    /// Connects like `connect(host:port:expectedPeerID:configuration:group:logger:)`, reusing a built `TLSContext`.
    public static func connect(
        host: String, port: Int, expectedPeerID: String?, tlsContext: TLSContext, configuration: TransportConfiguration,
        group: any EventLoopGroup, logger: Logger
    ) async throws -> TransportConnection {
        var bootstrap = ClientBootstrap(group: group)
            .connectTimeout(.seconds(configuration.tls.handshakeTimeoutSeconds))
            .channelOption(ChannelOptions.socketOption(.tcp_nodelay), value: 1)
        if let dialFrom = configuration.dialFrom {
            bootstrap = bootstrap.bind(to: try SocketAddress(ipAddress: dialFrom, port: 0))
        }
        let authenticated =
            try await bootstrap
            .connect(host: host, port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try TransportPipeline.configure(
                        channel: channel, tlsContext: tlsContext, role: .client(expectedPeerID: expectedPeerID),
                        configuration: configuration, logger: logger, refusals: nil)
                }
            }
        return try await authenticated.get()
    }
}
