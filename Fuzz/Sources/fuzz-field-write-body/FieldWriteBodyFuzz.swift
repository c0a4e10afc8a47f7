import FuzzSupport
import SyncCore
import SyncCrypto

/// Fuzzes the decoding of a field write's body (`FieldWrite(origin:seq:hlc:record:body:)`, ProtoWire).
///
/// Input: byte 0 picks the change's envelope (origin and record), the rest is the body. Invariants
/// for a body that decodes: its canonical encoding decodes to the same write and is a fixed point;
/// the digest the origin signs is the same for both (a relayed write still verifies); redacting it
/// keeps that digest and leaves a body that decodes; the validation verdict does not trap, and a
/// write it accepts is within the limits.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzFieldWriteBody(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    var input = FuzzInput(Fuzz.bytes(start, count))
    let choice = input.byte()
    let origins = [SampleWrites.practiceOrigin, SampleWrites.hubOrigin, SampleWrites.charityOrigin]
    let records = [SampleWrites.referral, SampleWrites.service, RecordID.organisation(SampleWrites.charity)]
    let origin = origins[Int(choice % 3)]
    let record = records[Int(choice / 3 % 3)]
    let body = input.rest()

    func decode(_ bytes: [UInt8]) throws(SyncError) -> FieldWrite {
        try FieldWrite(origin: origin, seq: 9, hlc: SampleWrites.hlc, record: record, body: bytes)
    }
    let write: FieldWrite
    do {
        write = try decode(body)
    } catch {
        return 0  // refused with a typed error: what a malformed body must get
    }
    Fuzz.require(write.value.map { $0.count <= body.count } ?? true, "a value longer than its body")

    let canonical = write.encodedBody()
    let again: FieldWrite
    do {
        again = try decode(canonical)
    } catch {
        Fuzz.fail("the canonical body of a decoded write does not decode: \(error)")
    }
    Fuzz.require(again == write, "decode(encode(w)) != w")
    Fuzz.require(again.encodedBody() == canonical, "the canonical body is not a fixed point")

    let crypto = OpenSSLSealCrypto()
    let digest: [UInt8]
    let digestAgain: [UInt8]
    do {
        digest = try write.digest(crypto)
        digestAgain = try again.digest(crypto)
    } catch {
        Fuzz.fail("a decoded write has no digest: \(error)")
    }
    Fuzz.require(digestAgain == digest, "the signed digest changed on re-encoding")

    if write.value != nil {
        let redacted = write.redacted(crypto)
        Fuzz.require(
            redacted.value == nil && redacted.salt == nil && redacted.unknownFields.isEmpty, "redaction kept a value")
        let redactedDigest: [UInt8]
        let redactedAgain: FieldWrite
        do {
            redactedDigest = try redacted.digest(crypto)
            redactedAgain = try decode(redacted.encodedBody())
        } catch {
            Fuzz.fail("a redacted write does not decode or has no digest: \(error)")
        }
        Fuzz.require(redactedDigest == digest, "redaction changed the signed digest")
        Fuzz.require(redactedAgain == redacted, "a redacted write does not round-trip")
    }

    do {
        try Validation.check(write)
        let limits = Limits.standard
        Fuzz.require(write.context.count <= limits.contextEntriesMax, "validation passed an oversized context")
        Fuzz.require((write.value?.count ?? 0) <= limits.stringBytesMax, "validation passed an oversized value")
        Fuzz.require(
            write.field.knownKind.map { $0 == write.kind } ?? true, "validation passed a field of the wrong kind")
    } catch {
        // Refused: a verdict like any other.
    }
    return 0
}

/// Seeds: the canonical bodies of sample writes under each envelope, and malformed ones by hand.
@_cdecl("LLVMFuzzerInitialize")
public func initializeFieldWriteBodyFuzz(_ argc: UnsafeMutableRawPointer?, _ argv: UnsafeMutableRawPointer?) -> CInt {
    Fuzz.writeSeedsIfAsked {
        var seeds: [String: [UInt8]] = [:]
        for (name, write) in SampleWrites.all {
            // Envelope bytes: practice 0, hub 1, charity 2; referral +0, service +3.
            let envelope: UInt8 =
                write.record == SampleWrites.service ? 5 : write.origin == SampleWrites.hubOrigin ? 1 : 0
            seeds[name] = [envelope] + write.encodedBody()
        }
        seeds["hand-empty"] = [0]
        seeds["hand-truncated-varint"] = [0, 0x0A, 0xFF]
        seeds["hand-overlong-varint"] = [0, 0x10] + [UInt8](repeating: 0xFF, count: 10) + [0x01]
        seeds["hand-field-twice"] = [0, 0x0A, 0x01, 0x61, 0x0A, 0x0F] + Array("routing.urgency".utf8)
        seeds["hand-wrong-wire-type"] = [0, 0x0D, 0, 0, 0, 0]
        seeds["hand-fixed64-unknown"] =
            [0, 0x0A, 0x0F] + Array("routing.urgency".utf8) + [0x1A, 0x00, 0x39] + [UInt8](repeating: 1, count: 8)
        return seeds
    }
    return 0
}
