import Logging
import NIOCore
import NIOPosix
import SyncProtocol
import Testing

@testable import SyncTransport

/// What the CA-mode, admission and refusal-log tests ask of the echo server beyond the loopback
/// tests: the peers it authenticated, several refusals, dialling from a chosen source address.
extension EchoServer {
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

    /// `TransportDialer.connect`, leaving from `sourceIP` when given (node.toml `dial_from`).
    static func dial(
        port: Int, configuration: TransportConfiguration, expectedPeerID: String?, from sourceIP: String?
    ) async throws -> TransportConnection {
        var configuration = configuration
        if let sourceIP { configuration.dialFrom = sourceIP }
        return try await TransportDialer.connect(
            host: "127.0.0.1", port: port, expectedPeerID: expectedPeerID, configuration: configuration,
            group: MultiThreadedEventLoopGroup.singleton, logger: quietLogger)
    }

    /// Opens a plain TCP connection (no TLS) to the listener from `sourceIP`, a loopback address.
    func rawConnection(from sourceIP: String) async throws -> any Channel {
        try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .bind(to: try SocketAddress(ipAddress: sourceIP, port: 0))
            .connect(host: "127.0.0.1", port: port).get()
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
}
