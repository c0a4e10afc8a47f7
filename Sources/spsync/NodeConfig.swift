import Foundation
import SyncCore
import TOMLKit

/// A peer as `node.toml` configures it.
struct PeerConfig: Codable, Sendable, Equatable {
    var id: String
    var address: String
    var fingerprint: String
    var role: String?
    var schedule: String?
    /// The fingerprint the peer announced for its rotated certificate; promoted on first use.
    var nextFingerprint: String?

    enum CodingKeys: String, CodingKey {
        case id, address, fingerprint, role, schedule
        case nextFingerprint = "next_fingerprint"
    }
}

/// `node.toml`: this node's configuration. spsync writes it with comments; operators may edit it.
struct NodeConfig: Codable, Sendable, Equatable {
    struct Node: Codable, Sendable, Equatable {
        var id: String
        var role: String
        var name: String
        var pcn: String?
        var listen: String?
        var tlsMin: String?
        var caFile: String?

        enum CodingKeys: String, CodingKey {
            case id, role, name, pcn, listen
            case tlsMin = "tls_min"
            case caFile = "ca_file"
        }
    }

    var node: Node
    var peers: [PeerConfig]
    var blocked: [String]

    init(node: Node, peers: [PeerConfig] = [], blocked: [String] = []) {
        self.node = node
        self.peers = peers
        self.blocked = blocked
    }

    init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        node = try c.decode(Node.self, forKey: .node)
        peers = try c.decodeIfPresent([PeerConfig].self, forKey: .peers) ?? []
        blocked = try c.decodeIfPresent([String].self, forKey: .blocked) ?? []
    }

    var nodeID: NodeID {
        get throws { try NodeID(node.id) }
    }

    static func load(_ path: String) throws -> NodeConfig {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw SyncError(.notFound, "cannot read \(path): run `spsync init` first, or pass the right --home")
        }
        do {
            return try TOMLDecoder().decode(NodeConfig.self, from: text)
        } catch {
            throw SyncError(.usage, "\(path) is not a valid node.toml: \(error)")
        }
    }

    /// The annotated TOML text of this configuration.
    func render() -> String {
        func q(_ s: String) -> String {
            "\"" + s.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\""
        }
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
        for p in peers {
            out += "\n[[peers]]\nid = \(q(p.id))\naddress = \(q(p.address))\nfingerprint = \(q(p.fingerprint))\n"
            if let r = p.role { out += "role = \(q(r))\n" }
            out += "# live | nightly HH:MM-HH:MM | every 15m | manual\n"
            out += "schedule = \(q(p.schedule ?? "manual"))\n"
            if let n = p.nextFingerprint { out += "next_fingerprint = \(q(n))\n" }
        }
        return out
    }

    func save(_ path: String) throws {
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
