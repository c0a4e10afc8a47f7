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
        let reason = "\(error.resultCode): \(error.message ?? "no reason given")"
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
}
