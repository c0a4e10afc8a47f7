import GRDB
import SyncCore

extension Store {
    /// The operator's one-line message for an SQLite failure that reached a command, nil for any
    /// other error.
    ///
    /// GRDB's own description names the SQL statement (several lines for a migration) and not what
    /// to do; a full disk must say so in the words the README's table of errors uses.
    public static func operatorError(_ error: any Error) -> SyncError? {
        guard let error = error as? DatabaseError else { return nil }
        let reason = sqliteReason(error)
        switch error.resultCode {
        case .SQLITE_FULL:
            return SyncError(
                .io,
                "the store could not take a write (\(reason)): free disk space, then run the command again; "
                    + "nothing was written")
        case .SQLITE_IOERR, .SQLITE_READONLY, .SQLITE_CANTOPEN, .SQLITE_NOMEM, .SQLITE_PERM:
            return SyncError(
                .io,
                "the store could not take a write (\(reason)): check the disk and the volume (free space, "
                    + "read-only mount, permissions), then run the command again; nothing was written")
        case .SQLITE_BUSY, .SQLITE_LOCKED:
            return SyncError(
                .io, "the store stayed busy (\(reason)): another spsync held it too long; run the command again")
        case .SQLITE_CORRUPT, .SQLITE_NOTADB:
            return SyncError(
                .storeInvalid, "the store is damaged (\(reason)): put back a backup with `spsync restore FILE`")
        default:
            return SyncError(.io, "the store failed (\(reason))")
        }
    }

    /// What a session reports when this node's store failed under it (the detail of its `ERROR
    /// internal`, which the daemon logs and `status` shows): for an SQLite failure, the one-line
    /// cause and what to do, in the words of the README's table of errors, not GRDB's description.
    /// A failed batch is rolled back whole and its checkpoint with it, so the next sync resumes.
    public static func syncFailure(_ error: any Error) -> String {
        guard let error = error as? DatabaseError else { return "this node's store failed: \(error)" }
        let reason = sqliteReason(error)
        let resumes = "nothing of the batch was kept, and the next sync resumes where this one stopped"
        switch error.resultCode {
        case .SQLITE_FULL:
            return "this node's store could not take a batch (\(reason)): free disk space; \(resumes)"
        case .SQLITE_IOERR, .SQLITE_READONLY, .SQLITE_CANTOPEN, .SQLITE_NOMEM, .SQLITE_PERM:
            return "this node's store could not take a batch (\(reason)): check the disk and the volume "
                + "(free space, read-only mount, permissions); \(resumes)"
        case .SQLITE_CORRUPT, .SQLITE_NOTADB:
            return "this node's store is damaged (\(reason)): stop the daemon and put back a backup with "
                + "`spsync restore FILE`"
        default:
            return "this node's store failed (\(reason)); \(resumes)"
        }
    }

    /// SQLite's own words and its code, once: "database or disk is full, SQLite code 13".
    static func sqliteReason(_ error: DatabaseError) -> String {
        "\(error.message ?? "no reason given"), SQLite code \(error.extendedResultCode.rawValue)"
    }
}
