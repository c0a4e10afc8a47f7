/// The role an organisation plays in social prescribing; it follows from the node id's scheme.
public enum Role: String, Sendable, Codable, CaseIterable, Comparable {
    /// A GP practice: ODS code, a letter other than `U` and five digits.
    case practice
    /// A Primary Care Network hub where link workers take referrals: `U` and five digits.
    case hub
    /// A voluntary, community or social enterprise organisation (a charity).
    case vcse

    public static func < (lhs: Role, rhs: Role) -> Bool { lhs.rawValue < rhs.rawValue }
}

/// An organisation's code, which is also its node's id. Its scheme gives the role.
///
/// Practices: `A81001`. PCN hubs: `U12345`. Charities: `GB-CHC-1234567` (England and Wales),
/// `GB-SC-SC012345` (Scotland) or `GB-COH-01234567` (Companies House).
public struct NodeID: Hashable, Comparable, Sendable, CustomStringConvertible, Codable {
    public let rawValue: String
    public let role: Role

    public init(_ text: String) throws(SyncError) {
        guard let role = NodeID.role(of: text) else {
            throw SyncError(
                .invalidNodeID,
                "\(quoted: text) is not an organisation code: use a practice ODS code (a letter other than U and five "
                    + "digits, e.g. A81001), a PCN code (U and five digits, e.g. U12345) or a charity id "
                    + "(GB-CHC-1234567, GB-SC-SC012345 or GB-COH-01234567)")
        }
        self.rawValue = text
        self.role = role
    }

    public var description: String { rawValue }

    public static func < (lhs: NodeID, rhs: NodeID) -> Bool { lhs.rawValue < rhs.rawValue }

    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        try self.init(text)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(rawValue)
    }

    /// The role `text` names, or nil when it follows no known scheme.
    public static func role(of text: String) -> Role? {
        let bytes = Array(text.utf8)
        func digits(_ slice: ArraySlice<UInt8>) -> Bool { !slice.isEmpty && slice.allSatisfy { $0 >= 48 && $0 <= 57 } }
        if bytes.count == 6, bytes[0] >= 65, bytes[0] <= 90, digits(bytes[1...]) {
            return bytes[0] == 85 ? .hub : .practice  // 85 is "U"
        }
        if text.hasPrefix("GB-CHC-") {
            let rest = bytes[7...]
            return (6...8).contains(rest.count) && digits(rest) ? .vcse : nil
        }
        if text.hasPrefix("GB-SC-SC") {
            let rest = bytes[8...]
            return rest.count == 6 && digits(rest) ? .vcse : nil
        }
        if text.hasPrefix("GB-COH-") {
            let rest = bytes[7...]
            let alnum = rest.allSatisfy { ($0 >= 48 && $0 <= 57) || ($0 >= 65 && $0 <= 90) }
            return rest.count == 8 && alnum && digits(rest.suffix(6)) ? .vcse : nil
        }
        return nil
    }
}
