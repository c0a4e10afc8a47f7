import Foundation
import SyncCore
import SyncDomain
import SyncStore
import SyncTransport

/// `spsync-bench erase`: what erasure costs at a charity. A store holding N referrals addressed to
/// the charity's service (contact details under explicit consent) receives, one change per batch
/// as a live session delivers them, consent withdrawals (each purges two values, zeroes their
/// pages and truncates the WAL) and, as the control, the same number of consent changes that
/// erase nothing; both go through `Store.apply` and the judgement a session makes at `CAUGHT_UP`.
enum EraseBench {
    static func run() throws {
        let referrals = option("--referrals", default: 20_000)
        let rounds = option("--rounds", default: 200)
        precondition(rounds * 2 <= referrals, "--rounds at most half of --referrals")
        let dir = NSTemporaryDirectory() + "spsync-bench-erase-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }

        let practice = try NodeID("A81001"), hub = try NodeID("U12345"), charity = try NodeID("GB-CHC-1234567")
        let origin = Origin(node: practice, incarnation: UUIDv7(millis: 1, random: (1, 2)))
        let key = try NodeIdentity.makeInMemory(nodeID: practice.rawValue)
        let wall: UInt64 = 1_780_000_000_000
        let service = try RecordID.service(owner: charity, uuid: UUIDv7(millis: wall, random: (9, 9)))
        var seq: UInt64 = 0
        func change(_ record: RecordID, _ values: [(FieldKey, [UInt8])], at millis: UInt64) throws -> IncomingChange {
            seq += 1
            let hlc = HLC(millis: millis, counter: 0)
            let bodies = values.enumerated().map { n, fieldValue in
                let salt = (0..<16).map { UInt8(truncatingIfNeeded: (Int(seq) * 7 + n) >> (($0 % 8) * 8)) }
                return FieldWrite(
                    origin: origin, seq: seq, hlc: hlc, record: record, field: fieldValue.0,
                    kind: fieldValue.0.knownKind ?? .register,
                    value: fieldValue.1, salt: salt
                ).encodedBody()
            }
            return try IncomingChange(origin: origin, seq: seq, hlc: hlc, record: record.rawValue, bodies: bodies)
                .signed(by: key)
        }
        func consent(withdrawn: Bool, at millis: UInt64) -> [UInt8] {
            Domain.consentValue(
                withdrawn ? .withdrawn : .given(.explicit),
                held: Consent(basis: ConsentBasis.explicit.rawValue, recordedBy: practice.rawValue, at: wall),
                by: practice, at: millis)
        }

        print(
            "preparing \(referrals) referrals addressed to the charity, with contact details under explicit consent …")
        var records: [RecordID] = []
        var setup: [IncomingChange] = []
        for i in 0..<referrals {
            let record = try RecordID.referral(
                practice: practice, pcn: hub, uuid: UUIDv7(millis: wall + UInt64(i), random: (UInt64(i), 77)))
            records.append(record)
            // As the practice's `referral create` makes it (the domain's field builder).
            let fields = Domain.referralFields(
                Domain.NewReferral(
                    needs: [.loneliness], service: service, consent: .explicit,
                    person: .init(givenName: "Person \(i)", phone: "07700 9\(String(format: "%05d", i % 100_000))")),
                by: practice, at: wall)
            setup.append(try change(record, fields, at: wall + UInt64(i)))
        }
        let store = try Store.create(at: dir + "/charity.sqlite", node: charity, wallMillis: wall)
        let refused = try store.addKeyBindings(
            [try KeyBinding.first(of: origin, signer: key)], from: practice, policy: DeliveryAnchorPolicy(),
            wallMillis: wall)
        precondition(refused.isEmpty, "the charity refused the practice's key")
        var after: UInt64 = 0
        func deliver(_ batch: [IncomingChange]) throws {
            let upTo = after + UInt64(batch.count)
            _ = try store.apply(
                batch.map { .change($0) }, from: practice,
                checkpoint: BatchCheckpoint(peerIncarnation: origin.incarnation, after: after, upTo: upTo),
                wallMillis: wall + 10_000_000)
            after = upTo
        }
        for start in stride(from: 0, to: setup.count, by: 500) {
            try deliver(Array(setup[start..<min(start + 500, setup.count)]))
        }
        try store.enforceAudience(Set(records), wallMillis: wall + 10_000_000)  // nothing to purge; settles the WAL

        let clock = ContinuousClock()
        var erasing: [Double] = []
        var control: [Double] = []
        var purged = 0
        // Alternate, so that the store's growth and the machine's load fall on both alike.
        for round in 0..<rounds {
            let later = wall + 1_000_000 + UInt64(round)
            let plain = records[2 * round + 1]
            let kept = try change(plain, [(.consent, consent(withdrawn: false, at: later))], at: later)
            control.append(
                seconds(
                    try clock.measure {
                        try deliver([kept])
                        purged += try store.enforceAudience([plain], wallMillis: wall + 10_000_000)
                    }) * 1000)
            let withdrawn = records[2 * round]
            let withdrawal = try change(withdrawn, [(.consent, consent(withdrawn: true, at: later))], at: later)
            erasing.append(
                seconds(
                    try clock.measure {
                        try deliver([withdrawal])
                        purged += try store.enforceAudience([withdrawn], wallMillis: wall + 10_000_000)
                    }) * 1000)
        }
        precondition(purged == rounds, "expected \(rounds) contact classes purged, got \(purged)")
        func summary(_ ms: [Double]) -> String {
            let s = ms.sorted()
            let mean = s.reduce(0, +) / Double(s.count)
            return String(
                format: "median %.2f ms, p90 %.2f ms, mean %.2f ms", s[s.count / 2], s[s.count * 9 / 10], mean)
        }
        print("store of \(referrals) referrals, \(store.fileBytes() / 1_048_576) MiB; \(rounds) changes of each kind:")
        print("  consent change that erases nothing:        \(summary(control))")
        print("  consent withdrawal (purge, zero, truncate): \(summary(erasing))")
        let extra = erasing.sorted()[rounds / 2] - control.sorted()[rounds / 2]
        print(String(format: "  erasure costs %.2f ms per withdrawal at the median", extra))
    }
}
