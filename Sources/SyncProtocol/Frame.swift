/// One unit of the sync protocol on the wire: a type byte and an opaque payload.
///
/// Wire layout (all integers big-endian):
///
///     +----------------+--------+-------------------+
///     | length N (u32) | type   | payload           |
///     | 4 bytes        | 1 byte | N - 1 bytes       |
///     +----------------+--------+-------------------+
///
/// **N counts the type byte and the payload, not the length field itself**: N = 1 + payload length,
/// so a frame occupies 4 + N bytes on the wire. N = 0 is invalid (a frame always has a type byte).
/// `frameBytesMax` bounds N. The type byte is not interpreted here: unknown types are passed up,
/// and the protocol layer decides what to do with them.
public struct Frame: Sendable, Hashable {
    /// Size of the big-endian length prefix, in bytes.
    public static let lengthFieldBytes = 4

    /// Size of the type field, in bytes; counted in the length N.
    public static let typeFieldBytes = 1

    /// The frame type byte (message kind); values unknown to this build are still delivered.
    public var type: UInt8

    /// The payload bytes (a serialized protocol message), possibly empty.
    public var payload: [UInt8]

    /// Makes a frame from its type byte and payload.
    public init(type: UInt8, payload: [UInt8] = []) {
        self.type = type
        self.payload = payload
    }

    /// The value of the length field for this frame: type byte plus payload.
    public var lengthFieldValue: Int { Self.typeFieldBytes + payload.count }

    /// The number of bytes this frame occupies on the wire, length field included.
    public var wireBytes: Int { Self.lengthFieldBytes + lengthFieldValue }
}

/// Why a byte stream could not be cut into frames, or a frame could not be encoded.
public enum FrameError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The length field announced more bytes than allowed (N > frameBytesMax).
    case oversized(length: Int, frameBytesMax: Int)
    /// The length field was zero: a frame must at least carry its type byte.
    case zeroLength
    /// The stream ended inside a frame; `bufferedBytes` were received of it.
    case truncated(bufferedBytes: Int)

    public var description: String {
        switch self {
        case .oversized(let length, let frameBytesMax):
            return "frame of \(length) bytes exceeds the limit of \(frameBytesMax) bytes (frameBytesMax); "
                + "the peer sent an oversized or corrupt frame: check that both nodes run compatible versions"
        case .zeroLength:
            return "frame with length 0 (no type byte): the peer's stream is corrupt or not spsync"
        case .truncated(let bufferedBytes):
            return "stream ended inside a frame (\(bufferedBytes) bytes of it received): "
                + "the connection was cut; the sync will resume on the next connection"
        }
    }
}
