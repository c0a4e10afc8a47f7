import Foundation
import GRDB
import GRDBSQLite

/// A cached statement run through SQLite's C API, for the per-write statements of `apply`.
///
/// Binding values straight to the statement handle skips GRDB's `StatementArguments` (an array of
/// boxed values per call), which cost more than SQLite's own work for one small row. It bypasses
/// GRDB's transaction observation, so it is only for statements inside a write transaction of a
/// store that registers no observers (this one registers none). Values are bound exactly as GRDB
/// binds them, so the stored bytes do not depend on which path wrote them.
struct RawStatement {
    let statement: Statement
    private var handle: SQLiteStatement { statement.sqliteStatement }

    init(_ db: Database, sql: String) throws {
        statement = try db.cachedStatement(sql: sql)
        // A statement is left reset after each use; a failed one is too, so it can run again.
        sqlite3_reset(handle)
    }

    func bind(_ index: CInt, _ value: Int64) {
        check(sqlite3_bind_int64(handle, index, value))
    }

    func bind(_ index: CInt, _ value: String?) {
        guard let value else { return check(sqlite3_bind_null(handle, index)) }
        check(sqlite3_bind_text(handle, index, value, -1, transient))
    }

    func bind(_ index: CInt, _ bytes: [UInt8]?) {
        guard let bytes else { return check(sqlite3_bind_null(handle, index)) }
        // An empty value goes through GRDB's own binding of `Data`, so it is stored as before.
        guard !bytes.isEmpty else { return check(Data().bind(to: handle, at: index)) }
        check(
            bytes.withUnsafeBytes { sqlite3_bind_blob(handle, index, $0.baseAddress, CInt($0.count), transient) })
    }

    /// Runs an INSERT, UPDATE or DELETE to its end.
    func execute(_ db: Database) throws {
        defer { sqlite3_reset(handle) }
        while true {
            switch sqlite3_step(handle) {
            case SQLITE_DONE: return
            case SQLITE_ROW: continue
            case let code: throw failure(code, db)
            }
        }
    }

    /// The first column of the first row as an integer, or nil when there is no row.
    func fetchInt64(_ db: Database) throws -> Int64? {
        defer { sqlite3_reset(handle) }
        switch sqlite3_step(handle) {
        case SQLITE_ROW: return sqlite3_column_int64(handle, 0)
        case SQLITE_DONE: return nil
        case let code: throw failure(code, db)
        }
    }

    /// Steps through every row, handing each to `body` with the statement to read columns from.
    func forEachRow(_ db: Database, _ body: (Row) throws -> Void) throws {
        defer { sqlite3_reset(handle) }
        while true {
            switch sqlite3_step(handle) {
            case SQLITE_DONE: return
            case SQLITE_ROW: try body(Row(handle: handle))
            case let code: throw failure(code, db)
            }
        }
    }

    /// The current row of a stepping statement, read by column index.
    struct Row {
        fileprivate let handle: SQLiteStatement

        func int64(_ column: CInt) -> Int64 { sqlite3_column_int64(handle, column) }

        func string(_ column: CInt) -> String { String(cString: sqlite3_column_text(handle, column)) }

        /// A blob column's bytes, nil for NULL (an empty blob reads as empty, as GRDB reads it).
        func bytes(_ column: CInt) -> [UInt8]? {
            guard sqlite3_column_type(handle, column) != SQLITE_NULL else { return nil }
            let count = Int(sqlite3_column_bytes(handle, column))
            guard count > 0, let start = sqlite3_column_blob(handle, column) else { return [] }
            return [UInt8](UnsafeRawBufferPointer(start: start, count: count))
        }
    }

    private func failure(_ code: CInt, _ db: Database) -> DatabaseError {
        let message = db.sqliteConnection.map { String(cString: sqlite3_errmsg($0)) }
        return DatabaseError(resultCode: ResultCode(rawValue: code), message: message, sql: statement.sql)
    }

    /// A bind fails only for a wrong index or type: a programming error, never bad data.
    private func check(_ code: CInt) {
        precondition(code == SQLITE_OK, "binding a statement argument failed (\(code)): \(statement.sql)")
    }

    /// SQLite copies the value before the bind call returns.
    private var transient: sqlite3_destructor_type {
        unsafeBitCast(OpaquePointer(bitPattern: -1), to: sqlite3_destructor_type.self)
    }
}
