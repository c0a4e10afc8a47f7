import Foundation
import SpsyncTestSupport
import SyncCore
import SyncProtocol
import SyncStore
import Testing

/// Checks the code against `Protocol/vectors/`: every golden frame decodes to what the file says
/// and encodes back to the same bytes; every invalid frame is refused with the code it names;
/// every merge case gives the live writes, winner and conflict it names, in any order, in the
/// in-memory model and in a SQLite store. `SPSYNC_WRITE_VECTORS=1` rewrites frames.json from
/// `VectorTests.frames` (only when the wire format changes, together with SPEC.md).
@Suite("Protocol/vectors")
struct VectorTests {
    static let dir = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Protocol/vectors")

    static let inc1 = try! UUIDv7(bytes: Array(0x10...0x1F))
    static let inc2 = try! UUIDv7(bytes: Array(0x20...0x2F))
    static let practice = try! NodeID("A81001")
    static let hub = try! NodeID("U12345")
    static let referral = "R.A81001.U12345.01900000-0000-7000-8000-000000000001"

    /// Stand-ins for a signature (64 bytes) and a withheld write digest (32 bytes): these vectors
    /// fix the encoding; real signatures and digests are checked against signatures.json.
    static let signature = Array(UInt8(0x40)..<UInt8(0x80))
    static let withheldDigest = Array(UInt8(0xA0)..<UInt8(0xC0))

    /// The golden messages, by name.
    static var frames: [(String, Message)] {
        let body = FieldWrite(
            origin: Origin(node: practice, incarnation: inc1), seq: 7, hlc: HLC(millis: 1_780_000_000_000, counter: 1),
            record: try! RecordID(referral), field: .routingUrgency, kind: .register, value: Array("soon".utf8),
            context: CausalContext([Origin(node: hub, incarnation: inc2): 3])
        ).encodedBody()
        let change = IncomingChange(
            origin: Origin(node: practice, incarnation: inc1), seq: 7, hlc: HLC(millis: 1_780_000_000_000, counter: 1),
            record: referral, bodies: [body], signature: signature)
        // The same change with one more write, withheld from this receiver: only its digest travels.
        var partial = change
        partial.withheld = [withheldDigest]
        let binding = KeyBinding(
            node: practice, incarnation: inc1, fromSeq: 1, certificate: [0x30, 0x03, 0x02, 0x01, 0x07],
            signature: Array(signature.reversed()))
        return [
            (
                "hello",
                .hello(
                    Hello(
                        schemaVersion: 2, node: practice, incarnation: inc1, heldOfYou: [inc2: 42],
                        software: "spsync 0.1",
                        wallMillis: 1_780_000_000_000, mode: .oneShot, lastSeq: 7))
            ),
            ("pull", .pull(incarnation: inc2, after: 300)),
            ("holding", .holding([try! RecordID(referral)])),
            ("changes", .changes(Changes(after: 300, upTo: 310, items: [.change(change)], keys: [binding]))),
            (
                "changes_expected_writes",
                .changes(Changes(after: 0, upTo: 7, items: [.change(change)], keys: [binding], expectedWrites: 80_003))
            ),
            (
                "changes_widen_narrow",
                .changes(
                    Changes(
                        after: 310, upTo: 310,
                        items: [
                            .widen(
                                Widen(
                                    record: try! RecordID(referral), classes: [.routing, .consent], changes: [partial])),
                            .narrow(
                                Narrow(record: try! RecordID(referral), classes: [.contact], cause: .consentWithdrawn)),
                        ]))
            ),
            ("ack", .ack(upTo: 310)),
            ("caught_up", .caughtUp(seq: 310)),
            ("ping", .ping(nonce: 9)),
            ("pong", .pong(nonce: 9)),
            ("bye", .bye),
            ("error", .error(ProtocolError(.rolledBack, "restore needed"))),
            (
                "rotate",
                .rotate(
                    RotationAnnouncement(
                        certificate: [0x30, 0x03, 0x02, 0x01, 0x07],
                        signature: [0x30, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x02]))
            ),
        ]
    }

    /// What a message decodes to, as the vectors file writes it.
    static func describe(_ m: Message) -> String {
        func change(_ c: IncomingChange) -> String {
            "{origin \(c.origin.node)/\(c.origin.incarnation) seq \(c.seq) hlc \(c.hlc.rawValue) record \(c.record) writes [\(c.bodies.map(hex).joined(separator: ","))] signature \(hex(c.signature)) withheld [\(c.withheld.map(hex).joined(separator: ","))]}"
        }
        func key(_ k: KeyBinding) -> String {
            "{node \(k.node) incarnation \(k.incarnation) from_seq \(k.fromSeq) certificate \(hex(k.certificate)) signature \(hex(k.signature))}"
        }
        switch m {
        case .hello(let h):
            let held = h.heldOfYou.sorted { $0.key < $1.key }.map { "\($0.key):\($0.value)" }.joined(separator: ",")
            return
                "HELLO versions \(h.protocolVersions) schema \(h.schemaVersion) node \(h.node) incarnation \(h.incarnation) held_of_you [\(held)] software \(h.software) wall \(h.wallMillis) mode \(h.mode) last_seq \(h.lastSeq)"
        case .pull(let inc, let after): return "PULL incarnation \(inc) after \(after)"
        case .holding(let r): return "HOLDING \(r.map(\.rawValue))"
        case .changes(let c):
            let items = c.items.map { item -> String in
                switch item {
                case .change(let ch): return "change " + change(ch)
                case .widen(let w):
                    return
                        "widen {record \(w.record) classes \(w.classes.map(\.rawValue)) changes [\(w.changes.map(change).joined(separator: ","))]}"
                case .narrow(let n):
                    return "narrow {record \(n.record) classes \(n.classes.map(\.rawValue)) cause \(n.cause)}"
                }
            }
            return
                "CHANGES after \(c.after) up_to \(c.upTo) items [\(items.joined(separator: "; "))] keys [\(c.keys.map(key).joined(separator: "; "))]"
                + (c.expectedWrites == 0 ? "" : " expected_writes \(c.expectedWrites)")
        case .ack(let u): return "ACK up_to \(u)"
        case .caughtUp(let s): return "CAUGHT_UP seq \(s)"
        case .ping(let n): return "PING nonce \(n)"
        case .pong(let n): return "PONG nonce \(n)"
        case .bye: return "BYE"
        case .error(let e): return "ERROR code \(e.code) detail \(e.detail)"
        case .rotate(let r): return "ROTATE certificate \(hex(r.certificate)) signature \(hex(r.signature))"
        }
    }

    static func hex(_ bytes: [UInt8]) -> String { bytes.map { String(format: "%02x", $0) }.joined() }

    static func unhex(_ s: String) -> [UInt8] {
        var out: [UInt8] = []
        var i = s.startIndex
        while i < s.endIndex {
            let j = s.index(i, offsetBy: 2)
            out.append(UInt8(s[i..<j], radix: 16)!)
            i = j
        }
        return out
    }

    struct FrameVector: Codable {
        var name: String
        var hex: String
        var decodes: String
    }

    struct InvalidVector: Codable {
        var name: String
        var hex: String
        var error: String
    }

    struct FramesFile: Codable {
        var note: String
        var frames: [FrameVector]
        var invalid: [InvalidVector]
    }

    static func wire(_ m: Message) throws -> [UInt8] {
        try FrameEncoder(frameBytesMax: Limits.standard.frameBytesMax).encode(m.frame)
    }

    static func load<T: Decodable>(_ name: String, _ type: T.Type) throws -> T {
        try JSONDecoder().decode(type, from: Data(contentsOf: dir.appendingPathComponent(name)))
    }

    @Test("every golden frame decodes to what the vector says and encodes back to the same bytes")
    func goldenFrames() throws {
        if ProcessInfo.processInfo.environment["SPSYNC_WRITE_VECTORS"] == "1" {
            var file = try Self.load("frames.json", FramesFile.self)
            file.frames = try Self.frames.map {
                FrameVector(name: $0.0, hex: Self.hex(try Self.wire($0.1)), decodes: Self.describe($0.1))
            }
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            try encoder.encode(file).write(to: Self.dir.appendingPathComponent("frames.json"))
        }
        let file = try Self.load("frames.json", FramesFile.self)
        #expect(file.frames.map(\.name) == Self.frames.map(\.0))
        for v in file.frames {
            var decoder = FrameDecoder(frameBytesMax: Limits.standard.frameBytesMax)
            decoder.append(Self.unhex(v.hex))
            let frame = try #require(try decoder.next(), "\(v.name)")
            try decoder.finish()
            let message = try Message(frame: frame)
            #expect(Self.describe(message) == v.decodes, "\(v.name)")
            #expect(Self.hex(try Self.wire(message)) == v.hex, "\(v.name) re-encodes identically")
            #expect(Self.frames.first { $0.0 == v.name }.map { $0.1 } == message, "\(v.name)")
        }
    }

    @Test("every invalid frame is refused with the code the vector names, nothing passed on")
    func invalidFrames() throws {
        let file = try Self.load("frames.json", FramesFile.self)
        #expect(!file.invalid.isEmpty)
        for v in file.invalid {
            var decoder = FrameDecoder(frameBytesMax: Limits.standard.frameBytesMax)
            decoder.append(Self.unhex(v.hex))
            let frame: Frame
            do {
                guard let f = try decoder.next() else {
                    #expect(v.error == "truncated", "\(v.name)")
                    continue
                }
                frame = f
            } catch {
                #expect(v.error == "frame_too_large" || v.error == "frame_empty", "\(v.name): \(error)")
                continue
            }
            #expect(throws: ProtocolError.self, "\(v.name)") { try Message(frame: frame) }
            do {
                _ = try Message(frame: frame)
            } catch {
                #expect(error.code.description == v.error, "\(v.name)")
            }
        }
    }

    struct MergeWrite: Codable {
        var node: String
        var incarnation: String
        var seq: UInt64
        var hlc: UInt64
        var field: String
        var kind: String?
        var value: String?
        var context: [String: UInt64]?
        var id: String { "\(node):\(seq)" }
    }

    struct MergeExpectation: Codable {
        var live: [String]
        var winner: String?
        var conflict: Bool
        var value: String?
    }

    struct MergeCase: Codable {
        var name: String
        var record: String
        var writes: [MergeWrite]
        var expect: [String: MergeExpectation]
    }

    static func fieldWrite(_ w: MergeWrite, record: RecordID) throws -> FieldWrite {
        var context = CausalContext()
        for (key, seq) in w.context ?? [:] {
            let parts = key.split(separator: "/").map(String.init)
            context.include(Origin(node: try NodeID(parts[0]), incarnation: try UUIDv7(parts[1])), seq)
        }
        return FieldWrite(
            origin: Origin(node: try NodeID(w.node), incarnation: try UUIDv7(w.incarnation)), seq: w.seq,
            hlc: HLC(rawValue: w.hlc),
            record: record, field: try FieldKey(w.field), kind: w.kind == "set" ? .set : .register,
            value: w.value.map { Array($0.utf8) }, context: context)
    }

    @Test("every merge case gives its live writes, winner and conflict in any order, in the model and in a store")
    func mergeCases() throws {
        let cases = try Self.load("merge.json", [MergeCase].self)
        #expect(!cases.isEmpty)
        for c in cases {
            let record = try RecordID(c.record)
            let writes = try c.writes.map { try Self.fieldWrite($0, record: record) }
            let name: [WriteID: String] = Dictionary(uniqueKeysWithValues: zip(writes.map(\.id), c.writes.map(\.id)))
            var orders = [writes, writes.reversed()]
            var rng = SystemRandomNumberGenerator()
            for _ in 0..<4 { orders.append(writes.shuffled(using: &rng) + writes.prefix(1)) }
            for order in orders {
                var replica = Replica()
                for w in order { replica.apply(w) }
                for (field, e) in c.expect {
                    let key = try FieldKey(field)
                    let r = replica.resolution(record, key)
                    #expect(r.live.compactMap { name[$0] } == e.live, "\(c.name) \(field) live")
                    #expect(r.winner.flatMap { name[$0] } == e.winner, "\(c.name) \(field) winner")
                    #expect(r.inConflict == e.conflict, "\(c.name) \(field) conflict")
                    #expect(
                        replica.value(record, key).map { String(decoding: $0, as: UTF8.self) } == e.value,
                        "\(c.name) \(field) value")
                }
            }
            // The same writes through a SQLite store, as a peer would send them: signed by their
            // origins, whose keys the store holds.
            let dir = TempDir(prefix: "spsync-proto-")
            let store = try Store.create(
                at: dir.file("s"), node: try NodeID("GB-CHC-7654321"), wallMillis: 1_780_000_000_000)
            for origin in Set(writes.map(\.origin)) {
                try TestKeys.introduce(origin, TestKeys.identity(origin.node), to: store)
            }
            let incoming = try writes.reversed().map {
                try IncomingChange(
                    origin: $0.origin, seq: $0.seq, hlc: $0.hlc, record: record.rawValue, bodies: [$0.encodedBody()]
                ).signed(by: TestKeys.identity($0.origin.node))
            }
            let report = try store.apply(
                incoming.map(IncomingItem.change), from: try NodeID("U12345"), checkpoint: nil,
                wallMillis: 1_780_000_000_000
            ).writes
            #expect(report.refused == [], "\(c.name)")
            for (field, e) in c.expect {
                let live = try store.live(record, try FieldKey(field)).sorted {
                    FieldWrite.precedes($0.write, $1.write)
                }
                #expect(live.compactMap { name[$0.write.id] } == e.live, "\(c.name) \(field) live in the store")
                #expect(
                    live.first(where: \.winner).flatMap { name[$0.write.id] } == e.winner,
                    "\(c.name) \(field) winner in the store")
            }
        }
    }
}

@Suite("generated code")
struct GeneratedCodeTests {
    @Test("the generated protobuf Swift was generated from the current Protocol/spsync.proto")
    func protoMatchesGeneratedSwift() throws {
        let proto = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("../../Protocol/spsync.proto")
        let text = try String(contentsOf: proto, encoding: .utf8)
        #expect(
            text == protoGeneratedFrom + "\n" || text == protoGeneratedFrom,
            "Protocol/spsync.proto changed since Sources/SyncProtocol/Generated was made: run scripts/gen-proto.sh")
    }
}
