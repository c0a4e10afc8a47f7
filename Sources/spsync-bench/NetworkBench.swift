import Foundation
import GRDB
import SyncCore
import SyncDomain
import SyncNode
import SyncStore

/// Benchmarks of real daemons on loopback, driven through the `spsync` binary beside this one.
enum NetworkBench {
    static var spsync: String {
        URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent()
            .appendingPathComponent("spsync").path
    }

    @discardableResult
    static func run(_ args: [String]) throws -> String {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: spsync)
        p.arguments = args
        let out = Pipe()
        p.standardOutput = out
        p.standardError = FileHandle.nullDevice
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        guard p.terminationStatus == 0 || args.first == "sync" else {
            throw SyncError(.io, "spsync \(args.joined(separator: " ")) exited \(p.terminationStatus)")
        }
        return String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    static func fingerprint(_ home: String) throws -> String {
        let json = try run(["id", "--home", home, "--json"])
        return ((try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])?["fingerprint"] as? String)
            ?? ""
    }

    /// Starts `spsync daemon` in `home` at `logLevel` (nil: the daemon's default) and waits until
    /// it answers on its control socket.
    static func daemon(_ home: String, logLevel: String? = "error") throws -> Process {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: spsync)
        p.arguments = ["daemon", "--home", home] + (logLevel.map { ["--log-level", $0] } ?? [])
        p.standardError = FileHandle.nullDevice
        try p.run()
        let deadline = Date().addingTimeInterval(30)
        while Date() < deadline {
            if (try? ControlClient.send(
                ControlRequest(command: "status"), home: NodeHome(path: home), timeoutSeconds: 2)) != nil
            {
                return p
            }
            usleep(50_000)
        }
        throw SyncError(.io, "the daemon in \(home) did not start")
    }

    /// Resident memory of a process, in MiB, from /proc: in all, its peak, and split into anonymous
    /// pages (heap, stacks, relocated data: what the process alone owns) and file-backed pages
    /// (code and read-only data of the binary and shared libraries, shared with every process that
    /// maps them and reclaimable by the kernel).
    static func memory(_ pid: Int32) -> (rss: Double, peak: Double, anonymous: Double, file: Double) {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else {
            return (0, 0, 0, 0)
        }
        func field(_ name: String) -> Double {
            for line in text.split(separator: "\n") where line.hasPrefix(name) {
                return Double(line.split(separator: " ").dropFirst().first { !$0.isEmpty } ?? "0").map { $0 / 1024 }
                    ?? 0
            }
            return 0
        }
        return (field("VmRSS:"), field("VmHWM:"), field("RssAnon:"), field("RssFile:"))
    }

    static func freePort() throws -> Int { try Loopback.freePort() }

    static func workspace() throws -> String {
        let root = NSTemporaryDirectory() + "spsync-bench-net-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        return root
    }

    /// Makes `count` practices of the hub (each in its own home, peered both ways), practice `i`
    /// dialling from loopback address 127.0.0.(1 + i % addresses) (node.toml `dial_from`).
    static func practices(
        _ count: Int, root: String, hub: String, hubPort: Int, addresses: Int, schedule: String = "manual",
        referrals: Int = 0
    ) throws -> [String] {
        let hubFP = try fingerprint(hub)
        var homes: [String] = []
        for i in 0..<count {
            let code = String(format: "A%05d", 10000 + i)
            let home = root + "/" + code
            try run(["init", "--home", home, "--org", code, "--name", "Practice \(i)", "--pcn", "U12345"])
            try run([
                "peer", "add", "--home", home, "U12345", "--fingerprint", hubFP, "--address", "127.0.0.1:\(hubPort)",
                "--schedule", schedule,
            ])
            if addresses > 1 {
                var config = try NodeConfig.load(home + "/node.toml")
                config.node.dialFrom = "127.0.0.\(1 + i % addresses)"
                try config.save(home + "/node.toml")
            }
            try run([
                "peer", "add", "--home", hub, code, "--fingerprint", try fingerprint(home), "--address", "127.0.0.1:1",
            ])
            if referrals > 0 {
                let store = try NodeHome(path: home).store()
                let domain = try Domain(store: store, pcn: NodeID("U12345"))
                for r in 0..<referrals {
                    try domain.createReferral(
                        Domain.NewReferral(needs: [.loneliness], note: "Referral \(r)"), at: WallClock.now())
                }
            }
            homes.append(home)
        }
        return homes
    }

    /// Capacity set at a charity, seen at a practice through the hub, all on live connections;
    /// with `--live-practices N`, N more practices hold live sessions with the hub meanwhile.
    static func propagation() throws {
        let rounds = option("--rounds", default: 200)
        let livePractices = option("--live-practices", default: 0)
        let addresses = option("--addresses", default: 1)
        let roundTimeout = option("--round-timeout", default: 10)
        let root = try workspace()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let (p, h, c) = (root + "/practice", root + "/hub", root + "/charity")
        let (hp, cp) = (try freePort(), try freePort())
        try run(["init", "--home", p, "--org", "A81001", "--name", "P", "--pcn", "U12345"])
        try run(["init", "--home", h, "--org", "U12345", "--name", "H", "--listen", "127.0.0.1:\(hp)"])
        try run(["init", "--home", c, "--org", "GB-CHC-1234567", "--name", "C", "--listen", "127.0.0.1:\(cp)"])
        try run([
            "peer", "add", "--home", p, "U12345", "--fingerprint", try fingerprint(h), "--address", "127.0.0.1:\(hp)",
            "--schedule", "live",
        ])
        try run(["peer", "add", "--home", h, "A81001", "--fingerprint", try fingerprint(p), "--address", "127.0.0.1:1"])
        try run([
            "peer", "add", "--home", h, "GB-CHC-1234567", "--fingerprint", try fingerprint(c), "--address",
            "127.0.0.1:\(cp)", "--schedule", "live",
        ])
        try run([
            "peer", "add", "--home", c, "U12345", "--fingerprint", try fingerprint(h), "--address", "127.0.0.1:\(hp)",
        ])
        let service = try run([
            "service", "add", "--home", c, "--name", "Walk", "--category", "physical_activity", "--maximum", "1000",
            "--available", "0",
        ])
        let others = try practices(
            livePractices, root: root, hub: h, hubPort: hp, addresses: addresses, schedule: "live")
        let daemons = try [h, c, p].map { try daemon($0) }
        var extra: [Process] = []
        defer {
            for d in daemons + extra { kill(d.processIdentifier, SIGTERM) }
            for d in daemons + extra { d.waitUntilExit() }
        }
        if livePractices > 0 {
            print("starting \(livePractices) more practices, live to the hub …")
            for home in others { extra.append(try daemon(home)) }
            // Wait until the hub holds a live session with every one of them.
            let deadline = Date().addingTimeInterval(Double(120 + livePractices))
            while true {
                let status =
                    try JSONSerialization.jsonObject(
                        with: Data(try run(["status", "--home", h, "--json"]).utf8)) as? [String: Any]
                let peers = status?["peers"] as? [[String: Any]] ?? []
                let connected = peers.filter { $0["state"] as? String == "connected" }.count
                if connected >= livePractices + 2 { break }
                guard Date() < deadline else {
                    throw SyncError(.io, "only \(connected) of \(livePractices + 2) peers connected to the hub")
                }
                sleep(1)
            }
            print("the hub holds \(livePractices + 2) live sessions")
        }
        let charity = try NodeHome(path: c).store()
        let practice = try DatabaseQueue(
            path: p + "/store.sqlite",
            configuration: {
                var x = Configuration(); x.readonly = true; return x
            }())
        let id = try RecordID(service)
        func available() throws -> Int? {
            try practice.read { db in
                try Int.fetchOne(db, sql: "SELECT capacity_available FROM service WHERE key = ?", arguments: [service])
            }
        }
        // Wait for the live links to settle.
        let deadline = Date().addingTimeInterval(30)
        while try available() != 0 {
            guard Date() < deadline else { throw SyncError(.io, "the service never reached the practice") }
            usleep(20_000)
        }
        var latencies: [Double] = []
        for round in 1...rounds {
            let start = ContinuousClock.now
            try Domain(store: charity).setCapacity(id, available: round, at: WallClock.now())
            _ = try? ControlClient.send(ControlRequest(command: "changed"), home: NodeHome(path: c), timeoutSeconds: 2)
            while try available() != round {
                guard ContinuousClock.now - start < .seconds(roundTimeout) else {
                    throw SyncError(.io, "round \(round) did not arrive within \(roundTimeout) s")
                }
                usleep(500)
            }
            latencies.append(seconds(ContinuousClock.now - start) * 1000)
        }
        latencies.sort()
        func pct(_ p: Double) -> Double { latencies[min(latencies.count - 1, Int(Double(latencies.count) * p))] }
        print(
            String(
                format:
                    "capacity propagation charity -> hub -> practice (live, loopback, %d other live practices at the hub), %d rounds: p50 %.1f ms, p99 %.1f ms, max %.1f ms; hub memory %.1f MiB (peak %.1f)",
                livePractices, rounds, pct(0.5), pct(0.99), latencies.last ?? 0,
                memory(daemons[0].processIdentifier).rss,
                memory(daemons[0].processIdentifier).peak))
    }

    /// An idle daemon's memory (a hub with a listener, no peers), 3 s after it answers on its control
    /// socket: at the default log level, as `spsync daemon` runs, and at `--log-level error`, as the
    /// figures before 2026-11-25 were taken.
    static func idle() throws {
        for level in [nil, "error"] {
            let root = try workspace()
            defer { try? FileManager.default.removeItem(atPath: root) }
            try run([
                "init", "--home", root + "/hub", "--org", "U12345", "--name", "H", "--listen",
                "127.0.0.1:\(try freePort())",
            ])
            let d = try daemon(root + "/hub", logLevel: level)
            defer { kill(d.processIdentifier, SIGTERM); d.waitUntilExit() }
            sleep(3)
            let m = memory(d.processIdentifier)
            print(
                "idle daemon (log level \(level ?? "info, the default")): "
                    + String(
                        format:
                            "RSS %.1f MiB (anonymous %.1f MiB, file-backed %.1f MiB), peak %.1f MiB (target < 30 MB = 28.6 MiB)",
                        m.rss, m.anonymous, m.file, m.peak))
        }
    }

    /// A hub with N practice peers that all dial in within one window.
    static func hubWindow() throws {
        let practices = option("--practices", default: 200)
        let concurrency = option("--concurrency", default: 25)
        let referrals = option("--referrals", default: 4)
        let addresses = option("--addresses", default: 1)
        let root = try workspace()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let hp = try freePort()
        let hub = root + "/hub"
        try run(["init", "--home", hub, "--org", "U12345", "--name", "H", "--listen", "127.0.0.1:\(hp)"])
        print("making \(practices) practices with \(referrals) referrals each, dialling from \(addresses) addresses …")
        let homes = try Self.practices(
            practices, root: root, hub: hub, hubPort: hp, addresses: addresses, referrals: referrals)
        let d = try daemon(hub)
        defer { kill(d.processIdentifier, SIGTERM); d.waitUntilExit() }
        let start = ContinuousClock.now
        // Practices dial from `--addresses` loopback addresses (one by default), so the hub's
        // per-address handshake cap applies to each address's share of them at once; a refused
        // practice retries after a backoff, as its daemon would.
        var pending = homes
        var retries = 0
        var peak = 0.0
        var reasons: [String: Int] = [:]
        for attempt in 0..<6 where !pending.isEmpty {
            if attempt > 0 {
                retries += pending.count
                usleep(useconds_t(1_000_000 * attempt))
            }
            let queue = OperationQueue()
            queue.maxConcurrentOperationCount = concurrency
            let failed = LockedList()
            for home in pending {
                queue.addOperation {
                    let out = (try? run(["sync", "--home", home])) ?? ""  // a crash counts as a failure
                    if !out.contains(": ok") {
                        let reason = out.split(separator: "(").dropFirst().first.map { String($0.prefix { $0 != ")" }) }
                        failed.append(home, reason: reason ?? "error")
                    }
                }
            }
            while queue.operationCount > 0 {
                peak = max(peak, memory(d.processIdentifier).peak)
                usleep(50_000)
            }
            queue.waitUntilAllOperationsAreFinished()
            pending = failed.homes
            for (reason, n) in failed.reasons { reasons[reason, default: 0] += n }
        }
        let elapsed = seconds(ContinuousClock.now - start)
        peak = max(peak, memory(d.processIdentifier).peak)
        print("retried \(retries) dial-ins; refusals by reason: \(reasons)")
        print(
            String(
                format:
                    "hub with %d practices dialling in from %d addresses (%d at a time): all synced in %.1f s, %d failed; hub peak memory %.1f MiB",
                practices, addresses, concurrency, elapsed, pending.count, peak))
    }
}

/// Failed practices and why, collected from the benchmark's worker threads.
final class LockedList: @unchecked Sendable {
    // Guarded by `lock`.
    private let lock = NSLock()
    private var list: [String] = []
    private var why: [String: Int] = [:]
    func append(_ home: String, reason: String) {
        lock.withLock {
            list.append(home)
            why[reason, default: 0] += 1
        }
    }
    var homes: [String] { lock.withLock { list } }
    var reasons: [String: Int] { lock.withLock { why } }
}
