import NIOCore
import NIOPosix
import SpsyncTestSupport
import SyncProtocol
import Testing

@testable import SyncTransport

@Suite("Admission ledger: connections that have not authenticated have a budget of their own")
struct AdmissionLedgerTests {
    typealias Ledger = AdmissionLedger<Int>

    static func ledger(sessionsMax: Int = 512, unauthenticatedMax: Int, perAddressMax: Int) -> Ledger {
        Ledger(
            budget: AdmissionBudget(
                sessionsMax: sessionsMax, unauthenticatedMax: unauthenticatedMax,
                unauthenticatedPerAddressMax: perAddressMax))
    }

    static func eviction(
        _ victim: Int, _ address: String, _ rule: AdmissionLedger<Int>.Rule, held: Int, spoke: Bool = false
    )
        -> Ledger.Admission
    {
        .admittedEvicting(
            Ledger.Eviction(
                victim: victim, victimAddress: address, victimSpoke: spoke, rule: rule, heldByVictimAddress: held))
    }

    @Test("at its address's cap, a newcomer takes the place of that address's oldest connection")
    func perAddressCap() {
        var ledger = Self.ledger(unauthenticatedMax: 10, perAddressMax: 3)
        for id in 1...3 { #expect(ledger.admit(id, address: "a") == .admitted) }
        #expect(ledger.admit(4, address: "b") == .admitted)
        #expect(ledger.admit(5, address: "a") == Self.eviction(1, "a", .perAddress, held: 3))
        #expect(ledger.admit(6, address: "a") == Self.eviction(2, "a", .perAddress, held: 3))
        #expect(ledger.unauthenticated(from: "a") == 3)
        #expect(ledger.unauthenticated(from: "b") == 1)
        #expect(ledger.unauthenticatedCount == 4)
    }

    @Test("connections that have sent nothing go before those that have, oldest first in each")
    func silentFirst() {
        var ledger = Self.ledger(unauthenticatedMax: 10, perAddressMax: 3)
        for id in 1...3 { _ = ledger.admit(id, address: "a") }
        ledger.spoke(1)
        #expect(ledger.admit(4, address: "a") == Self.eviction(2, "a", .perAddress, held: 3))
        ledger.spoke(3)
        ledger.spoke(4)
        #expect(ledger.admit(5, address: "a") == Self.eviction(1, "a", .perAddress, held: 3, spoke: true))
    }

    @Test(
        "with the whole budget taken, the oldest of the address holding the most goes (ties: the address whose oldest is oldest); a newcomer whose address holds the most is refused"
    )
    func fairShare() {
        var ledger = Self.ledger(unauthenticatedMax: 4, perAddressMax: 3)
        for (id, address) in [(1, "a"), (2, "a"), (3, "b"), (4, "b")] {
            #expect(ledger.admit(id, address: address) == .admitted)
        }
        #expect(ledger.admit(5, address: "c") == Self.eviction(1, "a", .total, held: 2))
        #expect(ledger.admit(6, address: "c") == Self.eviction(3, "b", .total, held: 2))
        // a: 2, b: 4, c: 5 6. c holds the most: its newcomer is refused, nobody else leaves.
        #expect(ledger.admit(7, address: "c") == .refused(held: 2))
        #expect(ledger.unauthenticatedCount == 4)
        #expect(ledger.admit(8, address: "d") == Self.eviction(5, "c", .total, held: 2))
        // Every address holds one: a newcomer from any of them is refused, one from a new address
        // takes the place of the oldest of all.
        #expect(ledger.admit(9, address: "a") == .refused(held: 1))
        #expect(ledger.admit(10, address: "e") == Self.eviction(2, "a", .total, held: 1))
        #expect(ledger.unauthenticatedCount == 4)
    }

    @Test("an authenticated connection leaves the unauthenticated budget and counts against sessionsMax only")
    func authenticatedLeaveThePool() {
        var ledger = Self.ledger(sessionsMax: 1, unauthenticatedMax: 2, perAddressMax: 2)
        #expect(ledger.admit(1, address: "a") == .admitted)
        #expect(ledger.admit(2, address: "a") == .admitted)
        #expect(ledger.authenticated(1) == .admitted)
        #expect(ledger.unauthenticatedCount == 1)
        #expect(ledger.sessionCount == 1)
        // Its place is free at once: a newcomer from the same address closes nobody.
        #expect(ledger.admit(3, address: "a") == .admitted)
        // sessionsMax is taken: the next to authenticate is refused, and holds nothing.
        #expect(ledger.authenticated(2) == .refusedSessionsFull)
        #expect(ledger.unauthenticatedCount == 1)
        #expect(ledger.sessionCount == 1)
        ledger.closed(2)
        ledger.closed(1)
        #expect(ledger.sessionCount == 0)
        #expect(ledger.authenticated(3) == .admitted)
        ledger.closed(3)
        #expect(ledger.sessionCount == 0 && ledger.unauthenticatedCount == 0)
    }

    @Test("a connection closed to make room that authenticates at that moment is refused; closing gives all back")
    func evictedThenAuthenticated() {
        var ledger = Self.ledger(unauthenticatedMax: 1, perAddressMax: 1)
        _ = ledger.admit(1, address: "a")
        #expect(ledger.admit(2, address: "a") == Self.eviction(1, "a", .perAddress, held: 1))
        #expect(ledger.authenticated(1) == .refusedClosing)
        ledger.closed(1)
        ledger.closed(2)
        #expect(ledger.unauthenticatedCount == 0 && ledger.sessionCount == 0)
        #expect(ledger.admit(3, address: "a") == .admitted)
    }

    @Test("random traffic: the budgets always hold, and a newcomer is refused only when its address holds the most")
    func budgetsHold() {
        for seed in UInt64(1)...200 {
            var random = SeededRandom(seed: seed)
            var ledger = Self.ledger(sessionsMax: 5, unauthenticatedMax: 12, perAddressMax: 4)
            var open: [Int: String] = [:]  // admitted and not yet closed, with their address
            var unauthenticated: Set<Int> = []
            for id in 0..<400 {
                switch random.next() % 4 {
                case 0, 1:
                    let address = "10.0.0.\(random.next() % 6)"
                    let heldBefore = ledger.unauthenticated(from: address)
                    let othersMax = (0..<6).map { ledger.unauthenticated(from: "10.0.0.\($0)") }.max() ?? 0
                    switch ledger.admit(id, address: address) {
                    case .admitted:
                        open[id] = address
                        unauthenticated.insert(id)
                    case .admittedEvicting(let eviction):
                        #expect(unauthenticated.remove(eviction.victim) != nil, "seed \(seed)")
                        open[id] = address
                        unauthenticated.insert(id)
                    case .refused(let held):
                        #expect(held == heldBefore && held >= othersMax, "seed \(seed)")
                    }
                case 2:
                    guard let chosen = unauthenticated.randomElement(using: &random) else { break }
                    if random.next() % 2 == 0 {
                        ledger.spoke(chosen)
                    } else {
                        unauthenticated.remove(chosen)
                        _ = ledger.authenticated(chosen)
                    }
                default:
                    if let chosen = open.keys.randomElement(using: &random) {
                        open[chosen] = nil
                        unauthenticated.remove(chosen)
                        ledger.closed(chosen)
                    }
                }
                #expect(ledger.unauthenticatedCount == unauthenticated.count, "seed \(seed)")
                #expect(ledger.unauthenticatedCount <= 12, "seed \(seed)")
                #expect(ledger.sessionCount <= 5, "seed \(seed)")
                for index in 0..<6 {
                    #expect(ledger.unauthenticated(from: "10.0.0.\(index)") <= 4, "seed \(seed)")
                }
            }
        }
    }
}

@Suite("Listener admission on real sockets: the unauthenticated budget and sessionsMax", .timeLimit(.minutes(3)))
struct UnauthenticatedBudgetTests {
    /// The hub's listener with the given budgets and a rate limit no test here meets.
    static func serverConfiguration(unauthenticatedMax: Int, perAddressMax: Int, sessionsMax: Int = 512)
        -> TransportConfiguration
    {
        var configuration = AdmissionTests.serverConfiguration(handshakesPerSecondMax: 1000)
        configuration.sessionsMax = sessionsMax
        configuration.unauthenticatedMax = unauthenticatedMax
        configuration.unauthenticatedPerAddressMax = perAddressMax
        return configuration
    }

    static func expectRoomMade(
        _ refusal: ConnectionRefusal, closing victim: String, for newcomer: String?, limit: String
    ) {
        #expect(refusal.error.code == .tooManyUnauthenticated, "\(refusal)")
        let room =
            newcomer.map { "to make room for one from \($0)" } ?? "to make room for a new one from the same address"
        #expect(
            refusal.error.message.contains(
                "closed the oldest silent unauthenticated connection from \(victim) \(room)"),
            "\(refusal)")
        #expect(refusal.error.message.contains("(\(limit))"), "\(refusal)")
        #expect(refusal.remoteAddress?.ipAddress == victim, "\(refusal)")
    }

    @Test(
        "the oldest of a full address goes, then the oldest of the address holding the most; a newcomer whose address holds the most is refused; an authenticated peer holds no unauthenticated place"
    )
    func budgetOnRealSockets() async throws {
        let configuration = Self.serverConfiguration(unauthenticatedMax: 4, perAddressMax: 3)
        try await EchoServer.with(configuration) { server in
            // Opened one after the other, so the listener accepts them in this order.
            var a: [any Channel] = []
            for _ in 0..<3 { a.append(try await server.rawConnection(from: "127.0.0.2")) }
            a.append(try await server.rawConnection(from: "127.0.0.2"))
            Self.expectRoomMade(
                try await server.nextRefusal(), closing: "127.0.0.2", for: nil, limit: "unauthenticatedPerAddressMax")
            try await bounded("the oldest of 127.0.0.2 closed") { [a] in try await a[0].closeFuture.get() }

            // 127.0.0.2 holds 3, 127.0.0.3 one: the budget of 4 is taken.
            let b = try await server.rawConnection(from: "127.0.0.3")
            let c = try await server.rawConnection(from: "127.0.0.4")
            Self.expectRoomMade(
                try await server.nextRefusal(), closing: "127.0.0.2", for: "127.0.0.4", limit: "unauthenticatedMax")
            try await bounded("the next oldest of 127.0.0.2 closed") { [a] in try await a[1].closeFuture.get() }

            // 127.0.0.2 holds 2, the others one each: its newcomer is refused.
            let refused = try await server.rawConnection(from: "127.0.0.2")
            let refusal = try await server.nextRefusal()
            #expect(refusal.error.code == .tooManyUnauthenticated, "\(refusal)")
            #expect(refusal.error.message.contains("refused a connection from 127.0.0.2"), "\(refusal)")
            #expect(refusal.error.message.contains("already holds the most of them (2)"), "\(refusal)")
            try await bounded("the refused connection closed") { try await refused.closeFuture.get() }

            // The practice, from 127.0.0.3 (one held), makes room too, then leaves the budget as it authenticates.
            let practice = try await EchoServer.dial(
                port: server.port, configuration: AdmissionTests.practice, expectedPeerID: "U12345",
                from: "127.0.0.3")
            Self.expectRoomMade(
                try await server.nextRefusal(), closing: "127.0.0.2", for: "127.0.0.3", limit: "unauthenticatedMax")
            #expect(try await server.nextPeer().peerID == "A81001")
            // Three remain (a[3], b, c): one more fits without closing anyone, the one after that
            // makes room by closing the oldest of all (every address holds one).
            let d = try await server.rawConnection(from: "127.0.0.5")
            let e = try await server.rawConnection(from: "127.0.0.6")
            Self.expectRoomMade(
                try await server.nextRefusal(), closing: "127.0.0.2", for: "127.0.0.6", limit: "unauthenticatedMax")
            try await bounded("the last of 127.0.0.2 closed") { [a] in try await a[3].closeFuture.get() }

            // The session still echoes; the connections left in the budget are still served (plaintext: not TLS).
            let frame = Frame(type: 0x10, payload: Array("HELLO".utf8))
            let echo = try await bounded("echo on the practice's session") {
                try await practice.executeThenClose { inbound, outbound in
                    try await outbound.write(frame)
                    var iterator = inbound.makeAsyncIterator()
                    return try await iterator.next()
                }
            }
            #expect(echo == frame)
            for raw in [b, c, d, e] {
                try await raw.writeAndFlush(ByteBuffer(string: "GET / HTTP/1.1\r\nHost: hub\r\n\r\n"))
            }
            for refusal in try await server.nextRefusals(4) {
                #expect(refusal.error.code == .notTLS, "\(refusal)")
            }
            for raw in a + [b, c, d, e] { try? await raw.close() }
        }
    }

    /// Dials the server and returns the first frame it sends, decoded, and how the stream then ended.
    static func firstMessage(port: Int) async throws -> (Message?, endedCleanly: Bool) {
        try await bounded("a dial's first message") {
            let connection = try await EchoServer.dial(
                port: port, configuration: AdmissionTests.practice, expectedPeerID: "U12345", from: nil)
            return try await connection.executeThenClose { inbound, outbound in
                try await outbound.write(Message.bye.frame)
                var iterator = inbound.makeAsyncIterator()
                let first = try await iterator.next().map { try Message(frame: $0) }
                do {
                    return (first, try await iterator.next() == nil)
                } catch {
                    return (first, false)
                }
            }
        }
    }

    @Test(
        "at sessionsMax authenticated sessions, a peer that authenticates is told ERROR busy, then closed cleanly, until one closes; handshaking connections do not count"
    )
    func sessionsCap() async throws {
        let configuration = Self.serverConfiguration(unauthenticatedMax: 4, perAddressMax: 2, sessionsMax: 1)
        try await EchoServer.with(configuration) { server in
            // A connection still handshaking holds no session.
            let silent = try await server.rawConnection(from: "127.0.0.2")
            let held = try await EchoServer.dial(
                port: server.port, configuration: AdmissionTests.practice, expectedPeerID: "U12345", from: nil)
            #expect(try await server.nextPeer().peerID == "A81001")

            // The second is authenticated, then told why it gets no session, and closed with close_notify.
            let (message, endedCleanly) = try await Self.firstMessage(port: server.port)
            guard case .error(let error)? = message else {
                Issue.record("expected ERROR busy, got \(String(describing: message))")
                return
            }
            #expect(error.code == .busy, "\(error)")
            #expect(error.detail.contains("holds 1 sessions, its most at once (sessionsMax); retry later"), "\(error)")
            #expect(endedCleanly, "the refused connection did not end with close_notify")
            let refusal = try await server.nextRefusal()
            #expect(refusal.error.code == .tooManyConnections, "\(refusal)")
            #expect(refusal.error.message.contains("refused peer A81001 after it authenticated"), "\(refusal)")
            #expect(refusal.error.message.contains("1 authenticated sessions are open already (sessionsMax)"))
            #expect(refusal.error.message.contains("told it busy"))

            await held.close()
            // The session is given back once the listener has seen the close: retry, bounded.
            for attempt in 1...20 {
                do {
                    _ = try await server.exchange(configuration: AdmissionTests.practice, expectedPeerID: "U12345")
                    break
                } catch {
                    let refusal = try await server.nextRefusal()
                    #expect(refusal.error.code == .tooManyConnections)
                    #expect(attempt < 20, "the session was never given back")
                }
            }
            #expect(silent.isActive)
            try await silent.close()
        }
    }
}

@Suite("Dialer: a connection closed before any byte came back does not blame certificates", .timeLimit(.minutes(2)))
struct ClosedBeforeHandshakeTests {
    /// A plain TCP listener on 127.0.0.1 that does `onAccept` to every connection; runs `body` with its port.
    static func withListener(
        onAccept: @escaping @Sendable (any Channel) -> EventLoopFuture<Void>, _ body: (Int) async throws -> Void
    ) async throws {
        let listener = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .childChannelInitializer(onAccept)
            .bind(host: "127.0.0.1", port: 0).get()
        do {
            try await body(try #require(listener.localAddress?.port))
        } catch {
            try await listener.close()
            throw error
        }
        try await listener.close()
    }

    static func expectNoBlame(port: Int) async {
        do {
            _ = try await TransportDialer.connect(
                host: "127.0.0.1", port: port, expectedPeerID: "U12345",
                configuration: LoopbackTests.clientConfiguration(), group: MultiThreadedEventLoopGroup.singleton,
                logger: quietLogger)
            Issue.record("the dialer authenticated a listener that closed at once")
        } catch {
            #expect(error.transportCode == .closedBeforeHandshake, "\(error)")
            let text = "\(error)"
            #expect(!text.contains("certificate"), "\(text)")
            #expect(text.contains("before the TLS handshake began"), "\(text)")
            #expect(text.contains("connection limit or its per-address rate limit"), "\(text)")
        }
    }

    @Test("a listener that reads the ClientHello and closes: the peer closed before the handshake began")
    func closedAfterReading() async throws {
        try await Self.withListener(onAccept: { channel in
            channel.eventLoop.makeCompletedFuture {
                try channel.pipeline.syncOperations.addHandler(CloseOnFirstRead())
            }
        }) { port in
            await Self.expectNoBlame(port: port)
        }
    }

    @Test("a listener that reads the ClientHello and resets: the connection failed before the handshake began")
    func resetAfterReading() async throws {
        try await Self.withListener(onAccept: { channel in
            channel.eventLoop.makeCompletedFuture {
                try channel.pipeline.syncOperations.addHandler(CloseOnFirstRead(reset: true))
            }
        }) { port in
            await Self.expectNoBlame(port: port)
        }
    }
}

/// Closes the connection as soon as anything arrives (after reading it, so the dialer's connect has
/// completed): with a FIN, or with a reset (linger 0), as a listener closing a socket with unread data does.
final class CloseOnFirstRead: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer

    private let reset: Bool

    init(reset: Bool = false) {
        self.reset = reset
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard reset, let options = context.channel as? any SocketOptionProvider else {
            context.close(promise: nil)
            return
        }
        let closing = context.channel
        options.setSoLinger(linger(l_onoff: 1, l_linger: 0)).whenComplete { _ in closing.close(promise: nil) }
    }
}
