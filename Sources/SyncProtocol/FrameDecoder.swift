/// An incremental frame parser: feed it bytes as they arrive, pull complete frames out.
///
/// It holds at most one incomplete frame: the oversize check runs as soon as the 4-byte length is
/// known, so a hostile length never makes it buffer more than `frameBytesMax + 4` bytes. After it
/// has thrown, the stream is out of sync and the decoder must be discarded (further calls rethrow
/// the same error).
public struct FrameDecoder: Sendable {
    /// The largest accepted value of the length field N (type byte + payload), in bytes.
    public let frameBytesMax: Int

    private var buffer: [UInt8] = []
    /// Index of the first unconsumed byte in `buffer`; consumed bytes are dropped lazily.
    private var readIndex = 0
    private var failure: FrameError?

    /// Makes a decoder that refuses frames whose length field exceeds `frameBytesMax`.
    public init(frameBytesMax: Int) {
        precondition(frameBytesMax >= Frame.typeFieldBytes, "frameBytesMax must allow at least the type byte")
        precondition(UInt64(frameBytesMax) <= UInt64(UInt32.max), "frameBytesMax must fit the 32-bit length field")
        self.frameBytesMax = frameBytesMax
    }

    /// The number of received bytes not yet returned as part of a frame.
    public var bufferedBytes: Int { buffer.count - readIndex }

    /// Appends received bytes; call `next()` until it returns nil to take the frames they complete.
    public mutating func append(_ bytes: some Sequence<UInt8>) {
        compactIfWorthwhile()
        buffer.append(contentsOf: bytes)
    }

    /// Returns the next complete frame, nil if more bytes are needed, or throws if the stream is invalid.
    public mutating func next() throws(FrameError) -> Frame? {
        if let failure { throw failure }
        guard bufferedBytes >= Frame.lengthFieldBytes else { return nil }
        var length = 0
        for offset in 0..<Frame.lengthFieldBytes {
            length = length << 8 | Int(buffer[readIndex + offset])
        }
        if length == 0 {
            return try fail(.zeroLength)
        }
        if length > frameBytesMax {
            return try fail(.oversized(length: length, frameBytesMax: frameBytesMax))
        }
        guard bufferedBytes >= Frame.lengthFieldBytes + length else { return nil }
        let typeIndex = readIndex + Frame.lengthFieldBytes
        let payloadStart = typeIndex + Frame.typeFieldBytes
        let payloadEnd = typeIndex + length
        let frame = Frame(type: buffer[typeIndex], payload: Array(buffer[payloadStart..<payloadEnd]))
        readIndex = payloadEnd
        if readIndex == buffer.count {
            buffer.removeAll(keepingCapacity: true)
            readIndex = 0
        }
        return frame
    }

    /// Checks that the stream ended on a frame boundary; call once the peer has closed.
    public func finish() throws(FrameError) {
        if let failure { throw failure }
        if bufferedBytes > 0 { throw FrameError.truncated(bufferedBytes: bufferedBytes) }
    }

    private mutating func fail(_ error: FrameError) throws(FrameError) -> Frame? {
        failure = error
        throw error
    }

    /// Drops consumed bytes once they make up at least half the buffer, so appends stay amortized O(1).
    private mutating func compactIfWorthwhile() {
        guard readIndex > 0, readIndex >= buffer.count / 2 else { return }
        buffer.removeSubrange(0..<readIndex)
        readIndex = 0
    }
}
