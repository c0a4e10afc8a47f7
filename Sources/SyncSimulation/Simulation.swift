import Foundation
import SyncCore
import SyncDomain
import SyncProtocol
@_spi(Tampering) import SyncStore
import SyncTransport

/// The deterministic simulator: a small network of nodes on real SQLite stores, a seeded clock and
/// a seeded network that loses, duplicates, reorders and delays frames, partitions links, crashes
/// and restarts nodes, restores one from an older backup and runs one clock ahead — under a random
/// workload. After healing it checks what the design promises (`Checks`).
///
/// Every node signs its changes with a key of its own, made for the run; sessions accept a key
/// binding only with the node's genuine certificate (`SimulatedNetworkCA`).
///
/// Everything that varies comes from the seed (fresh keys change bytes, never a decision); the same
/// seed prints the same trace.
public final class Simulation {
    /// What to run.
    public struct Options: Sendable {
        public var seed: UInt64
        /// Workload steps before healing.
        public var steps: Int
        /// Network faults, crashes, partitions, restores and a fast clock; off for a calm run.
        public var faults: Bool
        /// Where the stores go; a fresh temporary folder when nil (removed afterwards).
        public var directory: String?
        /// Tampered nodes now and then attack (`Attack`): make writes they may not make, forge,
        /// replay, alter or strip the signature of writes of other origins, and claim in `HELLO`
        /// to hold more of a peer's changes than it issued. Every other node must refuse every
        /// forgery, and no claim may lock a node. Drawn from a stream of their own, so the random
        /// choices of the rest of a seed's history are the same with or without them.
        public var forgeries: Bool

        public init(
            seed: UInt64, steps: Int = 120, faults: Bool = true, directory: String? = nil, forgeries: Bool = true
        ) {
            self.seed = seed
            self.steps = steps
            self.faults = faults
            self.directory = directory
            self.forgeries = forgeries
        }
    }

    /// What a run found.
    public struct Report: Sendable {
        public var seed: UInt64
        public var trace: [String]
        public var failures: [String]
        /// Forged writes made, and refusals of them recorded across the network.
        public var forged = 0
        public var refusals = 0
        /// Forged writes made, by attack.
        public var attacks: [Attack: Int] = [:]
        /// Refusals of forged writes at nodes other than their forger, by attack.
        public var refusalsByAttack: [Attack: Int] = [:]
        /// Key bindings refused across the network (the made-up incarnations' keys).
        public var keyRefusals = 0
        /// `HELLO`s a tampered node sent claiming to hold more of its peer's changes than it issued,
        /// and the false claims the network audited (those and the ones its forged seqs made).
        public var helloClaims = 0
        public var falseClaims = 0
        /// Nodes whose store ended locked as rolled back.
        public var locked: [String] = []
        /// Progress events the lifecycle table refused where they were written (the workload draws
        /// some at random), and events held at the hub after healing that do not count because they
        /// fall out of order (Protocol/SPEC.md 9.1): written validly, overtaken by a peer's event.
        public var refusedTransitions = 0
        public var outOfOrderEvents = 0
        public var converged: Bool { failures.isEmpty }
    }

    final class Node {
        let id: NodeID
        let path: String
        /// The key that signs this node's changes.
        let identity: NodeIdentity
        var store: Store?
        /// How far this node's wall clock runs ahead of true time, ms.
        var clockAhead: UInt64 = 0
        var backups: [String] = []
        /// Writes accepted here before a backup, by backup file: those after it may die with a restore.
        var acceptedAtBackup: [String: Int] = [:]
        var services: [RecordID] = []

        init(id: NodeID, path: String, identity: NodeIdentity) {
            self.id = id
            self.path = path
            self.identity = identity
        }
    }

    final class Connection {
        let id: Int
        let link: Int
        let ends: [Int]
        var drivers: [SessionDriver?]
        var lastDelivery: [UInt64] = [0, 0]

        init(id: Int, link: Int, ends: [Int], drivers: [SessionDriver]) {
            self.id = id
            self.link = link
            self.ends = ends
            self.drivers = drivers
        }
    }

    enum Event {
        case step
        case tick
        case deliver(connection: Int, to: Int, Frame)
        case fin(connection: Int, to: Int)
        case restart(Int)
        case heal(Int)
    }

    public let options: Options
    var rng: SeededRandom
    /// The forgeries' own stream (see `Options.forgeries`).
    var forgeRng: SeededRandom
    /// Writes made by tampered nodes: refused everywhere else, held only by their forger.
    var forged: [WriteID: Forgery] = [:]
    /// Nodes chosen to tamper at least once: their `HELLO`s may lie from then on.
    var tampered: Set<Int> = []
    /// The highest seq each node forged a write of another origin under. Its next forgery goes
    /// above it: above what its store holds would not do, as a restore may have taken a forgery
    /// out of the store that `forged` still names.
    var forgedSeqMax: [Int: UInt64] = [:]
    /// `HELLO`s rewritten to claim more than the peer issued.
    var helloClaims = 0
    /// Local progress events the lifecycle table refused.
    var refusedTransitions = 0
    var now: UInt64 = 1_780_000_000_000
    var nodes: [Node] = []
    var links: [(Int, Int)] = []
    var partitioned: Set<Int> = []
    var connections: [Int: Connection] = [:]
    var nextConnection = 1
    var events: [(at: UInt64, order: Int, event: Event)] = []
    var eventOrder = 0
    var trace: [String] = []
    var failures: [String] = []
    /// Audience violations reported so far, each once.
    var audienceFailures: Set<String> = []
    /// Every write accepted at its origin: the ids that must not be lost.
    var accepted: [(node: Int, write: WriteID)] = []
    /// The value each accepted write was made with.
    var made: [WriteID: [UInt8]] = [:]
    /// Writes made after the backup a node was restored from and held nowhere else then.
    var lostToRestore: Set<WriteID> = []
    var restored = false
    /// How every session anchors key bindings; set up with the nodes.
    var keyPolicy: any KeyAnchorPolicy = DeliveryAnchorPolicy()
    let root: String
    let ownsRoot: Bool

    public init(_ options: Options) {
        self.options = options
        self.rng = SeededRandom(seed: options.seed &* 0x2545_F491_4F6C_DD1D &+ 1)
        // Not `seed * γ + c`: SplitMix64 adds γ at each step, so seed s + 1 would replay seed s's
        // stream one draw on and consecutive seeds would tamper alike. One mixing step first.
        var mixer = SeededRandom(seed: options.seed ^ 0x6A09_E667_F3BC_C908)
        self.forgeRng = SeededRandom(seed: mixer.next())
        if let dir = options.directory {
            root = dir
            ownsRoot = false
        } else {
            root = NSTemporaryDirectory() + "spsync-sim-\(options.seed)-" + UUID().uuidString
            ownsRoot = true
        }
    }

    deinit {
        if ownsRoot { try? FileManager.default.removeItem(atPath: root) }
    }

    /// Runs one seed: setup, the faulty phase, healing, checks.
    public static func run(_ options: Options) -> Report {
        let sim = Simulation(options)
        return sim.run()
    }

    public func run() -> Report {
        do {
            try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
            try setUp()
            schedule(at: now + 1, .step)
            schedule(at: now + 1000, .tick)
            var steps = 0
            while let (at, _, event) = popEvent() {
                now = max(now, at)
                if case .step = event {
                    steps += 1
                    if steps > options.steps { break }
                }
                try handle(event)
            }
            try heal()
            try check()
        } catch {
            failures.append("simulation error: \(error)")
        }
        for f in failures { log("FAIL \(f)") }
        var report = Report(seed: options.seed, trace: trace, failures: failures, forged: forged.count)
        report.helloClaims = helloClaims
        report.refusedTransitions = refusedTransitions
        if let hub = nodes.first(where: { $0.id.rawValue == Simulation.hub })?.store {
            for summary in (try? hub.referrals()) ?? [] {
                guard let r = try? RecordID(summary.id), let events = try? hub.live(r, .progressEvents) else {
                    continue
                }
                report.outOfOrderEvents +=
                    StatusFold.fold(
                        events: events.map(\.write), currentService: summary.service.flatMap { try? RecordID($0) }
                    ).outOfOrder.count
            }
        }
        for forgery in forged.values { report.attacks[forgery.attack, default: 0] += 1 }
        let byKey = Checks.byAuditKey(forged)
        for node in nodes {
            guard let store = node.store, let counts = try? store.counts() else { continue }
            report.refusals += counts.refused
            report.falseClaims += counts.falseClaims
            if (try? store.nodeState().rolledBackAt) != nil { report.locked.append(node.id.rawValue) }
            report.keyRefusals += (try? store.audit(limit: Int.max, action: "key_refused").count) ?? 0
            for r in (try? store.audit(limit: Int.max, action: "refused")) ?? [] {
                if let forgery = byKey[Checks.auditKey(r)], forgery.forger != node.id {
                    report.refusalsByAttack[forgery.attack, default: 0] += 1
                }
            }
        }
        return report
    }

    // MARK: Setup

    static let practices = ["A81001", "B82002"]
    static let hub = "U12345"
    static let charities = ["GB-CHC-1234567", "GB-SC-SC012345", "GB-COH-OC123456"]

    func setUp() throws {
        let ids = Simulation.practices + [Simulation.hub] + Simulation.charities
        for (i, text) in ids.enumerated() {
            let node = Node(
                id: try NodeID(text), path: "\(root)/n\(i).sqlite",
                identity: try NodeIdentity.makeInMemory(nodeID: text))
            node.store = try Store.create(at: node.path, node: node.id, wallMillis: now, signer: node.identity)
            nodes.append(node)
        }
        keyPolicy = SimulatedNetworkCA(
            certificates: Dictionary(uniqueKeysWithValues: nodes.map { ($0.id, $0.identity.certificateDER) }))
        let hub = Simulation.practices.count
        for i in nodes.indices where i != hub { links.append((i, hub)) }
        links.append((0, hub + 1))  // a direct practice–charity link
        for i in nodes.indices where nodes[i].id.role == .vcse {
            var new = Domain.NewService(name: "Service of \(nodes[i].id)", category: .befriending, uuid: uuid())
            new.capacity = (available: 3, maximum: 5)
            var service: RecordID?
            try perform(
                i,
                creating: { domain in
                    let id = try domain.addService(new, at: self.wall(i))
                    service = id
                    return id
                })
            nodes[i].services = service.map { [$0] } ?? []
        }
        if options.faults, rng.chance(50) {
            let fast = rng.chance(50) ? hub : rng.below(nodes.count)
            nodes[fast].clockAhead = 9 * 60 * 1000
            log("clock of \(nodes[fast].id) runs 9 minutes ahead")
        }
        try settle()
        for i in nodes.indices { try backup(i) }
    }

    // MARK: Events

    func schedule(at: UInt64, _ event: Event) {
        eventOrder += 1
        let entry = (at: at, order: eventOrder, event: event)
        let index = events.firstIndex { ($0.at, $0.order) > (at, eventOrder) } ?? events.count
        events.insert(entry, at: index)
    }

    func popEvent() -> (UInt64, Int, Event)? {
        guard !events.isEmpty else { return nil }
        let e = events.removeFirst()
        return (e.at, e.order, e.event)
    }

    func handle(_ event: Event) throws {
        switch event {
        case .step:
            try step()
            schedule(at: now + 50 + UInt64(rng.below(400)), .step)
        case .tick:
            for c in connections.values.sorted(by: { $0.id < $1.id }) {
                for side in 0..<2 {
                    guard let d = c.drivers[side] else { continue }
                    send(c, from: side, d.tick(nowMillis: wall(c.ends[side])))
                }
            }
            for i in nodes.indices {
                guard let store = nodes[i].store else { continue }
                if try store.releaseParked(wallMillis: wall(i)) > 0 { pushLive(i) }
            }
            schedule(at: now + 1000, .tick)
        case .deliver(let id, let to, let frame):
            guard let c = connections[id], let d = c.drivers[to] else { return }
            let judgements = d.judgements
            let out = d.receive(frame, nowMillis: wall(c.ends[to]))
            send(c, from: to, out)
            if d.judgements != judgements { try checkAudience(c.ends[to], d.judged) }
            if case .changes = (try? Message(frame: frame)) { pushLive(c.ends[to], except: id) }
            closeIfDone(c)
        case .fin(let id, let to):
            guard let c = connections[id], let d = c.drivers[to] else { return }
            d.transportClosed()
            closeIfDone(c)
        case .restart(let i):
            guard nodes[i].store == nil else { return }
            nodes[i].store = try open(i)
            log("\(nodes[i].id) restarts")
        case .heal(let link):
            partitioned.remove(link)
            log("link \(linkName(link)) heals")
        }
    }

    func step() throws {
        if options.faults, options.forgeries, forgeRng.below(100) < 3 { try forge(forgeRng.below(nodes.count)) }
        let roll = rng.below(100)
        if options.faults, roll < 2 {
            let i = rng.below(nodes.count)
            if nodes[i].store != nil {
                crash(i)
                schedule(at: now + 2000 + UInt64(rng.below(8000)), .restart(i))
            }
        } else if options.faults, roll < 4 {
            let link = rng.below(links.count)
            if !partitioned.contains(link) {
                partitioned.insert(link)
                log("link \(linkName(link)) partitioned")
                for c in connections.values.sorted(by: { $0.id < $1.id }) where c.link == link { cut(c) }
                schedule(at: now + 5000 + UInt64(rng.below(25000)), .heal(link))
            }
        } else if options.faults, roll < 6 {
            let i = rng.below(nodes.count)
            if nodes[i].store != nil { try backup(i) }
        } else if options.faults, roll < 7, !restored {
            try restoreOlder(rng.below(nodes.count))
        } else if roll < 40 {
            dial(rng.below(links.count))
        } else {
            try workload(rng.below(nodes.count))
        }
    }

    // MARK: Network

    func wall(_ i: Int) -> UInt64 { now + nodes[i].clockAhead }

    func linkName(_ link: Int) -> String { "\(nodes[links[link].0].id)–\(nodes[links[link].1].id)" }

    func dial(_ link: Int) {
        let (a, b) = links[link]
        guard !partitioned.contains(link), !connections.values.contains(where: { $0.link == link }),
            let sa = nodes[a].store, let sb = nodes[b].store
        else { return }
        let live = rng.chance(25)
        do {
            let da = try SessionDriver(
                store: sa, peer: nodes[b].id, mode: live ? .live : .oneShot, keyPolicy: keyPolicy)
            let db = try SessionDriver(
                store: sb, peer: nodes[a].id, mode: live ? .live : .oneShot, keyPolicy: keyPolicy)
            let c = Connection(id: nextConnection, link: link, ends: [a, b], drivers: [da, db])
            nextConnection += 1
            connections[c.id] = c
            log("#\(c.id) \(nodes[a].id) dials \(nodes[b].id)\(live ? " (live)" : "")")
            send(c, from: 0, da.start(nowMillis: wall(a)))
            send(c, from: 1, db.start(nowMillis: wall(b)))
        } catch {
            log("dial \(linkName(link)) failed: \(error)")
        }
    }

    /// Puts frames on the wire from one side, with the seeded faults; a tampered node's `HELLO`
    /// may claim more than its peer issued (`falseHello`).
    func send(_ c: Connection, from side: Int, _ frames: [Frame]) {
        let to = 1 - side
        for var frame in frames {
            if frame.type == MessageType.hello.rawValue, tampered.contains(c.ends[side]), forgeRng.chance(50) {
                frame = falseHello(frame, from: c.ends[side], to: c.ends[to])
            }
            var at = max(now + 5 + UInt64(rng.below(45)), c.lastDelivery[to] + 1)
            if options.faults {
                let roll = rng.below(1000)
                if roll < 8 {
                    log("#\(c.id) frame \(frame.type) to \(nodes[c.ends[to]].id) lost: connection cut")
                    cut(c)
                    return
                } else if roll < 12 {
                    log("#\(c.id) frame \(frame.type) to \(nodes[c.ends[to]].id) duplicated")
                    schedule(at: at, .deliver(connection: c.id, to: to, frame))
                    at += 1
                } else if roll < 16, at > now + 2 {
                    log("#\(c.id) frame \(frame.type) to \(nodes[c.ends[to]].id) overtakes")
                    at = now + 1
                }
            }
            c.lastDelivery[to] = max(c.lastDelivery[to], at)
            schedule(at: at, .deliver(connection: c.id, to: to, frame))
        }
        if c.drivers[side]?.isClosed == true {
            schedule(at: c.lastDelivery[to] + 1, .fin(connection: c.id, to: to))
        }
    }

    /// A `HELLO` from node `i` rewritten to claim a seq of `peer`'s current incarnation far
    /// beyond what `peer` issued: a claim that must be audited and never lock the peer.
    func falseHello(_ frame: Frame, from i: Int, to peer: Int) -> Frame {
        guard case .hello(var hello) = try? Message(frame: frame), let state = try? nodes[peer].store?.nodeState()
        else { return frame }
        let claim = state.lastSeq + 1_000_000
        hello.heldOfYou[state.incarnation] = claim
        helloClaims += 1
        log("\(nodes[i].id) claims in HELLO to hold \(nodes[peer].id):\(claim)")
        return Message.hello(hello).frame
    }

    /// Whenever a node has judged the referrals a session brought (it holds all its peer sent): it
    /// keeps nothing that what it holds says it may not see (Protocol/SPEC.md 7.5).
    func checkAudience(_ i: Int, _ records: Set<RecordID>) throws {
        guard let store = nodes[i].store else { return }
        for violation in try store.audienceViolations(records) where !audienceFailures.contains(violation) {
            audienceFailures.insert(violation)
            failures.append("at t=\(now): \(violation)")
        }
    }

    func closeIfDone(_ c: Connection) {
        for side in 0..<2 where c.drivers[side]?.isClosed == true {
            if let reason = c.drivers[side]?.closeReason, reason != .done {
                log("#\(c.id) \(nodes[c.ends[side]].id) closes: \(reason)")
            }
            c.drivers[side] = nil
        }
        if c.drivers.allSatisfy({ $0 == nil }) { connections[c.id] = nil }
    }

    /// Breaks a connection at once: both ends see it close; frames in flight are lost.
    func cut(_ c: Connection) {
        for side in 0..<2 { c.drivers[side]?.transportClosed() }
        connections[c.id] = nil
    }

    /// Tells a node's live sessions it has new changes.
    func pushLive(_ i: Int, except: Int? = nil) {
        for c in connections.values.sorted(by: { $0.id < $1.id }) where c.id != except {
            for side in 0..<2 where c.ends[side] == i {
                guard let d = c.drivers[side] else { continue }
                send(c, from: side, d.localChangesAvailable(nowMillis: wall(i)))
            }
        }
    }

    // MARK: Node life

    /// Opens node `i`'s store with its key, bound to the store's current incarnation (a restored
    /// store has a new one), as `NodeHome.store()` does.
    func open(_ i: Int) throws -> Store {
        let store = try Store.open(at: nodes[i].path, signer: nodes[i].identity)
        try store.ensureOwnKey(previous: nil, wallMillis: wall(i))
        return store
    }

    func crash(_ i: Int) {
        log("\(nodes[i].id) crashes")
        for c in connections.values.sorted(by: { $0.id < $1.id }) where c.ends.contains(i) { cut(c) }
        nodes[i].store = nil
    }

    func backup(_ i: Int) throws {
        guard let store = nodes[i].store else { return }
        let file = "\(root)/n\(i)-backup\(nodes[i].backups.count).sqlite"
        try store.backup(to: file)
        nodes[i].backups.append(file)
        nodes[i].acceptedAtBackup[file] = accepted.count
        log("\(nodes[i].id) backs up (\(nodes[i].backups.count))")
    }

    /// Restores a node from one of its older backups with `spsync restore` (a new incarnation).
    func restoreOlder(_ i: Int) throws {
        guard let store = nodes[i].store, let file = nodes[i].backups.first else { return }
        // The restore clears a lock; one set before it must not go unseen.
        if let at = try store.nodeState().rolledBackAt {
            failures.append("\(nodes[i].id) was locked as rolled back at t=\(at) before it was restored")
        }
        restored = true
        crash(i)
        // Writes accepted here after that backup survive only if another node holds them now.
        let since = nodes[i].acceptedAtBackup[file] ?? 0
        for (node, id) in accepted[since...] where node == i {
            let heldElsewhere = try nodes.indices.contains { j in
                guard j != i, let s = nodes[j].store else { return false }
                return try s.heldWriteIDs().contains(id)
            }
            if !heldElsewhere { lostToRestore.insert(id) }
        }
        try Store.restore(from: file, to: nodes[i].path, expecting: nodes[i].id, wallMillis: wall(i))
        nodes[i].store = try open(i)
        log("\(nodes[i].id) restored from its first backup (\(lostToRestore.count) writes never left it)")
    }

    // MARK: Workload

    func uuid() -> UUIDv7 { UUIDv7(millis: now, random: (rng.next(), rng.next())) }

    func capacity(_ available: Int) -> [UInt8] {
        FieldValue.json(ServiceCapacity(unit: "places", available: available, maximum: 5, updated: now))
    }

    /// Node `i` is tampered with: it is chosen to tamper (its `HELLO`s may lie from now on) and
    /// attacks once, drawing the attack from the forgeries' stream and trying the next kind when it
    /// holds nothing to attack with. Each attack adds rows to its own store, to be sent with its
    /// next sessions (no live push, so the main random stream is not touched).
    func forge(_ i: Int) throws {
        tampered.insert(i)
        guard let store = nodes[i].store else { return }
        let kinds = Attack.allCases
        let first = forgeRng.below(kinds.count)
        for k in kinds.indices {
            let attack = kinds[(first + k) % kinds.count]
            let writes = try tamper(attack, i, store)
            guard !writes.isEmpty else { continue }
            for id in writes {
                precondition(forged[id] == nil, "forgers have seq ranges of their own: \(id) forged twice")
                forged[id] = Forgery(forger: nodes[i].id, attack: attack)
                if attack.claimsAnotherOrigin { forgedSeqMax[i] = max(forgedSeqMax[i] ?? 0, id.seq) }
            }
            return
        }
    }

    /// Makes one attack of a kind at node `i`; returns the writes made (none: nothing to attack with).
    func tamper(_ attack: Attack, _ i: Int, _ store: Store) throws -> [WriteID] {
        let me = nodes[i].id
        // Each node forges in a seq range of its own, so no two forgeries share an id.
        let floor = max(Store.tamperedSeqFloor * UInt64(i + 1), forgedSeqMax[i] ?? 0)
        switch attack {
        case .unauthorised:
            var candidates: [(RecordID, FieldKey, [UInt8])] = []
            for s in try store.services(wallMillis: wall(i)).compactMap({ try? RecordID($0.id) }).sorted()
            where s.serviceOwner != me {
                candidates.append((s, .serviceCapacity, capacity(0)))
            }
            if me.role == .vcse {
                for r in try store.referrals().compactMap({ try? RecordID($0.id) }).sorted() {
                    candidates.append((r, .clinicalNHSNumber, FieldValue.text("9990000026")))
                }
            }
            guard !candidates.isEmpty else { return [] }
            let (record, field, value) = candidates[forgeRng.below(candidates.count)]
            let ref = try store.tamperedWrite(record, [(field, value)], wallMillis: wall(i))
            log("\(me) forges \(ref.seq) \(record.rawValue.prefix(24))… \(field.rawValue)")
            return [WriteID(origin: ref.origin, seq: ref.seq, field: field)]
        case .replayed, .stripped:
            let changes = Dictionary(grouping: try copyable(store, i), by: \.change).sorted { $0.key < $1.key }
            guard !changes.isEmpty else { return [] }
            let (change, writes) = changes[forgeRng.below(changes.count)]
            let fields = Set(writes.map(\.field))
            let made =
                attack == .replayed
                ? try store.tamperedReplay(change, fields: fields, above: floor, wallMillis: wall(i))
                : try store.tamperedStrip(change, fields: fields, above: floor, wallMillis: wall(i))
            log(
                "\(me) \(attack == .replayed ? "replays" : "strips the signature of") \(change.origin.node):\(change.seq) as seq \(made[0].seq) \(fields.map(\.rawValue).sorted().joined(separator: ","))"
            )
            return made
        case .altered:
            let writes = try copyable(store, i).filter { $0.value != nil }
            guard !writes.isEmpty else { return [] }
            let w = writes[forgeRng.below(writes.count)]
            let made = try store.tamperedAlteration(w.id, value: altered(w), above: floor, wallMillis: wall(i))
            log("\(me) alters \(w.origin.node):\(w.seq) \(w.field.rawValue) as seq \(made[0].seq)")
            return made
        case .claimedOrigin, .madeUpIncarnation:
            let targets = try claimable(store, i)
            guard !targets.isEmpty else { return [] }
            let (record, victim, field, value) = targets[forgeRng.below(targets.count)]
            if attack == .claimedOrigin {
                guard let origin = try nodes[victim].store?.nodeState().origin else { return [] }
                let made = try store.tamperedClaim(
                    record, [(field, value)], claiming: origin, above: floor, wallMillis: wall(i))
                log("\(me) forges \(nodes[victim].id):\(made[0].seq) \(record.rawValue.prefix(24))… \(field.rawValue)")
                return made
            }
            // The forger's own key for the victim: fresh bytes each run, never a decision.
            let key = try NodeIdentity.makeInMemory(nodeID: nodes[victim].id.rawValue)
            let incarnation = UUIDv7(millis: wall(i), random: (forgeRng.next(), forgeRng.next()))
            let made = try store.tamperedIncarnation(
                record, [(field, value)], of: nodes[victim].id, incarnation: incarnation, signer: key, above: floor,
                wallMillis: wall(i))
            log(
                "\(me) forges \(nodes[victim].id) in a made-up incarnation, seq \(made[0].seq) \(record.rawValue.prefix(24))… \(field.rawValue)"
            )
            return made
        }
    }

    /// Writes of other origins held at node `i` that a tampered copy may be made of: clinical and
    /// directory writes (not names). The copies stay out of the tampered node's own sending
    /// decisions (routing, consent) and of its own later writes' causal contexts (a forged seq in
    /// one would cover the origin's later writes), and do not reorder its service list.
    func copyable(_ store: Store, _ i: Int) throws -> [FieldWrite] {
        try store.heldWrites().map(\.write).filter { w in
            w.origin.node != nodes[i].id && forged[w.id] == nil && w.seq < Store.tamperedSeqFloor
                && !w.field.isRedaction && (w.field.dataClass == .clinical || w.field.dataClass == .service)
                && w.field != .serviceName
        }.sorted { $0.id < $1.id }
    }

    /// Writes node `i` could forge in another node's name that node would be allowed to make: a
    /// charity's capacity, a referral's clinical field in its practice's (or PCN's) name.
    func claimable(_ store: Store, _ i: Int) throws -> [(RecordID, Int, FieldKey, [UInt8])] {
        let me = nodes[i].id
        let index = Dictionary(uniqueKeysWithValues: nodes.indices.map { (nodes[$0].id, $0) })
        var targets: [(RecordID, Int, FieldKey, [UInt8])] = []
        for s in try store.services(wallMillis: wall(i)).compactMap({ try? RecordID($0.id) }).sorted() {
            if let owner = s.serviceOwner, owner != me, let j = index[owner] {
                targets.append((s, j, .serviceCapacity, capacity(0)))
            }
        }
        for r in try store.referrals().compactMap({ try? RecordID($0.id) }).sorted() {
            guard let (practice, pcn) = r.referralParties, let j = index[practice == me ? pcn : practice] else {
                continue
            }
            targets.append((r, j, .clinicalNHSNumber, FieldValue.text("9990000026")))
        }
        return targets
    }

    /// Another plausible value for a write.
    func altered(_ w: FieldWrite) -> [UInt8] {
        let values: [[UInt8]]
        switch w.field {
        case .serviceCapacity: values = [capacity(0), capacity(5)]
        case .clinicalNHSNumber: values = [FieldValue.text("9990000026"), FieldValue.text("9434765919")]
        default: values = [FieldValue.text("altered"), FieldValue.text("altered again")]
        }
        return values.first { $0 != w.value } ?? values[0]
    }

    /// Node `i` does what its people do, through the domain API as the CLI and the console do;
    /// `action` returns the record it wrote when the caller does not know it (a new referral).
    /// The writes it made are the ones that must not be lost.
    @discardableResult
    func perform(_ i: Int, on record: RecordID, _ action: (Domain) throws -> Void) throws -> Bool {
        try perform(i, record) { domain in
            try action(domain)
            return nil
        }
    }

    /// Node `i` makes a record; `action` returns it.
    @discardableResult
    func perform(_ i: Int, creating action: (Domain) throws -> RecordID) throws -> Bool {
        try perform(i, nil, action)
    }

    func perform(_ i: Int, _ record: RecordID?, _ action: (Domain) throws -> RecordID?) throws -> Bool {
        guard let store = nodes[i].store else { return false }
        do {
            let domain = try Domain(store: store, pcn: nodes[i].id.role == .practice ? try NodeID(Simulation.hub) : nil)
            let before = try store.lastLocalSeq()
            let written = try action(domain) ?? record
            let writes = try store.changes(after: before, limit: Int.max).map(\.write)
            for w in writes {
                accepted.append((i, w.id))
                made[w.id] = w.value
            }
            let seqs = Set(writes.map(\.seq)).sorted().map(String.init).joined(separator: ",")
            log(
                "\(nodes[i].id) writes \(seqs) \(written.map { "\($0.rawValue.prefix(24))…" } ?? "?") \(writes.map(\.field.rawValue).joined(separator: ","))"
            )
            pushLive(i)
            return true
        } catch let error as SyncError {
            log("\(nodes[i].id) write refused: \(error.code)")
            if error.code == .invalidTransition { refusedTransitions += 1 }
            return false
        }
    }

    /// The events of `kinds` to draw from for `record`: mostly those the lifecycle table allows next
    /// as this node sees the referral (peers may have moved on meanwhile, so some arrive out of
    /// order elsewhere), now and then any of them, which the store refuses.
    func nextEvents(_ store: Store, _ record: RecordID, _ kinds: [String], service: RecordID? = nil) throws
        -> [String]
    {
        let held = try store.live(record, .progressEvents).compactMap { StampedEvent($0.write) }
        let current = try store.referral(record).service.flatMap { try? RecordID($0) }
        let allowed = kinds.filter { kind in
            do {
                try Lifecycle.check(
                    ProgressEvent(event: kind, service: service?.rawValue), on: record, held: held,
                    currentService: current)
                return true
            } catch {
                return false
            }
        }
        return allowed.isEmpty || rng.chance(10) ? kinds : allowed
    }

    func workload(_ i: Int) throws {
        guard let store = nodes[i].store else { return }
        let me = nodes[i].id
        let services = try store.services(wallMillis: wall(i)).compactMap { try? RecordID($0.id) }
        let referrals = try store.referrals().compactMap { try? RecordID($0.id) }.sorted()
        if me.role == .vcse {
            let own = nodes[i].services
            if rng.chance(30) || referrals.isEmpty {
                let service = rng.pick(own), available = rng.below(6)
                try perform(i, on: service) { try $0.setCapacity(service, available: available, at: self.wall(i)) }
                return
            }
            let r = rng.pick(referrals)
            // The service it is addressed to, when it is this charity's; the domain refuses the rest.
            let current = try store.referral(r).service.flatMap { try? RecordID($0) }
            let service = current.flatMap { own.contains($0) ? $0 : nil } ?? rng.pick(own)
            let kinds = ProgressEvent.Kind.allCases.filter { !$0.byPracticeOrHub }.map(\.rawValue)
            let kind = ProgressEvent.Kind(rawValue: rng.pick(try nextEvents(store, r, kinds, service: service)))
            try perform(i, on: r) { try $0.update(r, .init(progress: kind), at: self.wall(i)) }
            return
        }
        let practices = me.role == .hub ? Simulation.practices : [me.rawValue]
        let roll = rng.below(100)
        if roll < 20 || referrals.isEmpty {
            let practice = try NodeID(rng.pick(practices))
            var new = Domain.NewReferral(
                needs: [.loneliness], practice: me.role == .hub ? practice : nil, urgency: .routine,
                consent: rng.chance(60) ? .explicit : .implied,
                person: .init(phone: "07700 900\(100 + rng.below(800))", nhsNumber: try NHSNumber("9434765919")),
                uuid: uuid())
            if !services.isEmpty, rng.chance(50) { new.service = rng.pick(services) }
            try perform(i, creating: { try $0.createReferral(new, at: self.wall(i)) })
            return
        }
        let r = rng.pick(referrals)
        var change = Domain.ReferralChange()
        switch roll {
        case 20..<50 where !services.isEmpty:
            change.service = rng.pick(services)
        case 50..<62:
            change.consent = rng.chance(50) ? .given(.explicit) : .withdrawn
        case 62..<72:
            change.person.phone = "07700 900\(100 + rng.below(800))"
        case 72..<80:
            change.progress = ProgressEvent.Kind(
                rawValue: rng.pick(try nextEvents(store, r, ["withdrawn", "closed", "reopened"])))
        case 80..<83:
            try perform(i, on: r) { try $0.redact(r, .contact, reason: "entered in error", at: self.wall(i)) }
            return
        case 83..<88:
            // Settle a contradictory episode if there is one.
            if try store.conflicts().contains(where: { $0.record == r.rawValue && $0.field == "status" }) {
                let keep: ProgressEvent.Kind = rng.chance(50) ? .accepted : .declined
                try perform(i, on: r) { try $0.settle(r, keep: keep, at: self.wall(i)) }
            }
            return
        default:
            change.urgency = rng.pick(Urgency.allCases)
        }
        try perform(i, on: r) { try $0.update(r, change, at: self.wall(i)) }
    }

    // MARK: Healing

    /// Syncs every link over a perfect connection, repeatedly, until nothing moves.
    func settle() throws {
        for round in 0..<10 {
            var moved = false
            for (link, (a, b)) in links.enumerated() {
                guard let sa = nodes[a].store, let sb = nodes[b].store else { continue }
                let o = try MemorySync.sync(sa, sb, nowMillis: wall(a), keyPolicy: keyPolicy)
                if !o.clean {
                    failures.append(
                        "healing session \(linkName(link)) did not end clean: \(String(describing: o.aReason)) / \(String(describing: o.bReason))"
                    )
                    return
                }
                if o.a.applied + o.b.applied + o.a.narrowed + o.b.narrowed > 0 { moved = true }
            }
            if !moved {
                if round > 0 { return }
            }
        }
        failures.append("the network did not settle in 10 rounds")
    }

    func heal() throws {
        log("heal")
        for c in connections.values.sorted(by: { $0.id < $1.id }) { cut(c) }
        events.removeAll()
        partitioned.removeAll()
        for i in nodes.indices where nodes[i].store == nil { nodes[i].store = try open(i) }
        // Time passes beyond the fast clock and the skew bound, so every parked write is due.
        now += 20 * 60 * 1000
        for i in nodes.indices { try nodes[i].store?.releaseParked(wallMillis: wall(i)) }
        try settle()
        for i in nodes.indices { try nodes[i].store?.releaseParked(wallMillis: wall(i)) }
        try settle()
    }

    // MARK: Checks

    func check() throws {
        var held: [[StoredWrite]] = []
        var truth = Replica()
        for node in nodes {
            guard let store = node.store else { preconditionFailure("healed nodes are all up") }
            let writes = try store.heldWrites()
            held.append(writes)
            for w in writes where forged[w.write.id] == nil { truth.apply(w.write) }
        }
        Checks.run(
            nodes: nodes.map(\.id), held: held, truth: truth, accepted: accepted.map(\.write),
            lostToRestore: lostToRestore, forged: forged, made: made,
            stores: nodes.compactMap(\.store), failures: &failures)
        log(
            "checked \(accepted.count) accepted and \(forged.count) forged writes at \(nodes.count) nodes: \(failures.isEmpty ? "converged" : "\(failures.count) failures")"
        )
    }

    func log(_ line: String) {
        trace.append("t+\(now - 1_780_000_000_000) \(line)")
    }
}

extension Store {
    /// Every write held, in local-seq order.
    func heldWrites() throws -> [StoredWrite] { try changes(after: 0, limit: Int.max) }

    func heldWriteIDs() throws -> Set<WriteID> { Set(try heldWrites().map(\.write.id)) }
}
