/// An operating error: expected, typed, mapped to a protocol error code or an exit status, and
/// worded to tell the operator what to do next.
public struct SyncError: Error, Equatable, Sendable, CustomStringConvertible {
    /// Stable machine-readable codes; the protocol's `ERROR` codes are a subset.
    public enum Code: String, Sendable, Codable {
        case invalidNodeID = "invalid_node_id"
        case invalidRecordID = "invalid_record_id"
        case invalidField = "invalid_field"
        case invalidValue = "invalid_value"
        case unauthorised = "unauthorised"
        case limitExceeded = "limit_exceeded"
        case malformed = "malformed"
        case clockAhead = "clock_ahead"
        case rolledBack = "rolled_back"
        case notFound = "not_found"
        case conflict = "conflict"
        /// A progress event the lifecycle table does not allow after the referral's current status.
        case invalidTransition = "invalid_transition"
        case storeNewer = "store_newer"
        case storeInvalid = "store_invalid"
        case exists = "exists"
        case io = "io"
        case usage = "usage"
        /// A change whose origin signature is missing, wrong, or by a key not valid for its origin.
        case badSignature = "bad_signature"
        /// A change of an origin whose key this node does not hold (its binding was not sent, or was
        /// refused): it cannot be verified, so it is refused; not counted as forged.
        case unknownKey = "unknown_key"
        /// A key binding that contradicts a known key, or a second change signed under one seq.
        case keyConflict = "key_conflict"
    }

    public var code: Code
    public var message: String
    /// For `rolledBack` found from a peer's change: that change, which the store had lost.
    public var rollbackProof: RollbackProof?

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public init(_ code: Code, _ message: String, rollbackProof: RollbackProof) {
        self.code = code
        self.message = message
        self.rollbackProof = rollbackProof
    }

    public var description: String { message }
}

/// A change of this node's own current incarnation, validly signed with its key, that a peer held
/// and its store did not (or held differently): the proof that the store was put back to an older
/// copy, and where the copy's history and the peers' part.
public struct RollbackProof: Equatable, Sendable {
    /// The change's seq: the store's copy can hold its own history only below it.
    public var seq: UInt64
    /// The change's HLC stamp: changes the store made after it was put back are stamped later.
    public var hlc: HLC

    public init(seq: UInt64, hlc: HLC) {
        self.seq = seq
        self.hlc = hlc
    }
}
