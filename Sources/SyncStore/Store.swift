import Foundation
import GRDB
import SyncCore
import SyncCrypto

/// A node's SQLite store: the change log, field-write state, typed views, checkpoints, the sent
/// ledger, parked and quarantined writes and the audit log, in one WAL-mode file.
///
/// The CLI and the daemon may both hold it open: every write runs in `BEGIN IMMEDIATE`, and seq
/// and HLC come from stored counters inside that transaction.
public final class Store: Sendable {
    /// `PRAGMA application_id`: "SPSY".
    public static let applicationID: Int32 = 0x5350_5359
    /// The schema version this binary knows (`PRAGMA user_version`).
    public static var schemaVersion: Int { embeddedMigrations.count }

    public let path: String
    public let limits: Limits
    let pool: DatabasePool
    /// The key that signs this node's changes (its certificate's key); nil for a store opened only
    /// to read, which then refuses local writes.
    public let signer: (any ChangeSigner)?
    let crypto = OpenSSLSealCrypto()
    /// Certificates of key bindings, parsed once per process.
    let certificates = CertificateCache()
    /// The high-water mark beside the store, for a store opened as a node's (`guardingRollback`).
    let highWater: HighWaterMark?

    private init(
        path: String, pool: DatabasePool, limits: Limits, signer: (any ChangeSigner)?, guardingRollback: Bool = false
    ) {
        self.path = path
        self.pool = pool
        self.limits = limits
        self.signer = signer
        self.highWater = guardingRollback ? HighWaterMark(path: Store.highWaterPath(path)) : nil
    }

    /// Where the high-water mark of the store at `path` is kept.
    public static func highWaterPath(_ path: String) -> String { path + ".highwater" }

    /// Creates a new store for `node` at `path`, which must not exist yet. With a `signer`, its key
    /// binding for the new incarnation is made at once.
    public static func create(
        at path: String, node: NodeID, wallMillis: UInt64, limits: Limits = .standard,
        signer: (any ChangeSigner)? = nil
    ) throws -> Store {
        guard !FileManager.default.fileExists(atPath: path) else {
            throw SyncError(.exists, "a store already exists at \(path); refusing to overwrite it")
        }
        let store = try Store(path: path, pool: openPool(path), limits: limits, signer: signer)
        try store.pool.barrierWriteWithoutTransaction { db in
            try migrate(db, path: path, creating: true)
            try db.inTransaction(.immediate) {
                try db.execute(
                    sql:
                        "INSERT INTO node (id, node_id, incarnation, last_seq, hlc, created_at) VALUES (1, ?, ?, 0, 0, ?)",
                    arguments: [node.rawValue, Data(newIncarnation(wallMillis).bytes), Int64(wallMillis)])
                return .commit
            }
        }
        if signer != nil { try store.ensureOwnKey(previous: nil, wallMillis: wallMillis) }
        return store
    }

    /// Opens an existing store, migrating it forward; refuses one made by a newer spsync, and one
    /// made before signed changes (protocol version 1), whose writes no peer would accept.
    ///
    /// A file that is not an spsync store (empty, not SQLite, another program's database, or one
    /// from a newer spsync) is refused from its header before SQLite opens it, so it is left byte
    /// for byte as it was: opening would switch it to WAL mode and migrating would add our tables.
    ///
    /// A node's own store is opened `guardingRollback`: its high-water mark (`highWaterPath`) is
    /// checked, and the store marked rolled back when the mark is ahead of it (see `HighWaterMark`).
    public static func open(
        at path: String, limits: Limits = .standard, signer: (any ChangeSigner)? = nil, guardingRollback: Bool = false,
        wallMillis: UInt64 = 0
    ) throws -> Store {
        try StoreFile.check(path)
        let store = try Store(
            path: path, pool: openPool(path), limits: limits, signer: signer, guardingRollback: guardingRollback)
        try store.pool.barrierWriteWithoutTransaction { db in try migrate(db, path: path, creating: false) }
        let legacy = try store.pool.read { db in try Int.fetchOne(db, sql: "SELECT legacy_writes FROM node") ?? 0 }
        guard legacy == 0 else {
            throw SyncError(
                .storeInvalid,
                "the store at \(path) holds \(legacy) writes made before signed changes (spsync protocol 1); "
                    + "protocol 2 nodes refuse unsigned writes, so it cannot sync. Keep it as a record and make a "
                    + "new node with `spsync init` (docs/decisions.md, \"Signed changes\")")
        }
        try store.checkHighWater(wallMillis: wallMillis)
        return store
    }

    /// Compares the store with its high-water mark: a store behind its mark was put back to an
    /// older copy without `spsync restore`, and is marked so before it can reuse a seq. A store at
    /// or ahead of its mark (or a home without one yet) moves the mark up to it.
    func checkHighWater(wallMillis: UInt64) throws {
        guard let highWater else { return }
        try highWater.exclusively { try compareHighWater(highWater, wallMillis: wallMillis) }
    }

    private func compareHighWater(_ highWater: HighWaterMark, wallMillis: UInt64) throws {
        let node = try nodeState()
        let mark = highWater.read()
        if let mark, mark.node == node.node {
            let behind =
                mark.incarnation == node.incarnation ? node.lastSeq < mark.seq : node.incarnation < mark.incarnation
            if behind {
                try markRolledBack(wallMillis: wallMillis, evidence: "high-water mark", proof: nil)
                return
            }
            if mark.incarnation == node.incarnation, mark.seq == node.lastSeq { return }
        }
        try highWater.reset(node: node.node, incarnation: node.incarnation, seq: node.lastSeq)
    }

    /// The error local writes get once the store is known to be an older copy of itself.
    static func rolledBackError(at: UInt64) -> SyncError {
        SyncError(
            .rolledBack,
            "local writes are stopped: on \(Date(timeIntervalSince1970: Double(at) / 1000)) this store was found to be "
                + "an older copy of itself, put back without `spsync restore`. Stop the daemon and run `spsync recover`: "
                + "it carries the changes made since into a new incarnation, and peers send back the rest; nothing is lost"
        )
    }

    /// The node the store at `path` belongs to, read without opening it for writing (nothing is
    /// written to the file or beside it); nil when it cannot be read that way and only opening the
    /// store would tell. Refuses a file that is not an spsync store as `open` does.
    public static func peekNode(at path: String) throws -> String? {
        try StoreFile.check(path)
        return StoreFile.nodeID(path)
    }

    static func openPool(_ path: String) throws -> DatabasePool {
        var config = Configuration()
        config.busyMode = .timeout(15)
        config.prepareDatabase { db in
            try db.execute(sql: "PRAGMA synchronous = NORMAL")
            // Redacted values are overwritten on disk, not just unlinked from the b-tree.
            try db.execute(sql: "PRAGMA secure_delete = ON")
            try db.execute(sql: "PRAGMA foreign_keys = ON")
        }
        do {
            return try DatabasePool(path: path, configuration: config)
        } catch {
            throw SyncError(.io, "cannot open the store at \(path): \(operatorError(error)?.message ?? "\(error)")")
        }
    }

    /// Runs the numbered migrations this file lacks, each in its own transaction. Only a file being
    /// `creating` may start without our application id (and then it must hold no tables at all).
    static func migrate(_ db: Database, path: String, creating: Bool) throws {
        let appID = try Int32.fetchOne(db, sql: "PRAGMA application_id") ?? 0
        let version = try Int.fetchOne(db, sql: "PRAGMA user_version") ?? 0
        let tables = try Int.fetchOne(db, sql: "SELECT count(*) FROM sqlite_schema") ?? 0
        guard appID == applicationID || (creating && appID == 0 && version == 0 && tables == 0) else {
            throw SyncError(
                .storeInvalid,
                "\(path) is not an spsync store (SQLite application_id \(appID), \(tables) schema "
                    + "entries); it was left as it was: check --home")
        }
        guard version <= schemaVersion else { throw newerSchema(version) }
        for (index, migration) in embeddedMigrations.enumerated() where index + 1 > version {
            try db.inTransaction(.immediate) {
                try db.execute(sql: migration.sql)
                try db.execute(sql: "PRAGMA application_id = \(applicationID)")
                try db.execute(sql: "PRAGMA user_version = \(index + 1)")
                return .commit
            }
        }
        try refreshQueuedViews(db)
    }

    /// Derives again the view rows a migration queued in `view_refresh` (a changed status fold),
    /// and empties the queue, in one transaction.
    static func refreshQueuedViews(_ db: Database) throws {
        let keys = try String.fetchAll(
            db, sql: "SELECT record.key FROM view_refresh JOIN record ON record.id = view_refresh.record")
        guard !keys.isEmpty else { return }
        try db.inTransaction(.immediate) {
            var s = ApplySession(hlc: try nodeState(db).hlc, wallMillis: 0)
            for key in keys { s.touched.insert(try RecordID(key)) }
            try refreshViews(db, &s)
            try db.execute(sql: "DELETE FROM view_refresh")
            return .commit
        }
    }

    /// The refusal of a store written by a newer spsync.
    static func newerSchema(_ version: Int) -> SyncError {
        SyncError(
            .storeNewer,
            "the store has schema version \(version) but this spsync knows only up to \(schemaVersion): "
                + "it was written by a newer spsync; upgrade spsync instead of downgrading the store")
    }

    static func newIncarnation(_ wallMillis: UInt64) -> Incarnation {
        var rng = SystemRandomNumberGenerator()
        return UUIDv7(millis: wallMillis, random: (rng.next(), rng.next()))
    }

    /// 16 random bytes for a write's salt.
    static func newSalt() -> [UInt8] {
        var rng = SystemRandomNumberGenerator()
        let a = rng.next() as UInt64, b = rng.next() as UInt64
        return (0..<8).map { UInt8(truncatingIfNeeded: a >> (8 * $0)) }
            + (0..<8).map { UInt8(truncatingIfNeeded: b >> (8 * $0)) }
    }

    /// A new random UUIDv7 for a record id.
    public static func newUUID(wallMillis: UInt64) -> UUIDv7 { newIncarnation(wallMillis) }

    // MARK: The node

    /// This node as the store knows it.
    public struct NodeState: Sendable, Equatable {
        public var node: NodeID
        public var incarnation: Incarnation
        public var lastSeq: UInt64
        public var hlc: HLC
        public var rolledBackAt: UInt64?
        /// Once rolled back: the highest own seq common to the older copy and what peers hold
        /// (see migration 6), and the stamp of the lost change that proved it, if a peer did.
        public var rollbackSeq: UInt64? = nil
        public var rollbackHLC: HLC? = nil
        public var origin: Origin { Origin(node: node, incarnation: incarnation) }
    }

    public func nodeState() throws -> NodeState {
        try pool.read { db in try Store.nodeState(db) }
    }

    static func nodeState(_ db: Database) throws -> NodeState {
        guard let row = try Row.fetchOne(db.cachedStatement(sql: "SELECT * FROM node WHERE id = 1")) else {
            throw SyncError(.storeInvalid, "the store has no node row: it is damaged; restore it from a backup")
        }
        let rolled: Int64? = row["rolled_back_at"]
        let rollbackSeq: Int64? = row["rollback_seq"]
        let rollbackHLC: Int64? = row["rollback_hlc"]
        return NodeState(
            node: try NodeID(row["node_id"] as String),
            incarnation: try UUIDv7(bytes: [UInt8](row["incarnation"] as Data)),
            lastSeq: UInt64(row["last_seq"] as Int64),
            hlc: HLC(rawValue: UInt64(bitPattern: row["hlc"] as Int64)),
            rolledBackAt: rolled.map { UInt64($0) },
            rollbackSeq: rollbackSeq.map { UInt64($0) },
            rollbackHLC: rollbackHLC.map { HLC(rawValue: UInt64(bitPattern: $0)) })
    }

    /// Records that the store was put back to an older copy: a peer holds a change of this
    /// incarnation that the store lacks (`proof`), or the high-water mark kept beside the store
    /// is ahead of it (`proof` nil: the store's last seq is then exactly where the copy ends).
    /// Local writes stop until `spsync recover` carries the changes made since into a new
    /// incarnation.
    public func markRolledBack(wallMillis: UInt64, evidence actor: String, proof: RollbackProof?) throws {
        try pool.write { db in
            let node = try Store.nodeState(db)
            guard node.rolledBackAt == nil else { return }
            let common = proof.map { min(max($0.seq, 1) - 1, node.lastSeq) } ?? node.lastSeq
            try db.execute(
                sql: "UPDATE node SET rolled_back_at = ?, rollback_seq = ?, rollback_hlc = ? WHERE id = 1",
                arguments: [
                    Int64(wallMillis), Int64(common), proof.map { Int64(bitPattern: $0.hlc.rawValue) },
                ])
            try Audit.append(
                db, at: wallMillis, action: "rolled_back", actor: actor, origin: node.node, seq: proof?.seq,
                code: proof == nil ? "high-water mark at open" : "own change proved by a peer")
        }
    }

    /// Audits a peer's `HELLO` claim to hold more of this node's current incarnation than it issued.
    /// Nothing else changes: only a change signed with this node's key proves a rollback.
    public func auditFalseClaim(peer: NodeID, held: UInt64, lastSeq: UInt64, wallMillis: UInt64) throws {
        try pool.write { db in
            try Audit.append(
                db, at: wallMillis, action: "false_claim", actor: peer.rawValue, origin: try Store.nodeState(db).node,
                seq: held, code: "claims seq \(held), store at \(lastSeq)")
        }
    }

    /// The store's size in bytes (main file and WAL).
    public func fileBytes() -> Int {
        [path, path + "-wal"].reduce(0) { sum, p in
            sum + ((try? FileManager.default.attributesOfItem(atPath: p)[.size] as? Int) ?? 0)
        }
    }
}
