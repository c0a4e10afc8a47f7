import FuzzSupport
import NIOCore
import NIOEmbedded
import SyncTransport

/// The server's side of the fuzzed connections: a hub with a real key and self-signed certificate
/// made by `NodeIdentity`, pinning one practice. Made once: key generation is the slow part.
enum TLSServerFuzz {
    static let hub = identity("U12345")
    static let practice = identity("A81001")
    static let handshakeTimeoutSeconds: Int64 = 10
    static let serverContext = context(hub, trusting: practice)

    static func identity(_ nodeID: String) -> NodeIdentity {
        do {
            return try NodeIdentity.makeInMemory(nodeID: nodeID)
        } catch {
            Fuzz.fail("cannot make the identity of \(nodeID): \(error)")
        }
    }

    static func context(_ identity: NodeIdentity, trusting peer: NodeIdentity) -> TLSContext {
        do {
            return try TLSContext(
                configuration: TLSConfiguration(
                    identity: identity, trust: PinnedPeerTrust(pinned: [peer.fingerprint: peer.nodeID]),
                    handshakeTimeoutSeconds: handshakeTimeoutSeconds))
        } catch {
            Fuzz.fail("cannot make the TLS context of \(identity.nodeID): \(error)")
        }
    }
}

/// Records what the TLS handler passes up to the application.
final class ApplicationRecorder: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    var authenticated: AuthenticatedPeer?
    var plaintextBytes = 0
    var errors: [any Error] = []

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case .peerAuthenticated(let peer)? = event as? TLSUserEvent { authenticated = peer }
        context.fireUserInboundEventTriggered(event)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        plaintextBytes += unwrapInboundIn(data).readableBytes
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        errors.append(error)
    }
}

/// Fuzzes `TLSHandler` as a server on an `EmbeddedChannel`, fed raw bytes as a stranger's client would.
///
/// Input: byte 0 is the chunk size the bytes arrive in (0: all at once), byte 1 bit 0 asks to let the
/// handshake timeout pass at the end, bit 1 to close from our side; the rest is what the client
/// sends. Without the practice's private key no input can authenticate, so the invariants are: no
/// peer is authenticated and no plaintext reaches the application; every error passed up is a
/// `TransportError`; the server sends no more than a handshake flight and alerts (16 KiB); once the
/// handshake timeout has passed the connection is closed; the channel finishes cleanly; nothing traps.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzTLSServer(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    var input = FuzzInput(Fuzz.bytes(start, count))
    let chunkBytes = Int(input.byte())
    let flags = input.byte()
    let bytes = input.rest()

    let channel = EmbeddedChannel()
    let application = ApplicationRecorder()
    do {
        try channel.pipeline.syncOperations.addHandlers(
            TLSHandler(context: TLSServerFuzz.serverContext, role: .server), application)
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
    } catch {
        Fuzz.fail("cannot set up the server channel: \(error)")
    }

    var sentBytes = 0
    func drainOutbound() {
        do {
            while let buffer = try channel.readOutbound(as: ByteBuffer.self) { sentBytes += buffer.readableBytes }
        } catch {
            Fuzz.fail("unreadable outbound data: \(error)")
        }
    }
    var offset = 0
    while offset < bytes.count, channel.isActive {
        let end = chunkBytes == 0 ? bytes.count : min(bytes.count, offset + chunkBytes)
        channel.read()  // what autoRead does on a socket before bytes arrive
        do {
            try channel.writeInbound(ByteBuffer(bytes: bytes[offset..<end]))
        } catch {
            Fuzz.fail("an error reached the end of the pipeline: \(error)")
        }
        offset = end
        drainOutbound()
    }
    if flags & 1 == 1 {
        channel.embeddedEventLoop.advanceTime(by: .seconds(TLSServerFuzz.handshakeTimeoutSeconds + 1))
        drainOutbound()
        Fuzz.require(!channel.isActive, "an unauthenticated connection outlived the handshake timeout")
    }
    if flags & 2 == 2, channel.isActive {
        channel.close(promise: nil)
        drainOutbound()
    }

    Fuzz.require(
        application.authenticated == nil, "a stranger authenticated as \(String(describing: application.authenticated))"
    )
    Fuzz.require(
        application.plaintextBytes == 0, "\(application.plaintextBytes) plaintext bytes reached the application")
    Fuzz.require(application.errors.allSatisfy { $0 is TransportError }, "errors passed up: \(application.errors)")
    Fuzz.require(sentBytes <= 16 * 1024, "the server sent \(sentBytes) bytes to a stranger")
    do {
        _ = try channel.finish(acceptAlreadyClosed: true)
    } catch {
        Fuzz.fail("the channel did not finish cleanly: \(error)")
    }
    return 0
}

/// Seeds: the ClientHello our own client sends (the practice dialing the hub), whole and in small
/// chunks, and a few byte streams that are not TLS at all.
@_cdecl("LLVMFuzzerInitialize")
public func initializeTLSServerFuzz(_ argc: UnsafeMutableRawPointer?, _ argv: UnsafeMutableRawPointer?) -> CInt {
    Fuzz.writeSeedsIfAsked {
        let client = EmbeddedChannel()
        try client.pipeline.syncOperations.addHandler(
            TLSHandler(
                context: TLSServerFuzz.context(TLSServerFuzz.practice, trusting: TLSServerFuzz.hub),
                role: .client(expectedPeerID: "U12345")))
        try client.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        var clientHello: [UInt8] = []
        while let buffer = try client.readOutbound(as: ByteBuffer.self) { clientHello += Array(buffer: buffer) }
        _ = try client.finish(acceptAlreadyClosed: true)
        Fuzz.require(!clientHello.isEmpty, "the client sent no ClientHello")
        return [
            "client-hello": [0, 0] + clientHello,
            "client-hello-timeout": [0, 1] + clientHello,
            "client-hello-chunks-5-close": [5, 2] + clientHello,
            "client-hello-twice": [0, 0] + clientHello + clientHello,
            "hand-http": [0, 1] + Array("GET / HTTP/1.1\r\nHost: hub\r\n\r\n".utf8),
            "hand-record-header-only": [0, 0, 0x16, 0x03, 0x01, 0x40, 0x00],
            "hand-alert": [0, 0, 0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x28],
            "hand-sslv2-hello": [0, 0, 0x80, 0x2E, 0x01, 0x00, 0x02, 0x00, 0x15, 0x00, 0x00, 0x00, 0x10],
        ]
    }
    return 0
}
