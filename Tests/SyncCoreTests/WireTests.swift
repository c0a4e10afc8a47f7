import Testing

@testable import SyncCore

@Suite("field write encoding")
struct WireTests {
    let origin = HistoryGenerator.origin(HistoryGenerator.hub)
    let record = HistoryGenerator.referrals[0]

    @Test("a body round-trips, and re-encoding gives the same bytes")
    func roundTrip() throws {
        var ctx = CausalContext()
        ctx.include(HistoryGenerator.origin(HistoryGenerator.practice), 4)
        ctx.include(origin, 2)
        let w = FieldWrite(
            origin: origin, seq: 9, hlc: HLC(millis: 1000, counter: 1), record: record, field: .contactPhone,
            kind: .register, value: FieldValue.text("07700900123"), context: ctx)
        let body = w.encodedBody()
        let back = try FieldWrite(origin: origin, seq: 9, hlc: w.hlc, record: record, body: body)
        #expect(back == w)
        #expect(back.encodedBody() == body)
    }

    @Test("unknown fields from a newer node are kept byte for byte")
    func unknownFieldsSurvive() throws {
        let w = FieldWrite(
            origin: origin, seq: 1, hlc: HLC(millis: 1, counter: 0), record: record, field: .routingUrgency,
            kind: .register, value: FieldValue.text("urgent"))
        // Field 9 (varint 150) and field 12 (bytes "hi"), as a newer version might add.
        let extra: [UInt8] = [0x48, 0x96, 0x01, 0x62, 0x02, 0x68, 0x69]
        let body = w.encodedBody() + extra
        let back = try FieldWrite(origin: origin, seq: 1, hlc: w.hlc, record: record, body: body)
        #expect(back.unknownFields == extra)
        #expect(back.encodedBody() == body)
        #expect(back.withoutValue.encodedBody().count < body.count)
    }

    @Test(
        "malformed bodies are refused with a typed error",
        arguments: [
            [UInt8](),  // no field name
            [0x0A, 0x05, 0x61],  // length past the end
            [0x0A, 0x02, 0xFF, 0xFE],  // invalid UTF-8
            [0x0A, 0x0D] + Array("contact.phone".utf8) + [0x10, 0x05],  // unknown kind
            [0x0A, 0x0D] + Array("contact.phone".utf8) + [0x08, 0x01],  // field 1 with the wrong wire type
            [0x0A, 0x0C] + Array("secret.thing".utf8),  // unknown class
            [0x0A, 0x0D] + Array("contact.phone".utf8) + [0x22, 0x02, 0x18, 0x01],  // context entry without node
            [0x0A, 0x0D] + Array("contact.phone".utf8) + [0x1B],  // group wire type
            [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01],  // varint overflow
        ])
    func malformed(body: [UInt8]) {
        #expect(throws: SyncError.self) {
            try FieldWrite(origin: origin, seq: 1, hlc: .zero, record: record, body: body)
        }
    }
}
