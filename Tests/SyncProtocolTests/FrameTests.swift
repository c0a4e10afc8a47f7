import SyncProtocol
import Testing

@Suite("Frame wire format")
struct FrameTests {
    let limit = 1024

    var sampleFrames: [Frame] {
        [
            Frame(type: 1, payload: [0xDE, 0xAD, 0xBE, 0xEF]),
            Frame(type: 2),
            Frame(type: 0xFF, payload: Array(repeating: 0x5A, count: 300)),
            Frame(type: 7, payload: Array(0..<UInt8(200))),
        ]
    }

    func wire(_ frames: [Frame]) throws -> [UInt8] {
        let encoder = FrameEncoder(frameBytesMax: limit)
        var bytes: [UInt8] = []
        for frame in frames { try encoder.encode(frame, into: &bytes) }
        return bytes
    }

    func drain(_ decoder: inout FrameDecoder) throws -> [Frame] {
        var frames: [Frame] = []
        while let frame = try decoder.next() { frames.append(frame) }
        return frames
    }

    @Test("length N counts the type byte and the payload, big-endian")
    func layout() throws {
        let bytes = try FrameEncoder(frameBytesMax: limit).encode(Frame(type: 9, payload: [1, 2, 3]))
        #expect(bytes == [0, 0, 0, 4, 9, 1, 2, 3])
        #expect(Frame(type: 9, payload: [1, 2, 3]).wireBytes == 8)
        let empty = try FrameEncoder(frameBytesMax: limit).encode(Frame(type: 3))
        #expect(empty == [0, 0, 0, 1, 3])
    }

    @Test("whole stream decodes to the frames encoded, then finishes clean")
    func wholeStream() throws {
        var decoder = FrameDecoder(frameBytesMax: limit)
        decoder.append(try wire(sampleFrames))
        #expect(try drain(&decoder) == sampleFrames)
        #expect(decoder.bufferedBytes == 0)
        try decoder.finish()
    }

    @Test("stream fed byte by byte yields every frame exactly when its last byte arrives")
    func byteByByte() throws {
        let bytes = try wire(sampleFrames)
        var decoder = FrameDecoder(frameBytesMax: limit)
        var frames: [Frame] = []
        for byte in bytes {
            decoder.append(CollectionOfOne(byte))
            frames += try drain(&decoder)
        }
        #expect(frames == sampleFrames)
        try decoder.finish()
    }

    @Test("every split of the stream into two pieces decodes the same")
    func everySplit() throws {
        let bytes = try wire(Array(sampleFrames.prefix(2)) + [Frame(type: 4, payload: [9])])
        for cut in 0...bytes.count {
            var decoder = FrameDecoder(frameBytesMax: limit)
            decoder.append(bytes[..<cut])
            var frames = try drain(&decoder)
            decoder.append(bytes[cut...])
            frames += try drain(&decoder)
            #expect(frames.count == 3, "cut at \(cut)")
            try decoder.finish()
        }
    }

    @Test("unknown type bytes are passed up")
    func unknownTypes() throws {
        var decoder = FrameDecoder(frameBytesMax: limit)
        decoder.append(try wire([Frame(type: 0xEE, payload: [1])]))
        #expect(try decoder.next() == Frame(type: 0xEE, payload: [1]))
    }

    @Test("a length over frameBytesMax is refused as soon as the length field is read")
    func oversizedEarly() throws {
        var decoder = FrameDecoder(frameBytesMax: limit)
        decoder.append([0, 0, 0x04, 0x01])  // N = 1025, no payload sent yet
        #expect(throws: FrameError.oversized(length: 1025, frameBytesMax: limit)) { try decoder.next() }
        // The decoder stays failed: the stream is out of sync.
        decoder.append([1, 2, 3])
        #expect(throws: FrameError.oversized(length: 1025, frameBytesMax: limit)) { try decoder.next() }
        #expect(throws: FrameError.oversized(length: 1025, frameBytesMax: limit)) { try decoder.finish() }
    }

    @Test("a length of exactly frameBytesMax is accepted")
    func atLimit() throws {
        let frame = Frame(type: 1, payload: Array(repeating: 7, count: limit - 1))
        var decoder = FrameDecoder(frameBytesMax: limit)
        decoder.append(try wire([frame]))
        #expect(try decoder.next() == frame)
    }

    @Test("the largest 32-bit length is refused, not overflowed")
    func hugeLength() {
        var decoder = FrameDecoder(frameBytesMax: limit)
        decoder.append([0xFF, 0xFF, 0xFF, 0xFF, 1])
        #expect(throws: FrameError.oversized(length: Int(UInt32.max), frameBytesMax: limit)) { try decoder.next() }
    }

    @Test("a zero length is refused")
    func zeroLength() {
        var decoder = FrameDecoder(frameBytesMax: limit)
        decoder.append([0, 0, 0, 0, 5])
        #expect(throws: FrameError.zeroLength) { try decoder.next() }
    }

    @Test("end of stream inside a frame is reported as truncated, with the bytes held")
    func truncated() throws {
        let bytes = try wire([Frame(type: 1, payload: [1, 2, 3, 4])])
        for cut in 1..<bytes.count {
            var decoder = FrameDecoder(frameBytesMax: limit)
            decoder.append(bytes[..<cut])
            #expect(try decoder.next() == nil)
            #expect(throws: FrameError.truncated(bufferedBytes: cut)) { try decoder.finish() }
        }
    }

    @Test("garbage: random byte streams never crash and never yield a frame over the limit")
    func garbage() {
        var generator = SplitMix64(seed: 0x5EED)
        for _ in 0..<500 {
            let count = Int(generator.next() % 64)
            let bytes = (0..<count).map { _ in UInt8(truncatingIfNeeded: generator.next()) }
            var decoder = FrameDecoder(frameBytesMax: 16)
            decoder.append(bytes)
            do {
                while let frame = try decoder.next() { #expect(frame.lengthFieldValue <= 16) }
            } catch {
                // Any typed FrameError is fine here; what matters is no trap and no oversized frame.
                #expect(decoder.bufferedBytes <= count)
            }
        }
    }

    @Test("ASCII garbage such as an HTTP request is refused as oversized")
    func httpGarbage() {
        var decoder = FrameDecoder(frameBytesMax: 4 * 1024 * 1024)
        decoder.append(Array("GET / HTTP/1.1\r\n\r\n".utf8))
        #expect(throws: FrameError.oversized(length: 0x4745_5420, frameBytesMax: 4 * 1024 * 1024)) {
            try decoder.next()
        }
    }

    @Test("the encoder refuses a frame over frameBytesMax")
    func encoderLimit() {
        let encoder = FrameEncoder(frameBytesMax: 8)
        #expect(throws: FrameError.oversized(length: 9, frameBytesMax: 8)) {
            try encoder.encode(Frame(type: 1, payload: Array(repeating: 0, count: 8)))
        }
    }

    @Test("errors tell the operator what happened")
    func errorText() {
        #expect(FrameError.oversized(length: 10, frameBytesMax: 5).description.contains("frameBytesMax"))
        #expect(FrameError.truncated(bufferedBytes: 3).description.contains("3 bytes"))
    }
}

/// A tiny deterministic generator so garbage tests replay exactly.
struct SplitMix64 {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
