import Foundation
import SpsyncTestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// A datagram socket standing in for systemd's `NOTIFY_SOCKET`.
final class NotifySocket {
    let path: String
    let fd: Int32

    init(path: String) throws {
        self.path = path
        fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (i, b) in path.utf8.enumerated() { raw[i] = b }
        }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        guard fd >= 0, bound == 0 else { throw POSIXError(.EADDRINUSE) }
        var timeout = timeval(tv_sec: 1, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    }

    /// The next datagram, or nil after a second with none.
    func receive() -> String? {
        var buffer = [UInt8](repeating: 0, count: 4096)
        let n = recv(fd, &buffer, buffer.count, 0)
        return n > 0 ? String(decoding: buffer[..<n], as: UTF8.self) : nil
    }

    /// Datagrams until one satisfies `done`, for at most `seconds`.
    func messages(seconds: Double, until done: ([String]) -> Bool) -> [String] {
        var got: [String] = []
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline, !done(got) {
            if let m = receive() { got.append(m) }
        }
        return got
    }

    deinit {
        close(fd)
        unlink(path)
    }
}

@Suite("systemd: notify, watchdog, journal priorities, the unit")
struct SystemdTests {
    @Test(
        "under Type=notify the daemon sends READY=1 with its pid once it listens, WATCHDOG=1 at half the interval, STOPPING=1 on SIGTERM; with stderr as the journal its lines carry priorities"
    )
    func notify() throws {
        let net = try TestNetwork()
        defer { net.stopAll() }
        let notify = try NotifySocket(path: net.root + "/notify.sock")
        let log = net.hub.home + "/journal.log"
        #expect(FileManager.default.createFile(atPath: log, contents: nil))
        let stderr = try #require(FileHandle(forWritingAtPath: log))
        var st = stat()
        #expect(fstat(stderr.fileDescriptor, &st) == 0)
        let daemon = Process()
        daemon.executableURL = URL(fileURLWithPath: SpsyncBinary.path)
        daemon.arguments = ["daemon", "--home", net.hub.home]
        daemon.environment = ProcessInfo.processInfo.environment.merging([
            "NOTIFY_SOCKET": notify.path, "WATCHDOG_USEC": "400000", "JOURNAL_STREAM": "\(st.st_dev):\(st.st_ino)",
        ]) { $1 }
        daemon.standardError = stderr
        daemon.standardOutput = FileHandle.nullDevice
        try daemon.run()
        defer { if daemon.isRunning { kill(daemon.processIdentifier, SIGKILL) } }

        let started = notify.messages(seconds: 20) { got in got.filter { $0 == "WATCHDOG=1" }.count >= 3 }
        let ready = started.first { $0.hasPrefix("READY=1") }
        #expect(ready?.contains("MAINPID=\(daemon.processIdentifier)") == true, "\(started)")
        #expect(started.first?.hasPrefix("READY=1") == true, "READY=1 came after another message: \(started)")
        #expect(started.filter { $0 == "WATCHDOG=1" }.count >= 3, "\(started)")
        // It listens when it says it is ready.
        #expect(try net.hub.run(["status", "--json"]).out.contains("\"running\" : true"))

        kill(daemon.processIdentifier, SIGTERM)
        let stopping = notify.messages(seconds: 20) { $0.contains("STOPPING=1") }
        #expect(stopping.contains("STOPPING=1"), "\(stopping)")
        daemon.waitUntilExit()
        #expect(daemon.terminationStatus == 0)
        let lines = ((try? String(contentsOfFile: log, encoding: .utf8)) ?? "").split(separator: "\n")
        #expect(lines.contains { $0.hasPrefix("<6>") && $0.contains(" info spsync.daemon daemon started") }, "\(lines)")
        #expect(lines.allSatisfy { $0.hasPrefix("<") }, "\(lines)")
    }

    @Test("without NOTIFY_SOCKET nothing is sent and lines have no priority prefix")
    func plain() throws {
        let net = try TestNetwork()
        defer { net.stopAll() }
        try net.hub.start(env: ["JOURNAL_STREAM": "1:1"])  // not this stderr: ignored
        net.hub.stop()
        let text = (try? String(contentsOfFile: net.hub.home + "/daemon.log", encoding: .utf8)) ?? ""
        #expect(!text.isEmpty && !text.contains("<4>") && !text.hasPrefix("<"), "\(text)")
    }

    @Test("Nodes/spsync.service is Type=notify with a watchdog and hardened, and systemd-analyze verifies it")
    func unit() throws {
        let source = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("Nodes/spsync.service")
        let text = try String(contentsOf: source, encoding: .utf8)
        var keys: [String: String] = [:]
        for line in text.split(separator: "\n") where !line.hasPrefix("#") && line.contains("=") {
            let parts = line.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            keys[String(parts[0])] = String(parts[1])
        }
        for (key, value) in [
            ("Type", "notify"), ("NotifyAccess", "main"), ("ProtectSystem", "strict"),
            ("ReadWritePaths", "/var/lib/spsync"), ("NoNewPrivileges", "true"), ("PrivateTmp", "true"),
            ("ProtectHome", "true"), ("CapabilityBoundingSet", ""),
        ] {
            #expect(keys[key] == value, "\(key)=\(keys[key] ?? "(missing)")")
        }
        #expect(keys["WatchdogSec"].flatMap { Int($0) }.map { $0 > 0 } == true)
        // Verified as systemd would load it, with ExecStart at the binary under test.
        let dir = NSTemporaryDirectory() + "spsync-unit-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let unit = dir + "/spsync.service"
        try text.replacingOccurrences(of: "/usr/local/bin/spsync", with: SpsyncBinary.path)
            .write(toFile: unit, atomically: true, encoding: .utf8)
        let verify = try runCommand(executable: "/usr/bin/systemd-analyze", arguments: ["verify", unit])
        #expect(verify.status == 0, "\(verify.err)")
        #expect(!verify.err.contains("spsync.service:"), "\(verify.err)")
    }
}
