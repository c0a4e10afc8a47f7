/// A 128-bit identifier: a UUID made from a time and random bits the caller supplies.
///
/// SyncCore reads no clock and draws no randomness; the store passes both in. The text form is
/// the canonical lowercase `8-4-4-4-12`.
public struct UUIDv7: Hashable, Comparable, Sendable, CustomStringConvertible {
    public let bytes: [UInt8]

    /// A version 7 UUID: 48 bits of Unix milliseconds, then version, random bits and variant.
    public init(millis: UInt64, random: (UInt64, UInt64)) {
        var b = [UInt8](repeating: 0, count: 16)
        for i in 0..<6 { b[i] = UInt8(truncatingIfNeeded: millis >> (8 * (5 - i))) }
        for i in 0..<2 { b[6 + i] = UInt8(truncatingIfNeeded: random.0 >> (8 * (1 - i))) }
        for i in 0..<8 { b[8 + i] = UInt8(truncatingIfNeeded: random.1 >> (8 * (7 - i))) }
        b[6] = (b[6] & 0x0F) | 0x70
        b[8] = (b[8] & 0x3F) | 0x80
        self.bytes = b
    }

    /// Any 16 bytes (incarnations are random UUIDs of any version).
    public init(bytes: [UInt8]) throws(SyncError) {
        guard bytes.count == 16 else { throw SyncError(.malformed, "a UUID has 16 bytes, not \(bytes.count)") }
        self.bytes = bytes
    }

    /// Parses the canonical text form (lowercase or uppercase hex, with hyphens).
    public init(_ text: String) throws(SyncError) {
        let chars = Array(text.utf8)
        guard chars.count == 36, chars[8] == 45, chars[13] == 45, chars[18] == 45, chars[23] == 45 else {
            throw SyncError(.malformed, "\(quoted: text) is not a UUID (8-4-4-4-12 hex digits)")
        }
        var out: [UInt8] = []
        out.reserveCapacity(16)
        var high: UInt8? = nil
        for c in chars where c != 45 {
            guard let v = UUIDv7.hexValue(c) else { throw SyncError(.malformed, "\(quoted: text) is not a UUID") }
            if let h = high {
                out.append(h << 4 | v)
                high = nil
            } else {
                high = v
            }
        }
        self.bytes = out
    }

    /// Whether `text` is the canonical text of a version 7 UUID: lowercase hex in 8-4-4-4-12
    /// groups, version nibble 7 — exactly what `UUIDv7(millis:random:).description` prints.
    static func isCanonicalVersion7(_ text: UnsafeBufferPointer<UInt8>) -> Bool {
        guard text.count == 36 else { return false }
        for (i, c) in text.enumerated() {
            switch i {
            case 8, 13, 18, 23: if c != 45 { return false }
            case 14: if c != 55 { return false }  // "7"
            default: if !((48...57).contains(c) || (97...102).contains(c)) { return false }
            }
        }
        return true
    }

    /// The version nibble (7 for ids made here).
    public var version: Int { Int(bytes[6] >> 4) }

    /// Milliseconds since the Unix epoch for a version 7 UUID.
    public var millis: UInt64 { bytes[0..<6].reduce(0) { $0 << 8 | UInt64($1) } }

    public var description: String {
        let hex = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(36)
        for (i, byte) in bytes.enumerated() {
            if i == 4 || i == 6 || i == 8 || i == 10 { out.append(45) }
            out.append(hex[Int(byte >> 4)])
            out.append(hex[Int(byte & 0xF)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    public static func < (lhs: UUIDv7, rhs: UUIDv7) -> Bool { lhs.bytes.lexicographicallyPrecedes(rhs.bytes) }

    static func hexValue(_ c: UInt8) -> UInt8? {
        switch c {
        case 48...57: return c - 48
        case 97...102: return c - 87
        case 65...70: return c - 55
        default: return nil
        }
    }
}

/// One life of a store: made when the store is created and again by `spsync restore`, so that a
/// sequence number is never reused after a node is rolled back to a backup.
public typealias Incarnation = UUIDv7
