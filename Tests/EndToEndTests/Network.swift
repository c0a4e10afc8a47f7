import Foundation
import SpsyncTestSupport
import SyncCore
import SyncDomain
import SyncNode
import SyncStore
import SyncTransport
import Testing

/// One node of a test network: its home, its port, and its daemon when running.
final class TestNode: @unchecked Sendable {
    // Only the test's own task touches a node; @unchecked because Process is not Sendable.
    let id: String
    let home: String
    let port: Int
    var daemon: Process?
    var environment: [String: String] = [:]

    init(id: String, home: String, port: Int) {
        self.id = id
        self.home = home
        self.port = port
    }

    @discardableResult
    func run(_ args: [String], env: [String: String] = [:]) throws -> CommandResult {
        var argv = args
        let split =
            argv.firstIndex { $0.hasPrefix("-") || $0.contains(".") || $0.contains("/") || $0.contains(":") }
            ?? argv.count
        argv.insert(contentsOf: ["--home", home], at: split)
        return try runCommand(
            executable: SpsyncBinary.path, arguments: argv, environment: environment.merging(env) { $1 })
    }

    func ok(_ args: [String], env: [String: String] = [:]) throws -> String {
        let r = try run(args, env: env)
        #expect(r.status == 0, "\(id): spsync \(args.joined(separator: " ")) failed: \(r.err)")
        return r.out.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    func json(_ args: [String]) throws -> Any {
        try JSONSerialization.jsonObject(with: Data(try ok(args + ["--json"]).utf8))
    }

    var fingerprint: String {
        get throws { ((try json(["id"])) as? [String: Any])?["fingerprint"] as? String ?? "" }
    }

    /// Starts `spsync daemon` and waits (bounded) until its control socket answers.
    func start(env: [String: String] = [:]) throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: SpsyncBinary.path)
        p.arguments = ["daemon", "--home", home, "--log-level", "warning"]
        p.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }.merging(env) { $1 }
        p.standardOutput = FileHandle.nullDevice
        let log =
            FileManager.default.createFile(atPath: home + "/daemon.log", contents: nil)
            ? FileHandle(forWritingAtPath: home + "/daemon.log") : nil
        p.standardError = log ?? FileHandle.nullDevice
        try p.run()
        daemon = p
        try waitUntil("\(id)'s daemon answers", seconds: 30) {
            guard p.isRunning else {
                throw DaemonDied(
                    node: id, log: (try? String(contentsOfFile: home + "/daemon.log", encoding: .utf8)) ?? "")
            }
            let r = try run(["status", "--json"])
            return r.status == 0 && r.out.contains("\"running\" : true")
        }
    }

    /// Stops the daemon with `signal` and waits for it; returns its exit status.
    @discardableResult
    func stop(signal: Int32 = SIGTERM) -> Int32 {
        guard let p = daemon else { return 0 }
        kill(p.processIdentifier, signal)
        p.waitUntilExit()
        daemon = nil
        return p.terminationStatus
    }

    func status() throws -> [String: Any] { (try json(["status"]) as? [String: Any]) ?? [:] }

    func storeCount(_ key: String) throws -> Int { ((try status()["store"] as? [String: Any])?[key] as? Int) ?? -1 }

    func peerStatus(_ peer: String) throws -> [String: Any] {
        ((try status()["peers"] as? [[String: Any]]) ?? []).first { $0["id"] as? String == peer } ?? [:]
    }
}

struct DaemonDied: Error, CustomStringConvertible {
    var node: String
    var log: String
    var description: String { "\(node)'s daemon exited:\n\(log)" }
}

struct TimedOut: Error, CustomStringConvertible {
    var what: String
    var description: String { "timed out waiting until \(what)" }
}

/// Polls `condition` every 100 ms for at most `seconds`: a bound, not a sleep to wait out.
func waitUntil(_ what: String, seconds: Double, _ condition: () throws -> Bool) throws {
    let deadline = Date().addingTimeInterval(seconds)
    while Date() < deadline {
        if try condition() { return }
        usleep(100_000)
    }
    throw TimedOut(what: what)
}

/// A practice, its PCN hub and a charity on loopback, made with `spsync init` and peered by fingerprint.
final class TestNetwork: @unchecked Sendable {
    // Used from one test task at a time.
    let root = NSTemporaryDirectory() + "spsync-e2e-" + UUID().uuidString
    let practice: TestNode
    let hub: TestNode
    let charity: TestNode

    /// A free port none of the nodes listens on (for an HTTP listener beside their peer listeners).
    func freePort() throws -> Int {
        while true {
            let p = try Loopback.freePort()
            if ![practice.port, hub.port, charity.port].contains(p) { return p }
        }
    }

    /// With `allLive`, the practice listens too and every side of every link is `live`: each
    /// daemon dials the other, as in the demo's shape.
    init(allLive: Bool = false) throws {
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        // Three different ports: a port just released may be handed out again.
        var ports: [Int] = []
        while ports.count < 3 {
            let p = try Loopback.freePort()
            if !ports.contains(p) { ports.append(p) }
        }
        practice = TestNode(id: "A81001", home: root + "/practice", port: ports[0])
        hub = TestNode(id: "U12345", home: root + "/hub", port: ports[1])
        charity = TestNode(id: "GB-CHC-1234567", home: root + "/charity", port: ports[2])
        _ = try practice.ok(
            ["init", "--org", "A81001", "--name", "Riverside Surgery", "--pcn", "U12345"]
                + (allLive ? ["--listen", "127.0.0.1:\(practice.port)"] : []))
        _ = try hub.ok(["init", "--org", "U12345", "--name", "Riverside PCN", "--listen", "127.0.0.1:\(hub.port)"])
        _ = try charity.ok([
            "init", "--org", "GB-CHC-1234567", "--name", "Leeds Walking Friends", "--listen",
            "127.0.0.1:\(charity.port)",
        ])
        try peer(practice, hub, schedule: allLive ? "live" : "manual")
        try peer(hub, practice, schedule: allLive ? "live" : "manual")
        try peer(hub, charity, schedule: "live")
        try peer(charity, hub, schedule: allLive ? "live" : "manual")
    }

    func peer(_ a: TestNode, _ b: TestNode, schedule: String) throws {
        _ = try a.ok([
            "peer", "add", b.id, "--fingerprint", try b.fingerprint, "--address", "127.0.0.1:\(b.port)", "--schedule",
            schedule,
        ])
    }

    func stopAll() {
        for n in [practice, hub, charity] { n.stop() }
    }

    deinit {
        stopAll()
        try? FileManager.default.removeItem(atPath: root)
    }
}

extension TestNode {
    /// Writes `count` referrals of a practice (of 4 field writes each: needs, the referred event, urgency and a note) into this node's store
    /// through the library, as `spsync referral create` would without a process each: large
    /// stores for sync tests. The daemon must not be running.
    func fillReferrals(_ count: Int, practice: String = "A81001", pcn: String = "U12345") throws {
        let store = try Store.open(at: home + "/store.sqlite", signer: NodeIdentity.load(directory: home))
        let practice = try NodeID(practice), pcn = try NodeID(pcn)
        let domain = try Domain(store: store, pcn: pcn)
        let atHub = domain.node == pcn
        let wall = UInt64(Date().timeIntervalSince1970 * 1000)
        for i in 0..<count {
            try domain.createReferral(
                Domain.NewReferral(
                    needs: [.loneliness], practice: atHub ? practice : nil, urgency: .routine, note: "Referral \(i)",
                    uuid: UUIDv7(millis: wall, random: (UInt64(i), UInt64(i) &* 7919))),
                at: wall)
        }
    }
}
