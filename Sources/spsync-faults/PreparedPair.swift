import Foundation
import GRDB
import SyncCore
import SyncDomain
import SyncNode
import SyncStore
import SyncTransport

/// A practice filled with referrals and the PCN hub it syncs with, made once and copied for each
/// run, so that every run starts from the same two homes and none pays for filling the store.
struct PreparedPair {
    static let practiceID = "A81001"
    static let hubID = "U12345"

    /// Holds `practice/` and `hub/`; a file `ready` once both are complete.
    let directory: String
    let referrals: Int

    /// The field writes of the practice's own making, one line each (origin, incarnation, seq,
    /// field, value): what the hub must hold, exactly once, after a completed sync.
    let senderWrites: Set<String>
    /// The same lines in the practice's log order, with their local seq: what a hub that has
    /// applied the practice's batches up to a checkpoint holds.
    let senderLog: [(localSeq: Int, line: String)]
    /// Field writes the hub holds before any sync (its organisation record).
    let hubOwnWrites: Int

    /// Makes the pair in `work/prepared-N` unless it is already there: two homes made with
    /// `spsync init`, peered by fingerprint on 127.0.0.1, the practice filled through the library.
    static func prepare(work: String, referrals: Int) throws -> PreparedPair {
        let directory = work + "/prepared-\(referrals)"
        if !FileManager.default.fileExists(atPath: directory + "/ready") {
            try? FileManager.default.removeItem(atPath: directory)
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            let start = ContinuousClock.now
            let practice = CampaignNode(id: practiceID, home: directory + "/practice", log: directory + "/practice.log")
            let hub = CampaignNode(id: hubID, home: directory + "/hub", log: directory + "/hub.log")
            let port = try Loopback.freePort()
            try practice.ok(["init", "--org", practiceID, "--name", "Riverside Surgery", "--pcn", hubID])
            try hub.ok(["init", "--org", hubID, "--name", "Riverside PCN", "--listen", "127.0.0.1:\(port)"])
            try practice.ok([
                "peer", "add", hubID, "--fingerprint", try hub.fingerprint, "--address", "127.0.0.1:\(port)",
                "--schedule", "manual",
            ])
            try hub.ok([
                "peer", "add", practiceID, "--fingerprint", try practice.fingerprint, "--address", "127.0.0.1:1",
                "--schedule", "manual",
            ])
            try fill(practice.home, referrals: referrals)
            try emptyFile(directory + "/ready")
            say(
                String(
                    format: "prepared %d referrals at the practice in %.1f s (%@)", referrals,
                    seconds(ContinuousClock.now - start), directory))
        }
        let practice = CampaignNode(id: practiceID, home: directory + "/practice", log: directory + "/practice.log")
        let hub = CampaignNode(id: hubID, home: directory + "/hub", log: directory + "/hub.log")
        let log = try practice.query { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT f.local_seq AS seq, \(lineSQL) AS line
                    FROM field_write f JOIN origin o ON o.id = f.origin WHERE o.node_id = ? ORDER BY f.local_seq
                    """, arguments: [practiceID]
            ).map { (localSeq: $0["seq"] as Int, line: $0["line"] as String) }
        }
        return PreparedPair(
            directory: directory, referrals: referrals, senderWrites: Set(log.map(\.line)), senderLog: log,
            hubOwnWrites: try hub.fieldWrites())
    }

    /// Writes `referrals` referrals of 4 field writes each through the library, as `spsync
    /// referral create` would but without a process per referral.
    private static func fill(_ home: String, referrals: Int) throws {
        let store = try Store.open(at: home + "/store.sqlite", signer: NodeIdentity.load(directory: home))
        let practice = try NodeID(practiceID), pcn = try NodeID(hubID)
        let domain = try Domain(store: store, pcn: pcn)
        let atHub = domain.node == pcn
        let wall = UInt64(Date().timeIntervalSince1970 * 1000)
        for i in 0..<referrals {
            try domain.createReferral(
                Domain.NewReferral(
                    needs: [.loneliness], practice: atHub ? practice : nil, urgency: .routine, note: "Referral \(i)",
                    uuid: UUIDv7(millis: wall, random: (UInt64(i), UInt64(i) &* 7919))),
                at: wall)
        }
    }

    /// The field writes a node holds whose origin is `origin`, one line each, and how many rows
    /// they took (more rows than lines would be a write held twice).
    static func writeRows(of origin: String, at node: CampaignNode) throws -> (lines: Set<String>, rows: Int) {
        try node.query { db in
            let rows = try Row.fetchAll(
                db,
                sql: """
                    SELECT \(lineSQL) AS line
                    FROM field_write f JOIN origin o ON o.id = f.origin WHERE o.node_id = ?
                    """, arguments: [origin])
            let lines = rows.map { $0["line"] as String }
            return (Set(lines), lines.count)
        }
    }

    /// One field write as a line: origin, incarnation, seq, field and value (hex).
    private static let lineSQL =
        "o.node_id || '|' || hex(o.incarnation) || '|' || f.seq || '|' || f.field || '|' || coalesce(hex(f.value), '-')"

    /// What a hub holds of the practice's writes that its checkpoint does not account for: batches
    /// apply atomically with the checkpoint (Protocol/SPEC.md 5), so the hub must hold exactly the
    /// practice's log up to it — no more, no less. Nil when it does; else what differs.
    func unaccounted(at hub: CampaignNode) throws -> String? {
        let checkpoint = try hub.query { db in
            try Int.fetchOne(
                db, sql: "SELECT max(after_local_seq) FROM peer_checkpoint WHERE peer = ?",
                arguments: [Self.practiceID])
        }
        let expected = Set(senderLog.prefix { $0.localSeq <= checkpoint ?? 0 }.map(\.line))
        let held = try Self.writes(of: Self.practiceID, at: hub)
        if held == expected { return nil }
        return "checkpoint \(checkpoint ?? 0) accounts for \(expected.count) writes; held \(held.count), "
            + "\(expected.subtracting(held).count) of them missing, \(held.subtracting(expected).count) beyond it"
    }

    static func writes(of origin: String, at node: CampaignNode) throws -> Set<String> {
        try writeRows(of: origin, at: node).lines
    }

    /// Fresh copies of both homes in `directory` (replacing any there), and the nodes to drive them.
    func copy(to run: String, logs: String) throws -> (practice: CampaignNode, hub: CampaignNode) {
        try? FileManager.default.removeItem(atPath: run)
        try FileManager.default.createDirectory(atPath: run, withIntermediateDirectories: true)
        try shell("/bin/cp", ["-a", directory + "/practice", run + "/practice"])
        try shell("/bin/cp", ["-a", directory + "/hub", run + "/hub"])
        return (
            CampaignNode(id: Self.practiceID, home: run + "/practice", log: logs + "/practice.log"),
            CampaignNode(id: Self.hubID, home: run + "/hub", log: logs + "/hub.log")
        )
    }

    /// Checks a hub after a completed sync against the practice's writes: what is missing, what is
    /// held more than once, and whether the counts are exactly as expected.
    func check(hub: CampaignNode) throws -> Convergence {
        let (held, rows) = try Self.writeRows(of: Self.practiceID, at: hub)
        let total = try hub.fieldWrites()
        let referralsHeld = try hub.query { try Int.fetchOne($0, sql: "SELECT count(*) FROM referral") ?? 0 }
        return Convergence(
            lost: senderWrites.subtracting(held).count,
            doubled: (rows - held.count) + max(0, total - hubOwnWrites - senderWrites.count)
                + max(0, referralsHeld - referrals),
            unexpected: held.subtracting(senderWrites).count, fieldWrites: total, referrals: referralsHeld)
    }
}

/// What a hub holds of the practice's writes after a completed sync.
struct Convergence {
    /// The practice's writes the hub does not hold.
    var lost: Int
    /// Rows held twice, and field writes or referrals beyond those expected.
    var doubled: Int
    /// Writes claiming the practice's origin that the practice never made.
    var unexpected: Int
    var fieldWrites: Int
    var referrals: Int

    var clean: Bool { lost == 0 && doubled == 0 && unexpected == 0 }
}
