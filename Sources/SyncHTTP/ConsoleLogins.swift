import Foundation
import SyncCore
import SyncCrypto

/// One-time sign-in links for the web console. `spsync web login` (run by whoever may use the
/// node's files: the operator, `sudo -u spsync`) makes a token, keeps its SHA-256 and expiry in
/// `console-logins` in the node's home (mode 0600), and prints the link; the daemon takes the
/// token back once, within its time, and starts a session. The file never holds a token itself,
/// so reading it gives no way in; the link is the secret, and it works once.
public struct ConsoleLogins: Sendable {
    /// The file in the node's home.
    public let path: String
    /// How long a link stays good.
    public static let validMinutesDefault = 10
    public static let validMinutesMax = 24 * 60

    public init(home: String) {
        path = home + "/console-logins"
    }

    /// Makes a token good for `minutes` from `nowMillis`; returns it (for the link).
    public func issue(nowMillis: UInt64, minutes: Int = validMinutesDefault) throws -> String {
        var rng = SystemRandomNumberGenerator()
        let bytes = (0..<32).map { _ in UInt8.random(in: 0...255, using: &rng) }
        let token = Self.base64url(bytes)
        let expires = nowMillis + UInt64(max(1, min(minutes, Self.validMinutesMax))) * 60_000
        try update(nowMillis: nowMillis) { lines in
            lines.append("\(Self.digest(token)) \(expires)")
            return ()
        }
        return token
    }

    /// Takes `token` if it is one this node issued, unused and within its time: true once.
    public func redeem(_ token: String, nowMillis: UInt64) throws -> Bool {
        let digest = Self.digest(token)
        return try update(nowMillis: nowMillis) { lines in
            guard let i = lines.firstIndex(where: { $0.hasPrefix(digest + " ") }) else { return false }
            lines.remove(at: i)
            return true
        }
    }

    /// Runs `change` on the file's lines under an exclusive lock, dropping expired ones first.
    private func update<T>(nowMillis: UInt64, _ change: (inout [String]) -> T) throws -> T {
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            throw SyncError(
                .io, "cannot open \(path) (\(String(cString: strerror(errno)))): check the node home's owner")
        }
        defer { close(fd) }
        guard flock(fd, LOCK_EX) == 0 else { throw SyncError(.io, "cannot lock \(path)") }
        fchmod(fd, 0o600)
        var data = Data()
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = read(fd, &buffer, buffer.count)
            if n <= 0 { break }
            data.append(contentsOf: buffer[0..<n])
        }
        var lines = String(decoding: data, as: UTF8.self).split(separator: "\n").map(String.init).filter { line in
            guard let expires = line.split(separator: " ").last.flatMap({ UInt64($0) }) else { return false }
            return expires > nowMillis
        }
        let result = change(&lines)
        let text = Data(lines.map { $0 + "\n" }.joined().utf8)
        guard ftruncate(fd, 0) == 0, lseek(fd, 0, SEEK_SET) == 0 else { throw SyncError(.io, "cannot rewrite \(path)") }
        let written = text.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        guard written == text.count, fsync(fd) == 0 else { throw SyncError(.io, "cannot write \(path)") }
        return result
    }

    static func digest(_ token: String) -> String {
        OpenSSLSealCrypto().sha256(Array(token.utf8)).map { String(format: "%02x", $0) }.joined()
    }

    static func base64url(_ bytes: [UInt8]) -> String {
        Data(bytes).base64EncodedString().replacingOccurrences(of: "+", with: "-")
            .replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
    }
}
