import SyncCore
import SyncProtocol
import SyncStore

/// What a healed network must satisfy (DESIGN.md "Testing", issue 3):
/// - every node converged on what it may see: its values, winners, conflicts and statuses equal
///   those of all writes anywhere, projected onto its audience now;
/// - every store's live and winner flags are those the writes it holds resolve to (not an artefact
///   of how they were batched);
/// - no accepted write was lost: every node entitled to a write holds it;
/// - no charity holds a clinical value, a referral never addressed to it, or contact details it
///   may no longer hold;
/// - validation verdicts agree: no node refused a write its origin accepted, and no node but its
///   forger holds a forged write (every node that received it refused it); a forged write that
///   claims another origin is refused for its signature; nothing is left parked or quarantined;
/// - no node holds a value its origin did not write: every write held (but a forgery at its
///   forger) is one a node made, with the value it made it with, or with none once redacted;
/// - no store is locked as rolled back: the simulator restores stores only with `Store.restore`,
///   so nothing but a forgery (a claim, a change signed with another key) could have marked one.
public enum Checks {
    /// Whether `node` is entitled to hold `write` now, given every write known (`truth`).
    public static func entitled(_ node: NodeID, _ write: FieldWrite, truth: Replica) -> Bool {
        if write.origin.node == node { return true }
        guard let (practice, pcn) = write.record.referralParties else { return true }
        if node == practice || node == pcn { return true }
        if write.field.dataClass == .routing, !truth.resolution(write.record, write.field).live.contains(write.id) {
            return false
        }
        return Audience.mayRead(node, write, view: truth.referralView(write.record))
    }

    /// Whether `node` must hold `write`: entitled, and either a party to it (its own, the directory,
    /// its practice or PCN) or live — `WIDEN` carries live writes only, so a write replaced before
    /// the record became visible to a charity may never reach it.
    public static func owed(_ node: NodeID, _ write: FieldWrite, truth: Replica) -> Bool {
        guard entitled(node, write, truth: truth) else { return false }
        if write.origin.node == node { return true }
        guard let (practice, pcn) = write.record.referralParties, node != practice, node != pcn else { return true }
        return truth.resolution(write.record, write.field).live.contains(write.id)
    }

    /// The fingerprint lines that say something: fields with no live write and no conflict are
    /// left out (a charity may never have received a dead write it was entitled to).
    static func meaningful(_ replica: Replica) -> [Substring] {
        replica.fingerprint().split(separator: "\n").filter { !$0.hasSuffix("live[] win=- conflict=false") }
    }

    /// `made` holds the value of every write a node made (nil: not known, as in `verify`).
    static func run(
        nodes: [NodeID], held: [[StoredWrite]], truth: Replica, accepted: [WriteID], lostToRestore: Set<WriteID>,
        forged: [WriteID: Forgery] = [:], made: [WriteID: [UInt8]]? = nil, stores: [Store], failures: inout [String]
    ) {
        // The store's flags are checked against everything it holds, forgeries at their forger included.
        let stored = held
        // A forged write stays in its forger's (tampered) store and must be nowhere else.
        var held = held
        var kept: [WriteID] = []
        for (index, node) in nodes.enumerated() {
            for w in held[index] {
                if let forgery = forged[w.write.id] {
                    if forgery.forger == node {
                        kept.append(w.write.id)
                        continue
                    }
                    failures.append(
                        "\(node) holds \(forgery.attack) write \(w.write.id) forged by \(forgery.forger), which it should have refused"
                    )
                }
                guard let made else { continue }
                // Bytes checked against what the origin wrote, not against any store, which a
                // forgery that got through would have reached too, and whether or not the write is
                // known as forged.
                if let value = made[w.write.id] {
                    if let held = w.write.value, held != value {
                        failures.append(
                            "\(node) holds \(w.write.id) with a value its origin did not write: \(String(decoding: held.prefix(80), as: UTF8.self))"
                        )
                    }
                } else {
                    failures.append("\(node) holds \(w.write.id), which no node wrote")
                }
            }
            held[index].removeAll { forged[$0.write.id] != nil }
        }
        var all: [WriteID: FieldWrite] = [:]
        for (_, fields) in truth.writes { for (_, byID) in fields { for (id, w) in byID { all[id] = w } } }
        for id in accepted where all[id] == nil && !lostToRestore.contains(id) {
            failures.append("write \(id) was accepted but no node holds it")
        }
        // Records each charity was ever addressed through (any routing.service write naming its service).
        var addressed: Set<String> = []
        for w in all.values where w.field == .routingService {
            if let text = w.text, let owner = (try? RecordID(text))?.serviceOwner {
                addressed.insert("\(w.record)|\(owner)")
            }
        }
        for (index, node) in nodes.enumerated() {
            let mine = held[index]
            let ids = Set(mine.map(\.write.id))
            var expected = Replica()
            for w in all.values where entitled(node, w, truth: truth) { expected.apply(w) }
            var actual = Replica()
            for w in mine { actual.apply(w.write) }
            // The store's own live and winner flags are a function of the writes it holds, however
            // they were batched (issue 10): compare them with the model's resolution of those writes.
            var flagged = 0
            var everything = Replica()
            for w in stored[index] { everything.apply(w.write) }
            for w in stored[index] where flagged < 3 {
                let r = everything.resolution(w.write.record, w.write.field)
                let (live, winner) = (r.live.contains(w.write.id), r.winner == w.write.id)
                if w.live != live || w.winner != winner {
                    flagged += 1
                    failures.append(
                        "\(node) stores \(w.write.id) as live=\(w.live) winner=\(w.winner), but the writes it holds make it live=\(live) winner=\(winner)"
                    )
                }
            }
            let (el, al) = (meaningful(expected), meaningful(actual))
            if el != al {
                let firstDiff = zip(el, al).first { $0 != $1 }
                let detail =
                    firstDiff.map { "expected \($0.0) | holds \($0.1)" }
                    ?? "expected \(el.count) lines, holds \(al.count)"
                failures.append("\(node) did not converge on what it may see: \(detail.prefix(400))")
            }
            for w in all.values.sorted(by: { $0.id < $1.id }) where owed(node, w, truth: truth) && !ids.contains(w.id) {
                failures.append("\(node) lacks \(w.id), which it is entitled to")
                break
            }
            if node.role == .vcse {
                for s in mine where s.write.origin.node != node {
                    let w = s.write
                    if w.field.dataClass == .clinical { failures.append("\(node) holds clinical \(w.id)") }
                    if w.record.referralParties != nil, !addressed.contains("\(w.record)|\(node)") {
                        failures.append("\(node) holds \(w.id) of a referral never addressed to it")
                    }
                    if w.field.dataClass == .contact, w.value != nil, !entitled(node, w, truth: truth) {
                        failures.append("\(node) holds contact \(w.id) it may no longer hold")
                    }
                }
            }
        }
        // A forgery its forger still holds has reached, after healing, a neighbour that refused it.
        let byKey = Checks.byAuditKey(forged)
        var refusedElsewhere: Set<String> = []
        for store in stores {
            guard let me = try? store.nodeState().node else { continue }
            for r in (try? store.audit(limit: Int.max, action: "refused")) ?? []
            where byKey[Checks.auditKey(r)].map({ $0.forger != me }) ?? false {
                refusedElsewhere.insert(Checks.auditKey(r))
            }
        }
        for id in kept.sorted() where !refusedElsewhere.contains("\(id.origin.node)|\(id.seq)|\(id.field)") {
            let forgery = forged[id].map { "\($0.attack) write forged by \($0.forger)" } ?? "forged write"
            failures.append("\(forgery) \(id) was refused by no other node: it never left its forger")
        }
        for store in stores {
            guard let counts = try? store.counts(), let state = try? store.nodeState() else {
                failures.append("a store could not be read")
                continue
            }
            let node = state.node
            if counts.refused > 0 {
                let refusals = (try? store.audit(limit: Int.max, action: "refused")) ?? []
                for r in refusals {
                    guard let forgery = byKey[Checks.auditKey(r)] else {
                        failures.append(
                            "\(node) refused \(r.field ?? "a field") of \(r.origin ?? "?") seq \(r.seq ?? 0), which its origin accepted"
                        )
                        continue
                    }
                    if forgery.attack.claimsAnotherOrigin, !Attack.signatureCodes.contains(r.code ?? "") {
                        failures.append(
                            "\(node) refused \(forgery.attack) write \(r.field ?? "?") of \(r.origin ?? "?") seq \(r.seq ?? 0) as \(r.code ?? "nothing"), not for its signature"
                        )
                    }
                }
            }
            if let at = state.rolledBackAt {
                failures.append("\(node) was locked as rolled back at t=\(at) though no store was put back by hand")
            }
            if counts.parked > 0 { failures.append("\(node) still has \(counts.parked) parked writes") }
            if counts.quarantined > 0 { failures.append("\(node) quarantined \(counts.quarantined) writes") }
        }
    }
}

extension Checks {
    /// How the audit log names a write: origin node, seq and field (not the incarnation).
    static func auditKey(_ entry: AuditEntry) -> String {
        "\(entry.origin ?? "")|\(entry.seq ?? 0)|\(entry.field ?? "")"
    }

    /// The forgeries by the audit log's name for their writes.
    static func byAuditKey(_ forged: [WriteID: Forgery]) -> [String: Forgery] {
        Dictionary(
            forged.map { ("\($0.key.origin.node)|\($0.key.seq)|\($0.key.field)", $0.value) },
            uniquingKeysWith: { a, _ in a })
    }

    /// Runs every check over some healed stores; `accepted` are the writes that must not be lost.
    public static func verify(_ stores: [Store], accepted: [WriteID], lostToRestore: Set<WriteID> = []) throws
        -> [String]
    {
        var held: [[StoredWrite]] = []
        var truth = Replica()
        for store in stores {
            let writes = try store.changes(after: 0, limit: Int.max)
            held.append(writes)
            for w in writes { truth.apply(w.write) }
        }
        var failures: [String] = []
        run(
            nodes: try stores.map { try $0.nodeState().node }, held: held, truth: truth, accepted: accepted,
            lostToRestore: lostToRestore, stores: stores, failures: &failures)
        return failures
    }
}
