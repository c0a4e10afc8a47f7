import FuzzSupport
import SyncProtocol

/// Fuzzes `FrameDecoder` with a byte stream cut into chunks.
///
/// Input: byte 0 picks `frameBytesMax` (1...128, or the standard 4 MiB at 128 and above), byte 1 the
/// chunk size (0: the whole stream at once), the rest is the stream. Invariants: the frames and the
/// error are those of a plain reference parser of the whole stream, whatever the chunking; no frame
/// is over the limit; re-encoding the frames gives back the bytes they came from; the decoder never
/// holds a complete frame's worth beyond the limit; after an error it keeps throwing that error.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzFrameDecoder(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    var input = FuzzInput(Fuzz.bytes(start, count))
    let limitByte = Int(input.byte())
    let frameBytesMax = limitByte < 128 ? limitByte + 1 : 4 * 1024 * 1024
    let chunkBytes = Int(input.byte())
    let stream = input.rest()

    let expected = ReferenceFrames(stream, frameBytesMax: frameBytesMax)
    var decoder = FrameDecoder(frameBytesMax: frameBytesMax)
    var frames: [Frame] = []
    var failure: FrameError?
    var offset = 0
    feeding: while offset < stream.count {
        let end = chunkBytes == 0 ? stream.count : min(stream.count, offset + chunkBytes)
        decoder.append(stream[offset..<end])
        offset = end
        do {
            while let frame = try decoder.next() {
                Fuzz.require(frame.lengthFieldValue <= frameBytesMax, "a frame of \(frame.lengthFieldValue) passed")
                frames.append(frame)
            }
        } catch {
            failure = error
            break feeding
        }
        // Drained: what is left is the start of one frame that fits, never more.
        Fuzz.require(
            decoder.bufferedBytes < Frame.lengthFieldBytes + frameBytesMax,
            "\(decoder.bufferedBytes) bytes buffered with frameBytesMax \(frameBytesMax)")
    }

    Fuzz.require(frames == expected.frames, "frames differ from the reference parser's")
    Fuzz.require(
        failure == expected.failure, "error \(String(describing: failure)) != \(String(describing: expected.failure))")
    if let failure {
        // The stream is out of sync: the decoder must keep refusing, whatever comes next.
        decoder.append([0, 0, 0, 1, 7])
        do {
            _ = try decoder.next()
            Fuzz.fail("next() after \(failure) did not throw")
        } catch {
            Fuzz.require(error == failure, "next() after \(failure) threw \(error)")
        }
        do {
            try decoder.finish()
            Fuzz.fail("finish() after \(failure) did not throw")
        } catch {
            Fuzz.require(error == failure, "finish() after \(failure) threw \(error)")
        }
    } else {
        do {
            try decoder.finish()
            Fuzz.require(expected.leftoverBytes == 0, "finish() accepted \(expected.leftoverBytes) bytes of a frame")
        } catch {
            Fuzz.require(
                error == .truncated(bufferedBytes: expected.leftoverBytes), "finish() threw \(error)")
        }
    }

    // The frames re-encode to exactly the bytes they were cut from.
    var encoded: [UInt8] = []
    let encoder = FrameEncoder(frameBytesMax: frameBytesMax)
    do {
        for frame in frames { try encoder.encode(frame, into: &encoded) }
    } catch {
        Fuzz.fail("a decoded frame does not re-encode: \(error)")
    }
    Fuzz.require(encoded[...] == stream.prefix(encoded.count), "re-encoded frames differ from the stream")
    Fuzz.require(
        encoded.count == expected.consumedBytes, "re-encoded \(encoded.count) of \(expected.consumedBytes) bytes")
    return 0
}

/// The frames of a whole stream as SPEC section 2 defines them, cut without buffering tricks.
struct ReferenceFrames {
    var frames: [Frame] = []
    var failure: FrameError?
    /// Bytes of the complete frames.
    var consumedBytes = 0
    /// Bytes after the last complete frame when the stream is valid so far.
    var leftoverBytes = 0

    init(_ stream: [UInt8], frameBytesMax: Int) {
        var at = 0
        while stream.count - at >= 4 {
            let length = stream[at..<at + 4].reduce(0) { $0 << 8 | Int($1) }
            if length == 0 {
                failure = .zeroLength
                return
            }
            if length > frameBytesMax {
                failure = .oversized(length: length, frameBytesMax: frameBytesMax)
                return
            }
            guard stream.count - at - 4 >= length else { break }
            frames.append(Frame(type: stream[at + 4], payload: Array(stream[at + 5..<at + 4 + length])))
            at += 4 + length
            consumedBytes = at
        }
        leftoverBytes = stream.count - at
    }
}

/// Seeds: the frames of real messages, whole and run together, and the edge cases by hand.
@_cdecl("LLVMFuzzerInitialize")
public func initializeFrameDecoderFuzz(_ argc: UnsafeMutableRawPointer?, _ argv: UnsafeMutableRawPointer?) -> CInt {
    Fuzz.writeSeedsIfAsked {
        let encoder = FrameEncoder(frameBytesMax: 4 * 1024 * 1024)
        var seeds: [String: [UInt8]] = [:]
        let messages: [Message] = [
            .ping(nonce: 42), .pong(nonce: 42), .ack(upTo: 300), .caughtUp(seq: 310), .bye,
            .error(ProtocolError(.limitExceeded, "frame too large")),
        ]
        var all: [UInt8] = []
        for message in messages {
            let bytes = try encoder.encode(message.frame)
            seeds["\(message.type)"] = [200, 0] + bytes
            all += bytes
        }
        seeds["stream-whole"] = [200, 0] + all
        seeds["stream-byte-by-byte"] = [200, 1] + all
        seeds["stream-chunks-7"] = [200, 7] + all
        seeds["hand-zero-length"] = [200, 0, 0, 0, 0, 0]
        seeds["hand-oversized-small-limit"] = [15, 3, 0, 0, 0, 17, 9] + [UInt8](repeating: 0xAB, count: 16)
        seeds["hand-at-limit"] = [15, 2, 0, 0, 0, 16, 9] + [UInt8](repeating: 0xAB, count: 15)
        seeds["hand-truncated"] = [200, 0, 0, 0, 0, 9, 1, 2, 3]
        seeds["hand-max-length-field"] = [200, 0, 0xFF, 0xFF, 0xFF, 0xFF, 1]
        return seeds
    }
    return 0
}
