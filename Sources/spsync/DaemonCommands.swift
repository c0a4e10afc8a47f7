import ArgumentParser
import Foundation
import Logging
import SyncCore
import SyncNode
import SyncStore
import SyncTransport

/// `spsync daemon`: run the node until SIGTERM or SIGINT.
struct DaemonCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "daemon",
        abstract: "Run the node: listen for peers, sync on schedule, serve the CLI. Stops cleanly on SIGTERM/SIGINT.")

    @OptionGroup var home: HomeOptions
    @Option(help: "Log level: debug, info, warning, error.") var logLevel = "info"

    func run() async throws {
        umask(0o077)
        let level = Logger.Level(rawValue: logLevel) ?? .info
        let runtime: NodeRuntime
        do {
            runtime = try NodeRuntime(
                home: home.nodeHome, logger: LogLines.logger("spsync.daemon", level: level), threads: 2)
            if let response = try ControlClient.send(
                ControlRequest(command: "status"), home: home.nodeHome, timeoutSeconds: 5)
            {
                throw SyncError(
                    .exists, "a daemon is already running for \(home.nodeHome.path) (pid \(response.pid ?? 0))")
            }
            let daemon = try Daemon(runtime: runtime)
            try await daemon.run()
        } catch let error as SyncError {
            FileHandle.standardError.write(Data("spsync: \(error.message)\n".utf8))
            throw ExitCode(1)
        }
        await runtime.shutdown()
    }
}

/// What `spsync status --json` prints.
struct StatusReport: Codable {
    struct Node: Codable {
        var id: String
        var role: String
        var incarnation: String
        var fingerprint: String
        var rolledBack: Bool
    }
    struct Daemon: Codable {
        var running: Bool
        var pid: Int32?
        var startedAt: UInt64?
    }
    var node: Node
    var daemon: Daemon
    var store: StoreCounts
    /// Origin keys held and evidence of contradicting keys or changes.
    var signatures: SignatureSummary
    var peers: [PeerStatus]
}

/// `spsync status`: the node, its store and one row per peer — live from the daemon when it runs.
struct StatusCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status", abstract: "Show the node, store counts and each peer's sync state.")

    @OptionGroup var home: HomeOptions
    @OptionGroup var output: OutputOptions

    func run() throws {
        try runReporting {
            let home = self.home.nodeHome
            let config = try home.config()
            let store = try home.store()
            let state = try store.nodeState()
            let identity: NodeIdentity
            do { identity = try NodeIdentity.load(directory: home.path) } catch { throw SyncError(.io, "\(error)") }
            let live = try ControlClient.send(ControlRequest(command: "status"), home: home, timeoutSeconds: 5)
            let saved = live?.peers ?? ((try? PeerStatusFile.load(home)) ?? [])  // no file yet: no sync has run
            let lastSeq = try store.lastLocalSeq()
            let wall = WallClock.now()
            let peers = config.peers.map { p -> PeerStatus in
                var s =
                    saved.first { $0.id == p.id }
                    ?? PeerStatus(
                        id: p.id, role: p.role, address: p.address, schedule: p.schedule ?? "manual", state: .idle)
                if p.fingerprint.map(config.blocked.contains) == true { s.state = .blocked }
                if live == nil, s.state == .connected { s.state = .idle }
                s.pendingOut = lastSeq - min(lastSeq, s.localSeqAtLastSuccess ?? 0)
                if s.nextSyncAt == nil, let schedule = try? Schedule(p.schedule ?? "manual") {
                    s.nextSyncAt = schedule.nextRun(
                        nowMillis: wall, lastSuccessMillis: s.lastSuccessAt, lastAttemptMillis: s.lastAttemptAt,
                        calendar: .current)
                }
                return s
            }
            let report = StatusReport(
                node: .init(
                    id: state.node.rawValue, role: state.node.role.rawValue, incarnation: state.incarnation.description,
                    fingerprint: identity.fingerprint.description, rolledBack: state.rolledBackAt != nil),
                daemon: .init(running: live != nil, pid: live?.pid, startedAt: live?.startedAt),
                store: try store.counts(), signatures: try store.signatureSummary(), peers: peers)
            if output.json { return try printJSON(report) }
            print("node     \(report.node.id) (\(report.node.role)), incarnation \(report.node.incarnation)")
            print("key      \(report.node.fingerprint)")
            print("daemon   " + (live == nil ? "not running" : "running, pid \(live?.pid ?? 0)"))
            if report.node.rolledBack {
                print(
                    "WARNING  local writes stopped: this store is an older copy of itself, put back without `spsync restore`; "
                        + "stop the daemon and run `spsync recover`"
                )
            }
            let c = report.store
            print(
                "store    \(c.referrals) referrals, \(c.services) services, \(c.changes) field writes; \(c.conflicts) conflicts, \(c.parked) parked, \(c.quarantined) quarantined, \(c.refused) refused"
            )
            let keys = report.signatures.keys
            let byAnchor = ["own", "direct", "pinned", "ca", "first_sight"].compactMap { anchor -> String? in
                let n = keys.filter { $0.anchor == anchor }.count
                return n == 0 ? nil : "\(n) \(anchor.replacingOccurrences(of: "_", with: " "))"
            }
            print(
                "signing  \(keys.count) origin keys (\(byAnchor.joined(separator: ", "))); \(c.forged) writes refused "
                    + "for their signature, \(c.keysRefused) keys refused, \(c.falseClaims) false rollback claims")
            for e in report.signatures.evidence {
                // Evidence names what peers sent: printed as one line whatever it holds.
                print(
                    EscapedText.printable(
                        "EVIDENCE \(e.kind) \(e.node) seq \(e.seq), from \(e.receivedFrom ?? "?") at \(isoTime(e.at)): \(e.detail)"
                    ))
            }
            print("")
            if peers.isEmpty { return print("no peers") }
            printTable(
                ["peer", "state", "last success", "pending", "received", "next", "error"],
                peers.map { p in
                    [
                        p.id, p.state.rawValue, p.lastSuccessAt.map(isoTime) ?? "never", "\(p.pendingOut ?? 0)",
                        p.receivedLastSync.map { "\($0)" } ?? "-",
                        p.nextSyncAt.map(isoTime) ?? (p.schedule == "manual" ? "manual" : "-"),
                        p.lastErrorCode.map { EscapedText.printable("\($0): \(p.lastError ?? "")") } ?? "",
                    ]
                })
        }
    }
}
