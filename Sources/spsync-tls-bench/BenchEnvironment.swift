import Foundation
import Logging
import NIOCore
import NIOPosix
import SyncTransport

/// What both sides of every measurement share: one pair of node identities (written as PEM files
/// for the openssl tools, held in memory for our transport), our configurations and event loops.
struct BenchEnvironment {
    /// The node id the listening side (our listener, `s_server`) presents.
    static let serverNodeID = "U12345"
    /// The node id the dialing side (our dialer, `s_time`, `s_client`) presents.
    static let clientNodeID = "A81001"
    /// The admission caps raised for the benchmark: one source address dials in a tight loop,
    /// which the production defaults (20 handshakes per second per address, 512 sessions, 8
    /// handshakes in progress per address) refuse by design.
    static let handshakesPerSecondMaxRaised = 1_000_000
    static let sessionsMaxRaised = 100_000
    static let unauthenticatedMaxRaised = 100_000

    let directory: String
    let server: NodeIdentity
    let client: NodeIdentity
    let serverConfiguration: TransportConfiguration
    let clientConfiguration: TransportConfiguration
    /// Built once, as `s_time` builds its `SSL_CTX` once: the dialer reuses it for every connection.
    let clientTLSContext: TLSContext
    /// One thread for the listener and one for the dialer, like the two openssl processes.
    let serverGroup: MultiThreadedEventLoopGroup
    let clientGroup: MultiThreadedEventLoopGroup
    let logger: Logger

    var serverKeyPath: String { directory + "/server/" + NodeIdentity.keyFileName }
    var serverCertificatePath: String { directory + "/server/" + NodeIdentity.certificateFileName }
    var clientKeyPath: String { directory + "/client/" + NodeIdentity.keyFileName }
    var clientCertificatePath: String { directory + "/client/" + NodeIdentity.certificateFileName }

    /// Makes fresh identities with `NodeIdentity.generate` in a new temporary directory.
    static func make() throws -> BenchEnvironment {
        let directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("spsync-tls-bench-\(UUID().uuidString)").path
        for side in ["server", "client"] {
            try FileManager.default.createDirectory(
                atPath: directory + "/" + side, withIntermediateDirectories: true,
                attributes: [.posixPermissions: 0o700])
        }
        let server = try NodeIdentity.generate(nodeID: serverNodeID, directory: directory + "/server")
        let client = try NodeIdentity.generate(nodeID: clientNodeID, directory: directory + "/client")
        // Pinning, as the daemon configures it: each side trusts exactly the other's fingerprint.
        let serverTrust = PinnedPeerTrust(pinned: [client.fingerprint: client.nodeID])
        let clientTrust = PinnedPeerTrust(pinned: [server.fingerprint: server.nodeID])
        let serverConfiguration = TransportConfiguration(
            tls: TLSConfiguration(identity: server, trust: serverTrust),
            sessionsMax: sessionsMaxRaised, unauthenticatedMax: unauthenticatedMaxRaised,
            unauthenticatedPerAddressMax: unauthenticatedMaxRaised, handshakesPerSecondMax: handshakesPerSecondMaxRaised
        )
        let clientConfiguration = TransportConfiguration(tls: TLSConfiguration(identity: client, trust: clientTrust))
        var logger = Logger(label: "spsync-tls-bench", factory: { _ in SwiftLogNoOpLogHandler() })
        logger.logLevel = .critical
        return BenchEnvironment(
            directory: directory, server: server, client: client, serverConfiguration: serverConfiguration,
            clientConfiguration: clientConfiguration,
            clientTLSContext: try TLSContext(configuration: clientConfiguration.tls),
            serverGroup: MultiThreadedEventLoopGroup(numberOfThreads: 1),
            clientGroup: MultiThreadedEventLoopGroup(numberOfThreads: 1), logger: logger)
    }

    /// Stops the event loops and removes the key files.
    func tearDown() async {
        do {
            try await serverGroup.shutdownGracefully()
            try await clientGroup.shutdownGracefully()
        } catch {
            print("warning: event loops did not shut down cleanly: \(error)")
        }
        do {
            try FileManager.default.removeItem(atPath: directory)
        } catch {
            print("warning: could not remove \(directory): \(error)")
        }
    }

    /// A port free on 127.0.0.1 right now, for an openssl server (bound and released at once).
    func freePort() async throws -> Int {
        let channel = try await ServerBootstrap(group: serverGroup).bind(host: "127.0.0.1", port: 0).get()
        let port = channel.localAddress?.port
        try await channel.close()
        guard let port else { throw BenchError("cannot find a free port on 127.0.0.1") }
        return port
    }
}

/// A benchmark that could not run as intended; printed and exits non-zero.
struct BenchError: Error, CustomStringConvertible {
    let description: String

    init(_ description: String) {
        self.description = description
    }
}
