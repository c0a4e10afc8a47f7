import Foundation
import SpsyncTestSupport
import SyncCore
import SyncCrypto
import SyncStore
import Testing

/// Checks spsync against `Protocol/vectors/signatures.json`, which an implementation written from
/// Protocol/SPEC.md section 13 alone (`Protocol/tools/sigvectors.py`, Python) made: the same value
/// digests, write digests, redacted bodies, signed messages and key binding, and the verdict of a
/// real store on each case — the change whole, filtered for a charity, redacted, and altered,
/// re-signed, stripped or claimed by another origin on the way.
@Suite("Protocol/vectors: origin signatures")
struct SignatureVectorTests {
    struct Vectors: Decodable {
        struct Binding: Decodable {
            var node: String
            var incarnation: String
            var fromSeq: UInt64
            var certificate: String
            var message: String
            var signature: String
        }
        struct Write: Decodable {
            var field: String
            var body: String
            var valueDigest: String
            var digest: String
            var redactedBody: String
        }
        struct Change: Decodable {
            var node: String
            var incarnation: String
            var seq: UInt64
            var hlc: UInt64
            var record: String
            var writes: [Write]
            var message: String
            var signature: String
        }
        struct Case: Decodable {
            var name: String
            var originNode: String
            var hlc: UInt64
            var bodies: [String]
            var withheld: [String]
            var signature: String
            var verdict: String
        }
        var certificate: String
        var binding: Binding
        var change: Change
        var cases: [Case]
    }

    static let vectors: Vectors = {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("Protocol/vectors/signatures.json")
        do { return try JSONDecoder().decode(Vectors.self, from: Data(contentsOf: url)) } catch {
            preconditionFailure("Protocol/vectors/signatures.json is unreadable: \(error)")
        }
    }()

    static func bytes(_ hex: String) -> [UInt8] {
        var out: [UInt8] = []
        var index = hex.startIndex
        while index < hex.endIndex {
            let next = hex.index(index, offsetBy: 2)
            out.append(UInt8(hex[index..<next], radix: 16) ?? 0)
            index = next
        }
        return out
    }

    static let crypto = OpenSSLSealCrypto()

    var origin: Origin {
        get throws {
            Origin(
                node: try NodeID(Self.vectors.change.node),
                incarnation: try UUIDv7(bytes: Self.bytes(Self.vectors.change.incarnation)))
        }
    }

    @Test("digests, redacted bodies and the signed message are byte for byte the independent implementation's")
    func sameBytes() throws {
        let c = Self.vectors.change
        let record = try RecordID(c.record)
        var digests: [[UInt8]] = []
        for w in c.writes {
            let write = try FieldWrite(
                origin: try origin, seq: c.seq, hlc: HLC(rawValue: c.hlc), record: record, body: Self.bytes(w.body))
            #expect(write.encodedBody() == Self.bytes(w.body), "\(w.field): canonical encoding")
            #expect(try write.valueDigest(Self.crypto) == Self.bytes(w.valueDigest), "\(w.field): value digest")
            #expect(try write.digest(Self.crypto) == Self.bytes(w.digest), "\(w.field): write digest")
            let redacted = write.redacted(Self.crypto)
            #expect(redacted.encodedBody() == Self.bytes(w.redactedBody), "\(w.field): redacted body")
            #expect(
                try redacted.digest(Self.crypto) == Self.bytes(w.digest), "\(w.field): a redaction keeps the digest")
            digests.append(try write.digest(Self.crypto))
        }
        let message = Seal.changeMessage(
            origin: try origin, seq: c.seq, hlc: HLC(rawValue: c.hlc), record: c.record, digests: digests.reversed())
        #expect(message == Self.bytes(c.message))
        let signer = try SignerCertificate(der: Self.bytes(Self.vectors.certificate))
        #expect(signer.nodeIDs == [c.node])
        #expect(signer.verify(Self.bytes(c.signature), over: message))
        #expect(!signer.verify(Self.bytes(c.signature), over: message.dropLast() + [0]))

        let b = Self.vectors.binding
        let bindingMessage = Seal.keyMessage(
            node: try NodeID(b.node), incarnation: try UUIDv7(bytes: Self.bytes(b.incarnation)), fromSeq: b.fromSeq,
            certificateDigest: Self.crypto.sha256(Self.bytes(b.certificate)))
        #expect(bindingMessage == Self.bytes(b.message))
        #expect(signer.verify(Self.bytes(b.signature), over: bindingMessage))
    }

    @Test(
        "a store holding the origin's key binding reaches each case's verdict",
        arguments: vectors.cases.map(\.name))
    func verdicts(_ name: String) throws {
        guard let v = Self.vectors.cases.first(where: { $0.name == name }) else {
            Issue.record("no case \(name)")
            return
        }
        let dir = TempDir()
        let hub = try NodeID("U12345")
        let store = try Store.create(at: dir.file("hub.sqlite"), node: hub, wallMillis: 1_780_000_000_000)
        let b = Self.vectors.binding
        let binding = KeyBinding(
            node: try NodeID(b.node), incarnation: try UUIDv7(bytes: Self.bytes(b.incarnation)), fromSeq: b.fromSeq,
            certificate: Self.bytes(b.certificate), signature: Self.bytes(b.signature))
        let refusedKeys = try store.addKeyBindings(
            [binding], from: binding.node, policy: DeliveryAnchorPolicy(), wallMillis: 1_780_000_000_000)
        #expect(refusedKeys.isEmpty)
        let c = Self.vectors.change
        let change = IncomingChange(
            origin: Origin(node: try NodeID(v.originNode), incarnation: try origin.incarnation), seq: c.seq,
            hlc: HLC(rawValue: v.hlc), record: c.record, bodies: v.bodies.map(Self.bytes),
            signature: Self.bytes(v.signature), withheld: v.withheld.map(Self.bytes))
        let report = try store.apply(
            [.change(change)], from: binding.node, checkpoint: nil, wallMillis: 1_780_000_000_000
        ).writes
        if v.verdict == "accept" {
            #expect(report.refused.isEmpty, "\(report.refused)")
            #expect(report.applied == v.bodies.count)
        } else {
            #expect(report.applied == 0)
            #expect(report.refused.count == v.bodies.count)
            #expect(report.refused.allSatisfy { $0.code.rawValue == v.verdict }, "\(report.refused)")
            #expect(try store.counts().changes == 0, "nothing of a refused change is stored")
        }
    }
}
