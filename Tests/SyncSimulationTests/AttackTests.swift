import Foundation
import SpsyncTestSupport
import SyncCore
import SyncSimulation
@_spi(Tampering) import SyncStore
import SyncTransport
import Testing

/// The attacks of a tampered relay (`Store+Tampering`) on three real stores: a charity whose
/// writes the hub relays, the hub tampered with, and a practice that receives from the hub.
@Suite("attacks of a tampered relay")
struct AttackTests {
    final class Net {
        let dir = TempDir(prefix: "spsync-attack-")
        let charity: Store
        let hub: Store
        let practice: Store
        /// Every node's genuine certificate, as a network CA would vouch for it.
        let ca: SimulatedNetworkCA
        var now = Fixture.wall

        init() throws {
            charity = try Store.signed(at: dir.file("charity"), node: Fixture.charity)
            hub = try Store.signed(at: dir.file("hub"), node: Fixture.hub)
            practice = try Store.signed(at: dir.file("practice"), node: Fixture.practice)
            ca = SimulatedNetworkCA(
                certificates: Dictionary(
                    uniqueKeysWithValues: [Fixture.charity, Fixture.hub, Fixture.practice].map {
                        ($0, TestKeys.identity($0).certificateDER)
                    }))
        }

        func tick() -> UInt64 {
            now += 1
            return now
        }

        func sync(_ a: Store, _ b: Store) throws {
            let outcome = try MemorySync.sync(a, b, nowMillis: tick(), keyPolicy: ca)
            #expect(outcome.clean, "\(String(describing: outcome.aReason)) / \(String(describing: outcome.bReason))")
        }

        /// The code each write of `origin` above the tampered seq floor was refused with at `store`, by seq.
        func refusals(at store: Store) throws -> [UInt64: Set<String>] {
            var out: [UInt64: Set<String>] = [:]
            for r in try store.audit(limit: Int.max, action: "refused")
            where r.origin == Fixture.charity.rawValue && (r.seq ?? 0) > Store.tamperedSeqFloor {
                out[r.seq ?? 0, default: []].insert(r.code ?? "")
            }
            return out
        }

        func held(_ store: Store) throws -> Set<WriteID> {
            Set(try store.changes(after: 0, limit: Int.max).map(\.write.id))
        }
    }

    @Test(
        "a relay's copies of another origin's change (replayed, altered, stripped) and its forgeries in that origin's name are refused for their signature; genuine writes still pass through it; nobody is locked"
    )
    func tamperedRelay() throws {
        let net = try Net()
        let first = try net.charity.write(
            Fixture.service,
            [(.serviceName, Fixture.text("Walking group")), (.serviceCapacity, Fixture.capacity(3, 5))],
            wallMillis: net.tick())
        try net.sync(net.charity, net.hub)

        let replayed = try net.hub.tamperedReplay(first, wallMillis: net.tick())
        let altered = try net.hub.tamperedAlteration(
            WriteID(origin: first.origin, seq: first.seq, field: .serviceCapacity), value: Fixture.capacity(0, 5),
            wallMillis: net.tick())
        let stripped = try net.hub.tamperedStrip(first, fields: [.serviceCapacity], wallMillis: net.tick())
        let claimed = try net.hub.tamperedClaim(
            Fixture.service, [(.serviceCapacity, Fixture.capacity(0, 5))], claiming: first.origin,
            wallMillis: net.tick())
        let madeUp = try net.hub.tamperedIncarnation(
            Fixture.service, [(.serviceCapacity, Fixture.capacity(0, 5))], of: Fixture.charity,
            incarnation: Fixture.uuid(999), signer: try NodeIdentity.makeInMemory(nodeID: Fixture.charity.rawValue),
            above: 2 * Store.tamperedSeqFloor, wallMillis: net.tick())
        // Each forgery is one change under a seq of its own that the charity never issues (the audit
        // log names writes without their incarnation, so the made-up one's range is set apart).
        let seqs = [replayed, altered, stripped, claimed, madeUp].map { Set($0.map(\.seq)) }
        #expect(seqs.allSatisfy { $0.count == 1 && ($0.min() ?? 0) > Store.tamperedSeqFloor })
        #expect(Set(seqs.compactMap(\.first)).count == 5)
        #expect(replayed.count == 2 && altered.count == 1 && stripped.count == 1)

        let later = try net.charity.write(
            Fixture.service, [(.serviceCapacity, Fixture.capacity(2, 5))], wallMillis: net.tick())
        try net.sync(net.charity, net.hub)
        try net.sync(net.hub, net.practice)

        // The practice holds the charity's genuine writes, the later one included, and nothing forged.
        let genuine: Set<WriteID> = [
            WriteID(origin: first.origin, seq: first.seq, field: .serviceName),
            WriteID(origin: first.origin, seq: first.seq, field: .serviceCapacity),
            WriteID(origin: later.origin, seq: later.seq, field: .serviceCapacity),
        ]
        #expect(try net.held(net.practice) == genuine)
        let bad: Set<String> = [SyncError.Code.badSignature.rawValue]
        let unknown: Set<String> = [SyncError.Code.unknownKey.rawValue]
        let atPractice = try net.refusals(at: net.practice)
        #expect(atPractice[replayed[0].seq] == bad)
        #expect(atPractice[altered[0].seq] == bad)
        #expect(atPractice[stripped[0].seq] == bad)
        #expect(atPractice[claimed[0].seq] == bad)
        #expect(atPractice[madeUp[0].seq] == unknown)
        let keys = try net.practice.audit(limit: Int.max, action: "key_refused")
        #expect(keys.map(\.code) == [SyncError.Code.unauthorised.rawValue])

        // The charity is sent the forgeries in its current incarnation's name back, beyond its last
        // seq, and the hub's HELLO claims them: it refuses them and audits the claim, unlocked.
        try net.sync(net.hub, net.charity)
        let atCharity = try net.refusals(at: net.charity)
        for seq in [replayed[0].seq, altered[0].seq, stripped[0].seq, claimed[0].seq] {
            #expect(atCharity[seq] == bad, "seq \(seq)")
        }
        #expect(atCharity[madeUp[0].seq] == unknown)
        #expect(try net.charity.counts().falseClaims > 0)
        for store in [net.charity, net.hub, net.practice] {
            #expect(try store.nodeState().rolledBackAt == nil, "\(store.path)")
        }
        // Still writing and syncing.
        try net.charity.write(Fixture.service, [(.serviceCapacity, Fixture.capacity(1, 5))], wallMillis: net.tick())
        try net.sync(net.charity, net.hub)
    }
}
