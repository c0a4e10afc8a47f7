import NIOCore
import SyncProtocol

/// Cuts the plaintext byte stream into `Frame`s with the pure `FrameDecoder`, enforcing `frameBytesMax`.
///
/// Use it as `ByteToMessageHandler(FrameChannelDecoder(frameBytesMax:))`. An oversized or zero
/// length fails the stream with `FrameError`; the end of the stream inside a frame fails it with
/// `FrameError.truncated`.
public struct FrameChannelDecoder: ByteToMessageDecoder {
    public typealias InboundOut = Frame

    private var decoder: FrameDecoder

    /// Makes a decoder refusing frames whose length field exceeds `frameBytesMax`.
    public init(frameBytesMax: Int) {
        decoder = FrameDecoder(frameBytesMax: frameBytesMax)
    }

    public mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        if buffer.readableBytes > 0 {
            decoder.append(buffer.readableBytesView)
            buffer.moveReaderIndex(to: buffer.writerIndex)
        }
        guard let frame = try decoder.next() else { return .needMoreData }
        context.fireChannelRead(Self.wrapInboundOut(frame))
        return .continue
    }

    public mutating func decodeLast(
        context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool
    ) throws -> DecodingState {
        let state = try decode(context: context, buffer: &buffer)
        if state == .needMoreData && seenEOF {
            try decoder.finish()
        }
        return state
    }
}

/// Writes `Frame`s as wire bytes, refusing (failing the write) any whose length exceeds `frameBytesMax`.
///
/// Use it as `MessageToByteHandler(FrameChannelEncoder(frameBytesMax:))`.
public struct FrameChannelEncoder: MessageToByteEncoder {
    public typealias OutboundIn = Frame

    private let encoder: FrameEncoder

    /// Makes an encoder refusing frames whose length field would exceed `frameBytesMax`.
    public init(frameBytesMax: Int) {
        encoder = FrameEncoder(frameBytesMax: frameBytesMax)
    }

    public func encode(data: Frame, out: inout ByteBuffer) throws {
        guard data.lengthFieldValue <= encoder.frameBytesMax else {
            throw FrameError.oversized(length: data.lengthFieldValue, frameBytesMax: encoder.frameBytesMax)
        }
        out.reserveCapacity(minimumWritableBytes: data.wireBytes)
        out.writeInteger(UInt32(data.lengthFieldValue), endianness: .big)
        out.writeInteger(data.type)
        out.writeBytes(data.payload)
    }
}
