import ArgumentParser
import Foundation
import SyncCore
import SyncNode

/// `spsync sync [--peer ID]`: dial peers now and sync both ways.
struct SyncCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sync", abstract: "Dial the configured peers (or one) now and sync both ways.",
        discussion: "Exit status: 0 when every peer succeeded, 2 when some failed, 1 when none did.")

    @OptionGroup var home: HomeOptions
    @Option(help: "Only this peer.") var peer: String?
    @Flag(help: "Ask the running daemon to sync now (and report), instead of dialling from this process.") var now =
        false
    @Flag(help: "Log each step on stderr.") var verbose = false
    @OptionGroup var output: OutputOptions

    struct Row: Codable {
        var peer: String
        var ok: Bool
        var received: Int
        var sent: Int
        var parked: Int
        var refused: Int
        var bytesIn: Int
        var bytesOut: Int
        var errorCode: String?
        var error: String?
    }

    func run() async throws {
        umask(0o077)
        if now { return try askDaemon() }
        // One session per peer (Protocol/SPEC.md section 1): while this home's daemon runs, it
        // dials, so that its sessions and this one never run beside each other on one store.
        if let response = try? ControlClient.send(ControlRequest(command: "sync", peer: peer), home: home.nodeHome) {
            return try reportDaemon(response)
        }
        let runtime: NodeRuntime
        do {
            runtime = try NodeRuntime(
                home: home.nodeHome, logger: LogLines.logger("spsync.sync", level: verbose ? .info : .error))
        } catch let error as SyncError {
            FileHandle.standardError.write(Data("spsync: \(error.message)\n".utf8))
            throw ExitCode(1)
        }
        var peers = runtime.settings.peers
        if let peer {
            peers = peers.filter { $0.id.rawValue == peer }
            if peers.isEmpty {
                FileHandle.standardError.write(
                    Data("spsync: \(peer) is not a peer here (see `spsync peer list`)\n".utf8))
                await runtime.shutdown()
                throw ExitCode(1)
            }
        }
        if peers.isEmpty {
            FileHandle.standardError.write(Data("spsync: no peers configured: add one with `spsync peer add`\n".utf8))
            await runtime.shutdown()
            throw ExitCode(1)
        }
        // On a terminal, a progress line on stderr while writes arrive (rewritten in place).
        let terminal = isatty(2) == 1 && !output.json
        let outcomes = await PeerSync.once(peers, runtime: runtime) { peer in
            guard terminal else { return nil }
            return SyncProgress(peer: peer, every: .milliseconds(250)) { line in
                FileHandle.standardError.write(Data(("\r" + line.text + "\u{1B}[K").utf8))
            }
        }
        if terminal { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
        await runtime.shutdown()
        let rows = outcomes.map {
            Row(
                peer: $0.peer, ok: $0.succeeded, received: $0.statistics.applied, sent: $0.statistics.writesOut,
                parked: $0.statistics.parked, refused: $0.statistics.refused, bytesIn: $0.statistics.bytesIn,
                bytesOut: $0.statistics.bytesOut, errorCode: $0.errorCode?.rawValue, error: $0.error)
        }
        try report(rows)
    }

    func askDaemon() throws {
        let response: ControlResponse?
        do {
            response = try ControlClient.send(ControlRequest(command: "sync", peer: peer), home: home.nodeHome)
        } catch let error as SyncError {
            FileHandle.standardError.write(Data("spsync: \(error.message)\n".utf8))
            throw ExitCode(1)
        }
        guard let response else {
            FileHandle.standardError.write(
                Data(
                    "spsync: no daemon is running for \(home.nodeHome.path): start `spsync daemon`, or run `spsync sync` without --now\n"
                        .utf8))
            throw ExitCode(1)
        }
        try reportDaemon(response)
    }

    /// Reports what the running daemon answered to a sync request.
    func reportDaemon(_ response: ControlResponse) throws {
        guard response.ok, let results = response.results else {
            FileHandle.standardError.write(
                Data("spsync: \(EscapedText.printable(response.error ?? "the daemon refused"))\n".utf8))
            throw ExitCode(1)
        }
        try report(
            results.map {
                Row(
                    peer: $0.peer, ok: $0.ok, received: $0.received, sent: $0.sent, parked: $0.parked,
                    refused: $0.refused, bytesIn: 0, bytesOut: 0, errorCode: $0.errorCode?.rawValue, error: $0.error)
            })
    }

    func report(_ rows: [Row]) throws {
        if output.json {
            try printJSON(rows)
        } else {
            for r in rows {
                if r.ok {
                    print(
                        "\(r.peer): ok, received \(r.received) field writes, sent \(r.sent)"
                            + (r.parked > 0 ? ", \(r.parked) parked (clock ahead)" : "")
                            + (r.refused > 0 ? ", \(r.refused) refused" : ""))
                } else {
                    // The error may quote a peer (its ERROR detail, its certificate's claims): one line, always.
                    print(EscapedText.printable("\(r.peer): FAILED (\(r.errorCode ?? "error")): \(r.error ?? "")"))
                }
            }
        }
        let ok = rows.filter(\.ok).count
        if ok == rows.count { return }
        throw ExitCode(ok == 0 ? 1 : 2)
    }
}
