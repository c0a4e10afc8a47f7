import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// The systemd notification protocol (`sd_notify(3)`), written from its documentation: one
/// datagram per message to the `AF_UNIX` socket named by `NOTIFY_SOCKET` (a path, or `@` for an
/// abstract name). The daemon sends `READY=1` once it listens, `WATCHDOG=1` at half of
/// `WATCHDOG_USEC`, and `STOPPING=1` when it begins to stop. Without `NOTIFY_SOCKET` (not under
/// systemd, or `Type=simple`) every call does nothing.
public struct SystemdNotifier: Sendable {
    let path: String?
    /// How often to send `WATCHDOG=1`: half the watchdog interval systemd asked for.
    public let watchdogInterval: Duration?

    public init(environment: [String: String] = ProcessInfo.processInfo.environment) {
        let socket = environment["NOTIFY_SOCKET"].flatMap { $0.isEmpty ? nil : $0 }
        path = socket
        if socket != nil, let usec = environment["WATCHDOG_USEC"].flatMap(UInt64.init), usec > 0,
            environment["WATCHDOG_PID"].flatMap(Int32.init).map({ $0 == getpid() }) ?? true
        {
            watchdogInterval = .microseconds(Int64(usec / 2))
        } else {
            watchdogInterval = nil
        }
    }

    public var enabled: Bool { path != nil }

    /// Sends one notification (`READY=1`, `STOPPING=1`, `WATCHDOG=1`, `STATUS=…`); returns
    /// whether it was sent. A failure is not the daemon's to fail on: systemd then acts as for a
    /// missing message (a start timeout, a watchdog restart), which says more than we could.
    @discardableResult
    public func send(_ message: String) -> Bool {
        guard let path else { return false }
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        var bytes = Array(path.utf8)
        // An abstract socket name starts with a NUL byte where the path has `@`.
        if bytes.first == UInt8(ascii: "@") { bytes[0] = 0 }
        let capacity = MemoryLayout.size(ofValue: address.sun_path)
        guard bytes.count < capacity else { return false }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (i, b) in bytes.enumerated() { raw[i] = b }
        }
        let length = socklen_t(MemoryLayout<sa_family_t>.size + bytes.count + (bytes.first == 0 ? 0 : 1))
        let payload = Array(message.utf8)
        let sent = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { addr in
                sendto(fd, payload, payload.count, Int32(MSG_NOSIGNAL), addr, length)
            }
        }
        return sent == payload.count
    }
}
