import SpsyncTestSupport
import SyncCore
import SyncProtocol
import SyncStore
import Testing

@Suite("ROTATE in a session")
struct RotationSessionTests {
    static let announcement = RotationAnnouncement(
        certificate: [0x30, 0x03, 0x02, 0x01, 0x07], signature: [0x30, 0x00])

    /// Passes frames between two drivers until both are closed or nothing moves.
    func pump(_ a: SessionDriver, _ b: SessionDriver, toB: [Frame], toA: [Frame]) {
        var (toB, toA) = (toB, toA)
        for _ in 0..<1000 where !(toA.isEmpty && toB.isEmpty) {
            let forB = toB, forA = toA
            toB = []
            toA = []
            for f in forB where !b.isClosed { toA += b.receive(f, nowMillis: Fixture.wall) }
            for f in forA where !a.isClosed { toB += a.receive(f, nowMillis: Fixture.wall) }
        }
    }

    @Test(
        "a node with a rotation under way announces it once after HELLO; the peer surfaces it; the sync still completes"
    )
    func announced() throws {
        let dir = TempDir(prefix: "spsync-proto-")
        let p = try Store.signed(at: dir.file("p"), node: Fixture.practice)
        let h = try Store.signed(at: dir.file("h"), node: Fixture.hub)
        try p.write(Fixture.referral(1), [(.routingUrgency, Fixture.text("soon"))], wallMillis: Fixture.wall)
        let a = try SessionDriver(store: p, peer: Fixture.hub, mode: .oneShot, rotation: Self.announcement)
        let b = try SessionDriver(store: h, peer: Fixture.practice, mode: .oneShot)
        pump(a, b, toB: a.start(nowMillis: Fixture.wall), toA: b.start(nowMillis: Fixture.wall))
        #expect(a.rotationSent)
        #expect(b.receivedRotation == Self.announcement)
        #expect(a.receivedRotation == nil && !b.rotationSent)
        #expect(a.closeReason == .done && b.closeReason == .done)
        #expect(try h.referrals().count == 1)
    }

    @Test("a second ROTATE in one session is unexpected_message")
    func secondRotate() throws {
        let dir = TempDir(prefix: "spsync-proto-")
        let p = try Store.signed(at: dir.file("p"), node: Fixture.practice)
        let h = try Store.signed(at: dir.file("h"), node: Fixture.hub)
        let a = try SessionDriver(store: p, peer: Fixture.hub, mode: .live, rotation: Self.announcement)
        let b = try SessionDriver(store: h, peer: Fixture.practice, mode: .live)
        pump(a, b, toB: a.start(nowMillis: Fixture.wall), toA: b.start(nowMillis: Fixture.wall))
        #expect(b.receivedRotation == Self.announcement)
        let reply = b.receive(Message.rotate(Self.announcement).frame, nowMillis: Fixture.wall)
        #expect(reply.first?.type == MessageType.error.rawValue)
        guard case .localError(let e)? = b.closeReason else {
            Issue.record("the session stayed open after a second ROTATE")
            return
        }
        #expect(e.code == .unexpectedMessage)
    }
}
