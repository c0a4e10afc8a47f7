import FuzzSupport
import SyncCore
import SyncProtocol
import SyncStore

/// Fuzzes the conversion of a frame's protobuf payload to a `Message` (`Message(frame:limits:)`).
///
/// Input: byte 0 is the frame type, byte 1 picks the limits (even: the standard ones; odd: tight
/// ones, 2 changes and 2 writes), the rest is the payload. Invariants for a payload that converts:
/// the message is within every limit it was checked against; its own frame converts back to an
/// equal message, and encoding that gives the same bytes (deterministic encoding).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzWireMessage(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    var input = FuzzInput(Fuzz.bytes(start, count))
    let type = input.byte()
    var limits = Limits.standard
    if input.byte() % 2 == 1 {
        limits.batchChangesMax = 2
        limits.fieldWritesPerChangeMax = 2
    }
    let frame = Frame(type: type, payload: input.rest())

    let message: Message
    do {
        message = try Message(frame: frame, limits: limits)
    } catch {
        Fuzz.require(
            [.malformed, .limitExceeded, .unexpectedMessage].contains(error.code), "refused with code \(error.code)")
        return 0
    }
    Fuzz.require(message.type.rawValue == type, "a frame of type \(type) became \(message.type)")
    checkLimits(message, limits)

    let encoded = message.frame
    let again: Message
    do {
        again = try Message(frame: encoded, limits: limits)
    } catch {
        Fuzz.fail("the frame of a decoded \(message.type) does not decode: \(error)")
    }
    Fuzz.require(again == message, "decode(encode(m)) != m for \(message.type)")
    Fuzz.require(again.frame == encoded, "encoding \(message.type) is not deterministic")
    return 0
}

/// Checks that a message accepted under `limits` is within them.
func checkLimits(_ message: Message, _ limits: Limits) {
    switch message {
    case .hello(let hello):
        Fuzz.require(hello.protocolVersions.count <= 64 && hello.heldOfYou.count <= 1024, "HELLO over its bounds")
        Fuzz.require(hello.software.utf8.count <= 256, "HELLO software over 256 bytes")
    case .holding(let records):
        Fuzz.require(records.count <= limits.batchChangesMax, "HOLDING of \(records.count) records")
    case .changes(let changes):
        Fuzz.require(changes.upTo >= changes.after, "CHANGES up_to before after")
        Fuzz.require(changes.changeCount <= limits.batchChangesMax, "CHANGES of \(changes.changeCount) changes")
        Fuzz.require(changes.keys.count <= limits.batchChangesMax, "CHANGES of \(changes.keys.count) keys")
        for change in changes.allChanges {
            Fuzz.require(change.seq > 0, "a change of seq 0")
            Fuzz.require(!change.bodies.isEmpty, "a change without writes")
            Fuzz.require(
                change.bodies.count + change.withheld.count <= limits.fieldWritesPerChangeMax,
                "a change of \(change.bodies.count) + \(change.withheld.count) writes")
            Fuzz.require(change.bodies.allSatisfy { $0.count <= limits.fieldWriteBytesMax }, "a body over the limit")
            Fuzz.require(
                change.signature.count == Seal.signatureBytes, "a signature of \(change.signature.count) bytes")
            Fuzz.require(change.withheld.allSatisfy { $0.count == Seal.digestBytes }, "a withheld digest not 32 bytes")
            Fuzz.require(change.record.utf8.count <= 256, "a record id over 256 bytes")
        }
        for item in changes.items {
            if case .widen(let widen) = item {
                Fuzz.require(widen.changes.allSatisfy { $0.record == widen.record.rawValue }, "WIDEN of another record")
            }
        }
        for key in changes.keys {
            Fuzz.require(key.certificate.count <= KeyBinding.certificateBytesMax, "a key binding's certificate too big")
            Fuzz.require(key.signature.count == Seal.signatureBytes && key.fromSeq >= 1, "a key binding out of bounds")
        }
    case .rotate(let rotation):
        Fuzz.require(
            !rotation.certificate.isEmpty && rotation.certificate.count <= RotationAnnouncement.certificateBytesMax,
            "ROTATE certificate of \(rotation.certificate.count) bytes")
        Fuzz.require(
            !rotation.signature.isEmpty && rotation.signature.count <= RotationAnnouncement.signatureBytesMax,
            "ROTATE signature of \(rotation.signature.count) bytes")
    case .error(let error):
        Fuzz.require(error.detail.count <= 1024, "ERROR detail of \(error.detail.count) characters")
    case .pull, .ack, .caughtUp, .ping, .pong, .bye:
        break
    }
}

/// Seeds: the frames of one message of every type, as nodes send them.
@_cdecl("LLVMFuzzerInitialize")
public func initializeWireMessageFuzz(_ argc: UnsafeMutableRawPointer?, _ argv: UnsafeMutableRawPointer?) -> CInt {
    Fuzz.writeSeedsIfAsked {
        let practice = SampleWrites.practiceOrigin
        let hub = SampleWrites.hubOrigin
        let signature = [UInt8](repeating: 0x40, count: Seal.signatureBytes)
        let changes = SampleWrites.all.map { name, write in
            IncomingChange(
                origin: write.origin, seq: write.seq, hlc: write.hlc, record: write.record.rawValue,
                bodies: [write.encodedBody()], signature: signature,
                withheld: name == "routing-urgency" ? [[UInt8](repeating: 0xEE, count: Seal.digestBytes)] : [])
        }
        let key = KeyBinding(
            node: practice.node, incarnation: practice.incarnation, fromSeq: 1,
            certificate: [0x30, 0x03, 0x02, 0x01, 0x07],
            signature: signature)
        let referralChanges = changes.filter { $0.record == SampleWrites.referral.rawValue }
        let messages: [(String, Message)] = [
            (
                "hello",
                .hello(
                    Hello(
                        schemaVersion: 2, node: practice.node, incarnation: practice.incarnation,
                        heldOfYou: [hub.incarnation: 42], software: "spsync 0.1", wallMillis: 1_780_000_000_000,
                        mode: .live, lastSeq: 7))
            ),
            ("pull", .pull(incarnation: hub.incarnation, after: 300)),
            ("holding", .holding([SampleWrites.referral, SampleWrites.service])),
            ("changes", .changes(Changes(after: 300, upTo: 310, items: changes.map { .change($0) }, keys: [key]))),
            (
                "changes-widen-narrow",
                .changes(
                    Changes(
                        after: 310, upTo: 312,
                        items: [
                            .widen(Widen(record: SampleWrites.referral, classes: [.contact], changes: referralChanges)),
                            .narrow(
                                Narrow(
                                    record: SampleWrites.referral, classes: [.contact, .clinical],
                                    cause: .consentWithdrawn)),
                        ]))
            ),
            ("ack", .ack(upTo: 310)),
            ("caught-up", .caughtUp(seq: 312)),
            ("ping", .ping(nonce: 0xDEAD_BEEF)),
            ("pong", .pong(nonce: 0xDEAD_BEEF)),
            ("bye", .bye),
            ("error", .error(ProtocolError(.limitExceeded, "CHANGES carries 600 changes, more than 512"))),
            (
                "rotate",
                .rotate(RotationAnnouncement(certificate: [0x30, 0x03, 0x02, 0x01, 0x07], signature: signature))
            ),
        ]
        var seeds: [String: [UInt8]] = [:]
        for (name, message) in messages {
            let frame = message.frame
            seeds[name] = [frame.type, 0] + frame.payload
        }
        seeds["hand-unknown-type"] = [0x7F, 0, 0x08, 0x01]
        seeds["hand-tight-limits-changes"] = [messages[3].1.frame.type, 1] + messages[3].1.frame.payload
        return seeds
    }
    return 0
}
