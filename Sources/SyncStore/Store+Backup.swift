import Foundation
import GRDB
import SyncCore

extension Store {
    /// Writes a consistent copy of the store to `file` with `VACUUM INTO` (safe while the daemon runs).
    public func backup(to file: String) throws {
        guard !FileManager.default.fileExists(atPath: file) else {
            throw SyncError(.exists, "\(file) exists already: choose a new file name for the backup")
        }
        do {
            try pool.writeWithoutTransaction { db in try db.execute(sql: "VACUUM INTO ?", arguments: [file]) }
        } catch let error as DatabaseError {
            throw SyncError(
                .io,
                "backup to \(file) failed: \(error.message ?? "\(error)") (is the disk full, or the folder missing?)")
        }
    }

    /// Replaces the store at `path` with the backup `file`, under a new incarnation, so that no seq
    /// is ever reused. The store being replaced is kept beside it as `<path>.replaced-<ms>`.
    ///
    /// Writes made after the backup under the old incarnation are not lost: peers hold them and
    /// send them back, since they are no longer this node's current incarnation.
    @discardableResult
    public static func restore(from file: String, to path: String, expecting node: NodeID, wallMillis: UInt64) throws
        -> Incarnation
    {
        // A store found put back to an older copy holds changes made since that exist nowhere else:
        // replacing it would lose them, so they are carried into a new incarnation first.
        if FileManager.default.fileExists(atPath: path), let current = try? Store.open(at: path),
            (try? current.changesToCarry()) ?? 0 > 0
        {
            try? current.pool.close()
            throw SyncError(
                .usage,
                "this store holds changes made after it was put back to an older copy, which no backup holds: run "
                    + "`spsync recover` first, then restore if you still need to; nothing was changed")
        }
        let staging = path + ".restoring"
        try? FileManager.default.removeItem(atPath: staging)  // a leftover of an interrupted restore
        do {
            try FileManager.default.copyItem(atPath: file, toPath: staging)
        } catch {
            throw SyncError(.io, "cannot read the backup \(file): \(error.localizedDescription)")
        }
        let incarnation = newIncarnation(wallMillis)
        do {
            let restored = try Store.open(at: staging)
            let backedUp = try restored.nodeState()
            guard backedUp.node == node else {
                throw SyncError(.usage, "\(file) is a backup of \(backedUp.node), not of this node \(node)")
            }
            try restored.pool.write { db in
                try db.execute(
                    sql: "UPDATE node SET incarnation = ?, last_seq = 0, rolled_back_at = NULL WHERE id = 1",
                    arguments: [Data(incarnation.bytes)])
                try Audit.append(db, at: wallMillis, action: "restored", actor: "operator", origin: node)
            }
            try restored.pool.writeWithoutTransaction { db in _ = try db.checkpoint(.truncate) }
            try restored.pool.close()
        } catch {
            try? FileManager.default.removeItem(atPath: staging)
            throw error
        }
        let fm = FileManager.default
        if fm.fileExists(atPath: path) {
            let aside = "\(path).replaced-\(wallMillis)"
            try fm.moveItem(atPath: path, toPath: aside)
            for suffix in ["-wal", "-shm"] where fm.fileExists(atPath: path + suffix) {
                try fm.moveItem(atPath: path + suffix, toPath: aside + suffix)
            }
        }
        // The WAL (empty after the checkpoint, but moved all the same) goes with its database file.
        for suffix in ["-wal", "-shm"] where fm.fileExists(atPath: staging + suffix) {
            try fm.moveItem(atPath: staging + suffix, toPath: path + suffix)
        }
        try fm.moveItem(atPath: staging, toPath: path)
        try HighWaterMark(path: highWaterPath(path)).reset(node: node, incarnation: incarnation, seq: 0)
        return incarnation
    }
}
