import SyncCore

/// Field writes of the kinds nodes exchange, to make seeds from: a routing register with a causal
/// context, a set element, a redacted write, a write with fields of a newer version, a service write.
public enum SampleWrites {
    public static let practice = node("A81001")
    public static let hub = node("U12345")
    public static let charity = node("GB-CHC-1234567")
    public static let practiceOrigin = Origin(node: practice, incarnation: incarnation(0x10))
    public static let hubOrigin = Origin(node: hub, incarnation: incarnation(0x20))
    public static let charityOrigin = Origin(node: charity, incarnation: incarnation(0x30))
    public static let referral = record("R.A81001.U12345.01900000-0000-7000-8000-000000000001")
    public static let service = record("S.GB-CHC-1234567.01900000-0000-7000-8000-000000000002")
    public static let hlc = HLC(rawValue: 116_654_080_000_000_001)

    /// The writes, each with a short name for its seed file.
    public static var all: [(name: String, write: FieldWrite)] {
        let salt = [UInt8](repeating: 0x5A, count: Seal.saltBytes)
        return [
            (
                "routing-urgency",
                FieldWrite(
                    origin: practiceOrigin, seq: 7, hlc: hlc, record: referral, field: .routingUrgency, kind: .register,
                    value: Array("soon".utf8), context: CausalContext([hubOrigin: 3]), salt: salt)
            ),
            (
                "progress-event",
                FieldWrite(
                    origin: charityOrigin, seq: 2, hlc: hlc, record: referral, field: .progressEvents, kind: .set,
                    value: Array(
                        #"{"kind":"accepted","service":"S.GB-CHC-1234567.01900000-0000-7000-8000-000000000002"}"#.utf8),
                    context: CausalContext([practiceOrigin: 7, hubOrigin: 3]), salt: salt)
            ),
            (
                "contact-phone-redacted",
                FieldWrite(
                    origin: practiceOrigin, seq: 8, hlc: hlc, record: referral, field: .contactPhone, kind: .register,
                    value: nil, carriedValueDigest: [UInt8](repeating: 0xD1, count: Seal.digestBytes))
            ),
            (
                "unknown-fields",
                FieldWrite(
                    origin: hubOrigin, seq: 4, hlc: hlc, record: referral, field: FieldKey(.routing, "newerField"),
                    kind: .register, value: Array("x".utf8), unknownFields: [0x40, 0x01, 0x4A, 0x02, 0x68, 0x69],
                    salt: salt)
            ),
            (
                "service-capacity",
                FieldWrite(
                    origin: charityOrigin, seq: 1, hlc: hlc, record: service, field: .serviceCapacity, kind: .register,
                    value: Array(#"{"available":5,"maximum":12,"unit":"places"}"#.utf8))
            ),
        ]
    }

    /// A version 7 UUID whose bytes count up from `first` (fixed, so seeds are stable).
    public static func incarnation(_ first: UInt8) -> Incarnation {
        do {
            return try UUIDv7(bytes: (0..<16).map { i in i == 6 ? 0x70 : i == 8 ? 0x80 : first &+ UInt8(i) })
        } catch {
            preconditionFailure("sample incarnation: \(error)")
        }
    }

    private static func node(_ text: String) -> NodeID {
        do {
            return try NodeID(text)
        } catch {
            preconditionFailure("sample node \(text): \(error)")
        }
    }

    private static func record(_ text: String) -> RecordID {
        do {
            return try RecordID(text)
        } catch {
            preconditionFailure("sample record \(text): \(error)")
        }
    }
}
