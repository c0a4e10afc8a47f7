/// The id of a replicated record. It carries the facts about the record that never change.
///
/// - An organisation's id is its node id (`A81001`).
/// - A service's id is `S.<owner node id>.<uuidv7>`: anyone can tell who owns it.
/// - A referral's id is `R.<practice id>.<pcn id>.<uuidv7>`: anyone can tell which practice
///   and which PCN it belongs to. Validation and audiences rest on these facts alone.
public struct RecordID: Hashable, Comparable, Sendable, CustomStringConvertible {
    public enum Kind: Hashable, Sendable {
        case organisation(NodeID)
        case service(owner: NodeID)
        case referral(practice: NodeID, pcn: NodeID)
    }

    public let rawValue: String
    public let kind: Kind

    public init(_ text: String) throws(SyncError) {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        func uuid(_ s: String) throws(SyncError) {
            let u: UUIDv7
            do { u = try UUIDv7(s) } catch { throw RecordID.invalid(text) }
            guard u.version == 7, u.description == s else { throw RecordID.invalid(text) }
        }
        switch parts.first {
        case "S" where parts.count == 3:
            let owner = try NodeID(parts[1])
            guard owner.role == .vcse else {
                throw SyncError(.invalidRecordID, "'\(text)': services are owned by charities, not by \(owner)")
            }
            try uuid(parts[2])
            self.kind = .service(owner: owner)
        case "R" where parts.count == 4:
            let practice = try NodeID(parts[1])
            let pcn = try NodeID(parts[2])
            guard practice.role == .practice || practice.role == .hub, pcn.role == .hub else {
                throw SyncError(
                    .invalidRecordID, "'\(text)': a referral id names its practice and then its PCN (R.A81001.U12345.…)"
                )
            }
            try uuid(parts[3])
            self.kind = .referral(practice: practice, pcn: pcn)
        case _ where parts.count == 1:
            self.kind = .organisation(try NodeID(text))
        default:
            throw RecordID.invalid(text)
        }
        self.rawValue = text
    }

    /// A new service owned by `owner`.
    public static func service(owner: NodeID, uuid: UUIDv7) throws(SyncError) -> RecordID {
        try RecordID("S.\(owner).\(uuid)")
    }

    /// A new referral made at `practice` (or by its hub, then `practice` is still the person's practice).
    public static func referral(practice: NodeID, pcn: NodeID, uuid: UUIDv7) throws(SyncError) -> RecordID {
        try RecordID("R.\(practice).\(pcn).\(uuid)")
    }

    public static func organisation(_ node: NodeID) -> RecordID {
        // A node id is always a valid organisation record id.
        RecordID(raw: node.rawValue, kind: .organisation(node))
    }

    private init(raw: String, kind: Kind) {
        self.rawValue = raw
        self.kind = kind
    }

    public var description: String { rawValue }

    public static func < (lhs: RecordID, rhs: RecordID) -> Bool { lhs.rawValue < rhs.rawValue }

    /// The owner of a service record.
    public var serviceOwner: NodeID? {
        if case .service(let owner) = kind { return owner }
        return nil
    }

    /// The practice and the PCN a referral belongs to.
    public var referralParties: (practice: NodeID, pcn: NodeID)? {
        if case .referral(let practice, let pcn) = kind { return (practice, pcn) }
        return nil
    }

    private static func invalid(_ text: String) -> SyncError {
        SyncError(
            .invalidRecordID,
            "'\(text)' is not a record id: services look like S.GB-CHC-1234567.<uuid>, referrals like "
                + "R.A81001.U12345.<uuid>, organisations are their code")
    }
}
