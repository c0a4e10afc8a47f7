import SyncCore

/// Fixed identities, record ids and field values the store and protocol tests share.
public enum Fixture {
    /// The wall clock (Unix milliseconds) the tests write at.
    public static let wall: UInt64 = 1_780_000_000_000
    /// A GP practice.
    public static let practice = try! NodeID("A81001")
    /// The practice's PCN hub.
    public static let hub = try! NodeID("U12345")
    /// A charity (England and Wales).
    public static let charity = try! NodeID("GB-CHC-1234567")
    /// A second charity (Scotland).
    public static let charity2 = try! NodeID("GB-SC-SC012345")

    /// A UUIDv7 made from `n` alone, timed `n` ms after `wall`.
    public static func uuid(_ n: UInt64) -> UUIDv7 { UUIDv7(millis: wall + n, random: (n, n &* 7919)) }
    /// A service of `charity`.
    public static let service = try! RecordID.service(owner: charity, uuid: uuid(1))
    /// A service of `charity2`.
    public static let service2 = try! RecordID.service(owner: charity2, uuid: uuid(2))
    /// Referral `n` of `practice` to `hub`.
    public static func referral(_ n: UInt64) -> RecordID {
        try! RecordID.referral(practice: practice, pcn: hub, uuid: uuid(100 + n))
    }

    /// A text field's value.
    public static func text(_ s: String) -> [UInt8] { FieldValue.text(s) }

    /// A service capacity in places, updated at `wall`.
    public static func capacity(_ available: Int, _ maximum: Int) -> [UInt8] {
        FieldValue.json(ServiceCapacity(unit: "places", available: available, maximum: maximum, updated: wall))
    }

    /// Consent recorded by `practice` at `wall`: explicit or implied, and withdrawn at `wall` when `withdrawn`.
    public static func consent(explicit: Bool, withdrawn: Bool = false) -> [UInt8] {
        FieldValue.json(
            Consent(
                basis: explicit ? "explicit" : "implied", recordedBy: "A81001", at: wall,
                withdrawnAt: withdrawn ? wall : nil))
    }
}
