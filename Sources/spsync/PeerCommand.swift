import ArgumentParser
import Foundation
import SyncCore
import SyncNode
import SyncTransport

/// `spsync peer …`: the organisations this node syncs with, pinned by certificate fingerprint.
struct PeerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "peer", abstract: "Add, change, list, remove and block peers.",
        subcommands: [PeerAdd.self, PeerSet.self, PeerList.self, PeerRemove.self, PeerBlock.self])
}

/// Parses a fingerprint given on the command line.
func fingerprint(_ text: String) throws -> CertificateFingerprint {
    do {
        return try CertificateFingerprint(parsing: text)
    } catch {
        throw SyncError(.usage, "\(error)")
    }
}

struct PeerAdd: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "add",
        abstract: "Add a peer, pinned to its certificate fingerprint (or vouched for by the network CA).")

    @OptionGroup var home: HomeOptions
    @Argument(help: "The peer's organisation code.") var id: String
    @Option(
        help:
            "The fingerprint its `spsync id` prints (sha256:…). May be left out when node.toml names a network CA (ca_file)."
    )
    var fingerprint: String?
    @Option(help: "Where to dial it: HOST:PORT.") var address: String
    @Option(help: "practice, hub or vcse; must agree with the code.") var role: String?
    @Option(help: "live, nightly HH:MM-HH:MM, every 15m, or manual.") var schedule = "manual"

    func run() throws {
        try runReporting {
            let home = self.home.nodeHome
            var config = try home.checkedConfig()
            let peer = try nodeID(id, option: "peer id")
            if let role, Role(rawValue: role) != peer.role {
                throw SyncError(
                    .usage, "--role \(role) does not agree with \(peer), which is a \(peer.role.rawValue) code")
            }
            guard peer.rawValue != config.node.id else { throw SyncError(.usage, "\(peer) is this node itself") }
            let fp = try fingerprint.map { try spsync.fingerprint($0) }
            if fp == nil, config.node.caFile == nil {
                throw SyncError(
                    .usage,
                    "give --fingerprint sha256:… (what `spsync id` prints on \(peer)), or name a network CA in "
                        + "node.toml (ca_file) to accept the certificate it issues \(peer) without a pin")
            }
            try PeerAddress.validate(address, option: "--address")
            let parsed = try Schedule(schedule)
            if let fp, config.blocked.contains(fp.description) {
                throw SyncError(.unauthorised, "\(fp) is blocked on this node; a blocked key is refused for good")
            }
            if config.peers.contains(where: { $0.id == peer.rawValue }) {
                throw SyncError(
                    .exists,
                    "\(peer) is a peer already: change its entry with `spsync peer set \(peer) --schedule … --address … --fingerprint …`"
                )
            }
            if let fp, let other = config.peers.first(where: { $0.fingerprint == fp.description }) {
                throw SyncError(.exists, "that fingerprint is already pinned to \(other.id): each node has its own key")
            }
            config.peers.append(
                PeerConfig(
                    id: peer.rawValue, address: address, fingerprint: fp?.description, role: peer.role.rawValue,
                    schedule: parsed.description))
            try config.save(home.configPath)
            let trust = fp.map { "pinned to \($0)" } ?? "vouched for by the network CA in \(config.node.caFile ?? "")"
            print("added peer \(peer) at \(address), \(parsed), \(trust)")
            print(reloadDaemon(home))
        }
    }
}

/// `spsync peer set`: changes a peer's schedule, address or pinned key in place, keeping its sync
/// history; a running daemon applies it at once (a new schedule included).
struct PeerSet: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "set",
        abstract: "Change a peer's schedule, address or pinned fingerprint, keeping its history.",
        discussion: "A running daemon applies the change at once; sessions on the old address or key are cut.")

    @OptionGroup var home: HomeOptions
    @Argument(help: "The peer's organisation code.") var id: String
    @Option(help: "live, nightly HH:MM-HH:MM, every 15m, or manual.") var schedule: String?
    @Option(help: "Where to dial it: HOST:PORT.") var address: String?
    @Option(help: "Its new certificate fingerprint (sha256:…), as its `spsync id` prints it.") var fingerprint: String?

    func validate() throws {
        if schedule == nil, address == nil, fingerprint == nil {
            throw ValidationError("give at least one of --schedule, --address, --fingerprint")
        }
    }

    func run() throws {
        try runReporting {
            let home = self.home.nodeHome
            var config = try home.checkedConfig()
            guard let index = config.peers.firstIndex(where: { $0.id == id }) else {
                throw SyncError(
                    .notFound,
                    "\(EscapedText.escape(id)) is not a peer here (see `spsync peer list`; add it with `spsync peer add`)"
                )
            }
            var peer = config.peers[index]
            var changes: [String] = []
            if let schedule {
                let parsed = try Schedule(schedule)
                if parsed.description != (peer.schedule ?? "manual") {
                    changes.append("schedule \(peer.schedule ?? "manual") → \(parsed)")
                    peer.schedule = parsed.description
                }
            }
            if let address {
                try PeerAddress.validate(address, option: "--address")
                if address != peer.address {
                    changes.append("address \(peer.address) → \(address)")
                    peer.address = address
                }
            }
            if let fingerprint {
                let fp = try spsync.fingerprint(fingerprint)
                if config.blocked.contains(fp.description) {
                    throw SyncError(.unauthorised, "\(fp) is blocked on this node; a blocked key is refused for good")
                }
                if let other = config.peers.first(where: { $0.id != peer.id && $0.fingerprint == fp.description }) {
                    throw SyncError(
                        .exists, "that fingerprint is already pinned to \(other.id): each node has its own key")
                }
                if fp.description != peer.fingerprint {
                    changes.append("fingerprint \(peer.fingerprint ?? "(network CA)") → \(fp)")
                    peer.fingerprint = fp.description
                    if peer.nextFingerprint == fp.description { peer.nextFingerprint = nil }
                }
            }
            guard !changes.isEmpty else { return print("\(peer.id) is unchanged") }
            config.peers[index] = peer
            try config.save(home.configPath)
            print("changed \(peer.id): \(changes.joined(separator: "; ")); its sync history is kept")
            print(reloadDaemon(home))
        }
    }
}

/// A peer as `peer list --json` prints it.
struct PeerInfo: Codable {
    var id: String
    var role: String?
    var address: String
    /// Nil for a peer the network CA vouches for.
    var fingerprint: String?
    var nextFingerprint: String?
    var schedule: String
    var blocked: Bool
}

struct PeerList: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "List configured peers.")

    @OptionGroup var home: HomeOptions
    @OptionGroup var output: OutputOptions

    func run() throws {
        try runReporting {
            let config = try home.nodeHome.checkedConfig()
            let peers = config.peers.map {
                PeerInfo(
                    id: $0.id, role: $0.role, address: $0.address, fingerprint: $0.fingerprint,
                    nextFingerprint: $0.nextFingerprint,
                    schedule: $0.schedule ?? "manual", blocked: $0.fingerprint.map(config.blocked.contains) == true)
            }
            if output.json { return try printJSON(peers) }
            if peers.isEmpty {
                return print("no peers: add one with `spsync peer add ID --fingerprint sha256:… --address HOST:PORT`")
            }
            printTable(
                ["id", "role", "address", "schedule", "fingerprint"],
                peers.map {
                    [
                        $0.id, $0.role ?? "-", $0.address, $0.schedule,
                        ($0.fingerprint ?? "(network CA)") + ($0.blocked ? " (blocked)" : ""),
                    ]
                })
        }
    }
}

struct PeerRemove: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "remove", abstract: "Remove a peer (its key is no longer accepted).")

    @OptionGroup var home: HomeOptions
    @Argument var id: String

    func run() throws {
        try runReporting {
            let home = self.home.nodeHome
            var config = try home.checkedConfig()
            guard config.peers.contains(where: { $0.id == id }) else {
                throw SyncError(.notFound, "\(id) is not a peer here (see `spsync peer list`)")
            }
            config.peers.removeAll { $0.id == id }
            try config.save(home.configPath)
            print("removed peer \(id); its key is no longer accepted")
            print(reloadDaemon(home))
        }
    }
}

struct PeerBlock: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "block", abstract: "Refuse a certificate fingerprint for good.")

    @OptionGroup var home: HomeOptions
    @Argument var fingerprint: String

    func run() throws {
        try runReporting {
            let home = self.home.nodeHome
            var config = try home.checkedConfig()
            let fp = try spsync.fingerprint(fingerprint)
            guard !config.blocked.contains(fp.description) else { return print("\(fp) is already blocked") }
            config.blocked.append(fp.description)
            try config.save(home.configPath)
            let owners = config.peers.filter {
                $0.fingerprint == fp.description || $0.nextFingerprint == fp.description
            }.map(\.id)
            print(
                "blocked \(fp)"
                    + (owners.isEmpty
                        ? ""
                        : " (it was pinned to \(owners.joined(separator: ", ")); that peer cannot connect until it rotates its key)")
            )
            print(reloadDaemon(home))
        }
    }
}
