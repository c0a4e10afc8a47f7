import Foundation
import GRDB
import SyncCore
import SyncDomain
import SyncProtocol
import SyncSimulation
import SyncStore
import SyncTransport

// spsync-protocol-bench: the sync protocol through the real session code and SQLite stores, with
// an in-memory connection (no TLS). Not a test: it prints figures (see Protocol/README.md).
//
//   (a) initial sync of 125,000 referrals × 8 fields = 1,000,000 field writes from a practice to a
//       new hub store: field writes per second, end to end (HELLO to BYE). Each referral is made
//       of the field writes the domain API builds for `referral create` (needs, the referred event,
//       urgency, a note, consent, given name, phone, email).
//   (b) stores of 20,000 and 200,000 referrals on both sides; 100 referrals changed (one field
//       each) at the practice; one session: bytes on the wire per changed field beside the raw size
//       of the changed values.
//   The reference in the same run: the same field writes inserted as plain SQLite rows (a table
//       with an equivalent unique key, one transaction, a prepared statement).
//   (c) origin signatures: changes signed per second (digests and ECDSA, as `Store.write` signs)
//       and verified per second (the store's own check of a received batch, on every core), and
//       the bytes signatures add on the wire in (a) and (b).
//
// Usage: spsync-protocol-bench [referrals-for-(a), default 125000]

let wall: UInt64 = 1_780_000_000_000
let practice = try NodeID("A81001")
let hub = try NodeID("U12345")
// The keys that sign each node's changes, as `spsync init` would make them.
let practiceKey = try NodeIdentity.makeInMemory(nodeID: practice.rawValue)
let hubKey = try NodeIdentity.makeInMemory(nodeID: hub.rawValue)
let root = NSTemporaryDirectory() + "spsync-protocol-bench-" + UUID().uuidString
try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
defer { try? FileManager.default.removeItem(atPath: root) }

func seconds(_ start: Date) -> Double { Date().timeIntervalSince(start) }

/// A salt for write `n`: 16 bytes, distinct per write.
func salt(_ n: Int) -> [UInt8] {
    (0..<8).map { UInt8(truncatingIfNeeded: UInt64(n) >> (8 * $0)) } + Array(repeating: 0x5A, count: 8)
}

/// The field writes of referral `i`, as the domain API builds them for `referral create`.
func referralFields(_ i: Int) -> [(FieldKey, [UInt8])] {
    Domain.referralFields(
        Domain.NewReferral(
            needs: [.loneliness], urgency: .routine, note: "Walking group, Tuesdays", consent: .implied,
            person: .init(
                givenName: "Sam", phone: "07700 9\(String(format: "%05d", i % 100_000))", email: "sam\(i)@example.org")),
        by: practice, at: wall)
}
let perReferral = referralFields(0).count

func referralID(_ i: Int) throws -> RecordID {
    try RecordID.referral(
        practice: practice, pcn: hub, uuid: UUIDv7(millis: wall + UInt64(i), random: (UInt64(i), 0x5eed)))
}

/// A practice store holding `count` referrals of `perReferral` field writes each, its own writes, loaded in bulk.
func loadPractice(_ name: String, referrals count: Int) throws -> Store {
    let store = try Store.create(
        at: "\(root)/\(name)-practice.sqlite", node: practice, wallMillis: wall, signer: practiceKey)
    // The writes come from an earlier incarnation of the practice (as after a restore), so the
    // store's own seq counter, which a bulk load does not move, stays free for the later edits.
    // They are signed with the practice's key, bound to that incarnation as the practice's own.
    let origin = Origin(node: practice, incarnation: UUIDv7(millis: wall - 1, random: (1, 1)))
    let refused = try store.addKeyBindings(
        [try KeyBinding.first(of: origin, signer: practiceKey)], from: practice, policy: DeliveryAnchorPolicy(),
        wallMillis: wall)
    precondition(refused.isEmpty, "the practice refused its own earlier key: \(refused)")
    var seq: UInt64 = 0
    var batch: [IncomingChange] = []
    func flush() throws {
        _ = try store.apply(batch.map(IncomingItem.change), from: hub, checkpoint: nil, wallMillis: wall)
        batch.removeAll(keepingCapacity: true)
    }
    for i in 0..<count {
        seq += 1
        let record = try referralID(i)
        let hlc = HLC(millis: wall, counter: UInt16(truncatingIfNeeded: i))
        let bodies = referralFields(i).enumerated().map { n, fieldValue in
            // Every referral write carries a 16-byte salt; fixed ones do for a benchmark.
            FieldWrite(
                origin: origin, seq: seq, hlc: hlc, record: record, field: fieldValue.0,
                kind: fieldValue.0.knownKind ?? .register, value: fieldValue.1, salt: salt(i * perReferral + n)
            )
            .encodedBody()
        }
        batch.append(
            try IncomingChange(origin: origin, seq: seq, hlc: hlc, record: record.rawValue, bodies: bodies)
                .signed(by: practiceKey))
        if batch.count == 5000 { try flush() }
    }
    if !batch.isEmpty { try flush() }
    return store
}

func initialSync(_ name: String, referrals: Int) throws -> (practice: Store, hub: Store) {
    var start = Date()
    let p = try loadPractice(name, referrals: referrals)
    print(
        "  loaded \(referrals * perReferral) field writes into the practice store in \(String(format: "%.1f", seconds(start))) s"
    )
    let h = try Store.create(at: "\(root)/\(name)-hub.sqlite", node: hub, wallMillis: wall, signer: hubKey)
    start = Date()
    let o = try MemorySync.sync(h, p, nowMillis: wall)
    let t = seconds(start)
    precondition(o.clean && o.a.applied == referrals * perReferral, "initial sync incomplete: \(o)")
    // The practice pulls once from the hub too, so both checkpoints are at the end before (b).
    let settled = try MemorySync.sync(p, h, nowMillis: wall)
    precondition(settled.clean, "settling sync failed")
    print(
        "  initial sync: \(o.a.applied) field writes in \(String(format: "%.1f", t)) s = "
            + "\(Int(Double(o.a.applied) / t)) writes/s; \(o.b.batchesOut) batches, \(o.a.bytesIn + o.a.bytesOut) bytes on the wire "
            + "(\(String(format: "%.1f", Double(o.a.bytesIn) / Double(o.a.applied))) B per write)")
    let changes = Double(referrals)
    print(
        "  of which signatures: \(o.b.signatureBytesOut) B = \(String(format: "%.1f", Double(o.b.signatureBytesOut) / changes)) B per change "
            + "(\(String(format: "%.1f", Double(o.b.signatureBytesOut) / Double(o.a.applied))) B per write), key bindings "
            + "\(o.b.keyBytesOut) B; salts 18 B per referral write")
    return (p, h)
}

func delta(_ name: String, _ stores: (practice: Store, hub: Store), referrals: Int) throws {
    var raw = 0
    for k in 0..<100 {
        let value = "07700 901\(String(format: "%03d", k))"
        raw += value.utf8.count
        try Domain(store: stores.practice, pcn: hub).update(
            try referralID(k * (referrals / 100)), .init(person: .init(phone: value)), at: wall + 1000 + UInt64(k))
    }
    let start = Date()
    let o = try MemorySync.sync(stores.hub, stores.practice, nowMillis: wall + 2000)
    precondition(o.clean && o.a.applied == 100, "delta sync incomplete: \(o)")
    let total = o.a.bytesIn + o.a.bytesOut
    let batches = o.a.bytesIn
    print(
        "  \(referrals) referrals each side, 100 changed: \(total) bytes both ways = \(total / 100) B per changed field "
            + "(raw values \(raw / 100) B per field); hub←practice \(batches) B, hub→practice \(o.a.bytesOut) B; "
            + "\(String(format: "%.0f", seconds(start) * 1000)) ms; signatures \(o.b.signatureBytesOut / 100) B per change, "
            + "key bindings \(o.b.keyBytesOut) B")
}

let big = CommandLine.arguments.dropFirst().first.flatMap(Int.init) ?? 125_000
print("(a) initial sync, \(big) referrals × \(perReferral) fields = \(big * perReferral) field writes")
let large = try initialSync("large", referrals: big)
do {
    let plain = try DatabaseQueue(path: "\(root)/plain.sqlite")
    try plain.write { db in
        try db.execute(sql: "PRAGMA journal_mode = WAL")
        try db.execute(
            sql: """
                CREATE TABLE w (origin TEXT NOT NULL, seq INTEGER NOT NULL, hlc INTEGER NOT NULL, record TEXT NOT NULL,
                  field TEXT NOT NULL, body BLOB NOT NULL, UNIQUE (origin, seq, field)) STRICT
                """)
    }
    let fields = referralFields(0).map(\.0.rawValue)
    let start = Date()
    try plain.write { db in
        let insert = try db.makeStatement(
            sql: "INSERT INTO w (origin, seq, hlc, record, field, body) VALUES (?, ?, ?, ?, ?, ?)")
        for i in 0..<big {
            let record = try referralID(i).rawValue
            for (n, field) in fields.enumerated() {
                try insert.execute(arguments: [
                    "A81001", Int64(i + 1), Int64(i), record, field,
                    Data(salt(i * perReferral + n) + Array(field.utf8)),
                ])
            }
        }
    }
    let t = seconds(start)
    print(
        "  reference, same run: \(big * perReferral) plain SQLite rows in \(String(format: "%.1f", t)) s = "
            + "\(Int(Double(big * perReferral) / t)) rows/s")
}
print("(b) bytes per changed field")
let small = try initialSync("small", referrals: 20_000)
try delta("small", small, referrals: 20_000)
try delta("large", large, referrals: big)

print("(c) origin signatures")
do {
    // Changes of the referral writes of (a), from a new incarnation of the practice whose key
    // binding the hub of (a) is then given as the practice would send it.
    let n = 20_000
    let origin = Origin(node: practice, incarnation: UUIDv7(millis: wall - 2, random: (2, 2)))
    var unsigned: [IncomingChange] = []
    for i in 0..<n {
        let record = try referralID(i)
        let hlc = HLC(millis: wall + 5000, counter: UInt16(truncatingIfNeeded: i))
        let bodies = referralFields(i).enumerated().map { k, fieldValue in
            FieldWrite(
                origin: origin, seq: UInt64(i + 1), hlc: hlc, record: record, field: fieldValue.0,
                kind: fieldValue.0.knownKind ?? .register, value: fieldValue.1, salt: salt(i * perReferral + k)
            ).encodedBody()
        }
        unsigned.append(
            IncomingChange(origin: origin, seq: UInt64(i + 1), hlc: hlc, record: record.rawValue, bodies: bodies))
    }
    var start = Date()
    let signed = try unsigned.map { try $0.signed(by: practiceKey) }
    let signing = seconds(start)
    try large.hub.addKeyBindings(
        [try KeyBinding.first(of: origin, signer: practiceKey)], from: practice, policy: DeliveryAnchorPolicy(),
        wallMillis: wall)
    start = Date()
    var valid = 0
    for chunk in stride(from: 0, to: n, by: 512) {
        valid += try large.hub.signatureVerdicts(Array(signed[chunk..<min(n, chunk + 512)])).filter { $0 == true }.count
    }
    let verifying = seconds(start)
    precondition(valid == n, "only \(valid) of \(n) signatures verified")
    print(
        "  signing: \(n) changes in \(String(format: "%.2f", signing)) s = \(Int(Double(n) / signing)) changes/s (one core); "
            + "verifying: \(Int(Double(n) / verifying)) changes/s (batches of 512, \(ProcessInfo.processInfo.activeProcessorCount) cores), "
            + "signature 64 B + 2 B framing per change")
}
