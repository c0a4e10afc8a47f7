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
        // Parsed on every write stored, sent or received: one pass over the UTF-8 bytes, no
        // intermediate strings but the node ids.
        var text = text
        text.makeContiguousUTF8()
        let parsed: Result<Kind, SyncError> =
            text.utf8.withContiguousStorageIfAvailable { bytes in
                do throws(SyncError) { return .success(try RecordID.parse(bytes, text)) } catch {
                    return .failure(error)
                }
            } ?? .failure(RecordID.invalid(text))
        self.kind = try parsed.get()
        self.rawValue = text
    }

    private static func parse(_ bytes: UnsafeBufferPointer<UInt8>, _ text: String) throws(SyncError) -> Kind {
        var dots: [Int] = []
        for (i, c) in bytes.enumerated() where c == 46 {  // "."
            dots.append(i)
            if dots.count > 3 { throw RecordID.invalid(text) }
        }
        func node(_ range: Range<Int>) throws(SyncError) -> NodeID {
            try NodeID(String(decoding: UnsafeBufferPointer(rebasing: bytes[range]), as: UTF8.self))
        }
        func uuid(from start: Int) throws(SyncError) {
            guard UUIDv7.isCanonicalVersion7(UnsafeBufferPointer(rebasing: bytes[start...])) else {
                throw RecordID.invalid(text)
            }
        }
        switch (bytes.first, dots.count) {
        case (83, 2) where dots[0] == 1:  // "S"
            let owner = try node(2..<dots[1])
            guard owner.role == .vcse else {
                throw SyncError(.invalidRecordID, "\(quoted: text): services are owned by charities, not by \(owner)")
            }
            try uuid(from: dots[1] + 1)
            return .service(owner: owner)
        case (82, 3) where dots[0] == 1:  // "R"
            let practice = try node(2..<dots[1])
            let pcn = try node(dots[1] + 1..<dots[2])
            guard practice.role == .practice || practice.role == .hub, pcn.role == .hub else {
                throw SyncError(
                    .invalidRecordID, "'\(text)': a referral id names its practice and then its PCN (R.A81001.U12345.…)"
                )
            }
            try uuid(from: dots[2] + 1)
            return .referral(practice: practice, pcn: pcn)
        case (_, 0):
            return .organisation(try NodeID(text))
        default:
            throw RecordID.invalid(text)
        }
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
            "\(quoted: text) is not a record id: services look like S.GB-CHC-1234567.<uuid>, referrals like "
                + "R.A81001.U12345.<uuid>, organisations are their code")
    }
}
