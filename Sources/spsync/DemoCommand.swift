import ArgumentParser
import Foundation
import SyncCore
import SyncNode

/// `spsync demo`: builds the example network of `Nodes/` in a temporary folder, starts a daemon per
/// organisation on free loopback ports, and narrates a day of social prescribing.
struct DemoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Run the example network in Nodes/ and narrate a day (needs nothing but this binary).")

    @Option(help: "The example network's folder.") var nodes = "Nodes"
    @Flag(help: "Keep the temporary folder afterwards (its path is printed).") var keep = false

    func run() throws {
        umask(0o077)
        let demo = try Demo(nodesFolder: nodes)
        defer {
            demo.stopAll()
            if keep { print("\nKept \(demo.root)") } else { try? FileManager.default.removeItem(atPath: demo.root) }
        }
        do {
            try demo.day()
        } catch let error as SyncError {
            FileHandle.standardError.write(Data("spsync demo: \(error.message)\n".utf8))
            throw ExitCode(1)
        }
    }
}

/// The demo's network and its narration.
final class Demo {
    struct Member {
        var template: NodeConfig
        var home: String
        var port: Int
        var daemon: Process?
        var id: String { template.node.id }
    }

    let root: String
    var members: [String: Member] = [:]
    let binary: String

    init(nodesFolder: String) throws {
        let fm = FileManager.default
        guard let folders = try? fm.contentsOfDirectory(atPath: nodesFolder) else {
            throw SyncError(
                .notFound, "no example network at '\(nodesFolder)': run from the repository root, or pass --nodes DIR")
        }
        root = NSTemporaryDirectory() + "spsync-demo-" + UUID().uuidString
        try fm.createDirectory(atPath: root, withIntermediateDirectories: true)
        binary = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().path
        for folder in folders.sorted() where fm.fileExists(atPath: "\(nodesFolder)/\(folder)/node.toml") {
            let template = try NodeConfig.load("\(nodesFolder)/\(folder)/node.toml")
            members[template.node.id] = Member(
                template: template, home: "\(root)/\(folder)", port: try Loopback.freePort())
        }
        guard members.count >= 3 else {
            throw SyncError(.notFound, "\(nodesFolder) holds fewer than three node.toml files")
        }
    }

    // MARK: Narration

    func day() throws {
        let practice = try pick { $0.template.node.role == "practice" && $0.template.peers.count > 1 }
        let hub = try pick { $0.template.node.role == "hub" }
        let charities = members.values.filter { $0.template.node.role == "vcse" }.sorted { $0.id < $1.id }
        guard charities.count >= 2 else { throw SyncError(.notFound, "the example network needs two charities") }
        let walkers = charities[0], advice = charities[1]

        chapter(
            "Morning: each organisation starts its node (key, certificate, node.toml, store) and pins its peers' fingerprints"
        )
        for m in members.values.sorted(by: { $0.id < $1.id }) { try initialise(m) }
        for m in members.values.sorted(by: { $0.id < $1.id }) { try peerUp(m) }
        for m in members.values.sorted(by: { $0.id < $1.id }) { try start(m.id) }
        try status(hub.id)

        chapter("The charities publish their services and how many places they have free")
        let walk = try spsync(
            walkers.id,
            [
                "service", "add", "--name", "Walk and Talk", "--category", "physical_activity", "--maximum", "12",
                "--available", "5", "--area", "LS1,LS2", "--schedule", "Tuesdays 10:00",
            ])
        _ = try spsync(
            advice.id,
            [
                "service", "add", "--name", "Debt advice drop-in", "--category", "debt_advice", "--maximum", "6",
                "--available", "2",
            ])
        try waitFor(hub.id, "sees both services (live links to the charities)") {
            try self.count(hub.id, "service", "list") == 2
        }
        _ = try spsync(hub.id, ["service", "list"])

        chapter(
            "Overnight, \(practice.template.node.name) refers a person to its PCN hub; the practice's nightly sync carries it"
        )
        let referral = try spsync(
            practice.id,
            [
                "referral", "create", "--to", hub.id, "--need", "loneliness", "physical_activity", "--name", "Pat",
                "--phone", "07700900123", "--consent", "explicit", "--nhs-number", "9990000018", "--urgency", "soon",
                "--note", "Lives alone since a fall; keen to get out walking",
            ])
        _ = try spsync(practice.id, ["sync", "--now"])
        try status(practice.id)

        chapter("At the hub, a link worker addresses the referral to Walk and Talk")
        _ = try spsync(hub.id, ["referral", "update", referral, "--service", walk])
        try waitFor(walkers.id, "receives the referral within a second (live)") {
            try self.count(walkers.id, "referral", "list") == 1
        }
        say("The charity sees routing, consent and contact details (explicit consent) — never the NHS number:")
        _ = try spsync(walkers.id, ["referral", "show", referral])

        chapter("The charity accepts the person, and a place is taken")
        _ = try spsync(
            walkers.id,
            ["referral", "update", referral, "--status", "accepted", "--note", "Welcome call booked for Tuesday"])
        _ = try spsync(walkers.id, ["service", "set-capacity", walk, "--available", "4"])
        try waitFor(hub.id, "sees the acceptance") {
            try self.output(hub.id, ["referral", "list", "--json"]).contains("\"accepted\"")
        }
        try status(hub.id)

        chapter("Next night the practice syncs and sees the outcome and the new capacity")
        _ = try spsync(practice.id, ["sync", "--now"])
        _ = try spsync(practice.id, ["referral", "list"])
        _ = try spsync(practice.id, ["service", "list"])
        for m in members.values.sorted(by: { $0.id < $1.id }) { try status(m.id, brief: true) }

        chapter("Evening: every daemon stops cleanly (SIGTERM: finish the batch in hand, checkpoint, close)")
        let codes = stopAll()
        for (id, code) in codes.sorted(by: { $0.key < $1.key }) { print("  \(id): exit \(code)") }
        guard codes.values.allSatisfy({ $0 == 0 }) else { throw SyncError(.io, "a daemon did not stop cleanly") }
        let charityBytes = try FileManager.default.contentsOfDirectory(atPath: members[walkers.id]!.home).reduce(Data())
        { d, f in
            d + ((try? Data(contentsOf: URL(fileURLWithPath: members[walkers.id]!.home + "/" + f))) ?? Data())
        }
        print(
            "  NHS number anywhere in the charity's files: "
                + (charityBytes.range(of: Data("9990000018".utf8)) == nil ? "no" : "YES"))
        chapter("The day is done")
    }

    // MARK: Steps

    func initialise(_ m: Member) throws {
        var args = ["init", "--org", m.id, "--name", m.template.node.name]
        if let pcn = m.template.node.pcn, m.template.node.role == "practice" { args += ["--pcn", pcn] }
        if m.template.node.listen != nil { args += ["--listen", "127.0.0.1:\(m.port)"] }
        _ = try spsync(m.id, args, quiet: true)
        print("  \(m.id)  \(m.template.node.name) (\(m.template.node.role))")
    }

    func peerUp(_ m: Member) throws {
        for p in m.template.peers {
            guard let other = members[p.id] else { continue }
            let fp = try fingerprint(p.id)
            _ = try spsync(
                m.id,
                [
                    "peer", "add", p.id, "--fingerprint", fp, "--address", "127.0.0.1:\(other.port)", "--schedule",
                    p.schedule ?? "manual",
                ], quiet: true)
        }
    }

    func start(_ id: String) throws {
        guard var m = members[id] else { return }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: binary)
        p.arguments = ["daemon", "--home", m.home, "--log-level", "warning"]
        p.standardOutput = FileHandle.nullDevice
        _ = FileManager.default.createFile(atPath: m.home + "/daemon.log", contents: nil)
        p.standardError = FileHandle(forWritingAtPath: m.home + "/daemon.log")
        try p.run()
        m.daemon = p
        members[id] = m
        try waitFor(id, "daemon is up") { try self.output(id, ["status", "--json"]).contains("\"running\" : true") }
    }

    @discardableResult
    func stopAll() -> [String: Int32] {
        var codes: [String: Int32] = [:]
        for (id, m) in members {
            guard let p = m.daemon else { continue }
            kill(p.processIdentifier, SIGTERM)
            p.waitUntilExit()
            codes[id] = p.terminationStatus
            members[id]?.daemon = nil
        }
        return codes
    }

    // MARK: Running spsync

    func home(_ id: String) -> String { members[id]?.home ?? root }

    /// Runs a subcommand at a node, printing it and its output; returns the last line of output.
    func spsync(_ id: String, _ args: [String], quiet: Bool = false) throws -> String {
        if !quiet {
            print(
                "\n\u{1B}[2m[\(id)]\u{1B}[0m $ spsync \(args.map { $0.contains(" ") ? "\"\($0)\"" : $0 }.joined(separator: " "))"
            )
        }
        let (status, out, err) = try exec(args + ["--home", home(id)])
        if !quiet, !out.isEmpty { print(out.split(separator: "\n").map { "  " + $0 }.joined(separator: "\n")) }
        guard status == 0 else {
            throw SyncError(.io, "`spsync \(args.joined(separator: " "))` at \(id) failed: \(err)")
        }
        return out.split(separator: "\n").last.map(String.init) ?? ""
    }

    func output(_ id: String, _ args: [String]) throws -> String { try exec(args + ["--home", home(id)]).1 }

    func exec(_ args: [String]) throws -> (Int32, String, String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: binary)
        // --home goes after the subcommand's words.
        var argv = args
        let h = argv.count - 2
        let homeArgs = Array(argv[h...])
        argv.removeLast(2)
        let split = argv.firstIndex { $0.hasPrefix("-") || $0.contains(".") } ?? argv.count
        argv.insert(contentsOf: homeArgs, at: split)
        p.arguments = argv
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        let o = out.fileHandleForReading.readDataToEndOfFile(), e = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (
            p.terminationStatus, String(decoding: o, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines),
            String(decoding: e, as: UTF8.self)
        )
    }

    func fingerprint(_ id: String) throws -> String {
        let json = try output(id, ["id", "--json"])
        guard let obj = try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any],
            let fp = obj["fingerprint"] as? String
        else {
            throw SyncError(.io, "cannot read \(id)'s fingerprint")
        }
        return fp
    }

    func count(_ id: String, _ noun: String, _ verb: String) throws -> Int {
        let json = try output(id, [noun, verb, "--json"])
        return (try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [Any])?.count ?? 0
    }

    func status(_ id: String, brief: Bool = false) throws {
        if brief {
            let json = try output(id, ["status", "--json"])
            let obj = try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any]
            let store = obj?["store"] as? [String: Any] ?? [:]
            print(
                "  \(id): \(store["referrals"] ?? 0) referrals, \(store["services"] ?? 0) services, \(store["changes"] ?? 0) field writes, \(store["conflicts"] ?? 0) conflicts, \(store["refused"] ?? 0) refused"
            )
        } else {
            _ = try spsync(id, ["status"])
        }
    }

    /// Waits, with a bound, until `condition` holds.
    func waitFor(_ id: String, _ what: String, seconds: Double = 30, _ condition: () throws -> Bool) throws {
        let start = Date()
        while Date().timeIntervalSince(start) < seconds {
            if try condition() {
                print(String(format: "  … %@ %@ (%.1f s)", id, what, Date().timeIntervalSince(start)))
                return
            }
            usleep(100_000)
        }
        throw SyncError(.io, "\(id) never \(what) within \(Int(seconds)) s; logs are in \(root)")
    }

    func pick(_ where: (Member) -> Bool) throws -> Member {
        guard let m = members.values.sorted(by: { $0.id < $1.id }).first(where: `where`) else {
            throw SyncError(.notFound, "the example network lacks a node the demo needs")
        }
        return m
    }

    func chapter(_ text: String) { print("\n\u{1B}[1m== \(text)\u{1B}[0m") }
    func say(_ text: String) { print("  \(text)") }
}
