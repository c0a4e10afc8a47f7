import Foundation
import SyncCore
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
        /// Tampered nodes now and then make writes they may not make (another organisation's
        /// capacity, a charity's clinical write), which every other node must refuse. Drawn from
        /// a stream of their own, so the rest of a seed's history is the same with or without them.
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
    var forged: Set<WriteID> = []
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
    /// Every write accepted at its origin: the ids that must not be lost.
    var accepted: [(node: Int, write: WriteID)] = []
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
        self.forgeRng = SeededRandom(seed: options.seed &* 0x9E37_79B9_7F4A_7C15 &+ 7)
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
        let refusals = nodes.reduce(0) { n, node in n + ((try? node.store?.counts().refused) ?? 0) }
        return Report(
            seed: options.seed, trace: trace, failures: failures, forged: forged.count, refusals: refusals)
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
            let service = try RecordID.service(owner: nodes[i].id, uuid: uuid())
            nodes[i].services = [service]
            _ = try write(
                i, service,
                [
                    (.serviceName, FieldValue.text("Service of \(nodes[i].id)")),
                    (.serviceCategory, FieldValue.text("befriending")),
                    (.serviceCapacity, capacity(3)),
                ])
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
            let out = d.receive(frame, nowMillis: wall(c.ends[to]))
            send(c, from: to, out)
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

    /// Puts frames on the wire from one side, with the seeded faults.
    func send(_ c: Connection, from side: Int, _ frames: [Frame]) {
        let to = 1 - side
        for frame in frames {
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
        guard nodes[i].store != nil, let file = nodes[i].backups.first else { return }
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

    func consent(_ i: Int, explicit: Bool, withdrawn: Bool) -> [UInt8] {
        FieldValue.json(
            Consent(
                basis: explicit ? "explicit" : "implied", recordedBy: nodes[i].id.rawValue, at: now,
                withdrawnAt: withdrawn ? now : nil))
    }

    func event(_ kind: String, service: RecordID? = nil) -> [UInt8] {
        FieldValue.json(ProgressEvent(event: kind, service: service?.rawValue))
    }

    /// Node `i`'s store is tampered with: a write it may not make goes into its log, to be sent
    /// with its next session (no live push, so the main random stream is not touched).
    func forge(_ i: Int) throws {
        guard let store = nodes[i].store else { return }
        let me = nodes[i].id
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
        guard !candidates.isEmpty else { return }
        let (record, field, value) = candidates[forgeRng.below(candidates.count)]
        let ref = try store.tamperedWrite(record, [(field, value)], wallMillis: wall(i))
        forged.insert(WriteID(origin: ref.origin, seq: ref.seq, field: field))
        log("\(me) forges \(ref.seq) \(record.rawValue.prefix(24))… \(field.rawValue)")
    }

    func write(_ i: Int, _ record: RecordID, _ values: [(FieldKey, [UInt8])]) throws -> Bool {
        guard let store = nodes[i].store else { return false }
        do {
            let ref = try store.write(record, values, wallMillis: wall(i), actor: "sim")
            for (field, _) in values { accepted.append((i, WriteID(origin: ref.origin, seq: ref.seq, field: field))) }
            log(
                "\(nodes[i].id) writes \(ref.seq) \(record.rawValue.prefix(24))… \(values.map(\.0.rawValue).joined(separator: ","))"
            )
            pushLive(i)
            return true
        } catch let error as SyncError {
            log("\(nodes[i].id) write refused: \(error.code)")
            return false
        }
    }

    func workload(_ i: Int) throws {
        guard let store = nodes[i].store else { return }
        let me = nodes[i].id
        let services = try store.services(wallMillis: wall(i)).compactMap { try? RecordID($0.id) }
        let referrals = try store.referrals().compactMap { try? RecordID($0.id) }.sorted()
        if me.role == .vcse {
            let own = nodes[i].services
            if rng.chance(30) || referrals.isEmpty {
                _ = try write(i, rng.pick(own), [(.serviceCapacity, capacity(rng.below(6)))])
                return
            }
            let r = rng.pick(referrals)
            let kinds = ["received", "contacted", "accepted", "declined", "attending", "completed"]
            _ = try write(i, r, [(.progressEvents, event(rng.pick(kinds), service: rng.pick(own)))])
            return
        }
        let practices = me.role == .hub ? Simulation.practices : [me.rawValue]
        let roll = rng.below(100)
        if roll < 20 || referrals.isEmpty {
            let practice = try NodeID(rng.pick(practices))
            let r = try RecordID.referral(practice: practice, pcn: try NodeID(Simulation.hub), uuid: uuid())
            var values: [(FieldKey, [UInt8])] = [
                (.routingNeeds, FieldValue.json(["loneliness"])), (.routingUrgency, FieldValue.text("routine")),
                (.consent, consent(i, explicit: rng.chance(60), withdrawn: false)),
                (.contactPhone, FieldValue.text("07700 900\(100 + rng.below(800))")),
                (.clinicalNHSNumber, FieldValue.text("9434765919")), (.progressEvents, event("referred")),
            ]
            if !services.isEmpty, rng.chance(50) {
                values.append((.routingService, FieldValue.text(rng.pick(services).rawValue)))
            }
            _ = try write(i, r, values)
            return
        }
        let r = rng.pick(referrals)
        switch roll {
        case 20..<50 where !services.isEmpty:
            _ = try write(i, r, [(.routingService, FieldValue.text(rng.pick(services).rawValue))])
        case 50..<62:
            let explicit = rng.chance(50)
            _ = try write(i, r, [(.consent, consent(i, explicit: true, withdrawn: !explicit))])
        case 62..<72:
            _ = try write(i, r, [(.contactPhone, FieldValue.text("07700 900\(100 + rng.below(800))"))])
        case 72..<80:
            _ = try write(i, r, [(.progressEvents, event(rng.pick(["withdrawn", "closed", "reopened"])))])
        case 80..<83:
            _ = try write(i, r, [(.redaction(.contact), FieldValue.text("entered in error"))])
        case 83..<88:
            // Settle a contradictory episode if there is one.
            if let conflict = try store.conflicts().first(where: { $0.record == r.rawValue && $0.field == "status" }) {
                let settle = ProgressEvent(
                    event: "settled", settles: conflict.candidates.map(\.write),
                    keep: rng.pick(["accepted", "declined"]))
                _ = try write(i, r, [(.progressEvents, FieldValue.json(settle))])
            }
        default:
            _ = try write(i, r, [(.routingUrgency, FieldValue.text(rng.pick(["routine", "soon", "urgent"])))])
        }
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
            for w in writes where !forged.contains(w.write.id) { truth.apply(w.write) }
        }
        Checks.run(
            nodes: nodes.map(\.id), held: held, truth: truth, accepted: accepted.map(\.write),
            lostToRestore: lostToRestore, forged: forged,
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
