import SyncCore

/// How a tampered node of the simulator attacks its peers: a write it makes that every other node
/// must refuse.
public enum Attack: String, CaseIterable, Sendable, CustomStringConvertible {
    /// Under its own origin, signed with its own key, a write it may not make (another
    /// organisation's capacity, a charity's clinical write): refused by validation.
    case unauthorised
    /// Another origin's change copied under a seq that origin never issued, with the genuine
    /// signature and digests.
    case replayed
    /// Another origin's write with another value, under a seq that origin never issued, with the
    /// genuine signature.
    case altered
    /// Another origin's change with its signature stripped (64 zero bytes).
    case stripped
    /// A write claiming another node's real origin, signed with the forger's own key.
    case claimedOrigin = "claimed origin"
    /// A write under an incarnation of another node that it never had, signed with a key of the
    /// forger's making whose certificate names that node and sent with a key binding for it.
    case madeUpIncarnation = "made-up incarnation"

    public var description: String { rawValue }

    /// Whether the write claims another node's origin: then only its origin signature gives it away,
    /// and every refusal of it must be one of a signature (bad signature, unknown key, key conflict).
    public var claimsAnotherOrigin: Bool { self != .unauthorised }

    /// The refusal codes of a signature that does not verify.
    public static let signatureCodes: Set<String> = [
        SyncError.Code.badSignature.rawValue, SyncError.Code.unknownKey.rawValue, SyncError.Code.keyConflict.rawValue,
    ]
}

/// A write a tampered node made: who made it and how.
public struct Forgery: Sendable, Equatable {
    public var forger: NodeID
    public var attack: Attack

    public init(forger: NodeID, attack: Attack) {
        self.forger = forger
        self.attack = attack
    }
}
