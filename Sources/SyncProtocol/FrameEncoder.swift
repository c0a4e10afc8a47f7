/// Serializes frames to their wire bytes, refusing any whose length field would exceed the limit.
public struct FrameEncoder: Sendable {
    /// The largest value of the length field N (type byte + payload) this encoder will produce, in bytes.
    public let frameBytesMax: Int

    /// Makes an encoder that refuses frames whose length field would exceed `frameBytesMax`.
    public init(frameBytesMax: Int) {
        precondition(frameBytesMax >= Frame.typeFieldBytes, "frameBytesMax must allow at least the type byte")
        precondition(UInt64(frameBytesMax) <= UInt64(UInt32.max), "frameBytesMax must fit the 32-bit length field")
        self.frameBytesMax = frameBytesMax
    }

    /// Appends the wire bytes of `frame` (length, type, payload) to `bytes`.
    public func encode(_ frame: Frame, into bytes: inout [UInt8]) throws(FrameError) {
        let length = frame.lengthFieldValue
        guard length <= frameBytesMax else {
            throw FrameError.oversized(length: length, frameBytesMax: frameBytesMax)
        }
        bytes.reserveCapacity(bytes.count + Frame.lengthFieldBytes + length)
        let length32 = UInt32(length)
        bytes.append(UInt8(truncatingIfNeeded: length32 >> 24))
        bytes.append(UInt8(truncatingIfNeeded: length32 >> 16))
        bytes.append(UInt8(truncatingIfNeeded: length32 >> 8))
        bytes.append(UInt8(truncatingIfNeeded: length32))
        bytes.append(frame.type)
        bytes.append(contentsOf: frame.payload)
    }

    /// Returns the wire bytes of `frame`.
    public func encode(_ frame: Frame) throws(FrameError) -> [UInt8] {
        var bytes: [UInt8] = []
        try encode(frame, into: &bytes)
        return bytes
    }
}
