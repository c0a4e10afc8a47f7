import SyncCore
import SyncProtocol
import SyncTransport

/// Why a sync with a peer failed, as one code the daemon records, `spsync status` and `--check`
/// print, `/metrics` labels and `--json` carries as a string: a protocol `ERROR` code
/// (`checkpoint_mismatch`), a transport failure (`untrusted_peer`), a store or input error
/// (`rolled_back`), or one of the node's own (`unreachable`, `busy`).
///
/// An open set: a saved status or a newer peer may carry a code this build does not know, which
/// is kept as it was written rather than refused.
public struct PeerErrorCode: RawRepresentable, Hashable, Sendable, Codable, CustomStringConvertible {
    public let rawValue: String

    public init(rawValue: String) { self.rawValue = rawValue }
    public init(_ code: ErrorCode) { rawValue = code.description }
    public init(_ code: TransportError.Code) { rawValue = code.rawValue }
    public init(_ code: SyncError.Code) { rawValue = code.rawValue }

    public init(from decoder: any Decoder) throws {
        rawValue = try decoder.singleValueContainer().decode(String.self)
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(rawValue)
    }

    public var description: String { rawValue }

    /// The peer could not be reached at all: no route, refused, DNS.
    public static let unreachable = PeerErrorCode(rawValue: "unreachable")
    /// Another session with the peer carries the sync, or the peer is at its session limit.
    public static let busy = PeerErrorCode(ErrorCode.busy)
    /// The peer's certificate names no valid node id.
    public static let wrongNode = PeerErrorCode(ErrorCode.wrongNode)
    /// The connection failed in a way the transport did not name.
    public static let transport = PeerErrorCode(rawValue: "transport")
    /// The connection closed before the sync finished, with no error from either side.
    public static let closed = PeerErrorCode(rawValue: "closed")
    /// The session ended without saying why (kept for rows saved by older builds).
    public static let unknown = PeerErrorCode(rawValue: "error")
}
