import Foundation
import SpsyncTestSupport
import Testing

/// Runs `spsync daemon` for `node` and waits (bounded) for it to exit by itself; a daemon still
/// running after `seconds` is stopped and reported.
func runDaemonExpectingExit(_ node: TestNode, seconds: Double = 30) throws -> CommandResult {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: SpsyncBinary.path)
    p.arguments = ["daemon", "--home", node.home]
    let out = Pipe(), err = Pipe()
    p.standardOutput = out
    p.standardError = err
    try p.run()
    do {
        try waitUntil("\(node.id)'s daemon exits by itself", seconds: seconds) { !p.isRunning }
    } catch {
        kill(p.processIdentifier, SIGKILL)
        p.waitUntilExit()
        throw error
    }
    return CommandResult(
        status: p.terminationStatus,
        out: String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self),
        err: String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self))
}

/// A file's bytes, modification time and inode (node.toml is replaced by rename when saved).
struct FileState: Equatable {
    var bytes: Data
    var modified: Date?
    var inode: UInt64?

    init(_ path: String) throws {
        let attributes = try FileManager.default.attributesOfItem(atPath: path)
        bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        modified = attributes[.modificationDate] as? Date
        inode = (attributes[.systemFileNumber] as? NSNumber)?.uint64Value
    }
}

@Suite("end to end: a daemon that cannot start says so in one line; sessions leave node.toml alone", .serialized)
struct DaemonRefusalTests {
    @Test("a daemon whose port is taken exits non-zero with one spsync: line, before logging that it started")
    func portTaken() throws {
        let net = try TestNetwork()
        defer { net.stopAll() }
        try net.hub.start()
        let clash = TestNode(id: "U54321", home: net.root + "/clash", port: net.hub.port)
        _ = try clash.ok(["init", "--org", "U54321", "--name", "Clash PCN", "--listen", "127.0.0.1:\(net.hub.port)"])
        let result = try runDaemonExpectingExit(clash)
        #expect(result.status != 0)
        let lines = result.err.split(separator: "\n")
        #expect(lines.count == 1, "stderr is not one line:\n\(result.err)")
        let line = try #require(lines.first)
        #expect(line.hasPrefix("spsync: cannot listen on 127.0.0.1:\(net.hub.port): address already in use"), "\(line)")
        #expect(line.contains("`listen` in node.toml"), "\(line)")
        #expect(!result.err.contains("daemon started"))
        // It left no control socket behind: the next start is not told a daemon runs.
        #expect(!FileManager.default.fileExists(atPath: clash.home + "/control.sock"))
    }

    @Test(
        "a daemon refuses a node.toml that names another node than its store, in one line, before switching to a rotated key"
    )
    func nodeMismatch() throws {
        let net = try TestNetwork()
        defer { net.stopAll() }
        let home = net.charity.home
        // A rotation every peer has heard of: the next start would switch keys (moving key files).
        _ = try net.charity.ok(["cert", "rotate"])
        let rotationPath = home + "/rotation.json"
        var rotation = try #require(
            try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: rotationPath)))
                as? [String: Any])
        rotation["announcedTo"] = ["U12345"]
        try JSONSerialization.data(withJSONObject: rotation).write(to: URL(fileURLWithPath: rotationPath))
        let config = home + "/node.toml"
        let text = try String(contentsOfFile: config, encoding: .utf8)
        try text.replacingOccurrences(of: "id = \"GB-CHC-1234567\"", with: "id = \"GB-CHC-7654321\"")
            .write(toFile: config, atomically: false, encoding: .utf8)
        let files = try FileManager.default.contentsOfDirectory(atPath: home).sorted()
        let key = try FileState(home + "/key.pem"), store = try FileState(home + "/store.sqlite")

        let result = try runDaemonExpectingExit(net.charity)
        #expect(result.status != 0)
        #expect(result.err.split(separator: "\n").count == 1 && result.err.hasPrefix("spsync: "), "\(result.err)")
        #expect(
            result.err.contains("names node GB-CHC-7654321 but the store belongs to GB-CHC-1234567"), "\(result.err)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: home).sorted() == files)
        #expect(try FileState(home + "/key.pem") == key, "the key was switched")
        #expect(try FileState(home + "/store.sqlite") == store)
    }

    @Test("syncing with nothing to record about certificates leaves node.toml untouched at both ends")
    func sessionsLeaveConfigAlone() throws {
        let net = try TestNetwork()
        defer { net.stopAll() }
        try net.hub.start()
        let practiceConfig = net.practice.home + "/node.toml", hubConfig = net.hub.home + "/node.toml"
        let before = (try FileState(practiceConfig), try FileState(hubConfig))
        _ = try net.practice.ok(["referral", "create", "--to", "U12345", "--need", "debt"])
        for _ in 0..<2 {
            _ = try net.practice.ok(["sync"])
        }
        try waitUntil("the hub recorded the practice's sessions", seconds: 10) {
            (try net.hub.peerStatus("A81001")["lastSuccessAt"]) != nil
        }
        #expect(try net.hub.storeCount("referrals") == 1)
        #expect(try FileState(practiceConfig) == before.0, "the practice's node.toml was rewritten")
        #expect(try FileState(hubConfig) == before.1, "the hub's node.toml was rewritten")
    }
}
