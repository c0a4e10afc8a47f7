import ArgumentParser
import Foundation
import SyncCore
import SyncDomain
import SyncNode
import SyncStore
import SyncTransport

/// `spsync init`: makes a node's home: its key and certificate, `node.toml` and the store.
struct Init: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Create this organisation's node: key, certificate, node.toml and store.")

    @OptionGroup var home: HomeOptions
    @Option(help: "The organisation code: practice ODS code (A81001), PCN (U12345) or charity id (GB-CHC-1234567).")
    var org: String
    @Option(help: "practice, hub or vcse; must agree with the code's scheme.") var role: String?
    @Option(help: "The organisation's name.") var name: String
    @Option(help: "Listen for peers on HOST:PORT.") var listen: String?
    @Option(
        help:
            "Serve the web console, metrics and health over HTTP on a loopback HOST:PORT (127.0.0.1:9464); another address needs TLS (spsync web certificate)."
    ) var http: String?
    @Option(help: "The PCN hub a practice belongs to (required for a practice).") var pcn: String?
    @OptionGroup var output: OutputOptions

    func run() throws {
        try runReporting {
            let id = try nodeID(org, option: "--org")
            if let role, Role(rawValue: role) != id.role {
                throw SyncError(.usage, "--role \(role) does not agree with \(id), which is a \(id.role) code")
            }
            var pcnID: NodeID?
            switch id.role {
            case .practice:
                guard let pcn else { throw SyncError(.usage, "a practice names its PCN hub: add --pcn U12345") }
                pcnID = try nodeID(pcn, option: "--pcn")
                guard pcnID?.role == .hub else {
                    throw SyncError(.usage, "--pcn \(pcn) is not a PCN code (U and five digits)")
                }
            case .hub:
                if let pcn, pcn != id.rawValue { throw SyncError(.usage, "a PCN hub is its own PCN: leave out --pcn") }
                pcnID = id
            case .vcse:
                if pcn != nil { throw SyncError(.usage, "a charity belongs to no PCN: leave out --pcn") }
            }
            if let listen { try PeerAddress.validate(listen, option: "--listen") }
            if let http { try NodeConfig.validateHTTPListen(http, option: "--http") }
            guard !name.trimmingCharacters(in: .whitespaces).isEmpty else {
                throw SyncError(.usage, "--name must not be empty")
            }
            do throws(SyncError) { try ValueRules.text(name, "--name", .line) } catch {
                throw SyncError(.usage, error.message)
            }
            let home = self.home.nodeHome
            if home.exists || FileManager.default.fileExists(atPath: home.storePath) {
                throw SyncError(
                    .exists,
                    "a node already exists in \(home.path); use another --home, or remove it if you mean to start over")
            }
            let fm = FileManager.default
            let created = !fm.fileExists(atPath: home.path)
            do {
                try fm.createDirectory(
                    atPath: home.path, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
                let wall = WallClock.now()
                let identity: NodeIdentity
                do {
                    identity = try NodeIdentity.generate(nodeID: id.rawValue, directory: home.path)
                } catch {
                    throw SyncError(.io, "cannot make the node's key and certificate: \(error)")
                }
                let store = try Store.create(at: home.storePath, node: id, wallMillis: wall, signer: identity)
                try Domain(store: store).publishOrganisation(name: name, pcn: pcnID, at: wall, actor: "init")
                let config = NodeConfig(
                    node: .init(
                        id: id.rawValue, role: id.role.rawValue, name: name, pcn: pcnID?.rawValue, listen: listen),
                    http: http.map { NodeConfig.HTTP(listen: $0) })
                try config.save(home.configPath)
                let state = try store.nodeState()
                if output.json {
                    try printJSON(
                        IdInfo(
                            id: id.rawValue, role: id.role.rawValue, name: name, pcn: pcnID?.rawValue,
                            incarnation: state.incarnation.description, fingerprint: identity.fingerprint.description,
                            home: home.path))
                } else {
                    print("Created node \(id) (\(id.role.rawValue)) in \(home.path)")
                    print("fingerprint \(identity.fingerprint)")
                    print("Give this fingerprint to each peer's operator (`spsync peer add \(id) --fingerprint …`).")
                }
            } catch {
                // Leave nothing half-made: a later `init` must start clean.
                if created {
                    try? fm.removeItem(atPath: home.path)
                } else {
                    for f in [
                        home.configPath, home.storePath, home.storePath + "-wal", home.storePath + "-shm",
                        home.path + "/key.pem", home.path + "/cert.pem",
                    ] {
                        try? fm.removeItem(atPath: f)
                    }
                }
                throw error
            }
        }
    }
}

/// What `spsync id` and `init --json` print.
struct IdInfo: Codable {
    var id: String
    var role: String
    var name: String
    var pcn: String?
    var incarnation: String
    var fingerprint: String
    var home: String
}

/// `spsync id`: node id, role, incarnation, fingerprint.
struct Id: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show this node's id, role, incarnation and certificate fingerprint.")

    @OptionGroup var home: HomeOptions
    @OptionGroup var output: OutputOptions

    func run() throws {
        try runReporting {
            let home = self.home.nodeHome
            let config = try home.config()
            let state = try home.store().nodeState()
            let identity: NodeIdentity
            do {
                identity = try NodeIdentity.load(directory: home.path)
            } catch {
                throw SyncError(.io, "\(error)")
            }
            let info = IdInfo(
                id: state.node.rawValue, role: state.node.role.rawValue, name: config.node.name, pcn: config.node.pcn,
                incarnation: state.incarnation.description, fingerprint: identity.fingerprint.description,
                home: home.path)
            if output.json {
                try printJSON(info)
            } else {
                printTable(
                    ["field", "value"],
                    [
                        ["id", info.id], ["role", info.role], ["name", info.name], ["pcn", info.pcn ?? "-"],
                        ["incarnation", info.incarnation], ["fingerprint", info.fingerprint], ["home", info.home],
                    ])
            }
        }
    }
}

/// `HOST:PORT` as given for listeners and peers.
enum PeerAddress {
    static func validate(_ text: String, option: String) throws {
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]),
            (1...65535).contains(port),
            colon != text.startIndex
        else {
            throw SyncError(.usage, "\(option) \(text): give HOST:PORT, e.g. 127.0.0.1:7443 or hub.example.nhs.uk:7443")
        }
    }
}
