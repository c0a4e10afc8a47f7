import Foundation
import GRDB
import SyncCore
import SyncNode

/// What one run of the `spsync` binary left: its exit status and what it wrote.
struct CommandOutcome {
    var status: Int32
    var out: String
    var err: String

    /// The first line of stderr, or of stdout when stderr is empty: what an operator reads.
    var firstLine: String {
        let text = err.isEmpty ? out : err
        return text.split(separator: "\n").first.map(String.init) ?? ""
    }
}

/// One node of the campaign: a home made with `spsync init`, driven through the `spsync` binary
/// beside this one, its daemon when running, and read-only looks at its SQLite file.
final class CampaignNode {
    let id: String
    let home: String
    /// Where the daemon's stderr goes: outside the home, so a full disk does not eat the log.
    let log: String
    private(set) var daemon: Process?

    init(id: String, home: String, log: String) {
        self.id = id
        self.home = home
        self.log = log
    }

    /// The `spsync` executable in the same build folder as this one.
    static var spsync: String {
        URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent()
            .appendingPathComponent("spsync").path
    }

    /// Runs `spsync ARGS --home HOME` to the end; output goes through files, so neither pipe can fill.
    @discardableResult
    func run(_ args: [String]) throws -> CommandOutcome {
        let p = try start(args)
        p.process.waitUntilExit()
        return p.outcome()
    }

    /// Starts `spsync ARGS --home HOME` without waiting for it.
    func start(_ args: [String]) throws -> RunningCommand {
        let outPath = log + ".cmd-out", errPath = log + ".cmd-err"
        try emptyFile(outPath)
        try emptyFile(errPath)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: Self.spsync)
        p.arguments = args + ["--home", home]
        p.standardInput = FileHandle.nullDevice
        p.standardOutput = FileHandle(forWritingAtPath: outPath)
        p.standardError = FileHandle(forWritingAtPath: errPath)
        try p.run()
        return RunningCommand(process: p, outPath: outPath, errPath: errPath)
    }

    /// Runs a command that must succeed and returns its trimmed stdout.
    @discardableResult
    func ok(_ args: [String]) throws -> String {
        let r = try run(args)
        guard r.status == 0 else {
            throw CampaignError("\(id): spsync \(args.joined(separator: " ")) exited \(r.status): \(r.firstLine)")
        }
        return r.out.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    func json(_ args: [String]) throws -> Any {
        try JSONSerialization.jsonObject(with: Data(try ok(args + ["--json"]).utf8))
    }

    var fingerprint: String {
        get throws { ((try json(["id"])) as? [String: Any])?["fingerprint"] as? String ?? "" }
    }

    /// Starts `spsync daemon` and waits, at most 60 s, until its control socket answers.
    func startDaemon() throws {
        precondition(daemon == nil, "\(id)'s daemon is already running")
        let p = Process()
        p.executableURL = URL(fileURLWithPath: Self.spsync)
        p.arguments = ["daemon", "--home", home, "--log-level", "warning"]
        p.standardInput = FileHandle.nullDevice
        p.standardOutput = FileHandle.nullDevice
        if !FileManager.default.fileExists(atPath: log) { try emptyFile(log) }
        let handle = FileHandle(forWritingAtPath: log)
        handle?.seekToEndOfFile()
        p.standardError = handle ?? FileHandle.nullDevice
        try p.run()
        daemon = p
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline {
            guard p.isRunning else {
                daemon = nil
                throw CampaignError("\(id)'s daemon exited \(p.terminationStatus) on start: \(tail(log))")
            }
            if (try? ControlClient.send(
                ControlRequest(command: "status"), home: NodeHome(path: home), timeoutSeconds: 2)) != nil
            {
                return
            }
            usleep(20_000)
        }
        throw CampaignError("\(id)'s daemon did not answer within 60 s")
    }

    /// Stops the daemon with `signal`, waits for it and returns its exit status (or signal).
    @discardableResult
    func stopDaemon(signal: Int32 = SIGTERM) -> Int32 {
        guard let p = daemon else { return 0 }
        kill(p.processIdentifier, signal)
        p.waitUntilExit()
        daemon = nil
        return p.terminationStatus
    }

    var daemonRunning: Bool { daemon?.isRunning ?? false }

    /// A read-only connection to the node's store, as another process would open it.
    func readOnlyStore() throws -> DatabaseQueue {
        var c = Configuration()
        c.readonly = true
        c.busyMode = .timeout(10)
        return try DatabaseQueue(path: home + "/store.sqlite", configuration: c)
    }

    /// Runs `read` on a fresh read-only connection and closes it.
    func query<T>(_ read: (Database) throws -> T) throws -> T {
        let q = try readOnlyStore()
        defer { try? q.close() }
        return try q.read(read)
    }

    func fieldWrites() throws -> Int {
        try query { try Int.fetchOne($0, sql: "SELECT count(*) FROM field_write") ?? 0 }
    }

    /// `PRAGMA integrity_check`'s answer: "ok" when the file is sound.
    func integrity() throws -> String {
        try query { db in
            try String.fetchAll(db, sql: "PRAGMA integrity_check").joined(separator: "; ")
        }
    }
}

/// A `spsync` command started in the background.
struct RunningCommand {
    let process: Process
    let outPath: String
    let errPath: String

    func outcome() -> CommandOutcome {
        CommandOutcome(
            status: process.terminationStatus,
            out: (try? String(contentsOfFile: outPath, encoding: .utf8)) ?? "",
            err: (try? String(contentsOfFile: errPath, encoding: .utf8)) ?? "")
    }

    /// Waits at most `seconds` for the command to end; kills it after that. True when it ended by itself.
    func wait(seconds: Double) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while process.isRunning, Date() < deadline { usleep(20_000) }
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            return false
        }
        return true
    }
}

/// A failure of the campaign's own machinery (not a finding): stops the campaign with its message.
struct CampaignError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// The last lines of a log file, for an error message.
func tail(_ path: String, lines: Int = 5) -> String {
    let text = (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
    return text.split(separator: "\n").suffix(lines).joined(separator: " | ")
}

/// Runs a shell-free command (cp, rm, mount) and throws when it fails.
func shell(_ executable: String, _ args: [String], quiet: Bool = false) throws {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: executable)
    p.arguments = args
    p.standardInput = FileHandle.nullDevice
    if quiet { p.standardError = FileHandle.nullDevice }
    try p.run()
    p.waitUntilExit()
    guard p.terminationStatus == 0 else {
        throw CampaignError("\(executable) \(args.joined(separator: " ")) exited \(p.terminationStatus)")
    }
}

/// Makes an empty file at `path`, replacing any there.
func emptyFile(_ path: String) throws {
    guard FileManager.default.createFile(atPath: path, contents: nil) else {
        throw CampaignError("cannot make \(path)")
    }
}

/// Seconds between two instants, as a Double.
func seconds(_ d: Duration) -> Double {
    Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
}
