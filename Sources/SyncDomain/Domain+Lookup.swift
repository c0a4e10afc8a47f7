import SyncCore
import SyncStore

/// Naming services and referrals as people do: by name, or by a few characters of the id.
extension Domain {
    /// Fewest characters of an id's UUID that name it (as git takes a short commit hash).
    public static let referenceCharactersMin = 6

    /// The UUID part of a service or referral id: what follows its last dot.
    public static func uuidPart(_ id: RecordID) -> Substring {
        guard let dot = id.rawValue.lastIndex(of: ".") else { return Substring(id.rawValue) }
        return id.rawValue[id.rawValue.index(after: dot)...]
    }

    /// When a service or referral was made: the time its UUIDv7 begins with (ms since the Unix epoch).
    public static func createdMillis(_ id: RecordID) -> UInt64? {
        let hex = uuidPart(id).filter { $0 != "-" }.prefix(12)
        guard hex.count == 12 else { return nil }
        return UInt64(hex, radix: 16)
    }

    /// What lists show to name a record: the last 8 characters of its UUID, its random part (the
    /// start is the time it was made, so ids of one minute share it).
    public static func shortReference(_ id: RecordID) -> String { String(uuidPart(id).suffix(8)) }

    /// The service `text` names here: its full id (held here or not: a use case says whether it
    /// must be), its exact name (then regardless of case), or at least 6 characters of its UUID,
    /// from the start or the end; among `owner`'s services only, when given. Ambiguous: the
    /// candidates are listed; unknown: "sync first".
    public func service(named text: String, ownedBy owner: NodeID? = nil) throws -> RecordID {
        if let id = try? RecordID(text) {
            guard id.serviceOwner != nil else { throw SyncError(.usage, "\(id) is not a service id (S.…)") }
            return id
        }
        let services = try store.services(owner: owner, wallMillis: 0)
        var matches = services.filter { $0.name == text }
        if matches.isEmpty { matches = services.filter { $0.name?.lowercased() == text.lowercased() } }
        if matches.isEmpty, let ids = try? Self.referenced(text, services.compactMap { try? RecordID($0.id) }) {
            matches = services.filter { s in ids.contains { $0.rawValue == s.id } }
        }
        switch matches.count {
        case 0:
            throw SyncError(.notFound, "no service \(quoted: text) is known here: sync first, or check the name")
        case 1:
            return try RecordID(matches[0].id)
        default:
            let list = matches.map { "\($0.id) (\($0.name ?? "no name"), \($0.owner))" }.joined(separator: "; ")
            throw SyncError(.usage, "\(quoted: text) could be any of \(matches.count) services: \(list); give its id")
        }
    }

    /// The referral `text` names here: its full id, or at least 6 characters of its UUID, from the
    /// start or the end.
    public func referral(named text: String) throws -> RecordID {
        if let id = try? RecordID(text) {
            guard id.referralParties != nil else { throw SyncError(.usage, "\(id) is not a referral id (R.…)") }
            return id
        }
        let ids = try store.referrals().compactMap { try? RecordID($0.id) }
        let matches: [RecordID]
        do { matches = try Self.referenced(text, ids) } catch let e as SyncError {
            throw SyncError(e.code, "\(quoted: text) is not a referral id: \(e.message)")
        }
        switch matches.count {
        case 0:
            throw SyncError(
                .notFound,
                "no referral \(quoted: text) is held here: check it with `spsync referral list`, or sync first")
        case 1:
            return matches[0]
        default:
            throw SyncError(
                .usage,
                "\(quoted: text) could be any of \(matches.count) referrals: "
                    + matches.map(\.rawValue).joined(separator: ", ") + "; give more of the id")
        }
    }

    /// A service or a referral, as `service(named:)` and `referral(named:)` find them.
    public func record(named text: String) throws -> RecordID {
        if let id = try? RecordID(text) { return id }
        do { return try referral(named: text) } catch let e as SyncError where e.code == .notFound || e.code == .usage {
            return try service(named: text)
        }
    }

    /// The ids whose UUID begins or ends with `text` (at least `referenceCharactersMin` characters).
    static func referenced(_ text: String, _ ids: [RecordID]) throws -> [RecordID] {
        let reference = text.lowercased()
        guard reference.count >= referenceCharactersMin,
            reference.allSatisfy({ $0 == "-" || $0.isHexDigit })
        else {
            throw SyncError(
                .usage, "give the id, or at least \(referenceCharactersMin) characters of its last part (hex digits)")
        }
        return ids.filter {
            let uuid = uuidPart($0).lowercased()
            return uuid.hasPrefix(reference) || uuid.hasSuffix(reference)
        }
    }
}
