import Testing

@testable import SyncCore

/// Expects `body` to be refused with a message containing each of `parts`.
func expectRefused(
    _ parts: [String], sourceLocation: SourceLocation = #_sourceLocation, _ body: () throws(SyncError) -> Void
) {
    do {
        try body()
        Issue.record("accepted; expected a refusal saying \(parts)", sourceLocation: sourceLocation)
    } catch {
        for part in parts {
            #expect(error.message.contains(part), "\(error.message)", sourceLocation: sourceLocation)
        }
    }
}

@Suite("value rules")
struct ValueRulesTests {
    static let today = CalendarDate(year: 2026, month: 12, day: 1)!

    @Test("bytes that are not UTF-8 are refused, not replaced")
    func utf8() throws {
        expectRefused(["--name", "not valid UTF-8"]) { () throws(SyncError) in
            _ = try ValueRules.utf8([0x50, 0x61, 0xFF, 0x74], "--name")
        }
        expectRefused(["not valid UTF-8"]) { () throws(SyncError) in
            _ = try ValueRules.utf8([0xC3], "contact.givenName")  // a sequence cut short
        }
        #expect(try ValueRules.utf8(Array("Zoë Ødegård".utf8), "--name") == "Zoë Ødegård")
    }

    @Test(
        "control characters are refused in one-line text, and all but the new line in free text",
        arguments: [
            ("Pat\u{1B}[31m", "an escape character (U+001B)"), ("Pat\r", "a carriage return (U+000D)"),
            ("Pat\u{07}", "a bell character (U+0007)"), ("Pat\u{00}", "a NUL character"),
            ("Pat\tSmith", "a tab"), ("Pat\u{85}", "a control character (U+0085)"),
            ("Pat\u{7F}", "a control character (U+007F)"),
        ])
    func controlCharacters(text: String, named: String) {
        expectRefused(["--name contains \(named)", "on one line"]) { () throws(SyncError) in
            try ValueRules.text(text, "--name", .line)
        }
        expectRefused(["--note contains \(named)", "new lines are the only"]) { () throws(SyncError) in
            try ValueRules.text(text, "--note", .freeText)
        }
    }

    @Test("a new line is free text's only control character; one-line text has none")
    func newLines() throws {
        try ValueRules.text("Rang twice.\nNo answer.", "--note", .freeText)
        try ValueRules.text("Zoë O'Brien-Smith 日本", "--name", .line)
        expectRefused(["a new line"]) { () throws(SyncError) in try ValueRules.text("Pat\nSmith", "--name", .line) }
        expectRefused(["a line separator"]) { () throws(SyncError) in
            try ValueRules.text("Pat\u{2028}Smith", "--name", .line)
        }
    }

    @Test(
        "dates of birth: real dates only, from 1900, not in the future",
        arguments: [
            ("2026-02-30", "is not a real date; use YYYY-MM-DD"), ("2999-01-01", "is in the future"),
            ("2026-12-02", "is in the future"), ("2023-02-29", "is not a real date"), ("1900-02-29", "not a real date"),
            ("2026-13-01", "not a real date"), ("2026-04-31", "not a real date"), ("1956-3-14", "is not a date"),
            ("14/03/1956", "is not a date"), ("", "is not a date"), ("1899-12-31", "is before 1900"),
            ("１９５６-03-14", "is not a date"),
        ])
    func datesOfBirthRefused(text: String, why: String) {
        expectRefused(["--dob", why]) { () throws(SyncError) in
            try ValueRules.dateOfBirth(text, "--dob", notAfter: Self.today)
        }
    }

    @Test("good dates of birth pass, leap days and today included")
    func datesOfBirth() throws {
        for text in ["1956-03-14", "2000-02-29", "2024-02-29", "1900-01-01", "2026-12-01"] {
            #expect(try ValueRules.dateOfBirth(text, "--dob", notAfter: Self.today).description == text)
        }
    }

    @Test("calendar days from clock times and back agree with the calendar")
    func calendarDays() {
        #expect(CalendarDate(utcMillis: 0).description == "1970-01-01")
        #expect(CalendarDate(utcMillis: 1_780_000_000_000).description == "2026-05-28")
        #expect(CalendarDate(utcMillis: 951_782_400_000).description == "2000-02-29")
        for days in stride(from: -30_000, through: 40_000, by: 97) {
            #expect(CalendarDate(daysSinceEpoch: days).daysSinceEpoch == days)
        }
        #expect(CalendarDate(year: 2026, month: 12, day: 31)!.adding(days: 1).description == "2027-01-01")
    }

    @Test(
        "UK phone numbers by their shape",
        arguments: [
            ("07700900123", true), ("07700 900123", true), ("+44 7700 900123", true), ("+447700900123", true),
            ("0113 496 0000", true), ("01632 960123", true), ("0800 123456", true),
            ("abc;rm -rf", false), ("0770", false), ("+44 07700 900123", false), ("077009001234", false),
            ("7700900123", false), ("07700-900123", false), ("(0113) 496 0000", false), ("+1 202 555 0100", false),
            ("0770090012\u{1B}", false), ("", false),
        ])
    func phones(text: String, valid: Bool) {
        if valid {
            #expect(throws: Never.self) { try ValueRules.ukPhone(text, "--phone") }
        } else {
            expectRefused(["--phone", "is not a UK phone number", "starting with 0"]) { () throws(SyncError) in
                try ValueRules.ukPhone(text, "--phone")
            }
        }
    }

    @Test(
        "email addresses by their shape",
        arguments: [
            ("pat@example.org", true), ("pat.smith+sp@nhs.net", true), ("o'brien@example.co.uk", true),
            ("zoë@example.org", true), ("notanemail", false), ("pat@example", false), ("pat @example.org", false),
            ("a@b@example.org", false), ("@example.org", false), ("pat@.org", false), ("pat@example..org", false),
            (".pat@example.org", false), ("pat@-example.org", false), ("pat@example.o", false),
            ("pat@example.org\r", false), ("pat;rm@example.org", false), ("", false),
        ])
    func emails(text: String, valid: Bool) {
        if valid {
            #expect(throws: Never.self) { try ValueRules.email(text, "--email") }
        } else {
            expectRefused(["--email", "is not an email address", "name@example.org"]) { () throws(SyncError) in
                try ValueRules.email(text, "--email")
            }
        }
    }

    @Test("capacity and other counts stay within their named limits")
    func counts() throws {
        let limits = Limits.standard
        expectRefused(["maximum 9223372036854775807 is out of range", "0 to 100000", "capacityMax"]) {
            () throws(SyncError) in
            try ServiceCapacity(unit: "places", available: 0, maximum: Int.max, updated: 0).validate()
        }
        expectRefused(["available -1 is out of range"]) { () throws(SyncError) in
            try ServiceCapacity(unit: "places", available: -1, maximum: 3, updated: 0).validate()
        }
        expectRefused(["capacity unit contains an escape character"]) { () throws(SyncError) in
            try ServiceCapacity(unit: "pl\u{1B}aces", available: 1, maximum: 3, updated: 0).validate()
        }
        try ServiceCapacity(unit: "places", available: limits.capacityMax, maximum: limits.capacityMax, updated: 0)
            .validate()
        expectRefused(["--age-max 151 is out of range", "ageYearsMax"]) { () throws(SyncError) in
            try ValueRules.count(151, "--age-max", 0...limits.ageYearsMax, limit: "ageYearsMax")
        }
    }
}

@Suite("value rules on receipt")
struct ReceiptValueTests {
    /// A write of `value` to `field` of the referral, made at `millis` by its PCN hub (a party, who
    /// may write every class of it).
    static func write(_ field: FieldKey, _ value: [UInt8], millis: UInt64 = 1_780_000_000_000) -> FieldWrite {
        var s = Scenario()
        return s.write(Scenario.hub, field, value, hlc: millis)
    }

    @Test(
        "a peer's write with a value the rules refuse is refused, whatever field carries it",
        arguments: [
            (FieldKey.contactPhone, "abc;rm -rf", "is not a UK phone number"),
            (.contactEmail, "notanemail", "is not an email address"),
            (.clinicalDateOfBirth, "2026-02-30", "is not a real date"),
            (.clinicalDateOfBirth, "2999-01-01", "is in the future"),
            (.contactGivenName, "Pat\u{1B}]0;owned\u{07}", "an escape character"),
            (.routingNote, "call\rback", "a carriage return"), (.clinicalAddress, "1 High St\u{07}", "a bell"),
            (.contactInterpreter, "Polish\nGerman", "a new line"),
            (.progressNotes, #"{"text":"rang\u001b"}"#, "progress.notes: text contains an escape character"),
            (.progressEvents, #"{"event":"referred","reason":"x\u0007"}"#, "reason contains a bell"),
            (.outcomeEntries, #"{"message":"\r"}"#, "message contains a carriage return"),
            (.routingNeeds, #"["lone\u0000liness"]"#, "a need contains a NUL"),
            (.consent, #"{"at":1,"basis":"expl\u001bicit","recordedBy":"A81001"}"#, "basis contains an escape"),
            (.clinicalSnomed, #"{"code":"1\n2"}"#, "code contains a new line"),
        ])
    func refused(field: FieldKey, value: String, why: String) {
        let w = Self.write(field, FieldValue.text(value))
        expectRefused([field.rawValue, why]) { () throws(SyncError) in try Validation.check(w) }
    }

    @Test("value bytes that are not UTF-8 are refused on receipt")
    func notUTF8() {
        let w = Self.write(.contactGivenName, [0x50, 0xFF])
        expectRefused(["contact.givenName is not valid UTF-8"]) { () throws(SyncError) in try Validation.check(w) }
    }

    @Test("capacity of Int.max from a peer is refused; within capacityMax it passes")
    func capacity() throws {
        var s = Scenario()
        let huge = FieldValue.json(ServiceCapacity(unit: "places", available: 1, maximum: Int.max, updated: 1))
        let w = s.write(Scenario.charityA, .serviceCapacity, huge, record: Scenario.serviceA)
        expectRefused(["capacityMax"]) { () throws(SyncError) in try Validation.check(w) }
        let fine = FieldValue.json(ServiceCapacity(unit: "places", available: 1, maximum: 100_000, updated: 1))
        try Validation.check(s.write(Scenario.charityA, .serviceCapacity, fine, record: Scenario.serviceA))
    }

    @Test("good values pass on receipt: shaped fields may also be empty (cleared); free text keeps its new lines")
    func good() throws {
        for (field, value) in [
            (FieldKey.contactPhone, "07700 900123"), (.contactPhone, "+44 7700 900123"), (.contactPhone, ""),
            (.contactEmail, "pat@example.org"), (.contactEmail, ""), (.clinicalDateOfBirth, "1956-03-14"),
            (.clinicalDateOfBirth, ""), (.routingNote, "Lives alone.\nPrefers mornings."),
            (.progressNotes, #"{"text":"Rang twice.\nNo answer."}"#), (.contactGivenName, "Zoë"),
        ] {
            try Validation.check(Self.write(field, FieldValue.text(value)))
        }
    }

    @Test("a date of birth is judged against the day its write was made, so every node reaches the same verdict")
    func dateOfBirthByWriteDay() throws {
        let made = CalendarDate(year: 2026, month: 5, day: 28)!
        let millis = UInt64(made.daysSinceEpoch) * 86_400_000 + 3_600_000
        // The day after is allowed (a time zone ahead of UTC); two days after is not, at any node, ever.
        try Validation.check(Self.write(.clinicalDateOfBirth, FieldValue.text("2026-05-29"), millis: millis))
        let ahead = Self.write(.clinicalDateOfBirth, FieldValue.text("2026-05-30"), millis: millis)
        expectRefused(["in the future"]) { () throws(SyncError) in try Validation.check(ahead) }
    }
}
