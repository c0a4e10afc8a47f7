import NIOCore
import SyncCore
import SyncTransport

/// `node.toml` parsed once into what the daemon acts on: node ids, addresses, schedules, pinned and
/// blocked fingerprints, the TLS floor, each typed and checked. A file with a bad value is refused
/// whole, in one line that names the value, when it is read (at start or on `reload`), not when a
/// link first dials. `NodeConfig` stays the file's own form (read, edited and written with its
/// comments by the CLI); the daemon reads `NodeSettings`.
public struct NodeSettings: Sendable, Equatable {
    /// `HOST:PORT`, split and checked.
    public struct Endpoint: Sendable, Equatable, CustomStringConvertible {
        public var host: String
        public var port: Int

        /// Parses `HOST:PORT` (`[::1]:7443` for IPv6); `what` names the value in the error.
        public init(parsing text: String, what: String) throws(SyncError) {
            guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]),
                (1...65_535).contains(port), colon > text.startIndex
            else {
                throw SyncError(.usage, "node.toml, \(what): \(quoted: text) is not HOST:PORT (a port from 1 to 65535)")
            }
            var host = String(text[..<colon])
            if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
            self.host = host
            self.port = port
        }

        public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
    }

    /// One `[[peers]]` entry.
    public struct Peer: Sendable, Equatable {
        public var id: NodeID
        public var address: Endpoint
        public var schedule: Schedule
        /// The pinned fingerprint; nil for a peer the network CA vouches for.
        public var fingerprint: CertificateFingerprint?
        /// The fingerprint the peer announced for its rotated certificate.
        public var nextFingerprint: CertificateFingerprint?
        /// The entry as written (for status rows and messages).
        public var entry: PeerConfig
    }

    /// The file as read.
    public let file: NodeConfig
    public let node: NodeID
    /// Where the peers' listener binds, if this node listens.
    public let listen: Endpoint?
    public let tlsMinimum: TLSConfiguration.MinimumVersion
    /// The local IP address outgoing connections leave from, if set (`dial_from`).
    public let dialFrom: String?
    public let peers: [Peer]
    public let blocked: Set<CertificateFingerprint>

    public init(_ file: NodeConfig) throws(SyncError) {
        self.file = file
        self.node = try NodeID(file.node.id)
        self.listen = try file.node.listen.map { text throws(SyncError) in try Endpoint(parsing: text, what: "listen") }
        switch file.node.tlsMin ?? "1.3" {
        case "1.3": self.tlsMinimum = .tls13
        case "1.2": self.tlsMinimum = .tls12
        case let other:
            throw SyncError(.usage, "node.toml tls_min = \(quoted: other): use \"1.3\" (default) or \"1.2\"")
        }
        if let text = file.node.dialFrom {
            guard (try? SocketAddress(ipAddress: text, port: 0)) != nil else {
                throw SyncError(
                    .usage, "node.toml dial_from = \(quoted: text): give an IP address of this host, such as 10.0.0.5")
            }
        }
        self.dialFrom = file.node.dialFrom
        var peers: [Peer] = []
        for entry in file.peers {
            let what = "peer \(entry.id)"
            let id: NodeID
            do { id = try NodeID(entry.id) } catch {
                throw SyncError(.usage, "node.toml, a peer's id: \(error.message)")
            }
            func fingerprint(_ text: String?) throws(SyncError) -> CertificateFingerprint? {
                guard let text else { return nil }
                do { return try CertificateFingerprint(parsing: text) } catch {
                    throw SyncError(.usage, "node.toml, \(what): \(error)")
                }
            }
            let schedule: Schedule
            do { schedule = try Schedule(entry.schedule ?? "manual") } catch {
                throw SyncError(.usage, "node.toml, \(what): \(error)")
            }
            peers.append(
                Peer(
                    id: id, address: try Endpoint(parsing: entry.address, what: "\(what) address"), schedule: schedule,
                    fingerprint: try fingerprint(entry.fingerprint),
                    nextFingerprint: try fingerprint(entry.nextFingerprint),
                    entry: entry))
        }
        self.peers = peers
        var blocked: Set<CertificateFingerprint> = []
        for text in file.blocked {
            do { blocked.insert(try CertificateFingerprint(parsing: text)) } catch {
                throw SyncError(.usage, "node.toml, blocked: \(error)")
            }
        }
        self.blocked = blocked
    }

    public func peer(_ id: String) -> Peer? { peers.first { $0.id.rawValue == id } }

    /// Whether `id` is a configured peer whose pinned key is not blocked.
    public func accepts(_ id: String) -> Bool {
        guard let peer = peer(id) else { return false }
        return peer.fingerprint.map(blocked.contains) != true
    }
}
