import Testing

@testable import SyncCore

@Suite("identifiers")
struct IdentifierTests {
    @Test(
        "node ids: the scheme gives the role",
        arguments: [
            ("A81001", Role.practice), ("Y02345", .practice), ("U12345", .hub),
            ("GB-CHC-1234567", .vcse), ("GB-CHC-123456", .vcse), ("GB-SC-SC012345", .vcse),
            ("GB-COH-01234567", .vcse), ("GB-COH-SC123456", .vcse),
        ])
    func nodeRoles(text: String, role: Role) throws {
        #expect(try NodeID(text).role == role)
    }

    @Test(
        "invalid node ids are refused with a hint",
        arguments: [
            "", "a81001", "A8100", "A810011", "U1234X", "GB-CHC-12", "GB-CHC-12345678901", "GB-SC-012345",
            "GB-COH-0123", "gb-chc-1234567", "A81001 ", "R.A81001",
        ])
    func invalidNodeIDs(text: String) {
        #expect(throws: SyncError.self) { try NodeID(text) }
        do { _ = try NodeID(text) } catch { #expect(error.message.contains("A81001")) }
    }

    @Test("record ids carry their immutable facts")
    func recordIDs() throws {
        let uuid = UUIDv7(millis: 1_780_000_000_000, random: (0x1234, 0xABCD_EF01_2345_6789))
        let s = try RecordID.service(owner: NodeID("GB-CHC-1234567"), uuid: uuid)
        #expect(s.serviceOwner == (try NodeID("GB-CHC-1234567")))
        #expect(try RecordID(s.rawValue) == s)
        let r = try RecordID.referral(practice: NodeID("A81001"), pcn: NodeID("U12345"), uuid: uuid)
        #expect(r.rawValue.hasPrefix("R.A81001.U12345.019e"))
        #expect(r.referralParties?.practice.rawValue == "A81001")
        #expect(r.referralParties?.pcn.rawValue == "U12345")
        #expect(try RecordID("A81001").kind == .organisation(NodeID("A81001")))
        #expect(uuid.version == 7)
        #expect(uuid.millis == 1_780_000_000_000)
        #expect(try UUIDv7(uuid.description) == uuid)
    }

    @Test(
        "malformed record ids are refused",
        arguments: [
            "S.A81001.0199a0a0-0000-7000-8000-000000000000",  // a practice cannot own a service
            "R.U12345.A81001.0199a0a0-0000-7000-8000-000000000000",  // PCN and practice swapped
            "R.A81001.U12345.not-a-uuid",
            "R.A81001.U12345.0199a0a0-0000-4000-8000-000000000000",  // not version 7
            "X.A81001", "S.GB-CHC-1234567", "",
            "S.GB-CHC-1234567.0199A0A0-0000-7000-8000-000000000000",  // uppercase: not the canonical text
            "S.GB-CHC-1234567.0199a0a0-0000-7000-8000-000000000000.x",
            "SX.GB-CHC-1234567.0199a0a0-0000-7000-8000-000000000000",
            "R..U12345.0199a0a0-0000-7000-8000-000000000000", "R.A81001.U12345.", ".A81001", "A81001.",
            "R.A81001.U12345.0199a0a0-0000-7000-8000-00000000000",  // one hex digit short
            "R.A81001.U12345.0199a0a0-0000-7000-8000-0000000000000",  // one too many
        ])
    func badRecordIDs(text: String) {
        #expect(throws: SyncError.self) { try RecordID(text) }
    }

    @Test("NHS numbers: modulus 11 check digit", arguments: ["9990000018", "999 000 0026", "9990000034"])
    func validNHS(text: String) throws {
        #expect(try NHSNumber(text).digits.count == 10)
    }

    @Test(
        "NHS numbers with a wrong check digit, a check of 10, or the wrong length are refused",
        arguments: ["9990000019", "999000001", "99900000180", "999000001X", "9990000000"])
    func invalidNHS(text: String) {
        #expect(throws: SyncError.self) { try NHSNumber(text) }
    }

    @Test("field keys carry their class; unknown classes are refused")
    func fieldKeys() throws {
        #expect(try FieldKey("contact.phone") == .contactPhone)
        #expect(try FieldKey("contact.whatsapp").knownKind == nil)
        #expect(try FieldKey("contact.~redact").isRedaction)
        #expect(throws: SyncError.self) { try FieldKey("secret.thing") }
        #expect(throws: SyncError.self) { try FieldKey("phone") }
    }
}

@Suite("hybrid logical clock")
struct HLCTests {
    @Test("48-bit milliseconds and a 16-bit counter in one UInt64")
    func layout() {
        let h = HLC(millis: 1_780_000_000_000, counter: 7)
        #expect(h.millis == 1_780_000_000_000)
        #expect(h.counter == 7)
        #expect(h.rawValue == 1_780_000_000_000 << 16 | 7)
    }

    @Test("ticks are strictly increasing even when the wall clock stalls or steps back")
    func monotonic() {
        var clock = HybridLogicalClock()
        var last = HLC.zero
        for wall in [100, 100, 99, 50, 101, 101, 200] as [UInt64] {
            let t = clock.tick(wallMillis: wall)
            #expect(t > last)
            last = t
        }
    }

    @Test("observing a remote stamp moves the clock past it; the counter carries into milliseconds")
    func observe() {
        var clock = HybridLogicalClock()
        clock.observe(HLC(millis: 500, counter: .max))
        let t = clock.tick(wallMillis: 10)
        #expect(t == HLC(millis: 501, counter: 0))
        #expect(clock.aheadMillis(ofWall: 10) == 491)
    }
}

@Suite("limits")
struct LimitsTests {
    @Test("limits agree with each other: the largest change fits in a frame, so a batch can always progress")
    func batchFitsFrame() {
        let l = Limits.standard
        #expect(l.changeBytesMax + 64 < l.frameBytesMax)
        #expect(l.fieldWriteBytesMax < l.frameBytesMax)
        #expect(l.batchChangesMax > 0 && l.windowBatches > 0)
        #expect(l.clockSkewMaxMillis == 300_000)
    }
}
