import Foundation
import SyncCore

#if canImport(Glibc)
    import Glibc
#endif

/// The highest (incarnation, seq) this node's store has issued, kept in a small file beside the
/// store (`store.sqlite.highwater`) and synced to disk after every local change.
///
/// A store file put back to an older copy by hand (a backup copied over it, a filesystem restore)
/// keeps its incarnation and a lower last seq; the mark, which the copy did not replace, is then
/// ahead of it, and the store is found rolled back when it opens — before it can reuse a seq. A
/// restore that takes the mark back too (a whole-machine snapshot) is found by the peers instead
/// (Protocol/SPEC.md 13.6).
///
/// The mark is raised only after the change it records has committed, so it is never ahead of a
/// store that was not put back. One line of text, written in place under `flock`: a process that
/// raises it never lowers what another process wrote.
struct HighWaterMark: Sendable {
    let path: String

    struct Mark: Equatable, Sendable {
        var node: NodeID
        var incarnation: Incarnation
        var seq: UInt64
    }

    /// The mark, or nil when there is none (a home made before marks, or a file that is not one).
    func read() -> Mark? {
        guard let data = FileManager.default.contents(atPath: path) else { return nil }
        return Self.parse(String(decoding: data, as: UTF8.self))
    }

    static func parse(_ text: String) -> Mark? {
        let parts = text.split(whereSeparator: { $0 == " " || $0 == "\n" }).map(String.init)
        guard parts.count == 4, parts[0] == "spsync-highwater-1",
            let node = try? NodeID(parts[1]), let incarnation = try? UUIDv7(parts[2]),
            let seq = UInt64(parts[3])
        else { return nil }
        return Mark(node: node, incarnation: incarnation, seq: seq)
    }

    static func line(_ mark: Mark) -> String {
        "spsync-highwater-1 \(mark.node.rawValue) \(mark.incarnation) \(mark.seq)\n"
    }

    /// Sets the mark to `mark` when `replacing` says so of the mark held (nil when there is none),
    /// and syncs it to disk. Returns without writing otherwise.
    func set(_ mark: Mark, replacing: (Mark?) -> Bool) throws {
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw Self.failure("open", path) }
        defer { close(fd) }
        guard flock(fd, LOCK_EX) == 0 else { throw Self.failure("lock", path) }
        var buffer = [UInt8](repeating: 0, count: 256)
        let count = Glibc.read(fd, &buffer, buffer.count)
        let held = count > 0 ? Self.parse(String(decoding: buffer[0..<count], as: UTF8.self)) : nil
        guard replacing(held) else { return }
        let bytes = Array(Self.line(mark).utf8)
        let written = bytes.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, 0) }
        guard written == bytes.count, ftruncate(fd, off_t(bytes.count)) == 0, fsync(fd) == 0 else {
            throw Self.failure("write", path)
        }
    }

    /// Raises the mark to `seq` of `incarnation` (never lowers it within one incarnation).
    func raise(node: NodeID, incarnation: Incarnation, seq: UInt64) throws {
        try set(Mark(node: node, incarnation: incarnation, seq: seq)) { held in
            guard let held, held.node == node, held.incarnation == incarnation else { return true }
            return held.seq < seq
        }
    }

    /// Runs `body` holding the mark's lock (`<mark>.lock`, `flock`), so that one process comparing
    /// its store with the mark and another moving the store to a new incarnation and the mark
    /// with it do not interleave: read between the two, the store's old incarnation and the new
    /// mark would make a store that was never put back look rolled back. Not reentrant.
    func exclusively<T>(_ body: () throws -> T) throws -> T {
        let lockPath = path + ".lock"
        let fd = open(lockPath, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw Self.failure("open", lockPath) }
        defer { close(fd) }
        guard flock(fd, LOCK_EX) == 0 else { throw Self.failure("lock", lockPath) }
        defer { flock(fd, LOCK_UN) }
        return try body()
    }

    /// Starts the mark again for a new incarnation (restore, recover, a new key).
    func reset(node: NodeID, incarnation: Incarnation, seq: UInt64) throws {
        try set(Mark(node: node, incarnation: incarnation, seq: seq)) { _ in true }
    }

    private static func failure(_ what: String, _ path: String) -> SyncError {
        SyncError(.io, "cannot \(what) the high-water mark \(path): \(String(cString: strerror(errno)))")
    }
}
