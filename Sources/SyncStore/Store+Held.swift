import Foundation
import GRDB
import SyncCore

/// A write this node holds but has not applied: parked (stamped ahead of this node's clock) or
/// quarantined (the store could not take it), with why and what to do (`spsync held`).
public struct HeldWrite: Sendable, Codable, Equatable {
    public enum Kind: String, Sendable, Codable {
        case parked, quarantined
    }

    public var kind: Kind
    public var origin: String
    public var seq: UInt64
    public var record: String
    /// The field, when the write's body decodes.
    public var field: String?
    /// The peer that sent it.
    public var receivedFrom: String?
    /// When it was set aside, ms since the Unix epoch.
    public var at: UInt64
    /// Parked: its stamp, and the time from which this node applies it (ms since the Unix epoch).
    public var stampedAt: UInt64?
    public var appliesFrom: UInt64?
    public var reason: String
    public var whatToDo: String
}

extension Store {
    /// Every parked and quarantined write, oldest first in each kind; values are never read out.
    public func held() throws -> [HeldWrite] {
        try pool.read { db in
            var held: [HeldWrite] = []
            let skew = limits.clockSkewMaxMillis
            for row in try Row.fetchAll(db, sql: "SELECT * FROM parked ORDER BY parked_at, id") {
                let origin: String = row["origin_node"]
                let stamp = HLC(rawValue: UInt64(bitPattern: row["hlc"])).millis
                let from = stamp > skew ? stamp - skew : 0
                let at = UInt64(row["parked_at"] as Int64)
                held.append(
                    HeldWrite(
                        kind: .parked, origin: origin, seq: UInt64(row["seq"] as Int64), record: row["record_key"],
                        field: Self.fieldName(row), receivedFrom: row["received_from"], at: at, stampedAt: stamp,
                        appliesFrom: from,
                        reason:
                            "stamped \((stamp > at ? stamp - at : 0) / 1000) s ahead of this node's clock when it arrived "
                            + "(more than the \(limits.clockSkewMaxSeconds) s allowed)",
                        whatToDo:
                            "nothing, if the clocks are right: it applies by itself once this node's clock reaches "
                            + "\(Self.isoTime(from)); if that is far off, \(origin)'s clock runs fast: ask its operator to "
                            + "check it (timedatectl, NTP)"))
            }
            for row in try Row.fetchAll(db, sql: "SELECT * FROM quarantine ORDER BY at, id") {
                let error: String = row["error"]
                held.append(
                    HeldWrite(
                        kind: .quarantined, origin: row["origin_node"], seq: UInt64(row["seq"] as Int64),
                        record: row["record_key"], field: Self.fieldName(row), receivedFrom: row["received_from"],
                        at: UInt64(row["at"] as Int64), stampedAt: nil, appliesFrom: nil,
                        reason: "this node's store could not apply it (\(error))",
                        whatToDo:
                            "it is kept, not retried, and the sync went on without it: report it to the spsync "
                            + "maintainers with `spsync held --json` and `spsync audit --action quarantined`; nothing "
                            + "else of the change was lost"))
            }
            return held
        }
    }

    /// The field a held body writes, if it decodes (its value is not kept).
    static func fieldName(_ row: Row) -> String? {
        guard let record = try? RecordID(row["record_key"] as String),
            let node = try? NodeID(row["origin_node"] as String),
            let incarnation = try? UUIDv7(bytes: [UInt8](row["origin_incarnation"] as Data))
        else { return nil }
        let write = try? FieldWrite(
            origin: Origin(node: node, incarnation: incarnation), seq: UInt64(row["seq"] as Int64),
            hlc: HLC(rawValue: 0), record: record, body: [UInt8](row["body"] as Data))
        return write?.field.rawValue
    }

    static func isoTime(_ millis: UInt64) -> String {
        ISO8601DateFormatter().string(from: Date(timeIntervalSince1970: Double(millis) / 1000))
    }
}
