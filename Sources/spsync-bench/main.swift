import Foundation
import GRDB
import SyncCore
import SyncDomain
import SyncStore
import SyncTransport

// Benchmarks, not tests: run on demand in release mode, print figures.
//
//   swift run -c release spsync-bench store [--referrals 200000]
//   swift run -c release spsync-bench erase [--referrals 20000] [--rounds 200]
//   swift run -c release spsync-bench year [--out DIR] [--referrals 3000]
//   swift run -c release spsync-bench report [--referrals 200000]
//
// `store`: applies N referral changes of 7 field writes each (built by the domain API, as `referral create` makes them), received from a peer, through the
// merge path into a fresh SQLite store (origin signature, validation, idempotency, resolution,
// typed views, checkpoint per batch), then inserts the same rows as plain SQLite rows through the
// same library in one transaction, and prints both rates and their ratio.

func option(_ name: String, default value: Int) -> Int {
    let args = CommandLine.arguments
    guard let i = args.firstIndex(of: name), i + 1 < args.count, let v = Int(args[i + 1]) else { return value }
    return v
}

func seconds(_ d: Duration) -> Double { Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18 }

/// CPU time used by the whole process (all threads), in seconds: on a shared machine it varies
/// less with other load than wall time does.
func processCPUSeconds() -> Double {
    var t = timespec()
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t)
    return Double(t.tv_sec) + Double(t.tv_nsec) / 1e9
}

func benchStore() throws {
    let referrals = option("--referrals", default: 200_000)
    let batchChanges = option("--batch", default: Limits.standard.batchChangesMax)
    let dir = NSTemporaryDirectory() + "spsync-bench-\(UUID().uuidString)"
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: dir) }

    let practice = try NodeID("A81001"), hub = try NodeID("U12345")
    let origin = Origin(node: practice, incarnation: UUIDv7(millis: 1, random: (1, 2)))
    // The practice's key signs its changes, as `spsync init` would make it.
    let practiceKey = try NodeIdentity.makeInMemory(nodeID: practice.rawValue)
    let wall: UInt64 = 1_780_000_000_000
    // Each referral as a practice's `referral create` makes it (the domain's own field builder):
    // needs, the referred event, urgency, consent, a given name, a phone number, an NHS number.
    let nhs = ["9990000018", "9990000026", "9990000034", "9990000042"]
    func fields(_ i: Int) throws -> [(FieldKey, [UInt8])] {
        Domain.referralFields(
            Domain.NewReferral(
                needs: [.loneliness], urgency: .routine, consent: .implied,
                person: .init(
                    givenName: "Person \(i)", phone: "07700\(900000 + i % 99999)",
                    nhsNumber: try NHSNumber(nhs[i % nhs.count])
                )), by: practice, at: wall + UInt64(i))
    }
    let perReferral = try fields(0).count
    print(
        "preparing \(referrals) signed referral changes x \(perReferral) field writes = \(referrals * perReferral) field writes …"
    )
    var changes: [IncomingChange] = []
    changes.reserveCapacity(referrals)
    for i in 0..<referrals {
        let record = try RecordID.referral(
            practice: practice, pcn: hub,
            uuid: UUIDv7(millis: wall + UInt64(i), random: (UInt64(i), UInt64(i) &* 2654435761)))
        let seq = UInt64(i + 1)
        let hlc = HLC(millis: wall + UInt64(i), counter: 0)
        let bodies = try fields(i).enumerated().map { n, fieldValue in
            // Every referral write carries a 16-byte salt; fixed ones do for a benchmark.
            let salt =
                (0..<8).map { UInt8(truncatingIfNeeded: (i * perReferral + n) >> (8 * $0)) }
                + Array(repeating: 0x5A, count: 8)
            return FieldWrite(
                origin: origin, seq: seq, hlc: hlc, record: record, field: fieldValue.0,
                kind: fieldValue.0.knownKind ?? .register,
                value: fieldValue.1, salt: salt
            ).encodedBody()
        }
        changes.append(
            try IncomingChange(origin: origin, seq: seq, hlc: hlc, record: record.rawValue, bodies: bodies)
                .signed(by: practiceKey))
    }
    let writes = referrals * perReferral

    let store = try Store.create(at: dir + "/merge.sqlite", node: hub, wallMillis: wall)
    // The hub holds the practice's key, as the practice sends it in its first batch.
    let refused = try store.addKeyBindings(
        [try KeyBinding.first(of: origin, signer: practiceKey)], from: practice, policy: DeliveryAnchorPolicy(),
        wallMillis: wall)
    precondition(refused.isEmpty, "the hub refused the practice's key: \(refused)")
    let clock = ContinuousClock()
    var applied = 0
    let mergeCPUStart = processCPUSeconds()
    let mergeTime = try clock.measure {
        var after: UInt64 = 0
        for start in stride(from: 0, to: changes.count, by: batchChanges) {
            let batch = Array(changes[start..<min(start + batchChanges, changes.count)])
            let upTo = after + UInt64(batch.count * perReferral)
            let report = try store.apply(
                batch.map(IncomingItem.change), from: practice,
                checkpoint: BatchCheckpoint(peerIncarnation: origin.incarnation, after: after, upTo: upTo),
                wallMillis: wall + 1_000_000_000
            ).writes
            applied += report.applied
            after = upTo
        }
    }
    let mergeCPU = processCPUSeconds() - mergeCPUStart
    precondition(applied == writes, "merge path applied \(applied) of \(writes)")

    // Plain rows: the same field writes as rows of a table with an equivalent key, one transaction.
    let plain = try DatabaseQueue(
        path: dir + "/plain.sqlite",
        configuration: {
            var c = Configuration()
            c.journalMode = .wal
            return c
        }())
    try plain.write { db in
        try db.execute(
            sql: """
                CREATE TABLE w (origin TEXT NOT NULL, seq INTEGER NOT NULL, hlc INTEGER NOT NULL, record TEXT NOT NULL,
                  field TEXT NOT NULL, body BLOB NOT NULL, UNIQUE (origin, seq, field)) STRICT
                """)
    }
    let plainCPUStart = processCPUSeconds()
    let plainTime = try clock.measure {
        try plain.write { db in
            let stmt = try db.makeStatement(
                sql: "INSERT INTO w (origin, seq, hlc, record, field, body) VALUES (?, ?, ?, ?, ?, ?)")
            let fields = try fields(0).map(\.0.rawValue)
            for change in changes {
                for (body, field) in zip(change.bodies, fields) {
                    try stmt.execute(arguments: [
                        "A81001", Int64(change.seq), Int64(bitPattern: change.hlc.rawValue), change.record, field,
                        Data(body),
                    ])
                }
            }
        }
    }
    let plainCPU = processCPUSeconds() - plainCPUStart
    let mergeRate = Double(writes) / seconds(mergeTime)
    let plainRate = Double(writes) / seconds(plainTime)
    print(
        String(
            format: "merge path:   %d field writes in %.2f s = %.0f writes/s (batches of %d changes)", writes,
            seconds(mergeTime), mergeRate, batchChanges))
    print(String(format: "plain insert: %d rows in %.2f s = %.0f rows/s", writes, seconds(plainTime), plainRate))
    print(String(format: "ratio merge/plain: %.2fx (target >= 0.5x)", mergeRate / plainRate))
    print(
        String(
            format: "cpu time: merge %.2f s, plain %.2f s, ratio %.2fx", mergeCPU, plainCPU, plainCPU / mergeCPU))
    print(
        "store size: \(store.fileBytes() / 1_048_576) MiB = \(store.fileBytes() / writes) B per field write (target <= 120 B)"
    )
    // Where the bytes are: each table and index, from SQLite's dbstat (pages in use, WAL included).
    let reader = try DatabaseQueue(
        path: dir + "/merge.sqlite",
        configuration: {
            var c = Configuration()
            c.readonly = true
            return c
        }())
    let parts = try reader.read { db in
        try Row.fetchAll(
            db, sql: "SELECT name, sum(pgsize) AS bytes FROM dbstat GROUP BY name ORDER BY bytes DESC LIMIT 12")
    }
    for part in parts {
        let bytes: Int = part["bytes"]
        let name: String = part["name"]
        print(
            "  " + name.padding(toLength: 40, withPad: " ", startingAt: 0)
                + String(
                    format: "%8.1f MiB  %6.1f B per field write", Double(bytes) / 1_048_576,
                    Double(bytes) / Double(writes)))
    }
}

let command = CommandLine.arguments.dropFirst().first ?? "help"
switch command {
case "store", "propagation", "idle", "hub", "erase", "year", "report":
    do {
        switch command {
        case "store": try benchStore()
        case "year": try PCNYear.run()
        case "report": try ReportBench.run()
        case "propagation": try NetworkBench.propagation()
        case "idle": try NetworkBench.idle()
        case "erase": try EraseBench.run()
        default: try NetworkBench.hubWindow()
        }
    } catch {
        FileHandle.standardError.write(Data("spsync-bench: \(error)\n".utf8))
        exit(1)
    }
default:
    print(
        """
        usage: spsync-bench store [--referrals N] [--batch N]   merge path vs plain SQLite inserts
               spsync-bench propagation [--rounds N] [--live-practices N] [--addresses N] [--round-timeout S]
                                                                 capacity charity -> hub -> practice, live
               spsync-bench idle                                an idle daemon's memory
               spsync-bench erase [--referrals N] [--rounds N]  what a consent withdrawal's erasure costs
               spsync-bench hub [--practices N] [--concurrency N] [--referrals N] [--addresses N]
                                                                 N practices dialling one hub
               spsync-bench year [--out DIR] [--referrals 3000] [--seed N]
                                                                 a realistic PCN year in real node homes
               spsync-bench report [--referrals 200000] [--home HUB]
                                                                 `spsync report --out` over a PCN year: time, memory
        (build spsync too: swift build -c release; both binaries must sit side by side)
        """)
    exit(command == "help" ? 0 : 64)
}
