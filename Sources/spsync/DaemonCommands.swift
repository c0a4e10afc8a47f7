import ArgumentParser
import Foundation
import Logging
import ServiceLifecycle
import SyncCore
import SyncHTTP
import SyncNode
import SyncProtocol
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
            var extra: [any Service] = []
            if let address = runtime.config.http?.listen {
                // Metrics are counted only when something can read them.
                let registry = HTTPEndpoints.bootstrapMetrics()
                extra.append(
                    try HTTPEndpoints.service(
                        daemon: daemon, registry: registry, address: address,
                        logger: LogLines.logger("spsync.http", level: level)))
            }
            try await daemon.run(extra: extra)
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
    /// What `status --check` would report, one problem each.
    var problems: [HealthProblem]
    /// When this report was made, ms since the Unix epoch (ages in the table are from it).
    var at: UInt64
}

/// What `spsync status --check --json` prints.
struct CheckReport: Codable {
    /// The exit status: 0 all well, 1 a peer is failing or overdue, 2 the node itself is unhealthy.
    var status: Int32
    var problems: [HealthProblem]
}

/// `spsync status`: the node, its store and one row per peer — live from the daemon when it runs.
struct StatusCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status", abstract: "Show the node, store counts and each peer's sync state.",
        discussion: """
            --check prints one line per problem and exits 0 when every peer is in step within its schedule, \
            1 when a peer is failing, overdue or missed its window, 2 when this node itself is unhealthy \
            (local writes stopped, store rolled back or unreadable, daemon down with peers on a schedule): \
            for cron and monitoring.
            """)

    @OptionGroup var home: HomeOptions
    @Flag(help: "Report problems only, one a line; exit 0 (none), 1 (a peer) or 2 (this node).") var check = false
    @Option(help: "Show one peer in full, with its last syncs.") var peer: String?
    @OptionGroup var output: OutputOptions

    func run() throws {
        if check { return try runCheck() }
        try runReporting {
            let report = try makeReport()
            if let id = peer {
                guard let p = report.peers.first(where: { $0.id == id }) else {
                    throw SyncError(.notFound, "\(id) is not a peer here (see `spsync peer list`)")
                }
                return output.json ? try printJSON(p) : printPeer(p, at: report.at)
            }
            if output.json { return try printJSON(report) }
            printReport(report)
        }
    }

    /// `--check`: problems only. A store that cannot be read is this node's problem (exit 2).
    func runCheck() throws {
        var problems: [HealthProblem]
        do {
            problems = try makeReport().problems
        } catch let error as SyncError where error.code == .usage {
            FileHandle.standardError.write(Data("spsync: \(error.message)\n".utf8))
            throw ExitCode(64)
        } catch {
            let message = (error as? SyncError)?.message ?? "\(error)"
            problems = [HealthProblem(level: .node, peer: nil, message: "this node: \(message)")]
        }
        let status = HealthProblem.exitStatus(problems)
        if output.json {
            try printJSON(CheckReport(status: status, problems: problems))
        } else {
            for p in problems { print(EscapedText.printable(p.message)) }
        }
        if status != 0 { throw ExitCode(status) }
    }

    func makeReport() throws -> StatusReport {
        let home = self.home.nodeHome
        let config = try home.config()
        let store = try home.store()
        let state = try store.nodeState()
        let identity: NodeIdentity
        do { identity = try NodeIdentity.load(directory: home.path) } catch { throw SyncError(.io, "\(error)") }
        let live = try ControlClient.send(ControlRequest(command: "status"), home: home, timeoutSeconds: 5)
        let saved = live?.peers ?? ((try? PeerStatusFile.load(home)) ?? [])  // no file yet: no sync has run
        let wall = WallClock.now()
        var peers = PeerStatus.rows(config: config, saved: saved, connected: live == nil ? [] : nil)
        for i in peers.indices {
            peers[i].pendingOut = UInt64(try BatchBuilder.pending(store: store, peer: try NodeID(peers[i].id)))
            if live == nil || peers[i].nextSyncAt == nil, let schedule = try? Schedule(peers[i].schedule) {
                peers[i].nextSyncAt = schedule.nextRun(
                    nowMillis: wall, lastSuccessMillis: peers[i].lastSuccessAt,
                    lastAttemptMillis: peers[i].lastAttemptAt, calendar: .current)
            }
        }
        var problems: [HealthProblem] = []
        if state.rolledBackAt != nil {
            problems.append(
                HealthProblem(
                    level: .node, peer: nil,
                    message:
                        "this node: local writes stopped: the store is an older copy of itself; stop the daemon and run `spsync recover`"
                ))
        }
        let ahead = Int64(state.hlc.millis) - Int64(wall)
        if ahead > Int64(Limits.standard.clockSkewMaxMillis) {
            problems.append(
                HealthProblem(
                    level: .node, peer: nil,
                    message:
                        "this node: local writes refused: its clock (HLC) is \(ahead / 1000) s ahead of the system clock; check the system time (timedatectl) and NTP"
                ))
        }
        let scheduled = config.peers.filter { ($0.schedule ?? "manual") != "manual" }.map(\.id)
        if live == nil, !scheduled.isEmpty {
            problems.append(
                HealthProblem(
                    level: .node, peer: nil,
                    message:
                        "this node: the daemon is not running, so scheduled syncs with \(scheduled.joined(separator: ", ")) do not happen: start it (`systemctl start spsync`, or `spsync daemon`)"
                ))
        }
        for p in peers {
            if let problem = PeerHealth.problem(p, now: wall, daemonRunning: live != nil) { problems.append(problem) }
        }
        return StatusReport(
            node: .init(
                id: state.node.rawValue, role: state.node.role.rawValue, incarnation: state.incarnation.description,
                fingerprint: identity.fingerprint.description, rolledBack: state.rolledBackAt != nil),
            daemon: .init(running: live != nil, pid: live?.pid, startedAt: live?.startedAt),
            store: try store.counts(), signatures: try store.signatureSummary(), peers: peers, problems: problems,
            at: wall)
    }

    func printReport(_ report: StatusReport) {
        let now = report.at
        print("node     \(report.node.id) (\(report.node.role)), incarnation \(report.node.incarnation)")
        print("key      \(report.node.fingerprint)")
        print(
            "daemon   "
                + (report.daemon.running
                    ? "running, pid \(report.daemon.pid ?? 0)"
                        + (report.daemon.startedAt.map { ", started \(Age.ago($0, now: now))" } ?? "")
                    : "not running"))
        if report.node.rolledBack {
            print(
                "WARNING  local writes stopped: this store is an older copy of itself, put back without `spsync restore`; "
                    + "stop the daemon and run `spsync recover`"
            )
        }
        let c = report.store
        print(
            "store    \(c.referrals) referrals, \(c.services) services, \(c.changes) field writes; \(c.conflicts) conflicts, \(c.parked) parked, \(c.quarantined) quarantined, \(c.refused) refused"
                + (c.parked + c.quarantined > 0 ? " (see `spsync held`)" : ""))
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
        if report.peers.isEmpty { return print("no peers") }
        printTable(
            ["peer", "state", "last success", "last attempt", "pending", "skew", "next sync", "last error"],
            report.peers.map { p in
                [
                    p.id, p.state.rawValue, p.lastSuccessAt.map { Age.ago($0, now: now) } ?? "never",
                    p.lastAttemptAt.map { Age.ago($0, now: now) } ?? "never", "\(p.pendingOut ?? 0)",
                    p.clockSkewSeconds.map(Self.skew) ?? "-", Self.next(p, now: now),
                    p.lastErrorAt.map { "\((p.lastErrorCode ?? .unknown).rawValue), \(Age.ago($0, now: now))" } ?? "-",
                ]
            })
        for p in report.peers where p.lastErrorAt != nil {
            print(EscapedText.printable("  \(p.id): \((p.lastErrorCode ?? .unknown).rawValue): \(p.lastError ?? "")"))
        }
        if !report.problems.isEmpty {
            print("")
            for problem in report.problems { print(EscapedText.printable("PROBLEM  \(problem.message)")) }
        }
    }

    func printPeer(_ p: PeerStatus, at now: UInt64) {
        func time(_ ms: UInt64?) -> String { ms.map { "\(isoTime($0)) (\(Age.ago($0, now: now)))" } ?? "never" }
        print("peer          \(p.id)" + (p.role.map { " (\($0))" } ?? ""))
        print("address       \(p.address)")
        print("schedule      \(p.schedule); next sync \(Self.next(p, now: now))")
        print("state         \(p.state.rawValue)")
        print("last success  \(time(p.lastSuccessAt))")
        print("last attempt  \(time(p.lastAttemptAt))")
        print("pending       \(p.pendingOut ?? 0) field writes it may see and has not acknowledged")
        print("clock skew    \(p.clockSkewSeconds.map(Self.skew) ?? "not known")")
        print("protocol      \(p.protocolVersion.map { "v\($0)" } ?? "not known")")
        if let at = p.lastErrorAt {
            print(
                EscapedText.printable(
                    "last error    \(time(at)), \(p.failuresInARow) in a row: \((p.lastErrorCode ?? .unknown).rawValue): \(p.lastError ?? "")"
                ))
        } else {
            print("last error    none since the last success")
        }
        let history = p.history ?? []
        print("")
        if history.isEmpty { return print("no syncs recorded yet") }
        printTable(
            ["ended", "via", "result", "received", "sent", "detail"],
            history.map { h in
                [
                    Age.ago(h.endedAt, now: now), h.via, h.ok ? "ok" : "FAILED (\((h.errorCode ?? .unknown).rawValue))",
                    "\(h.received)", "\(h.sent)", h.error ?? "",
                ]
            })
    }

    static func skew(_ seconds: Int64) -> String { seconds == 0 ? "0 s" : (seconds > 0 ? "+" : "") + "\(seconds) s" }

    static func next(_ p: PeerStatus, now: UInt64) -> String {
        if p.state == .blocked { return "blocked" }
        if let at = p.nextSyncAt { return Age.until(at, now: now) }
        return p.schedule == "live" ? (p.state == .connected ? "connected" : "redialling") : p.schedule
    }
}
