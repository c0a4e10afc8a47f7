import Foundation
import GRDB
import SpsyncTestSupport
import Testing

/// What a home looks like on disk: each file's bytes, modification time and inode, by name.
struct HomeSnapshot: Equatable, CustomStringConvertible {
    struct File: Equatable {
        var bytes: Data
        var modified: Date?
        var inode: UInt64?
    }
    var files: [String: File]

    init(_ directory: String) throws {
        let fm = FileManager.default
        var files: [String: File] = [:]
        for name in try fm.contentsOfDirectory(atPath: directory) {
            let path = directory + "/" + name
            let attributes = try fm.attributesOfItem(atPath: path)
            files[name] = File(
                bytes: try Data(contentsOf: URL(fileURLWithPath: path)),
                modified: attributes[.modificationDate] as? Date,
                inode: (attributes[.systemFileNumber] as? NSNumber)?.uint64Value)
        }
        self.files = files
    }

    var description: String {
        files.keys.sorted().map { "\($0) (\(files[$0]?.bytes.count ?? 0) bytes)" }.joined(separator: ", ")
    }
}

/// Checks the README's promise for a refused command: one line on stderr starting `spsync:`, a
/// non-zero exit status, and `hint` in that line.
func expectOneLineRefusal(
    _ result: CommandResult, _ hint: String, status: Int32? = nil, _ what: String,
    sourceLocation: SourceLocation = #_sourceLocation
) {
    #expect(result.status != 0, "\(what) was accepted", sourceLocation: sourceLocation)
    if let status { #expect(result.status == status, "\(what): exit \(result.status)", sourceLocation: sourceLocation) }
    let lines = result.err.split(separator: "\n", omittingEmptySubsequences: false)
    #expect(
        lines.count == 2 && lines[1].isEmpty && lines[0].hasPrefix("spsync: "),
        "\(what): not one spsync: line: \(result.err.debugDescription)", sourceLocation: sourceLocation)
    #expect(result.err.contains(hint), "\(what): \(result.err)", sourceLocation: sourceLocation)
}

@Suite("a refused command changes nothing and says so in one line")
struct RefusalTests {
    /// Commands that open the home, from reading to writing; none may change a home it refuses.
    static func commands(_ ws: Workspace) -> [[String]] {
        [
            ["id"], ["status"], ["referral", "list"], ["service", "list"], ["conflicts"], ["peer", "list"],
            [
                "peer", "add", "U12345", "--fingerprint", "sha256:" + String(repeating: "ab", count: 32), "--address",
                "127.0.0.1:7443",
            ],
            ["peer", "block", "sha256:" + String(repeating: "cd", count: 32)],
            ["cert", "rotate"], ["referral", "create", "--to", "U12345", "--need", "debt"], ["sync"],
            ["backup", ws.path + "/refused-backup.sqlite"],
        ]
    }

    /// Runs every command against `node` and checks each is refused in one line naming `hint`,
    /// with the home left exactly as it was.
    func expectEveryCommandRefused(_ node: CLI, _ ws: Workspace, hint: String) throws {
        let before = try HomeSnapshot(node.home)
        for args in Self.commands(ws) {
            let result = try node.run(args)
            expectOneLineRefusal(result, hint, "spsync \(args.joined(separator: " "))")
            let after = try HomeSnapshot(node.home)
            #expect(after == before, "spsync \(args.joined(separator: " ")) changed the home: \(before) -> \(after)")
        }
        #expect(!FileManager.default.fileExists(atPath: ws.path + "/refused-backup.sqlite"))
    }

    @Test("an empty store.sqlite is refused by every command and stays an empty file, with no WAL beside it")
    func emptyStore() throws {
        let ws = Workspace()
        let p = ws.node("practice")
        _ = try p.ok(["init", "--org", "A81001", "--name", "Riverside", "--pcn", "U12345"])
        try Data().write(to: URL(fileURLWithPath: p.home + "/store.sqlite"))
        try expectEveryCommandRefused(p, ws, hint: "is an empty file, not an spsync store")
        let size = try FileManager.default.attributesOfItem(atPath: p.home + "/store.sqlite")[.size] as? Int
        #expect(size == 0)
    }

    @Test("another program's SQLite database is refused by every command and left byte for byte as it was")
    func foreignDatabase() throws {
        let ws = Workspace()
        let p = ws.node("practice")
        _ = try p.ok(["init", "--org", "A81001", "--name", "Riverside", "--pcn", "U12345"])
        let foreign = ws.path + "/appointments.sqlite"
        let queue = try DatabaseQueue(path: foreign)
        try queue.write { db in
            try db.execute(sql: "CREATE TABLE appointments (patient TEXT, at TEXT)")
            try db.execute(sql: "INSERT INTO appointments VALUES ('Pat', '2026-11-25 10:00')")
        }
        try queue.close()
        let store = p.home + "/store.sqlite"
        try FileManager.default.removeItem(atPath: store)
        try FileManager.default.copyItem(atPath: foreign, toPath: store)
        try expectEveryCommandRefused(p, ws, hint: "another program's SQLite database")
        #expect(try Data(contentsOf: URL(fileURLWithPath: store)) == Data(contentsOf: URL(fileURLWithPath: foreign)))
        let tables = try DatabaseQueue(path: foreign).read { db in
            try String.fetchAll(db, sql: "SELECT name FROM sqlite_schema WHERE type = 'table'")
        }
        #expect(tables == ["appointments"])
    }

    @Test("a file that is not SQLite at all is refused and left as it was")
    func notSQLite() throws {
        let ws = Workspace()
        let p = ws.node("practice")
        _ = try p.ok(["init", "--org", "A81001", "--name", "Riverside", "--pcn", "U12345"])
        try Data("name,phone\nPat,07700900123\n".utf8).write(to: URL(fileURLWithPath: p.home + "/store.sqlite"))
        try expectEveryCommandRefused(p, ws, hint: "is not an SQLite database")
    }

    @Test("node.toml naming another node than the store is refused by every command, changing nothing")
    func nodeMismatch() throws {
        let ws = Workspace()
        let p = ws.node("practice")
        _ = try p.ok(["init", "--org", "A81001", "--name", "Riverside", "--pcn", "U12345"])
        let config = p.home + "/node.toml"
        let text = try String(contentsOfFile: config, encoding: .utf8)
        #expect(text.contains("id = \"A81001\""))
        try text.replacingOccurrences(of: "id = \"A81001\"", with: "id = \"A81002\"")
            .write(toFile: config, atomically: false, encoding: .utf8)
        try expectEveryCommandRefused(p, ws, hint: "node.toml in \(p.home) names node A81002 but")
        let refusal = try p.run(["peer", "list"])
        #expect(refusal.err.contains("A81002") && refusal.err.contains("A81001"), "\(refusal.err)")
    }

    @Test(
        "a home, node.toml or store that group or others can write is refused, naming the file and the chmod to run",
        arguments: [
            ("", 0o770, "chmod 700"), ("/node.toml", 0o666, "chmod 600"), ("/store.sqlite", 0o620, "chmod 600"),
        ])
    func writableByOthers(file: String, mode: Int, fix: String) throws {
        let ws = Workspace()
        let p = ws.node("practice")
        _ = try p.ok(["init", "--org", "A81001", "--name", "Riverside", "--pcn", "U12345"])
        let path = p.home + file
        try FileManager.default.setAttributes([.posixPermissions: mode], ofItemAtPath: path)
        try expectEveryCommandRefused(p, ws, hint: "\(fix) \(path)")
        let result = try p.run(["referral", "list"])
        #expect(result.err.contains("can be written by group or others"), "\(result.err)")
        try FileManager.default.setAttributes([.posixPermissions: file.isEmpty ? 0o700 : 0o600], ofItemAtPath: path)
        _ = try p.ok(["referral", "list"])
    }

    @Test(
        "argument errors are one spsync: line naming the command's help, exit 64",
        arguments: [
            ["service", "set-capacity", "S.GB-CHC-1234567.019e7044-8800-7234-abcd-ef0123456789", "--available", "-1"],
            ["referral", "list", "--bogus"], ["peer", "remove"], ["referral", "create", "--to", "U12345"],
            ["no-such-command"],
        ])
    func argumentErrors(args: [String]) throws {
        let ws = Workspace()
        let result = try ws.node("practice").run(args)
        expectOneLineRefusal(result, "--help", status: 64, "spsync \(args.joined(separator: " "))")
        #expect(!result.err.contains("Usage:") && !result.err.hasPrefix("Error"), "\(result.err)")
    }

    @Test("--help still prints the whole help on stdout and exits 0")
    func help() throws {
        let result = try runCommand(executable: SpsyncBinary.path, arguments: ["service", "set-capacity", "--help"])
        #expect(result.status == 0)
        #expect(result.out.contains("USAGE:") || result.out.contains("Usage:"), "\(result.out)")
        #expect(result.err.isEmpty)
    }

    @Test(
        "on a full disk a write is refused in one line that says to free disk space, and the store opens after",
        .enabled(if: FullDisk.available, "needs `unshare -rm` to mount a small tmpfs"))
    func diskFull() throws {
        let ws = Workspace()
        let outcome = try FullDisk.run(
            in: ws.path, setUp: [["init", "--org", "A81001", "--name", "Riverside", "--pcn", "U12345"]],
            then: [
                "referral", "create", "--to", "U12345", "--need", "debt", "--note", String(repeating: "n", count: 900),
            ])
        expectOneLineRefusal(outcome.command, "free disk space", status: 1, "referral create on a full disk")
        #expect(outcome.command.err.contains("could not take a write"), "\(outcome.command.err)")
        #expect(!outcome.command.err.contains("SQLite error"), "\(outcome.command.err)")
        #expect(outcome.listAfter.status == 0, "the store does not open after the refusal: \(outcome.listAfter.err)")
        let referrals = try JSONSerialization.jsonObject(with: Data(outcome.listAfter.out.utf8)) as? [Any]
        #expect(referrals?.isEmpty == true, "the refused referral was stored: \(outcome.listAfter.out)")
    }
}

/// A node's home on a small tmpfs that is full, in a mount namespace of its own (`unshare -rm`),
/// so a test sees what an operator sees when the disk fills up.
enum FullDisk {
    /// Whether this machine lets a process mount a tmpfs in a mount namespace of its own.
    static let available: Bool = {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/unshare") else { return false }
        do {
            let probe = try runCommand(
                executable: "/usr/bin/unshare",
                arguments: ["-rm", "sh", "-c", "d=$(mktemp -d) && mount -t tmpfs -o size=1m tmpfs \"$d\""])
            return probe.status == 0
        } catch {
            return false
        }
    }()

    struct Outcome {
        /// The command run on the full disk.
        var command: CommandResult
        /// `referral list --json` run after it, with the space freed again.
        var listAfter: CommandResult
    }

    /// Makes a node with `setUp` on a 4 MiB tmpfs mounted at `workspace/disk`, fills the tmpfs but
    /// for 36 KiB (room for the store's shared-memory index, not for a transaction), runs `then`,
    /// frees the space and lists referrals. Outputs land in `workspace`, outside the tmpfs.
    static func run(in workspace: String, setUp: [[String]], then: [String]) throws -> Outcome {
        try FileManager.default.createDirectory(atPath: workspace + "/disk", withIntermediateDirectories: true)
        func spsync(_ args: [String]) -> String {
            (["\"$SPSYNC\""] + args.map { "'" + $0.replacingOccurrences(of: "'", with: "'\\''") + "'" }
                + ["--home", "\"$WS/disk/node\""]).joined(separator: " ")
        }
        let script = """
            set -e
            mount -t tmpfs -o size=4m tmpfs "$WS/disk"
            \(setUp.map { spsync($0) + " >/dev/null" }.joined(separator: "\n"))
            dd if=/dev/zero of="$WS/disk/reserve" bs=4k count=9 2>/dev/null
            dd if=/dev/zero of="$WS/disk/fill" bs=4k 2>/dev/null || true
            rm "$WS/disk/reserve"
            set +e
            \(spsync(then)) >"$WS/command.out" 2>"$WS/command.err"
            echo $? >"$WS/command.status"
            rm -f "$WS/disk/fill"
            \(spsync(["referral", "list", "--json"])) >"$WS/list.out" 2>"$WS/list.err"
            echo $? >"$WS/list.status"
            """
        let shell = try runCommand(
            executable: "/usr/bin/unshare", arguments: ["-rm", "sh", "-c", script],
            environment: ["WS": workspace, "SPSYNC": SpsyncBinary.path])
        func read(_ name: String) -> String {
            (try? String(contentsOfFile: workspace + "/" + name, encoding: .utf8)) ?? ""
        }
        func result(_ name: String) -> CommandResult {
            let status = Int32(read(name + ".status").trimmingCharacters(in: .whitespacesAndNewlines)) ?? -1
            return CommandResult(
                status: status, out: read(name + ".out"), err: read(name + ".err") + (status == -1 ? shell.err : ""))
        }
        return Outcome(command: result("command"), listAfter: result("list"))
    }
}
