import Foundation
import SyncCore
import TOMLKit

/// A peer as `node.toml` configures it.
public struct PeerConfig: Codable, Sendable, Equatable {
    public var id: String
    public var address: String
    /// The pinned certificate fingerprint; nil for a peer the network CA (`ca_file`) vouches for.
    public var fingerprint: String?
    public var role: String?
    public var schedule: String?
    /// The fingerprint the peer announced for its rotated certificate; promoted on first use.
    public var nextFingerprint: String?

    public init(
        id: String, address: String, fingerprint: String?, role: String? = nil, schedule: String? = nil,
        nextFingerprint: String? = nil
    ) {
        self.id = id
        self.address = address
        self.fingerprint = fingerprint
        self.role = role
        self.schedule = schedule
        self.nextFingerprint = nextFingerprint
    }

    public enum CodingKeys: String, CodingKey {
        case id, address, fingerprint, role, schedule
        case nextFingerprint = "next_fingerprint"
    }
}

/// `node.toml`: this node's configuration. spsync writes it with comments; operators may edit it.
public struct NodeConfig: Codable, Sendable, Equatable {
    public struct Node: Codable, Sendable, Equatable {
        public var id: String
        public var role: String
        public var name: String
        public var pcn: String?
        public var listen: String?
        public var tlsMin: String?
        public var caFile: String?
        /// The local IP address this node dials its peers from (a host with several addresses).
        public var dialFrom: String?

        public init(
            id: String, role: String, name: String, pcn: String? = nil, listen: String? = nil, tlsMin: String? = nil,
            caFile: String? = nil
        ) {
            self.id = id
            self.role = role
            self.name = name
            self.pcn = pcn
            self.listen = listen
            self.tlsMin = tlsMin
            self.caFile = caFile
        }

        enum CodingKeys: String, CodingKey {
            case id, role, name, pcn, listen
            case tlsMin = "tls_min"
            case caFile = "ca_file"
            case dialFrom = "dial_from"
        }
    }

    /// `[http]`: where the daemon serves the web console, /metrics, /healthz and /readyz (off unless set).
    public struct HTTP: Codable, Sendable, Equatable {
        /// `HOST:PORT`: a loopback address, or any address when the listener serves TLS.
        public var listen: String?
        /// The listener's TLS certificate and key (PEM files; a path relative to the node's home
        /// is taken from there): both or neither. With them the listener serves HTTPS and may
        /// listen on a non-loopback address for the console; `spsync web certificate` makes a pair.
        public var tlsCertificate: String?
        public var tlsKey: String?

        public init(listen: String?, tlsCertificate: String? = nil, tlsKey: String? = nil) {
            self.listen = listen
            self.tlsCertificate = tlsCertificate
            self.tlsKey = tlsKey
        }

        enum CodingKeys: String, CodingKey {
            case listen
            case tlsCertificate = "tls_certificate"
            case tlsKey = "tls_key"
        }

        /// Whether the listener serves TLS (both files named); refuses one without the other.
        public func servesTLS() throws(SyncError) -> Bool {
            switch (tlsCertificate, tlsKey) {
            case (nil, nil): return false
            case (.some, .some): return true
            default:
                throw SyncError(
                    .usage,
                    "[http] names tls_certificate or tls_key without the other: give both (the certificate and its key) or neither"
                )
            }
        }
    }

    public var node: Node
    public var peers: [PeerConfig]
    public var blocked: [String]
    public var http: HTTP?

    public init(node: Node, peers: [PeerConfig] = [], blocked: [String] = [], http: HTTP? = nil) {
        self.node = node
        self.peers = peers
        self.blocked = blocked
        self.http = http
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        node = try c.decode(Node.self, forKey: .node)
        peers = try c.decodeIfPresent([PeerConfig].self, forKey: .peers) ?? []
        blocked = try c.decodeIfPresent([String].self, forKey: .blocked) ?? []
        http = try c.decodeIfPresent(HTTP.self, forKey: .http)
    }

    /// Refuses an `[http] listen` that is not `HOST:PORT` on a loopback address: metrics name the
    /// peers and their state, and the endpoints have no authentication.
    public static func validateHTTPListen(_ address: String, option: String) throws(SyncError) {
        try validateHTTPListen(address, option: option, tls: false)
    }

    /// Refuses an `[http] listen` that is not `HOST:PORT`, or not on a loopback address while the
    /// listener serves no TLS: console sessions and sign-in links must not cross a network in clear.
    /// With TLS any address is allowed (the operator endpoints still answer loopback clients only).
    /// Returns the address split.
    @discardableResult
    public static func validateHTTPListen(_ address: String, option: String, tls: Bool) throws(SyncError)
        -> NodeSettings.Endpoint
    {
        let endpoint: NodeSettings.Endpoint
        do { endpoint = try NodeSettings.Endpoint(parsing: address, what: option) } catch {
            throw SyncError(
                .usage, "\(option) \(address): give HOST:PORT on a loopback address, such as 127.0.0.1:9464")
        }
        let host = endpoint.host
        let loopback =
            host == "localhost" || host == "::1" || (host.hasPrefix("127.") && host.split(separator: ".").count == 4)
        guard loopback || tls else {
            throw SyncError(
                .usage,
                "\(option) \(address): without TLS the HTTP listener serves a loopback address only (127.0.0.1, ::1), "
                    + "as sign-in links and sessions would cross the network in clear; set tls_certificate and tls_key "
                    + "under [http] (`spsync web certificate` makes a pair), or let a reverse proxy with TLS reach it")
        }
        return endpoint
    }

    public var nodeID: NodeID {
        get throws { try NodeID(node.id) }
    }

    /// Parses the text of a node.toml (what `load` reads and `render` writes).
    public init(toml text: String) throws {
        try NodeConfig.checkTableHeaders(text)
        self = try TOMLDecoder().decode(NodeConfig.self, from: text)
    }

    /// Refuses a table header without a name (`[` then the end of the line, `#`, `=`…) before
    /// TOMLKit reads the text: its toml++ 3 stops the process on an assertion there (found by the
    /// node-config fuzzer: a file holding the line `[` aborted every command) instead of reporting an
    /// error. A name starts with a bare-key character or a quote.
    static func checkTableHeaders(_ text: String) throws(SyncError) {
        let blanks: Set<UInt8> = [0x20, 0x09]
        for (index, line) in text.utf8.split(separator: 0x0A, omittingEmptySubsequences: false).enumerated() {
            var rest = line.drop(while: blanks.contains)
            guard rest.first == UInt8(ascii: "[") else { continue }
            rest = rest.dropFirst()
            if rest.first == UInt8(ascii: "[") { rest = rest.dropFirst() }
            rest = rest.drop(while: blanks.contains)
            let startsName = rest.first.map { c in
                (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A)
                    || [UInt8(ascii: "_"), UInt8(ascii: "-"), UInt8(ascii: "\""), UInt8(ascii: "'")].contains(c)
            }
            guard startsName == true else {
                throw SyncError(.usage, "line \(index + 1): a table header needs a name, such as [node] or [[peers]]")
            }
        }
    }

    public static func load(_ path: String) throws -> NodeConfig {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw SyncError(.notFound, "cannot read \(path): run `spsync init` first, or pass the right --home")
        }
        do {
            return try NodeConfig(toml: text)
        } catch {
            throw SyncError(.usage, "\(path) is not a valid node.toml: \(error)")
        }
    }

    /// The annotated TOML text of this configuration.
    public func render() -> String {
        func q(_ s: String) -> String { NodeConfig.basicString(s) }
        var out = """
            # spsync node configuration. Written by `spsync init` and `spsync peer …`; safe to edit by hand
            # while the daemon is stopped. Times are local to the node.

            # Certificate fingerprints refused for good (`spsync peer block`).
            blocked = [\(blocked.map(q).joined(separator: ", "))]

            [node]
            # This organisation's code; it is the node id and gives the role (practice, hub or vcse).
            id = \(q(node.id))
            role = \(q(node.role))
            name = \(q(node.name))

            """
        if let pcn = node.pcn { out += "# The PCN hub this practice belongs to.\npcn = \(q(pcn))\n" }
        out += "# Address the daemon listens on for peers (TLS). Leave out to only dial out.\n"
        out += node.listen.map { "listen = \(q($0))\n" } ?? "# listen = \"0.0.0.0:7443\"\n"
        out += "# Lowest TLS version accepted: \"1.3\" (default) or \"1.2\" (ECDHE + AEAD only).\n"
        out += node.tlsMin.map { "tls_min = \(q($0))\n" } ?? "# tls_min = \"1.3\"\n"
        out += "# Optional network CA (PEM): also accept certificates it signed for configured peer ids.\n"
        out += node.caFile.map { "ca_file = \(q($0))\n" } ?? "# ca_file = \"/etc/spsync/network-ca.pem\"\n"
        if let dialFrom = node.dialFrom {
            out += "# The local address this node dials its peers from (a host with several addresses).\n"
            out += "dial_from = \(q(dialFrom))\n"
        }
        out += "\n# The web console, metrics (Prometheus, /metrics) and health (/healthz, /readyz) over HTTP;\n"
        out += "# off unless set. `spsync init --http 127.0.0.1:9464` sets it. A loopback address only, unless\n"
        out += "# the listener serves TLS (tls_certificate and tls_key, made by `spsync web certificate`).\n"
        if let listen = http?.listen {
            out += "[http]\nlisten = \(q(listen))\n"
            if let certificate = http?.tlsCertificate { out += "tls_certificate = \(q(certificate))\n" }
            if let key = http?.tlsKey { out += "tls_key = \(q(key))\n" }
        } else {
            out += "# [http]\n# listen = \"127.0.0.1:9464\"\n"
            out += "# tls_certificate = \"web-cert.pem\"\n# tls_key = \"web-key.pem\"\n"
        }
        for p in peers {
            out += "\n[[peers]]\nid = \(q(p.id))\naddress = \(q(p.address))\n"
            out +=
                p.fingerprint.map { "fingerprint = \(q($0))\n" }
                ?? "# no fingerprint: the network CA (ca_file) vouches for it\n"
            if let r = p.role { out += "role = \(q(r))\n" }
            out += "# live | nightly HH:MM-HH:MM | every 15m | manual\n"
            out += "schedule = \(q(p.schedule ?? "manual"))\n"
            if let n = p.nextFingerprint { out += "next_fingerprint = \(q(n))\n" }
        }
        return out
    }

    /// `text` as a TOML basic string: quotes, backslashes and every control character escaped.
    ///
    /// TOML refuses control characters other than tab inside a basic string, and a value read from
    /// node.toml may hold any of them written as escapes (`name = "A\nB"`): escaping only quotes and
    /// backslashes wrote a file that no longer parsed.
    static func basicString(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case "\u{08}": out += "\\b"
            case "\u{0C}": out += "\\f"
            case "\u{00}"..."\u{1F}", "\u{7F}":
                let hex = String(scalar.value, radix: 16, uppercase: true)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }

    public func save(_ path: String) throws {
        let tmp = path + ".tmp"
        do {
            try render().write(toFile: tmp, atomically: false, encoding: .utf8)
        } catch {
            throw SyncError(.io, "cannot write \(tmp): \(error.localizedDescription) (is the disk full?)")
        }
        // rename(2) replaces the old file atomically: a crash leaves the old or the new config, never half.
        guard rename(tmp, path) == 0 else {
            throw SyncError(.io, "cannot replace \(path): \(String(cString: strerror(errno)))")
        }
    }
}
