import Logging
import NIOCore
import NIOPosix
import SyncProtocol
import Testing

@testable import SyncTransport

/// A listener on 127.0.0.1:0 that echoes frames and reports, per connection, the peer as the
/// listener authenticated it, or the refusal; with the logger and configuration (clock included)
/// the test chooses. For the CA-mode, admission and refusal-log tests.
struct RecordingServer {
    let port: Int
    let peers: AsyncStream<AuthenticatedPeer>
    let refusals: AsyncStream<ConnectionRefusal>

    /// Runs `body` against a fresh server, then stops it and waits (bounded) for it to finish.
    static func with(
        _ configuration: TransportConfiguration, logger: Logger = quietLogger,
        _ body: (RecordingServer) async throws -> Void
    ) async throws {
        let (peers, peerSink) = AsyncStream.makeStream(of: AuthenticatedPeer.self)
        let (refusals, refusalSink) = AsyncStream.makeStream(of: ConnectionRefusal.self)
        let listener = try await TransportListener.bind(
            host: "127.0.0.1", port: 0, configuration: configuration, group: MultiThreadedEventLoopGroup.singleton,
            logger: logger, onRefusal: { refusalSink.yield($0) })
        let server = RecordingServer(
            port: try #require(listener.localAddress?.port), peers: peers, refusals: refusals)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                try await listener.run { connection in
                    peerSink.yield(connection.peer)
                    do {
                        try await connection.executeThenClose { inbound, outbound in
                            for try await frame in inbound {
                                try await outbound.write(frame)
                            }
                        }
                    } catch {
                        // The dialer going away is not what these tests look at.
                    }
                }
            }
            do {
                try await body(server)
            } catch {
                await listener.close()
                throw error
            }
            await listener.close()
            group.addTask {
                try await Task.sleep(for: .seconds(30))
                throw WaitTimedOut(seconds: 30, what: "listener shutdown")
            }
            try await group.next()
            group.cancelAll()
        }
    }

    /// The next refusal, waiting at most `seconds`.
    func nextRefusal(seconds: Int = 20) async throws -> ConnectionRefusal {
        try await firstElement(of: refusals, seconds: seconds)
    }

    /// The next `count` refusals, waiting at most `seconds` for each.
    func nextRefusals(_ count: Int, seconds: Int = 20) async throws -> [ConnectionRefusal] {
        var refused: [ConnectionRefusal] = []
        for _ in 0..<count {
            refused.append(try await nextRefusal(seconds: seconds))
        }
        return refused
    }

    /// The next peer the listener authenticated, waiting at most `seconds`.
    func nextPeer(seconds: Int = 20) async throws -> AuthenticatedPeer {
        try await firstElement(of: peers, seconds: seconds)
    }

    /// Dials from `sourceIP` (any loopback address; the kernel's choice if nil) with `configuration`,
    /// exchanges one frame, and returns the server as the dialer authenticated it.
    func exchange(
        configuration: TransportConfiguration, expectedPeerID: String? = nil, from sourceIP: String? = nil
    ) async throws -> AuthenticatedPeer {
        let port = self.port
        return try await bounded("exchange", seconds: 30) {
            let connection = try await Self.dial(
                port: port, configuration: configuration, expectedPeerID: expectedPeerID, from: sourceIP)
            let frame = Frame(type: 0x10, payload: Array("HELLO".utf8))
            let echo = try await connection.executeThenClose { inbound, outbound in
                try await outbound.write(frame)
                var iterator = inbound.makeAsyncIterator()
                return try await iterator.next()
            }
            guard echo == frame else {
                throw TransportError(.truncated, "the server did not echo the frame (got \(String(describing: echo)))")
            }
            return connection.peer
        }
    }

    /// What `TransportDialer.connect` does, with the socket bound to `sourceIP` first when given.
    static func dial(
        port: Int, configuration: TransportConfiguration, expectedPeerID: String?, from sourceIP: String?
    ) async throws -> TransportConnection {
        let tlsContext = try TLSContext(configuration: configuration.tls)
        var bootstrap = ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connectTimeout(.seconds(configuration.tls.handshakeTimeoutSeconds))
        if let sourceIP {
            bootstrap = bootstrap.bind(to: try SocketAddress(ipAddress: sourceIP, port: 0))
        }
        let authenticated = try await bootstrap.connect(host: "127.0.0.1", port: port) { channel in
            channel.eventLoop.makeCompletedFuture {
                try TransportPipeline.configure(
                    channel: channel, tlsContext: tlsContext, role: .client(expectedPeerID: expectedPeerID),
                    configuration: configuration, logger: quietLogger, refusals: nil)
            }
        }
        return try await authenticated.get()
    }

    /// Dials with `configuration` expecting to be refused; returns the dialer's error (nil if it was served).
    func refusedDial(configuration: TransportConfiguration, from sourceIP: String? = nil) async -> (any Error)? {
        do {
            _ = try await exchange(configuration: configuration, from: sourceIP)
            return nil
        } catch {
            return error
        }
    }

    /// Opens a plain TCP connection (no TLS) to the listener.
    func rawConnection() async throws -> any Channel {
        try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connect(host: "127.0.0.1", port: port).get()
    }
}
