import NIOCore
import NIOEmbedded
import Testing

@testable import SyncTransport

/// Records what reaches the application side of a `TLSHandler`.
final class PlaintextRecorder: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    var peer: AuthenticatedPeer?
    var received: [UInt8] = []
    var errors: [any Error] = []
    var readsBeforeAuthentication = 0

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case .peerAuthenticated(let peer)? = event as? TLSUserEvent { self.peer = peer }
        context.fireUserInboundEventTriggered(event)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if peer == nil { readsBeforeAuthentication += 1 }
        received += Array(buffer: unwrapInboundIn(data))
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        errors.append(error)
    }
}

/// Two `EmbeddedChannel`s joined by hand: ciphertext is moved between them one byte at a time.
struct EmbeddedPair {
    let client: EmbeddedChannel
    let server: EmbeddedChannel
    let clientApp = PlaintextRecorder()
    let serverApp = PlaintextRecorder()

    init(clientContext: TLSContext, serverContext: TLSContext, expectedPeerID: String? = nil) throws {
        client = EmbeddedChannel()
        server = EmbeddedChannel()
        try client.pipeline.syncOperations.addHandlers(
            TLSHandler(context: clientContext, role: .client(expectedPeerID: expectedPeerID)), clientApp)
        try server.pipeline.syncOperations.addHandlers(TLSHandler(context: serverContext, role: .server), serverApp)
        let address = try SocketAddress(ipAddress: "127.0.0.1", port: 1)
        try server.connect(to: address).wait()
        try client.connect(to: address).wait()  // channelActive: the client sends its ClientHello
    }

    /// Moves all pending ciphertext from `from` to `to`, one byte per channelRead; returns the bytes moved.
    @discardableResult
    func shuttle(_ from: EmbeddedChannel, _ to: EmbeddedChannel) throws -> Int {
        var moved = 0
        while var buffer = try from.readOutbound(as: ByteBuffer.self) {
            while let byte = buffer.readSlice(length: 1) {
                guard to.isActive else { return moved }
                to.read()  // what autoRead does on a socket: ask for more before bytes arrive
                try to.writeInbound(byte)
                moved += 1
            }
        }
        return moved
    }

    /// Shuttles both ways until nothing moves.
    func pump() throws {
        while try shuttle(client, server) + shuttle(server, client) > 0 {}
    }
}

@Suite("TLS handler on EmbeddedChannel, ciphertext byte by byte")
struct TLSHandlerEmbeddedTests {
    @Test("mutual authentication, then data both ways, then a clean close_notify close")
    func handshakeDataClose() throws {
        let practice = TestIdentities.practice
        let hub = TestIdentities.hub
        let pair = try EmbeddedPair(
            clientContext: try makeContext(practice, trust: pinning(hub)),
            serverContext: try makeContext(hub, trust: pinning(practice)), expectedPeerID: "U12345")
        try pair.pump()
        #expect(pair.clientApp.peer?.peerID == "U12345")
        #expect(pair.clientApp.peer?.fingerprint == hub.fingerprint)
        #expect(pair.serverApp.peer?.peerID == "A81001")
        #expect(pair.serverApp.peer?.fingerprint == practice.fingerprint)
        #expect(pair.serverApp.peer?.tlsVersion == "TLSv1.3")
        #expect(pair.serverApp.peer?.cipher.hasPrefix("TLS_") == true)

        try pair.client.writeOutbound(ByteBuffer(string: "ping"))
        try pair.server.writeOutbound(ByteBuffer(string: "pong"))
        try pair.pump()
        #expect(pair.serverApp.received == Array("ping".utf8))
        #expect(pair.clientApp.received == Array("pong".utf8))

        // The client closes: close_notify goes out before TCP closes; the server answers in kind.
        let closed = pair.client.close()
        try pair.shuttle(pair.client, pair.server)
        try closed.wait()
        #expect(!pair.server.isActive)  // the server closed on the peer's close_notify
        #expect(pair.clientApp.errors.isEmpty, "\(pair.clientApp.errors)")
        #expect(pair.serverApp.errors.isEmpty, "\(pair.serverApp.errors)")
        #expect(pair.serverApp.readsBeforeAuthentication == 0 && pair.clientApp.readsBeforeAuthentication == 0)
        _ = try pair.client.finish(acceptAlreadyClosed: true)
        _ = try pair.server.finish(acceptAlreadyClosed: true)
    }

    @Test("writes made during the handshake are held and sent after authentication, in order")
    func heldWrites() throws {
        let pair = try EmbeddedPair(
            clientContext: try makeContext(TestIdentities.practice, trust: pinning(TestIdentities.hub)),
            serverContext: try makeContext(TestIdentities.hub, trust: pinning(TestIdentities.practice)))
        pair.client.write(ByteBuffer(string: "one,"), promise: nil)
        pair.client.writeAndFlush(ByteBuffer(string: "two"), promise: nil)
        try pair.pump()
        #expect(pair.serverApp.received == Array("one,two".utf8))
        _ = try pair.client.finish(acceptAlreadyClosed: true)
        _ = try pair.server.finish(acceptAlreadyClosed: true)
    }

    @Test("an unknown client certificate is refused in the handshake, before any byte passes up")
    func unknownClient() throws {
        let pair = try EmbeddedPair(
            clientContext: try makeContext(TestIdentities.stranger, trust: pinning(TestIdentities.hub)),
            serverContext: try makeContext(TestIdentities.hub, trust: pinning(TestIdentities.practice)))
        pair.client.writeAndFlush(ByteBuffer(string: "HELLO from a stranger"), promise: nil)
        try pair.pump()
        let serverError = try #require(pair.serverApp.errors.first as? TransportError)
        #expect(serverError.code == .untrustedPeer)
        #expect(serverError.offeredFingerprint == TestIdentities.stranger.fingerprint)
        #expect(serverError.message.contains("unknown fingerprint"))
        #expect(pair.serverApp.received.isEmpty)
        #expect(pair.serverApp.peer == nil)
        // TLS 1.3: the client believed the handshake done; the refusal arrives as an alert.
        let clientError = try #require(pair.clientApp.errors.first as? TransportError)
        #expect(clientError.code == .refusedByPeer)
        #expect(clientError.message.contains(TestIdentities.stranger.fingerprint.description))
        _ = try pair.client.finish(acceptAlreadyClosed: true)
        _ = try pair.server.finish(acceptAlreadyClosed: true)
    }

    @Test("a client dialing one peer refuses a server authenticated as another")
    func wrongServer() throws {
        let pair = try EmbeddedPair(
            clientContext: try makeContext(
                TestIdentities.practice, trust: pinning(TestIdentities.hub, TestIdentities.charity)),
            serverContext: try makeContext(TestIdentities.charity, trust: pinning(TestIdentities.practice)),
            expectedPeerID: "U12345")
        try pair.pump()
        let clientError = try #require(pair.clientApp.errors.first as? TransportError)
        #expect(clientError.code == .untrustedPeer)
        #expect(clientError.message.contains("dialed peer U12345"))
        #expect(pair.clientApp.peer == nil)
        _ = try pair.client.finish(acceptAlreadyClosed: true)
        _ = try pair.server.finish(acceptAlreadyClosed: true)
    }

    @Test("EOF without close_notify after the handshake is reported as truncation")
    func truncation() throws {
        let pair = try EmbeddedPair(
            clientContext: try makeContext(TestIdentities.practice, trust: pinning(TestIdentities.hub)),
            serverContext: try makeContext(TestIdentities.hub, trust: pinning(TestIdentities.practice)))
        try pair.pump()
        #expect(pair.serverApp.peer != nil)
        pair.server.pipeline.fireChannelInactive()  // the TCP stream ends, no close_notify came
        let error = try #require(pair.serverApp.errors.first as? TransportError)
        #expect(error.code == .truncated)
        _ = try pair.client.finish(acceptAlreadyClosed: true)
        _ = try pair.server.finish(acceptAlreadyClosed: true)
    }

    @Test("plaintext is decrypted only when the pipeline asks to read (backpressure)")
    func readBackpressure() throws {
        let pair = try EmbeddedPair(
            clientContext: try makeContext(TestIdentities.practice, trust: pinning(TestIdentities.hub)),
            serverContext: try makeContext(TestIdentities.hub, trust: pinning(TestIdentities.practice)))
        try pair.pump()
        // Stop reading on the server: no read requests from now on.
        try pair.server.pipeline.syncOperations.addHandler(ReadGate(), position: .last)
        let gate = try pair.server.pipeline.syncOperations.handler(type: ReadGate.self)
        gate.open = false
        // Consume any outstanding read request with a first small message.
        try pair.client.writeOutbound(ByteBuffer(string: "x"))
        try pair.pump()
        let before = pair.serverApp.received.count
        try pair.client.writeOutbound(ByteBuffer(repeating: 0x41, count: 200_000))
        try pair.shuttle(pair.client, pair.server)
        #expect(pair.serverApp.received.count == before, "decrypted without a read request")
        gate.open = true
        var rounds = 0
        while pair.serverApp.received.count < before + 200_000 && rounds < 100 {
            pair.server.read()
            rounds += 1
        }
        #expect(pair.serverApp.received.count == before + 200_000)
        // Each read request decrypts a bounded batch, not everything buffered.
        #expect(rounds >= 2)
        _ = try pair.client.finish(acceptAlreadyClosed: true)
        _ = try pair.server.finish(acceptAlreadyClosed: true)
    }

    @Test("writes beyond writeBufferBytesMax during the handshake fail with writeBufferFull")
    func writeBufferLimit() throws {
        var configuration = TLSConfiguration(
            identity: TestIdentities.practice, trust: pinning(TestIdentities.hub), writeBufferBytesMax: 1000)
        configuration.testing = TestingOverrides()
        let pair = try EmbeddedPair(
            clientContext: try TLSContext(configuration: configuration),
            serverContext: try makeContext(TestIdentities.hub, trust: pinning(TestIdentities.practice)))
        let fits = pair.client.write(ByteBuffer(repeating: 1, count: 900))
        let overflows = pair.client.write(ByteBuffer(repeating: 2, count: 200))
        #expect(throws: TransportError.self) { try overflows.wait() }
        try pair.pump()
        try fits.wait()
        _ = try pair.client.finish(acceptAlreadyClosed: true)
        _ = try pair.server.finish(acceptAlreadyClosed: true)
    }
}

/// Swallows outbound `read` while closed, standing in for a consumer that is not reading.
final class ReadGate: ChannelOutboundHandler {
    typealias OutboundIn = Any
    var open = true

    func read(context: ChannelHandlerContext) {
        if open { context.read() }
    }
}
