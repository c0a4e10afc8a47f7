@testable import SyncCore

/// Random histories of writes made at 2–6 nodes that sync partially with each other.
///
/// Each simulated node keeps a `Replica`; a new write takes its causal context from what its node
/// knows, so histories hold real concurrency, replacement and redaction races.
struct History {
    var writes: [FieldWrite] = []
    var nodes: [NodeID] = []
}

struct HistoryGenerator {
    static let practice = try! NodeID("A81001")
    static let hub = try! NodeID("U12345")
    static let charities = [
        try! NodeID("GB-CHC-1234567"), try! NodeID("GB-SC-SC012345"), try! NodeID("GB-COH-01234567"),
    ]
    static let practice2 = try! NodeID("B82002")

    var rng: SeededRandom
    var seqs: [Origin: UInt64] = [:]
    var clocks: [NodeID: HybridLogicalClock] = [:]
    var replicas: [NodeID: Replica] = [:]
    var wall: UInt64 = 1_780_000_000_000

    init(seed: UInt64) { rng = SeededRandom(seed: seed) }

    static func origin(_ node: NodeID) -> Origin {
        var bytes = [UInt8](repeating: 0, count: 16)
        for (i, b) in node.rawValue.utf8.prefix(16).enumerated() { bytes[i] = b }
        return Origin(node: node, incarnation: try! UUIDv7(bytes: bytes))
    }

    static func uuid(_ n: UInt64) -> UUIDv7 { UUIDv7(millis: 1_780_000_000_000 + n, random: (n, n &* 31)) }

    static let services: [RecordID] = charities.enumerated().flatMap { i, c in
        (0..<2).map { j in try! RecordID.service(owner: c, uuid: uuid(UInt64(100 + i * 2 + j))) }
    }
    static let referrals: [RecordID] = (0..<3).map { i in
        try! RecordID.referral(practice: practice, pcn: hub, uuid: uuid(UInt64(200 + i)))
    }

    /// Makes one write at `node`, with the context its replica gives, and applies it there.
    mutating func write(_ node: NodeID, _ record: RecordID, _ field: FieldKey, _ value: [UInt8]) -> FieldWrite {
        let origin = Self.origin(node)
        let seq = (seqs[origin] ?? 0) + 1
        seqs[origin] = seq
        wall += UInt64.random(in: 0...3, using: &rng)
        // Skewed clocks: some nodes run behind, so stamps disagree with causality.
        let skew =
            UInt64(abs(node.rawValue.hashValue % 1)) + (node == Self.hub ? 0 : UInt64.random(in: 0...5, using: &rng))
        let hlc = clocks[node, default: HybridLogicalClock()].tick(wallMillis: wall - skew)
        let w = FieldWrite(
            origin: origin, seq: seq, hlc: hlc, record: record, field: field,
            kind: field.knownKind ?? .register, value: value,
            context: replicas[node, default: Replica()].context(for: record, field))
        replicas[node, default: Replica()].apply(w)
        return w
    }

    /// Delivers a random subset of what `from` holds to `to` (a partial, reordered sync).
    mutating func sync(from: NodeID, to: NodeID) {
        let all = replicas[from, default: Replica()].writes.values.flatMap { $0.values.flatMap { $0.values } }
        for w in all.shuffled(using: &rng) where Bool.random(using: &rng) || Bool.random(using: &rng) {
            replicas[to, default: Replica()].apply(w)
            clocks[to, default: HybridLogicalClock()].observe(w.hlc)
        }
    }

    mutating func pick<T>(_ items: [T]) -> T { items[Int.random(in: 0..<items.count, using: &rng)] }

    /// A random history of `steps` operations at a random set of 2–6 nodes.
    mutating func history(steps: Int) -> History {
        let pool = [Self.practice, Self.hub] + Self.charities + [Self.practice2]
        let count = Int.random(in: 2...6, using: &rng)
        let nodes = Array(pool.prefix(count))
        var made: [FieldWrite] = []
        for _ in 0..<steps {
            let node = pick(nodes)
            if Int.random(in: 0..<4, using: &rng) == 0, nodes.count > 1 {
                sync(from: node, to: pick(nodes.filter { $0 != node }))
                continue
            }
            if let w = randomWrite(at: node) { made.append(w) }
        }
        return History(writes: made, nodes: nodes)
    }

    private mutating func randomWrite(at node: NodeID) -> FieldWrite? {
        switch node.role {
        case .vcse:
            let mine = Self.services.filter { $0.serviceOwner == node }
            let service = pick(mine)
            if Bool.random(using: &rng) {
                let cap = ServiceCapacity(
                    unit: "places", available: Int.random(in: 0...5, using: &rng), maximum: 5, updated: wall)
                return write(node, service, .serviceCapacity, FieldValue.json(cap))
            }
            let kind = pick(["received", "contacted", "accepted", "declined", "attending", "completed"])
            return write(
                node, pick(Self.referrals), .progressEvents,
                FieldValue.json(ProgressEvent(event: kind, service: service.rawValue)))
        case .practice where node != Self.practice:
            let org = RecordID.organisation(node)
            return write(node, org, .orgName, FieldValue.text("Practice \(Int.random(in: 0...9, using: &rng))"))
        case .practice, .hub:
            let referral = pick(Self.referrals)
            switch Int.random(in: 0..<10, using: &rng) {
            case 0, 1: return write(node, referral, .routingService, FieldValue.text(pick(Self.services).rawValue))
            case 2, 3:
                return write(
                    node, referral, .contactPhone, FieldValue.text("0700900\(Int.random(in: 1000...9999, using: &rng))")
                )
            case 4:
                let basis = pick(["explicit", "implied"])
                let withdrawn: UInt64? = Bool.random(using: &rng) ? wall : nil
                return write(
                    node, referral, .consent,
                    FieldValue.json(Consent(basis: basis, recordedBy: node.rawValue, at: wall, withdrawnAt: withdrawn)))
            case 5: return write(node, referral, .redaction(.contact), FieldValue.text("redacted by \(node)"))
            case 6:
                let kind = pick(["referred", "withdrawn", "closed", "reopened"])
                return write(node, referral, .progressEvents, FieldValue.json(ProgressEvent(event: kind)))
            case 7:
                // Settle whatever decisions this node knows of.
                let events = replicas[node, default: Replica()].live(referral, .progressEvents)
                let decisions = events.filter {
                    (try? FieldValue.decode(ProgressEvent.self, $0.value ?? [], field: .progressEvents))?.kind?
                        .isDecision == true
                }
                guard !decisions.isEmpty else { return nil }
                let event = ProgressEvent(
                    event: "settled", settles: decisions.map { $0.change.description },
                    keep: pick(["accepted", "declined"]))
                return write(node, referral, .progressEvents, FieldValue.json(event))
            default:
                return write(node, referral, .routingUrgency, FieldValue.text(pick(["routine", "soon", "urgent"])))
            }
        }
    }
}
