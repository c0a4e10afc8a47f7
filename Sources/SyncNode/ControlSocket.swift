import Foundation
import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle
import SyncCore
import SyncStore

/// A request on the control socket: one JSON object on one line.
public struct ControlRequest: Codable, Sendable {
    /// `status`, `sync`, `changed` (the CLI wrote to the store) or `reload` (node.toml changed).
    public var command: String
    /// For `sync`: one peer, or all when absent.
    public var peer: String?

    public init(command: String, peer: String? = nil) {
        self.command = command
        self.peer = peer
    }
}

/// The answer: one JSON object on one line.
public struct ControlResponse: Codable, Sendable {
    public struct SyncResult: Codable, Sendable {
        public var peer: String
        public var ok: Bool
        public var received: Int
        public var sent: Int
        public var parked: Int
        public var refused: Int
        public var errorCode: PeerErrorCode?
        public var error: String?
    }
    public var ok: Bool
    public var error: String?
    public var pid: Int32?
    /// ms since the Unix epoch.
    public var startedAt: UInt64?
    public var peers: [PeerStatus]?
    public var results: [SyncResult]?
    /// For `reload`: peers whose sessions were cut (removed or blocked).
    public var cut: [String]?
}

/// Serves the CLI on a Unix domain socket in the node's home (mode 0600): live peer state for
/// `spsync status`, `spsync sync --now`, and `reload` after `spsync peer add|remove|block`.
struct ControlSocketService: Service {
    let daemon: Daemon

    func run() async throws {
        let path = daemon.runtime.home.controlSocketPath
        let daemon = self.daemon
        let server = try await ServerBootstrap(group: daemon.runtime.group)
            .bind(unixDomainSocketPath: path, cleanupExistingSocketFile: true) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
                }
            }
        guard chmod(path, 0o600) == 0 else { throw SyncError(.io, "cannot make \(path) private") }
        do {
            try await cancelWhenGracefulShutdown {
                try await server.executeThenClose { clients in
                    try await withThrowingDiscardingTaskGroup { group in
                        for try await client in clients {
                            group.addTask {
                                do { try await serve(client, daemon) } catch {
                                    daemon.runtime.logger.debug(
                                        "control client failed", metadata: ["error": "\(error)"])
                                }
                            }
                        }
                    }
                }
            }
        } catch is CancellationError {}
        unlink(path)
    }

    func serve(_ client: NIOAsyncChannel<ByteBuffer, ByteBuffer>, _ daemon: Daemon) async throws {
        try await client.executeThenClose { inbound, outbound in
            var line = ByteBuffer()
            for try await chunk in inbound {
                var chunk = chunk
                line.writeBuffer(&chunk)
                guard line.readableBytesView.contains(UInt8(ascii: "\n")) else {
                    if line.readableBytes > 64 * 1024 { return }
                    continue
                }
                break
            }
            let response: ControlResponse
            do {
                let request = try JSONDecoder().decode(ControlRequest.self, from: Data(line.readableBytesView))
                response = await handle(request, daemon)
            } catch {
                response = ControlResponse(ok: false, error: "bad request: \(error)")
            }
            var data = try JSONEncoder().encode(response)
            data.append(UInt8(ascii: "\n"))
            try await outbound.write(ByteBuffer(bytes: data))
        }
    }

    func handle(_ request: ControlRequest, _ daemon: Daemon) async -> ControlResponse {
        switch request.command {
        case "changed":
            // The CLI wrote to the store: wake live sessions now (nothing polls the store for writes).
            daemon.feed.publish()
            return ControlResponse(ok: true)
        case "reload":
            do {
                let cut = try await daemon.reload()
                return ControlResponse(ok: true, pid: getpid(), cut: cut)
            } catch {
                return ControlResponse(ok: false, error: "node.toml could not be reloaded: \(error)")
            }
        case "status":
            return ControlResponse(
                ok: true, pid: getpid(), startedAt: daemon.startedAt, peers: await daemon.book.snapshot())
        case "sync":
            if let peer = request.peer, !daemon.config.peers.contains(where: { $0.id == peer }) {
                return ControlResponse(ok: false, error: "\(peer) is not a peer of this node (see `spsync peer list`)")
            }
            let outcomes = await daemon.syncNow(peer: request.peer)
            return ControlResponse(
                ok: true, pid: getpid(),
                results: outcomes.map {
                    .init(
                        peer: $0.peer, ok: $0.succeeded, received: $0.statistics.applied, sent: $0.statistics.writesOut,
                        parked: $0.statistics.parked, refused: $0.statistics.refused, errorCode: $0.errorCode,
                        error: $0.error)
                })
        default:
            return ControlResponse(ok: false, error: "unknown command \(request.command)")
        }
    }
}

/// The CLI's side of the control socket: one request, one response, plain POSIX.
public enum ControlClient {
    /// Sends `request` to the daemon of `home`; nil when no daemon is listening.
    public static func send(_ request: ControlRequest, home: NodeHome, timeoutSeconds: Int = 600) throws
        -> ControlResponse?
    {
        let path = home.controlSocketPath
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw SyncError(.io, "cannot make a socket: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else {
            throw SyncError(.io, "control socket path too long: \(path)")
        }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (i, b) in bytes.enumerated() { raw[i] = b }
            raw[bytes.count] = 0
        }
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        guard connected == 0 else { return nil }  // a stale socket file: no daemon
        var timeout = timeval(tv_sec: timeoutSeconds, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var payload = try JSONEncoder().encode(request)
        payload.append(UInt8(ascii: "\n"))
        let written = payload.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        guard written == payload.count else { throw SyncError(.io, "cannot write to the daemon's control socket") }
        var received = [UInt8]()
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = read(fd, &buffer, buffer.count)
            if n <= 0 { break }
            received.append(contentsOf: buffer[0..<n])
            if received.last == UInt8(ascii: "\n") { break }
        }
        guard !received.isEmpty else { throw SyncError(.io, "the daemon did not answer on \(path)") }
        do {
            return try JSONDecoder().decode(ControlResponse.self, from: Data(received))
        } catch {
            throw SyncError(.io, "the daemon's answer was not understood: \(error)")
        }
    }
}
