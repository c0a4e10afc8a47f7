import Foundation
import SpsyncTestSupport
import SyncNode
import Testing

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// `/metrics`, `/healthz` and `/readyz` of a real daemon, read with a real HTTP client (issue 11 item 4).
@Suite("operators: metrics and health over HTTP", .serialized)
struct MetricsTests {
    /// GET `path` on the hub's HTTP listener: status and body.
    func get(_ port: Int, _ path: String) async throws -> (status: Int, body: String) {
        let url = try #require(URL(string: "http://127.0.0.1:\(port)\(path)"))
        let (data, response) = try await URLSession.shared.data(from: url)
        return ((response as? HTTPURLResponse)?.statusCode ?? 0, String(decoding: data, as: UTF8.self))
    }

    /// The samples of a Prometheus text exposition: `name{labels}` → value.
    func samples(_ text: String) -> [String: Double] {
        var out: [String: Double] = [:]
        for line in text.split(separator: "\n") where !line.hasPrefix("#") {
            guard let space = line.lastIndex(of: " "), let value = Double(line[line.index(after: space)...]) else {
                continue
            }
            out[String(line[..<space])] = value
        }
        return out
    }

    @Test(
        "a daemon with [http] answers /healthz and /readyz, and /metrics gives per-peer values that change after a sync"
    )
    func scrape() async throws {
        let net = try TestNetwork()
        defer { net.stopAll() }
        let port = try net.freePort()
        // As `spsync init --http` writes it (checked below on a node of its own).
        let config = net.hub.home + "/node.toml"
        let text = try String(contentsOfFile: config, encoding: .utf8)
        try (text + "\n[http]\nlisten = \"127.0.0.1:\(port)\"\n").write(
            toFile: config, atomically: true, encoding: .utf8)
        try net.hub.start()
        try net.charity.start()

        let health = try await get(port, "/healthz")
        #expect(health.status == 200 && health.body == "ok\n")
        let ready = try await get(port, "/readyz")
        #expect(ready.status == 200 && ready.body == "ready\n", "\(ready)")

        let charity = "{peer=\"GB-CHC-1234567\"}"
        var m: [String: Double] = [:]
        let deadline = Date().addingTimeInterval(30)
        repeat {
            m = samples(try await get(port, "/metrics").body)
            // Connected from the session's start; in step (a success) once it has caught up.
            if m["spsync_peer_connected\(charity)"] == 1,
                (m["spsync_peer_last_success_timestamp_seconds\(charity)"] ?? 0) > 0,
                m["spsync_peer_pending_field_writes\(charity)"] == 0
            {
                break
            }
            try await Task.sleep(for: .milliseconds(200))
        } while Date() < deadline
        #expect(m["spsync_peer_connected\(charity)"] == 1, "\(m)")
        #expect((m["spsync_peer_last_success_timestamp_seconds\(charity)"] ?? 0) > 1_700_000_000)
        #expect(m["spsync_peer_pending_field_writes\(charity)"] == 0)
        #expect(m["spsync_referrals"] == 0)
        #expect((m["spsync_store_bytes"] ?? 0) > 0)

        // The practice (no daemon) makes a referral and syncs once: the hub's values for it move.
        let practice = "{peer=\"A81001\"}"
        #expect(m["spsync_peer_last_success_timestamp_seconds\(practice)"] == 0)
        #expect(m["spsync_peer_syncs_total{peer=\"A81001\",result=\"ok\"}"] == nil)
        _ = try net.practice.ok(["referral", "create", "--to", "U12345", "--need", "loneliness"])
        _ = try net.practice.ok(["sync"])
        let after = samples(try await get(port, "/metrics").body)
        #expect(after["spsync_peer_syncs_total{peer=\"A81001\",result=\"ok\"}"] == 1, "\(after)")
        #expect((after["spsync_peer_field_writes_received_total\(practice)"] ?? 0) > 0)
        #expect((after["spsync_peer_bytes_received_total\(practice)"] ?? 0) > 0)
        #expect((after["spsync_peer_last_success_timestamp_seconds\(practice)"] ?? 0) > 1_700_000_000)
        #expect(after["spsync_referrals"] == 1)
        #expect((after["spsync_field_writes_applied_total"] ?? 0) > 0)
        #expect((after["spsync_sessions_total"] ?? 0) >= 1)
        let scraped = try await get(port, "/metrics")
        #expect(scraped.body.contains("# TYPE spsync_peer_sync_duration_seconds histogram"), "\(scraped.body)")
    }

    @Test("a daemon whose [http] port another process holds says so in one `spsync:` line and exits 1 before it starts")
    func portTaken() throws {
        let net = try TestNetwork()
        defer { net.stopAll() }
        // Another process's listener on the port.
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let named = withUnsafeMutablePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        #expect(bound == 0 && named == 0 && listen(fd, 1) == 0)
        let port = Int(UInt16(bigEndian: addr.sin_port))
        let config = net.hub.home + "/node.toml"
        let text = try String(contentsOfFile: config, encoding: .utf8)
        try (text + "\n[http]\nlisten = \"127.0.0.1:\(port)\"\n").write(
            toFile: config, atomically: true, encoding: .utf8)

        let daemon = Process()
        daemon.executableURL = URL(fileURLWithPath: SpsyncBinary.path)
        daemon.arguments = ["daemon", "--home", net.hub.home]
        let stderr = Pipe()
        daemon.standardError = stderr
        daemon.standardOutput = FileHandle.nullDevice
        try daemon.run()
        defer { if daemon.isRunning { kill(daemon.processIdentifier, SIGKILL) } }
        try waitUntil("the daemon exits", seconds: 20) { !daemon.isRunning }
        let err = String(decoding: stderr.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(daemon.terminationStatus == 1)
        let lines = err.split(separator: "\n")
        #expect(lines.count == 1, "\(err)")
        #expect(
            err.hasPrefix(
                "spsync: cannot serve the console, metrics and health over HTTP ([http] listen) on 127.0.0.1:\(port): address already in use"
            ), "\(err)")
        #expect(!err.contains("daemon started"))
    }

    @Test("`spsync init --http` writes [http] to node.toml and refuses an address that is not loopback")
    func initHTTP() throws {
        let dir = NSTemporaryDirectory() + "spsync-http-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let ok = try runCommand(
            executable: SpsyncBinary.path,
            arguments: ["init", "--home", dir + "/a", "--org", "U12345", "--name", "PCN", "--http", "127.0.0.1:9464"])
        #expect(ok.status == 0, "\(ok.err)")
        let toml = try String(contentsOfFile: dir + "/a/node.toml", encoding: .utf8)
        #expect(toml.contains("[http]\nlisten = \"127.0.0.1:9464\""), "\(toml)")
        let open = try runCommand(
            executable: SpsyncBinary.path,
            arguments: ["init", "--home", dir + "/b", "--org", "U12345", "--name", "PCN", "--http", "0.0.0.0:9464"])
        #expect(open.status == 64 && open.err.hasPrefix("spsync: --http 0.0.0.0:9464: "), "\(open.err)")
        #expect(!FileManager.default.fileExists(atPath: dir + "/b/node.toml"))
    }
}
