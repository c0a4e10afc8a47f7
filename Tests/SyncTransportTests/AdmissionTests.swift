import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOEmbedded
import SyncProtocol
import Testing

@testable import SyncTransport

@Suite("Listener admission: TLS handshakes per source address per second", .timeLimit(.minutes(3)))
struct AdmissionTests {
    static let limit = 3

    /// The hub's listener with a small per-address cap, a generous handshake timeout and `clock`.
    static func serverConfiguration(
        clock: ManualClock? = nil, handshakesPerSecondMax: Int = limit, unauthenticatedPerAddressMax: Int = 8
    ) -> TransportConfiguration {
        var configuration = TransportConfiguration(
            tls: TLSConfiguration(
                identity: TestIdentities.hub, trust: pinning(TestIdentities.practice), handshakeTimeoutSeconds: 20,
                idleTimeoutSeconds: 30),
            unauthenticatedPerAddressMax: unauthenticatedPerAddressMax, handshakesPerSecondMax: handshakesPerSecondMax)
        if let clock { configuration.clock = clock.read }
        return configuration
    }

    static let practice = LoopbackTests.clientConfiguration()

    static func expectRateLimited(_ refusal: ConnectionRefusal, from source: String = "127.0.0.1") {
        #expect(refusal.error.code == .rateLimited, "\(refusal)")
        #expect(
            refusal.error.message.contains("more than \(limit) TLS handshakes began from \(source) in one second"),
            "\(refusal)")
        #expect(refusal.error.message.contains("handshakesPerSecondMax"))
        #expect(refusal.remoteAddress?.ipAddress == source)
    }

    @Test("in one second, the first handshakesPerSecondMax connections from an address are served, the rest refused")
    func capWithinOneSecond() async throws {
        let clock = ManualClock()  // stands still: the whole burst falls in one second
        let burst = 12
        // Room for the whole burst in the address's unauthenticated budget: only the rate limit acts.
        try await EchoServer.with(Self.serverConfiguration(clock: clock, unauthenticatedPerAddressMax: 32)) { server in
            // Every dial at once, as a peer retrying in a tight loop would.
            let outcomes = try await withThrowingTaskGroup(of: (any Error)?.self) { group in
                for _ in 0..<burst {
                    group.addTask { await server.refusedDial(configuration: Self.practice) }
                }
                var outcomes: [(any Error)?] = []
                for try await outcome in group { outcomes.append(outcome) }
                return outcomes
            }
            let served = outcomes.filter { $0 == nil }.count
            #expect(served == Self.limit, "served \(served) of \(burst)")
            for case let error? in outcomes {
                // Closed before any TLS byte came back: the dialer says so, and does not blame certificates.
                #expect(error.transportCode == .closedBeforeHandshake, "\(error)")
                #expect(!"\(error)".contains("certificate"), "\(error)")
            }
            for refusal in try await server.nextRefusals(burst - Self.limit) {
                Self.expectRateLimited(refusal)
            }

            // The listener keeps serving: another address at once, the same address once the second is over.
            let seen = try await server.exchange(
                configuration: Self.practice, expectedPeerID: "U12345", from: "127.0.0.2")
            #expect(seen.peerID == "U12345")
            #expect(await server.refusedDial(configuration: Self.practice) != nil)
            Self.expectRateLimited(try await server.nextRefusal())
            clock.advance(by: .seconds(1))
            for _ in 0..<Self.limit {
                _ = try await server.exchange(configuration: Self.practice, expectedPeerID: "U12345")
            }
            #expect(await server.refusedDial(configuration: Self.practice) != nil)
            Self.expectRateLimited(try await server.nextRefusal())
        }
    }

    @Test(
        "silent connections are not counted: beyond the limit of them, the practice from the same address is still served"
    )
    func silentConnectionsNotCounted() async throws {
        let clock = ManualClock()  // stands still: everything falls in one second
        let configuration = Self.serverConfiguration(clock: clock, unauthenticatedPerAddressMax: 32)
        try await EchoServer.with(configuration) { server in
            // Five times the limit of connections from 127.0.0.1 that never send a byte.
            var silent: [any Channel] = []
            for _ in 0..<(5 * Self.limit) {
                silent.append(try await server.rawConnection())
            }
            // The practice, from the same address in the same second, gets all of the address's handshakes.
            for _ in 0..<Self.limit {
                let seen = try await server.exchange(configuration: Self.practice, expectedPeerID: "U12345")
                #expect(seen.peerID == "U12345")
            }
            // Its handshakes were counted: the next one is refused.
            #expect(await server.refusedDial(configuration: Self.practice) != nil)
            Self.expectRateLimited(try await server.nextRefusal())
            #expect(silent.allSatisfy { $0.isActive }, "a silent connection was closed")
            for raw in silent { try? await raw.close() }
        }
    }

    @Test(
        "connections over the limit are closed at their first bytes; established and silent connections are left alone")
    func capDoesNotTouchAdmitted() async throws {
        let clock = ManualClock()
        try await EchoServer.with(Self.serverConfiguration(clock: clock)) { server in
            // One authenticated connection, held open across the burst: one handshake of this second's.
            let held = try await EchoServer.dial(
                port: server.port, configuration: Self.practice, expectedPeerID: "U12345", from: nil)
            // More raw connections than the limit, silent so far: none is refused.
            var raws: [any Channel] = []
            for _ in 0..<(Self.limit + 3) {
                raws.append(try await server.rawConnection())
            }
            // Now each speaks (plaintext): the first limit - 1 reach TLS and are refused as not TLS,
            // the rest are closed for the rate at their first bytes.
            for raw in raws {
                do {
                    try await raw.writeAndFlush(ByteBuffer(string: "GET / HTTP/1.1\r\nHost: hub\r\n\r\n"))
                } catch {
                    // Closed by the rate limit before this write.
                }
            }
            let refusals = try await server.nextRefusals(raws.count)
            let notTLS = refusals.filter { $0.error.code == .notTLS }
            let capped = refusals.filter { $0.error.code == .rateLimited }
            #expect(notTLS.count == Self.limit - 1, "\(refusals)")
            #expect(capped.count == 4, "\(refusals)")
            for refusal in capped { Self.expectRateLimited(refusal) }
            // The held connection still echoes.
            let frame = Frame(type: 0x10, payload: Array("HELLO".utf8))
            let echo = try await bounded("echo on the held connection") {
                try await held.executeThenClose { inbound, outbound in
                    try await outbound.write(frame)
                    var iterator = inbound.makeAsyncIterator()
                    return try await iterator.next()
                }
            }
            #expect(echo == frame)
            for raw in raws { try? await raw.close() }
        }
    }

    @Test("a burst on the real clock: refused past the cap, served up to the cap per second, listener serving")
    func burstOnRealClock() async throws {
        let burst = 30
        try await EchoServer.with(Self.serverConfiguration(unauthenticatedPerAddressMax: 32)) { server in
            let started = ContinuousClock.now
            // Raw sockets as fast as they open, each sending plaintext: a served one is then refused
            // as not TLS, a capped one was refused before TLS. Either way exactly one refusal each.
            var raws: [any Channel] = []
            for _ in 0..<burst {
                let raw = try await server.rawConnection()
                raws.append(raw)
                do {
                    try await raw.writeAndFlush(ByteBuffer(string: "GET / HTTP/1.1\r\nHost: hub\r\n\r\n"))
                } catch {
                    // Already closed by the cap.
                }
            }
            let refusals = try await server.nextRefusals(burst)
            let elapsed = ContinuousClock.now - started
            let capped = refusals.filter { $0.error.code == .rateLimited }
            let served = refusals.filter { $0.error.code == .notTLS }
            #expect(capped.count + served.count == burst, "\(refusals)")
            for refusal in capped { Self.expectRateLimited(refusal) }
            #expect(capped.count >= 1, "\(burst) connections, none refused")
            // Each per-address window lasts a second and starts with a handshake, so a burst lasting
            // `elapsed` meets at most floor(elapsed) + 1 windows, each serving at most `limit`.
            let windows = Int(elapsed.components.seconds) + 1
            #expect(served.count >= Self.limit)
            #expect(served.count <= Self.limit * windows, "served \(served.count) in \(elapsed)")
            for raw in raws { try? await raw.close() }
            // Another address is served at once.
            _ = try await server.exchange(configuration: Self.practice, expectedPeerID: "U12345", from: "127.0.0.2")
        }
    }
}

@Suite("Refusal log: a flood of refusals makes a bounded number of log lines", .timeLimit(.minutes(3)))
struct RefusalLogTests {
    static func refusal(_ index: Int) -> ConnectionRefusal {
        ConnectionRefusal(
            error: TransportError(.untrustedPeer, "unknown fingerprint number \(index)"),
            remoteAddress: try? SocketAddress(ipAddress: "192.0.2.7", port: 40_000 + index))
    }

    @Test("past linesPerMinuteMax, refusals are counted, and the count is logged once the next minute opens")
    func budgetPerMinute() {
        let capture = LogCapture()
        let clock = ManualClock()
        let reported = NIOLockedCounter()
        let log = RefusalLog(
            logger: capture.logger, linesPerMinuteMax: 5, onRefusal: { _ in reported.increment() }, clock: clock.read)
        for index in 0..<100 { log.record(Self.refusal(index)) }
        #expect(reported.value == 100)  // the callback hears of every refusal
        var lines = capture.lines
        #expect(lines.count == 5)
        #expect(lines.allSatisfy { $0.message.hasPrefix("refused connection: unknown fingerprint number") })
        #expect(lines.map(\.message).last == "refused connection: unknown fingerprint number 4")
        #expect(lines.first?.metadata["code"] == "untrusted_peer")
        #expect(lines.first?.metadata["remote"]?.contains("192.0.2.7") == true)
        #expect(lines.allSatisfy { $0.level == .warning })

        // 59 s later is still the same minute: counted, not logged.
        clock.advance(by: .seconds(59))
        log.record(Self.refusal(100))
        #expect(capture.lines.count == 5)

        clock.advance(by: .seconds(1))
        log.record(Self.refusal(101))
        lines = capture.lines
        #expect(lines.count == 7)
        #expect(lines[5].message.contains("not logged"))
        #expect(lines[5].metadata["count"] == "96")  // 100 - 5 + the one at 59 s
        #expect(lines[6].message == "refused connection: unknown fingerprint number 101")

        // The next minute has its own budget and its own count.
        for index in 102..<110 { log.record(Self.refusal(index)) }
        #expect(capture.lines.count == 11)  // 4 more lines (102...105): 5 with 101
        clock.advance(by: .minutes(1))
        log.record(Self.refusal(110))
        lines = capture.lines
        #expect(lines.count == 13)
        #expect(lines[11].metadata["count"] == "4")  // 106...109
        #expect(reported.value == 111)
    }

    @Test("a flood that stops still has its count logged when its minute ends, once")
    func floodThenSilence() {
        let capture = LogCapture()
        let clock = ManualClock()
        let timers = EmbeddedEventLoop()
        defer { try? timers.syncShutdownGracefully() }
        let log = RefusalLog(
            logger: capture.logger, linesPerMinuteMax: 3, onRefusal: nil, timers: timers, clock: clock.read)
        clock.advance(by: .seconds(10))
        timers.advanceTime(by: .seconds(10))
        for index in 0..<10 { log.record(Self.refusal(index)) }
        #expect(capture.lines.count == 3)
        // No refusal comes after the flood; the end of its minute (50 s on) still reports it.
        clock.advance(by: .seconds(49))
        timers.advanceTime(by: .seconds(49))
        #expect(capture.lines.count == 3)
        clock.advance(by: .seconds(1))
        timers.advanceTime(by: .seconds(1))
        let lines = capture.lines
        #expect(lines.count == 4)
        #expect(lines.last?.message.hasPrefix("refused connections not logged") == true)
        #expect(lines.last?.metadata["count"] == "7")
        // Reported once: neither a later timer nor the next refusal repeats it.
        clock.advance(by: .minutes(5))
        timers.advanceTime(by: .minutes(5))
        log.record(Self.refusal(10))
        #expect(capture.lines.count == 5)
        #expect(capture.lines.last?.message == "refused connection: unknown fingerprint number 10")
    }

    @Test("with a budget of zero lines, refusals are only counted, and the counts still reach the log")
    func zeroBudget() {
        let capture = LogCapture()
        let clock = ManualClock()
        let log = RefusalLog(logger: capture.logger, linesPerMinuteMax: 0, onRefusal: nil, clock: clock.read)
        for index in 0..<4 { log.record(Self.refusal(index)) }
        #expect(capture.lines.isEmpty)
        clock.advance(by: .minutes(1))
        log.record(Self.refusal(4))
        #expect(capture.lines.map(\.message) == ["refused connections not logged in the last minute (rate limit)"])
        #expect(capture.lines.first?.metadata["count"] == "4")
    }

    @Test("a flood of untrusted peers at the listener logs linesPerMinuteMax lines, then how many it left out")
    func floodAtListener() async throws {
        let capture = LogCapture()
        let clock = ManualClock()
        var configuration = AdmissionTests.serverConfiguration(clock: clock, handshakesPerSecondMax: 1000)
        configuration.refusalLogLinesPerMinuteMax = 3
        let flood = 12
        let stranger = LoopbackTests.clientConfiguration(identity: TestIdentities.stranger)
        try await EchoServer.with(configuration, logger: capture.logger) { server in
            for _ in 0..<flood {
                #expect(await server.refusedDial(configuration: stranger) != nil)
            }
            for refusal in try await server.nextRefusals(flood) {
                #expect(refusal.error.code == .untrustedPeer, "\(refusal)")
            }
            // The callback comes after the log decision, so every line of these refusals is in.
            var refusedLines = capture.lines(startingWith: "refused connection: ")
            #expect(refusedLines.count == 3)
            for line in refusedLines {
                #expect(line.metadata["code"] == "untrusted_peer")
                #expect(line.metadata["fingerprint"] == "\(TestIdentities.stranger.fingerprint)")
                #expect(line.metadata["remote"]?.contains("127.0.0.1") == true)
            }
            // Authenticated peers are not refusals and do not spend the budget.
            _ = try await server.exchange(configuration: LoopbackTests.clientConfiguration(), expectedPeerID: "U12345")
            #expect(capture.lines(startingWith: "peer authenticated").count == 1)

            clock.advance(by: .minutes(1))
            #expect(await server.refusedDial(configuration: stranger) != nil)
            _ = try await server.nextRefusal()
            refusedLines = capture.lines(startingWith: "refused connection: ")
            #expect(refusedLines.count == 4)
            let summaries = capture.lines(startingWith: "refused connections not logged")
            #expect(summaries.count == 1)
            #expect(summaries.first?.metadata["count"] == "\(flood - 3)")
        }
    }
}

/// A counter callbacks may bump from any thread.
final class NIOLockedCounter: Sendable {
    private let box = NIOLockedValueBox(0)
    func increment() { box.withLockedValue { $0 += 1 } }
    var value: Int { box.withLockedValue { $0 } }
}
