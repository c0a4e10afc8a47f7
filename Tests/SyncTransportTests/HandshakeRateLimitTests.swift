import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOEmbedded
import Testing

@testable import SyncTransport

@Suite("Handshake rate limit: TLS handshakes begun per source address per second")
struct HandshakeRateLimitTests {
    @Test(
        "an address begins perSecondMax handshakes in a window; more are refused and counted; the next window serves again"
    )
    func window() {
        var limit = HandshakeRateLimit(perSecondMax: 3)
        let start = NIODeadline.now()
        var outcomes: [Bool] = []
        for offset in 0..<3 {
            outcomes.append(limit.begin(from: "a", at: start + .milliseconds(Int64(offset) * 100)))
        }
        outcomes.append(limit.begin(from: "a", at: start + .milliseconds(500)))
        #expect(outcomes == [true, true, true, false])
        // Another address has a window of its own.
        let other = limit.begin(from: "b", at: start + .milliseconds(500))
        #expect(other)
        // Still the first window (it opened at `start`): refused.
        let late = limit.begin(from: "a", at: start + .milliseconds(999))
        #expect(!late)
        // A new window opens with the first handshake a second or more after the last one opened.
        outcomes = (0..<4).map { _ in limit.begin(from: "a", at: start + .seconds(1)) }
        #expect(outcomes == [true, true, true, false])
    }

    @Test("the table of windows stays bounded: ended windows are forgotten once it grows past its bound")
    func bounded() {
        var limit = HandshakeRateLimit(perSecondMax: 1, addressesKeptMax: 10)
        let start = NIODeadline.now()
        let first = (0..<10).map { limit.begin(from: "10.0.0.\($0)", at: start) }
        #expect(first.allSatisfy { $0 })
        #expect(limit.addressesKept == 10)
        // Two seconds later, one more address: the ten ended windows are dropped.
        let newcomer = limit.begin(from: "10.0.1.0", at: start + .seconds(2))
        #expect(newcomer)
        #expect(limit.addressesKept == 1)
        // A window still open is kept: its address stays refused.
        let again = limit.begin(from: "10.0.1.0", at: start + .seconds(2))
        #expect(!again)
    }
}

@Suite("Handshake admission on EmbeddedChannel: silent connections are not counted, speaking ones are")
struct HandshakeAdmissionTests {
    static let limit = 3

    /// A listener's books with a budget no test here meets, the rate limit `limit`, `clock`, and the refusals it made.
    static func books(clock: ManualClock) -> (ListenerConnections, NIOLockedValueBox<[ConnectionRefusal]>) {
        let refused = NIOLockedValueBox<[ConnectionRefusal]>([])
        let refusals = RefusalLog(
            logger: quietLogger, linesPerMinuteMax: 60,
            onRefusal: { refusal in refused.withLockedValue { $0.append(refusal) } }, clock: clock.read)
        let connections = ListenerConnections(
            budget: AdmissionBudget(sessionsMax: 4, unauthenticatedMax: 64, unauthenticatedPerAddressMax: 64),
            handshakesPerSecondMax: limit, refusals: refusals, clock: clock.read)
        return (connections, refused)
    }

    /// An accepted connection from `address`, admitted to `connections`, with `HandshakeAdmission`
    /// before a recorder standing for the TLS handler.
    static func accepted(from address: String, _ connections: ListenerConnections) throws -> (
        EmbeddedChannel, PlaintextRecorder
    ) {
        let channel = EmbeddedChannel()
        let remote = try SocketAddress(ipAddress: address, port: 40_000)
        channel.remoteAddress = remote
        let recorder = PlaintextRecorder()
        try channel.pipeline.syncOperations.addHandlers(HandshakeAdmission(connections: connections), recorder)
        try channel.connect(to: remote).wait()
        #expect(connections.admit(channel))
        return (channel, recorder)
    }

    static let clientHello = ByteBuffer(bytes: [0x16, 0x03, 0x01, 0x00, 0x05, 0x01, 0x00, 0x00, 0x01, 0x03])

    @Test(
        "many silent connections from an address take nothing from its handshakes; past the limit, a connection's first bytes close it before TLS sees them"
    )
    func silentNotCounted() throws {
        let clock = ManualClock()
        let (connections, refused) = Self.books(clock: clock)
        // Five times the limit of silent connections, all within the same second.
        let silent = try (0..<(5 * Self.limit)).map { _ in try Self.accepted(from: "127.0.0.1", connections) }
        #expect(refused.withLockedValue { $0 }.isEmpty)
        #expect(silent.allSatisfy { $0.0.isActive })

        // Connections that speak are counted: `limit` pass their bytes on, whole and in order.
        var speaking: [(EmbeddedChannel, PlaintextRecorder)] = []
        for _ in 0..<Self.limit {
            let (channel, recorder) = try Self.accepted(from: "127.0.0.1", connections)
            try channel.writeInbound(Self.clientHello)
            try channel.writeInbound(ByteBuffer(bytes: [0x42]))  // later bytes pass without counting
            #expect(recorder.received == Array(buffer: Self.clientHello) + [0x42])
            speaking.append((channel, recorder))
        }
        #expect(refused.withLockedValue { $0 }.isEmpty)

        // The next to speak is closed at its first bytes, which never reach TLS.
        let (over, overRecorder) = try Self.accepted(from: "127.0.0.1", connections)
        try over.writeInbound(Self.clientHello)
        #expect(overRecorder.received.isEmpty)
        #expect(!over.isActive)
        let refusals = refused.withLockedValue { $0 }
        #expect(refusals.count == 1)
        #expect(refusals.first?.error.code == .rateLimited)
        let message = refusals.first?.error.message ?? ""
        #expect(
            message.contains("more than \(Self.limit) TLS handshakes began from 127.0.0.1 in one second"), "\(message)")
        #expect(message.contains("handshakesPerSecondMax"))
        #expect(message.contains("connections that send nothing are not counted"))
        #expect(refusals.first?.remoteAddress?.ipAddress == "127.0.0.1")

        // A silent one of the same second may still speak after the window ends; another address at once.
        let (other, otherRecorder) = try Self.accepted(from: "127.0.0.2", connections)
        try other.writeInbound(Self.clientHello)
        #expect(otherRecorder.received.count == Self.clientHello.readableBytes)
        clock.advance(by: .seconds(1))
        try silent[0].0.writeInbound(Self.clientHello)
        #expect(silent[0].1.received.count == Self.clientHello.readableBytes)
        #expect(refused.withLockedValue { $0 }.count == 1)

        for (channel, _) in silent + speaking + [(other, otherRecorder)] {
            #expect(try channel.finish().isClean)
        }
        #expect(try over.finish(acceptAlreadyClosed: true).isClean)
    }
}
