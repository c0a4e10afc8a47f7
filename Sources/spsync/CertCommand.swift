import ArgumentParser
import Foundation
import SyncCore
import SyncNode
import SyncTransport

/// `spsync cert …`: the node's certificate.
struct CertCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cert", abstract: "Rotate the node's key and certificate.", subcommands: [CertRotate.self])
}

/// `spsync cert rotate`: a new key and certificate, announced to every peer over the still-trusted connection.
struct CertRotate: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rotate",
        abstract: "Make a new key and certificate and announce them to every peer; no re-pinning by hand.",
        discussion: """
            The new certificate is announced, signed with the current key, in the next session with each \
            peer (the daemon's, or `spsync sync`). Peers pin it as this node's next fingerprint. Once every \
            peer has it, the node switches to the new key when it next starts; each peer drops the old \
            fingerprint the first time the new one is presented.
            """)

    @OptionGroup var home: HomeOptions
    @OptionGroup var output: OutputOptions

    func run() throws {
        try runReporting {
            let home = self.home.nodeHome
            let config = try home.checkedConfig()
            let current: NodeIdentity
            do { current = try NodeIdentity.load(directory: home.path) } catch { throw SyncError(.io, "\(error)") }
            let rotation = try PendingRotation.start(home: home, current: current, wallMillis: WallClock.now())
            let switched = try PendingRotation.promoteIfAnnounced(home: home, peers: config.peers.map(\.id))
            if output.json {
                return try printJSON(["fingerprint": rotation.fingerprint, "previous": current.fingerprint.description])
            }
            print("new fingerprint \(rotation.fingerprint)")
            if switched {
                print("no peers to tell: this node uses the new key from now on")
            } else {
                print(
                    "It is announced to each of \(config.peers.count) peers at the next sync; the node switches to it once all have it."
                )
            }
        }
    }
}
