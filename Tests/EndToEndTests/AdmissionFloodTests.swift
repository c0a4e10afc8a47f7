import Foundation
import SpsyncTestSupport
import Testing

/// Silent TCP connections to a listener from chosen loopback source addresses: opened at a paced
/// rate, held open without sending a byte, and opened again (at the same pace) whenever the
/// listener closes one, until `stop()`.
///
/// Plain POSIX sockets on one thread of their own, so the flood needs no event loop of the test's
/// and keeps going while the test blocks on `spsync sync`.
final class SilentFlood: @unchecked Sendable {
    // `sockets` and `nextOpen` belong to the flood thread; `counts` and `stopping` are behind `lock`.
    struct Counts: Sendable, CustomStringConvertible {
        /// Connections opened (connect started), in all.
        var opened = 0
        /// Connections the listener closed (or reset).
        var closedByListener = 0
        /// Connections that could not be opened at all (socket, bind or connect failed at once).
        var failedToOpen = 0
        /// The most connections open at once.
        var openAtOnceMax = 0
        var description: String {
            "opened \(opened), closed by the listener \(closedByListener), failed to open \(failedToOpen), "
                + "at most \(openAtOnceMax) open at once"
        }
    }

    private let port: UInt16
    private let sources: [String]
    private let connectionsPerSource: Int
    private let openInterval: TimeInterval
    private let lock = NSLock()
    private var counts = Counts()
    private var stopping = false
    private var finished = false
    private var thread: Thread?

    /// Floods `port` with `connectionsPerSource` connections from each of `sources`, opening at most
    /// `opensPerSecondPerSource` per source per second.
    init(port: Int, sources: [String], connectionsPerSource: Int, opensPerSecondPerSource: Double) {
        self.port = UInt16(port)
        self.sources = sources
        self.connectionsPerSource = connectionsPerSource
        self.openInterval = 1 / opensPerSecondPerSource
    }

    var snapshot: Counts { lock.withLock { counts } }

    func start() {
        let thread = Thread { [self] in run() }
        thread.name = "silent-flood"
        self.thread = thread
        thread.start()
    }

    /// Stops the flood, closes its sockets, and returns what it did.
    @discardableResult
    func stop() -> Counts {
        lock.withLock { stopping = true }
        while !lock.withLock({ finished }) { usleep(10_000) }
        return snapshot
    }

    private func run() {
        var sockets = Array(repeating: [Int32](), count: sources.count)
        var nextOpen = Array(repeating: Date(), count: sources.count)
        defer {
            for fds in sockets { for fd in fds { close(fd) } }
            lock.withLock { finished = true }
        }
        while !lock.withLock({ stopping }) {
            let now = Date()
            for index in sources.indices
            where sockets[index].count < connectionsPerSource && nextOpen[index] <= now {
                // Paced from the schedule, not from now: a late loop does not open a burst to catch up.
                nextOpen[index] = max(nextOpen[index].addingTimeInterval(openInterval), now)
                if let fd = openSilent(from: sources[index]) {
                    sockets[index].append(fd)
                    lock.withLock { counts.opened += 1 }
                } else {
                    lock.withLock { counts.failedToOpen += 1 }
                }
            }
            let open = sockets.reduce(0) { $0 + $1.count }
            lock.withLock { counts.openAtOnceMax = max(counts.openAtOnceMax, open) }
            // Wake for the next opening that is due (or every 20 ms), so fast rates are kept.
            let due = sources.indices.filter { sockets[$0].count < connectionsPerSource }.map { nextOpen[$0] }.min()
            let wait = due.map { Int32(max(1, min(20, ($0.timeIntervalSinceNow * 1000).rounded(.up)))) } ?? 20
            var polled = sockets.flatMap { $0 }.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
            guard poll(&polled, nfds_t(polled.count), wait) > 0 else { continue }
            let gone = Set(polled.filter { $0.revents != 0 && Self.closedByPeer($0.fd) }.map(\.fd))
            guard !gone.isEmpty else { continue }
            for index in sockets.indices {
                sockets[index].removeAll { fd in
                    guard gone.contains(fd) else { return false }
                    close(fd)
                    return true
                }
            }
            lock.withLock { counts.closedByListener += gone.count }
        }
    }

    /// A non-blocking socket bound to `source`, connecting to the port; nil if that failed at once.
    private func openSilent(from source: String) -> Int32? {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return nil }
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
        var local = sockaddr_in()
        local.sin_family = sa_family_t(AF_INET)
        local.sin_addr.s_addr = inet_addr(source)
        var remote = sockaddr_in()
        remote.sin_family = sa_family_t(AF_INET)
        remote.sin_addr.s_addr = inet_addr("127.0.0.1")
        remote.sin_port = port.bigEndian
        let length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafePointer(to: &local) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) }
        }
        let connected = withUnsafePointer(to: &remote) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, length) }
        }
        guard bound == 0, connected == 0 || errno == EINPROGRESS else {
            close(fd)
            return nil
        }
        return fd
    }

    /// Whether the listener closed `fd` (end of stream or an error); a silent client never expects data.
    private static func closedByPeer(_ fd: Int32) -> Bool {
        var byte: UInt8 = 0
        let count = read(fd, &byte, 1)
        return count == 0 || (count < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
    }
}

/// Raises this process's soft limit on open files to at least `needed` (up to the hard limit);
/// daemons started afterwards inherit it.
func raiseOpenFilesLimit(to needed: rlim_t) throws {
    var limit = rlimit()
    guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { throw TimedOut(what: "getrlimit") }
    guard limit.rlim_cur < needed else { return }
    limit.rlim_cur = min(needed, limit.rlim_max)
    #expect(setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0)
    #expect(limit.rlim_cur >= needed, "the hard limit on open files (\(limit.rlim_max)) is below \(needed)")
}

@Suite("end to end: strangers' silent connections cannot keep a configured peer out", .serialized)
struct AdmissionFloodTests {
    /// The practice syncs with the hub `count` times while `flood` runs; every sync must succeed.
    static func syncsSucceed(_ net: TestNetwork, flood: SilentFlood, count: Int) throws {
        _ = try net.practice.ok(["referral", "create", "--to", "U12345", "--need", "debt"])
        for attempt in 1...count {
            let result = try net.practice.run(["sync"])
            #expect(
                result.status == 0,
                "sync \(attempt) of \(count) failed during the flood (\(flood.snapshot)):\n\(result.out)\(result.err)")
            usleep(500_000)
        }
        #expect(try net.hub.storeCount("referrals") == 1)
    }

    @Test(
        "600 silent connections from 127.0.0.2–127.0.0.31, held open and reopened, leave every one-shot sync of the practice to succeed"
    )
    func floodFromThirtyAddresses() throws {
        try raiseOpenFilesLimit(to: 4096)
        let net = try TestNetwork()
        defer { net.stopAll() }
        try net.hub.start()
        let sources = (2...31).map { "127.0.0.\($0)" }
        // 20 per address, opened (and reopened) at 10 a second per address: within the hub's
        // handshakesPerSecondMax (20), so the hub admits them all and must make room itself.
        let flood = SilentFlood(
            port: net.hub.port, sources: sources, connectionsPerSource: 20, opensPerSecondPerSource: 10)
        flood.start()
        defer { flood.stop() }
        try waitUntil("the flood opened its 600 connections", seconds: 20) { flood.snapshot.opened >= 600 }
        try Self.syncsSucceed(net, flood: flood, count: 5)
        let counts = flood.stop()
        #expect(counts.opened >= 600, "\(counts)")
        #expect(counts.closedByListener > 0, "the hub never made room: \(counts)")
        #expect(counts.failedToOpen == 0, "\(counts)")
        let log = try String(contentsOfFile: net.hub.home + "/daemon.log", encoding: .utf8)
        #expect(log.contains("unauthenticatedMax"), "the hub logged no room made in its unauthenticated budget")
        #expect(!log.contains("sessionsMax"), "the hub refused connections for sessionsMax")
    }

    @Test("a silent flood from the practice's own address leaves every one-shot sync of the practice to succeed")
    func floodFromPracticeAddress() throws {
        try raiseOpenFilesLimit(to: 4096)
        let net = try TestNetwork()
        defer { net.stopAll() }
        try net.hub.start()
        // The practice dials from 127.0.0.1 too.
        let flood = SilentFlood(
            port: net.hub.port, sources: ["127.0.0.1"], connectionsPerSource: 40, opensPerSecondPerSource: 10)
        flood.start()
        defer { flood.stop() }
        try waitUntil("the flood filled the address's share", seconds: 20) { flood.snapshot.opened >= 20 }
        try Self.syncsSucceed(net, flood: flood, count: 5)
        let counts = flood.stop()
        #expect(counts.closedByListener > 0, "the hub never made room: \(counts)")
        #expect(counts.failedToOpen == 0, "\(counts)")
        let log = try String(contentsOfFile: net.hub.home + "/daemon.log", encoding: .utf8)
        #expect(log.contains("unauthenticatedPerAddressMax"), "the hub logged no room made for the address")
    }

    @Test(
        "a silent flood from the practice's own address, faster than handshakesPerSecondMax, leaves every one-shot sync of the practice to succeed"
    )
    func fastFloodFromPracticeAddress() throws {
        try raiseOpenFilesLimit(to: 4096)
        let net = try TestNetwork()
        defer { net.stopAll() }
        try net.hub.start()
        // 80 new connections a second from 127.0.0.1, four times the hub's handshakesPerSecondMax
        // (20), held open and reopened as the hub closes them to make room. They never send a byte,
        // so they cost no handshake and must not use up the practice's.
        let opensPerSecond = 80.0
        let flood = SilentFlood(
            port: net.hub.port, sources: ["127.0.0.1"], connectionsPerSource: 40,
            opensPerSecondPerSource: opensPerSecond)
        flood.start()
        defer { flood.stop() }
        try waitUntil("the flood opened 200 connections", seconds: 20) { flood.snapshot.opened >= 200 }
        let started = Date()
        let openedBefore = flood.snapshot.opened
        try Self.syncsSucceed(net, flood: flood, count: 5)
        let counts = flood.stop()
        // The flood really ran faster than the limit while the practice synced.
        let rate = Double(counts.opened - openedBefore) / Date().timeIntervalSince(started)
        #expect(rate > 40, "the flood opened only \(rate) connections a second: \(counts)")
        #expect(counts.closedByListener > 0, "the hub never made room: \(counts)")
        #expect(counts.failedToOpen == 0, "\(counts)")
        let log = try String(contentsOfFile: net.hub.home + "/daemon.log", encoding: .utf8)
        #expect(log.contains("unauthenticatedPerAddressMax"), "the hub logged no room made for the address")
    }
}
