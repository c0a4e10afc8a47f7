#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// What every fuzz target shares: reading its input, stopping on a broken invariant, and writing its
/// seed corpus.
///
/// A fuzz target is an executable linked with libFuzzer (`--sanitize fuzzer`): libFuzzer's `main`
/// calls `LLVMFuzzerInitialize` once, then `LLVMFuzzerTestOneInput` for every input it makes.
public enum Fuzz {
    /// Stops the process so libFuzzer keeps the input as a crash, naming the invariant that broke.
    ///
    /// A failed `precondition` in the code under test stops it just the same; this one says which
    /// property of the fuzz target was violated.
    public static func require(
        _ condition: @autoclosure () -> Bool, _ message: @autoclosure () -> String,
        file: StaticString = #fileID, line: UInt = #line
    ) {
        guard condition() else {
            fail(message(), file: file, line: line)
        }
    }

    /// Stops the process with `message` (see `require`).
    public static func fail(_ message: String, file: StaticString = #fileID, line: UInt = #line) -> Never {
        // fatalError prints its message in release builds too; libFuzzer then keeps the input.
        fatalError("fuzz invariant violated: \(message)", file: file, line: line)
    }

    /// The input libFuzzer passes, as bytes.
    public static func bytes(_ start: UnsafeRawPointer, _ count: Int) -> [UInt8] {
        Array(UnsafeRawBufferPointer(start: start, count: count))
    }

    /// When `SPSYNC_FUZZ_SEEDS` names a folder, writes `seeds()` there (one file per seed, named by
    /// its key) and exits: scripts/fuzz.sh --seeds makes the corpus in `Fuzz/corpus/` so, from
    /// frames, messages and files the code under test produces itself.
    public static func writeSeedsIfAsked(_ seeds: () throws -> [String: [UInt8]]) {
        guard let folder = getenv("SPSYNC_FUZZ_SEEDS").map({ String(cString: $0) }), !folder.isEmpty else { return }
        let made: [String: [UInt8]]
        do {
            made = try seeds()
        } catch {
            fail("cannot make the seeds: \(error)")
        }
        for (name, bytes) in made.sorted(by: { $0.key < $1.key }) {
            let path = folder + "/" + name
            guard let file = fopen(path, "wb") else { fail("cannot write \(path)") }
            let written = bytes.withUnsafeBytes { fwrite($0.baseAddress, 1, $0.count, file) }
            fclose(file)
            require(written == bytes.count, "short write to \(path)")
        }
        print("wrote \(made.count) seeds to \(folder)")
        exit(0)
    }
}

/// A cursor over fuzz input that never traps: past the end it yields zeros and empty slices, so a
/// target can take its parameters from the first bytes and the data from the rest.
public struct FuzzInput {
    public let bytes: [UInt8]
    public private(set) var offset = 0

    public init(_ bytes: [UInt8]) { self.bytes = bytes }

    public var isAtEnd: Bool { offset >= bytes.count }

    /// The next byte, or 0 past the end.
    public mutating func byte() -> UInt8 {
        guard offset < bytes.count else { return 0 }
        defer { offset += 1 }
        return bytes[offset]
    }

    /// The next `count` bytes, fewer at the end.
    public mutating func take(_ count: Int) -> [UInt8] {
        let end = min(bytes.count, offset + max(0, count))
        defer { offset = end }
        return Array(bytes[offset..<end])
    }

    /// Every byte not taken yet.
    public mutating func rest() -> [UInt8] { take(bytes.count - offset) }
}
