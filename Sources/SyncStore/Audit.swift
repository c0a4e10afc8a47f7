import GRDB
import SyncCore

/// The append-only audit log: ids, stamps and refusal codes, never field values.
enum Audit {
    static func append(
        _ db: Database, at wallMillis: UInt64, action: String, actor: String? = nil, origin: NodeID? = nil,
        seq: UInt64? = nil, record: String? = nil, field: String? = nil, code: String? = nil
    ) throws {
        try db.cachedStatement(
            sql: """
                INSERT INTO audit (at, action, actor, origin, seq, record, field, code)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                """
        ).execute(arguments: [
            Int64(wallMillis), action, actor, origin?.rawValue, seq.map { Int64($0) }, record, field, code,
        ])
    }
}

/// One line of the audit log.
public struct AuditEntry: Sendable, Equatable, Codable {
    public var id: Int64
    public var at: UInt64
    public var action: String
    public var actor: String?
    public var origin: String?
    public var seq: UInt64?
    public var record: String?
    public var field: String?
    public var code: String?
}

extension Store {
    /// The actions the audit log records, for `spsync audit --action`.
    public static let auditActions = [
        "local_write", "refused", "parked", "quarantined", "redacted", "purged", "erase_deferred", "key_refused",
        "false_claim", "new_incarnation", "restored", "rolled_back", "recovered", "carried",
    ]

    /// The newest audit entries, newest last.
    public func audit(limit: Int = 100, action: String? = nil) throws -> [AuditEntry] {
        try audit(since: nil, actions: action.map { [$0] }, limit: limit)
    }

    /// The newest `limit` audit entries at or after `since` (ms) of the given actions (all when nil),
    /// newest last.
    public func audit(since: UInt64?, actions: [String]?, limit: Int) throws -> [AuditEntry] {
        try pool.read { db in
            let filter = actions.map { list in
                "action IN (" + list.map { _ in "?" }.joined(separator: ", ") + ")"
            }
            var args: StatementArguments = [Int64(since ?? 0)]
            if let actions { args += StatementArguments(actions) }
            args += [limit]
            let rows = try Row.fetchAll(
                db,
                sql: """
                    SELECT * FROM (SELECT * FROM audit WHERE at >= ? \(filter.map { "AND " + $0 } ?? "")
                    ORDER BY id DESC LIMIT ?) ORDER BY id
                    """,
                arguments: args)
            return rows.map { row in
                AuditEntry(
                    id: row["id"], at: UInt64(row["at"] as Int64), action: row["action"], actor: row["actor"],
                    origin: row["origin"], seq: (row["seq"] as Int64?).map { UInt64($0) }, record: row["record"],
                    field: row["field"], code: row["code"])
            }
        }
    }
}
