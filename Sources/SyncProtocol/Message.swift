import SyncCore

/// The frame type byte of each message (Protocol/SPEC.md, "Framing").
public enum MessageType: UInt8, Sendable, CaseIterable {
    case hello = 0x01
    case pull = 0x02
    case changes = 0x03
    case ack = 0x04
    case caughtUp = 0x05
    case ping = 0x06
    case pong = 0x07
    case bye = 0x08
    case error = 0x09
    case holding = 0x0A
    case rotate = 0x0B
}

/// The protocol versions this build speaks, lowest first.
public enum ProtocolVersion {
    /// Version 2: Protocol/SPEC.md as written (version 1 had no origin signatures).
    public static let supported: [UInt32] = [2]
    /// The oldest version this build accepts (`protocolMin`): a version 1 peer's changes carry no
    /// signatures, so it is refused with `version_unsupported`.
    public static let minimum: UInt32 = 2
}

/// What a node wants once both directions are caught up.
public enum SessionMode: Sendable, Equatable {
    /// Say `BYE` and close (one-shot sync, nightly schedules).
    case oneShot
    /// Stay connected and push new changes as they happen.
    case live
}

/// Why an `ERROR` is sent; the numbers are the wire values of `ErrorCode` in spsync.proto.
public enum ErrorCode: Int, Sendable, Equatable, CustomStringConvertible {
    case unspecified = 0
    case malformed = 1
    case unexpectedMessage = 2
    case versionUnsupported = 3
    case wrongNode = 4
    case rolledBack = 5
    case checkpointMismatch = 6
    case windowExceeded = 7
    case limitExceeded = 8
    case tooManyRefusals = 9
    case handshakeTimeout = 10
    case idleTimeout = 11
    case busy = 12
    case `internal` = 13
    case shuttingDown = 14

    /// The code's name in the spec and in `spsync status` (`rolled_back`, …).
    public var description: String {
        switch self {
        case .unspecified: return "unspecified"
        case .malformed: return "malformed"
        case .unexpectedMessage: return "unexpected_message"
        case .versionUnsupported: return "version_unsupported"
        case .wrongNode: return "wrong_node"
        case .rolledBack: return "rolled_back"
        case .checkpointMismatch: return "checkpoint_mismatch"
        case .windowExceeded: return "window_exceeded"
        case .limitExceeded: return "limit_exceeded"
        case .tooManyRefusals: return "too_many_refusals"
        case .handshakeTimeout: return "handshake_timeout"
        case .idleTimeout: return "idle_timeout"
        case .busy: return "busy"
        case .internal: return "internal"
        case .shuttingDown: return "shutting_down"
        }
    }
}

/// A protocol failure: a malformed or unexpected message, a broken limit, a refusal. Sent to the
/// peer as `ERROR {code, detail}` before closing, and reported to the operator.
public struct ProtocolError: Error, Sendable, Equatable, CustomStringConvertible {
    public var code: ErrorCode
    /// For the operator; never holds field values.
    public var detail: String

    public init(_ code: ErrorCode, _ detail: String) {
        self.code = code
        self.detail = detail
    }

    public var description: String { "\(code): \(detail)" }
}

/// `HELLO`: who the sender is and what it holds of the receiver.
public struct Hello: Sendable, Equatable {
    public var protocolVersions: [UInt32]
    public var schemaVersion: UInt32
    public var node: NodeID
    public var incarnation: Incarnation
    /// Highest seq the sender holds of each incarnation of the receiver's node.
    public var heldOfYou: [Incarnation: UInt64]
    public var software: String
    /// The sender's wall clock, ms since the Unix epoch.
    public var wallMillis: UInt64
    public var mode: SessionMode
    /// The highest seq the sender has issued in its current incarnation.
    public var lastSeq: UInt64

    public init(
        protocolVersions: [UInt32] = ProtocolVersion.supported, schemaVersion: UInt32, node: NodeID,
        incarnation: Incarnation, heldOfYou: [Incarnation: UInt64], software: String, wallMillis: UInt64,
        mode: SessionMode, lastSeq: UInt64 = 0
    ) {
        self.lastSeq = lastSeq
        self.protocolVersions = protocolVersions
        self.schemaVersion = schemaVersion
        self.node = node
        self.incarnation = incarnation
        self.heldOfYou = heldOfYou
        self.software = software
        self.wallMillis = wallMillis
        self.mode = mode
    }
}

/// A node's next certificate, announced over a connection its current certificate authenticated.
///
/// `signature` is ECDSA-SHA256 by the current key over `RotationAnnouncement.signedBytes(certificate)`.
/// The session only carries it; the node checks it against the connection's peer certificate.
public struct RotationAnnouncement: Sendable, Equatable {
    /// The new certificate, DER.
    public var certificate: [UInt8]
    public var signature: [UInt8]

    public init(certificate: [UInt8], signature: [UInt8]) {
        self.certificate = certificate
        self.signature = signature
    }

    /// Largest certificate accepted in `ROTATE`.
    public static let certificateBytesMax = 16 * 1024
    /// Largest signature accepted in `ROTATE`.
    public static let signatureBytesMax = 512

    /// The bytes the current key signs: "spsync-rotate-v1", a zero byte, the new certificate's DER.
    public static func signedBytes(_ certificate: [UInt8]) -> [UInt8] {
        Array("spsync-rotate-v1".utf8) + [0] + certificate
    }
}

/// A protocol message, as the session sees it (wire types stay in `Generated/`).
public enum Message: Sendable, Equatable {
    case hello(Hello)
    /// Ask for the peer's change log of `incarnation` after local seq `after`.
    case pull(incarnation: Incarnation, after: UInt64)
    /// Records held through the peer (sent before `PULL` when the peer's ledger cannot know them).
    case holding([RecordID])
    case changes(Changes)
    case ack(upTo: UInt64)
    case caughtUp(seq: UInt64)
    case ping(nonce: UInt64)
    case pong(nonce: UInt64)
    case bye
    case error(ProtocolError)
    /// The sender's next certificate, signed by its current key (`spsync cert rotate`).
    case rotate(RotationAnnouncement)

    public var type: MessageType {
        switch self {
        case .hello: return .hello
        case .pull: return .pull
        case .holding: return .holding
        case .changes: return .changes
        case .ack: return .ack
        case .caughtUp: return .caughtUp
        case .ping: return .ping
        case .pong: return .pong
        case .bye: return .bye
        case .error: return .error
        case .rotate: return .rotate
        }
    }
}
