/// The SHA-256 digest of a certificate's DER encoding: how peers are pinned.
///
/// Its text form is `sha256:` followed by 64 lowercase hex digits. The parser also accepts
/// uppercase hex and colon-separated byte pairs (as `openssl x509 -fingerprint -sha256` prints
/// them), so an operator can paste either form; it always prints the canonical one.
public struct CertificateFingerprint: Sendable, Hashable, CustomStringConvertible, Comparable {
    /// The number of digest bytes (SHA-256).
    public static let digestBytes = 32
    /// The scheme prefix of the text form.
    public static let prefix = "sha256:"

    /// The 32 digest bytes.
    public let bytes: [UInt8]

    /// Wraps a 32-byte SHA-256 digest.
    public init(digest bytes: [UInt8]) {
        precondition(bytes.count == Self.digestBytes, "a SHA-256 fingerprint has 32 bytes")
        self.bytes = bytes
    }

    /// Parses `sha256:` + 64 hex digits (case-insensitive, colons between byte pairs allowed).
    public init(parsing text: String) throws(FingerprintFormatError) {
        let trimmed = text.trimmingASCIIWhitespace()
        guard trimmed.lowercased().hasPrefix(Self.prefix) else {
            throw FingerprintFormatError(text: text, problem: "it must start with \"sha256:\"")
        }
        var hex = Array(trimmed.utf8.dropFirst(Self.prefix.utf8.count))
        let hasColons = hex.contains(UInt8(ascii: ":"))
        if hasColons {
            // Colon-separated form: exactly "hh:hh:...:hh".
            let groups = hex.split(separator: UInt8(ascii: ":"), omittingEmptySubsequences: false)
            guard groups.count == Self.digestBytes, groups.allSatisfy({ $0.count == 2 }) else {
                throw FingerprintFormatError(
                    text: text, problem: "with colons it must be 32 pairs of hex digits separated by \":\"")
            }
            hex = groups.flatMap { $0 }
        }
        guard hex.count == 2 * Self.digestBytes else {
            throw FingerprintFormatError(
                text: text, problem: "it must have 64 hex digits after \"sha256:\", found \(hex.count)")
        }
        var digest: [UInt8] = []
        digest.reserveCapacity(Self.digestBytes)
        var index = 0
        while index < hex.count {
            guard let high = Self.nibble(hex[index]), let low = Self.nibble(hex[index + 1]) else {
                throw FingerprintFormatError(text: text, problem: "it may contain only hex digits 0-9 and a-f")
            }
            digest.append(high << 4 | low)
            index += 2
        }
        self.bytes = digest
    }

    /// The canonical text form: `sha256:` + 64 lowercase hex digits.
    public var description: String {
        let digits = Array("0123456789abcdef".utf8)
        var text = Array(Self.prefix.utf8)
        text.reserveCapacity(text.count + 2 * bytes.count)
        for byte in bytes {
            text.append(digits[Int(byte >> 4)])
            text.append(digits[Int(byte & 0x0F)])
        }
        return String(decoding: text, as: UTF8.self)
    }

    public static func < (lhs: CertificateFingerprint, rhs: CertificateFingerprint) -> Bool {
        lhs.bytes.lexicographicallyPrecedes(rhs.bytes)
    }

    private static func nibble(_ character: UInt8) -> UInt8? {
        switch character {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return character - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return character - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return character - UInt8(ascii: "A") + 10
        default: return nil
        }
    }
}

/// A fingerprint string that could not be parsed, and what is wrong with it.
public struct FingerprintFormatError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The text as given.
    public let text: String
    /// What is wrong with it, phrased to complete "invalid fingerprint …: ".
    public let problem: String

    public var description: String {
        "invalid fingerprint \"\(text)\": \(problem); expected sha256: followed by 64 hex digits, "
            + "as printed by `spsync id` on the peer"
    }
}

extension String {
    /// The string without leading and trailing ASCII spaces, tabs and line breaks.
    func trimmingASCIIWhitespace() -> String {
        let isSpace: (Character) -> Bool = { $0 == " " || $0 == "\t" || $0 == "\n" || $0 == "\r" }
        guard let first = firstIndex(where: { !isSpace($0) }), let last = lastIndex(where: { !isSpace($0) }) else {
            return ""
        }
        return String(self[first...last])
    }
}
