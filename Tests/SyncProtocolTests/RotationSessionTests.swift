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
            for f in forB where !b.isClosed { toA += b.receive(f, nowMillis: Fix.wall) }
            for f in forA where !a.isClosed { toB += a.receive(f, nowMillis: Fix.wall) }
        }
    }

    @Test(
        "a node with a rotation under way announces it once after HELLO; the peer surfaces it; the sync still completes"
    )
    func announced() throws {
        let dir = TempDir()
        let p = try Store.create(at: dir.file("p"), node: Fix.practice, wallMillis: Fix.wall)
        let h = try Store.create(at: dir.file("h"), node: Fix.hub, wallMillis: Fix.wall)
        try p.write(Fix.referral(1), [(.routingUrgency, Fix.text("soon"))], wallMillis: Fix.wall)
        let a = try SessionDriver(store: p, peer: Fix.hub, mode: .oneShot, rotation: Self.announcement)
        let b = try SessionDriver(store: h, peer: Fix.practice, mode: .oneShot)
        pump(a, b, toB: a.start(nowMillis: Fix.wall), toA: b.start(nowMillis: Fix.wall))
        #expect(a.rotationSent)
        #expect(b.receivedRotation == Self.announcement)
        #expect(a.receivedRotation == nil && !b.rotationSent)
        #expect(a.closeReason == .done && b.closeReason == .done)
        #expect(try h.referrals().count == 1)
    }

    @Test("a second ROTATE in one session is unexpected_message")
    func secondRotate() throws {
        let dir = TempDir()
        let p = try Store.create(at: dir.file("p"), node: Fix.practice, wallMillis: Fix.wall)
        let h = try Store.create(at: dir.file("h"), node: Fix.hub, wallMillis: Fix.wall)
        let a = try SessionDriver(store: p, peer: Fix.hub, mode: .live, rotation: Self.announcement)
        let b = try SessionDriver(store: h, peer: Fix.practice, mode: .live)
        pump(a, b, toB: a.start(nowMillis: Fix.wall), toA: b.start(nowMillis: Fix.wall))
        #expect(b.receivedRotation == Self.announcement)
        let reply = b.receive(Message.rotate(Self.announcement).frame, nowMillis: Fix.wall)
        #expect(reply.first?.type == MessageType.error.rawValue)
        guard case .localError(let e)? = b.closeReason else {
            Issue.record("the session stayed open after a second ROTATE")
            return
        }
        #expect(e.code == .unexpectedMessage)
    }
}
