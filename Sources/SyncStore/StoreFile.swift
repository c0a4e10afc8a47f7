import Foundation
import GRDBSQLite
import SyncCore

/// The checks on a store file made from its first bytes, before SQLite opens it.
///
/// Opening a file with SQLite is not a read: the pool switches it to WAL mode and migrations add
/// tables. So whether a file is ours is decided from its 100-byte SQLite header first, and a file
/// that is not (empty, not SQLite, another program's database, a newer spsync's store) is refused
/// untouched. (SQLite file format: "SQLite format 3\0" at 0, `user_version` at 60, `application_id`
/// at 68, both big-endian.)
enum StoreFile {
    static let headerBytes = 100
    static let magic = Array("SQLite format 3\u{0}".utf8)

    /// Refuses `path` unless it is an spsync store this binary can open, reading only its header.
    static func check(_ path: String) throws {
        let fm = FileManager.default
        guard fm.fileExists(atPath: path) else {
            throw SyncError(.notFound, "no store at \(path): run `spsync init` first, or pass the right --home")
        }
        // A store whose last transactions are still in its WAL (its process was killed before a
        // checkpoint) may not have them in the main file yet: SQLite reads both, and the check in
        // `migrate` refuses a file that is not ours before writing anything to it.
        // Another process closing the store (the last connection) deletes its WAL at any moment:
        // a WAL that is gone between looking and reading counts as none.
        var wal = stat()
        if stat(path + "-wal", &wal) == 0 {
            if wal.st_size > 0 { return }
        } else if errno != ENOENT {
            throw SyncError(
                .io, "cannot read the store's WAL \(path)-wal: \(String(cString: strerror(errno)).lowercased())")
        }
        let header: [UInt8]
        do {
            let handle = try FileHandle(forReadingFrom: URL(fileURLWithPath: path))
            defer { try? handle.close() }  // read-only: nothing to lose on close
            header = [UInt8](try handle.read(upToCount: headerBytes) ?? Data())
        } catch {
            throw SyncError(.io, "cannot read the store at \(path): \(error.localizedDescription)")
        }
        let untouched = "it was left as it was: check --home, or put back a backup with `spsync restore FILE`"
        guard !header.isEmpty else {
            throw SyncError(.storeInvalid, "\(path) is an empty file, not an spsync store; \(untouched)")
        }
        guard header.count == headerBytes, Array(header.prefix(magic.count)) == magic else {
            throw SyncError(.storeInvalid, "\(path) is not an SQLite database, so not an spsync store; \(untouched)")
        }
        let applicationID = bigEndian(header, at: 68)
        guard applicationID == Store.applicationID else {
            throw SyncError(
                .storeInvalid,
                "\(path) is another program's SQLite database (application_id \(applicationID)), not an spsync "
                    + "store; \(untouched)")
        }
        let version = Int(bigEndian(header, at: 60))
        guard version <= Store.schemaVersion else { throw Store.newerSchema(version) }
    }

    /// The node id in the store at `path`, read without writing to it or beside it (SQLite's
    /// `immutable` mode: no lock, no WAL, no shared-memory file); nil when it cannot be read so,
    /// for example while the store's newest transactions are still only in its WAL.
    ///
    /// Opening the store the usual way is a write (GRDB makes sure a WAL file exists by creating
    /// and dropping a table), so a refusal that needs the node id must not take that path.
    static func nodeID(_ path: String) -> String? {
        // A URI filename: `?`, `#` and `%` would end or escape the path, so they are percent-encoded.
        var encoded = ""
        for character in path {
            switch character {
            case "?": encoded += "%3F"
            case "#": encoded += "%23"
            case "%": encoded += "%25"
            default: encoded.append(character)
            }
        }
        let uri = "file:" + (path.hasPrefix("/") ? "//" : "") + encoded + "?immutable=1"
        var connection: OpaquePointer?
        defer { sqlite3_close(connection) }
        guard sqlite3_open_v2(uri, &connection, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI, nil) == SQLITE_OK else {
            return nil
        }
        var statement: OpaquePointer?
        guard sqlite3_prepare_v2(connection, "SELECT node_id FROM node WHERE id = 1", -1, &statement, nil) == SQLITE_OK
        else { return nil }
        defer { sqlite3_finalize(statement) }
        guard sqlite3_step(statement) == SQLITE_ROW, let text = sqlite3_column_text(statement, 0) else { return nil }
        return String(cString: text)
    }

    private static func bigEndian(_ bytes: [UInt8], at offset: Int) -> Int32 {
        Int32(bitPattern: bytes[offset..<offset + 4].reduce(UInt32(0)) { $0 << 8 | UInt32($1) })
    }
}
