/// Where a change was made: a node in one incarnation of its store. `(origin, seq)` names a change forever.
public struct Origin: Hashable, Comparable, Sendable, CustomStringConvertible {
    public let node: NodeID
    public let incarnation: Incarnation

    public init(node: NodeID, incarnation: Incarnation) {
        self.node = node
        self.incarnation = incarnation
    }

    public static func < (lhs: Origin, rhs: Origin) -> Bool {
        (lhs.node.rawValue, lhs.incarnation) < (rhs.node.rawValue, rhs.incarnation)
    }

    public var description: String { "\(node)/\(incarnation)" }
}

/// The name of one field write: its change's origin and seq, and the field.
public struct WriteID: Hashable, Comparable, Sendable, CustomStringConvertible {
    public let origin: Origin
    public let seq: UInt64
    public let field: FieldKey

    public init(origin: Origin, seq: UInt64, field: FieldKey) {
        self.origin = origin
        self.seq = seq
        self.field = field
    }

    public static func < (lhs: WriteID, rhs: WriteID) -> Bool {
        (lhs.origin, lhs.seq, lhs.field.rawValue) < (rhs.origin, rhs.seq, rhs.field.rawValue)
    }

    public var description: String { "\(origin.node):\(origin.incarnation):\(seq):\(field)" }
}

/// A reference to a change (an event or a note), written `node:incarnation:seq`.
public struct ChangeRef: Hashable, Comparable, Sendable, CustomStringConvertible {
    public let origin: Origin
    public let seq: UInt64

    public init(origin: Origin, seq: UInt64) {
        self.origin = origin
        self.seq = seq
    }

    public init(_ text: String) throws(SyncError) {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
        guard parts.count == 3, let seq = UInt64(parts[2]) else {
            throw SyncError(.invalidValue, "\(quoted: text) is not a change reference (node:incarnation:seq)")
        }
        self.origin = Origin(node: try NodeID(parts[0]), incarnation: try UUIDv7(parts[1]))
        self.seq = seq
    }

    public static func < (lhs: ChangeRef, rhs: ChangeRef) -> Bool { (lhs.origin, lhs.seq) < (rhs.origin, rhs.seq) }

    public var description: String { "\(origin.node):\(origin.incarnation):\(seq)" }
}
