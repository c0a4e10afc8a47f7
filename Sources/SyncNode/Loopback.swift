import Foundation
import SyncCore

/// Loopback helpers for the demo and the benchmarks, which run whole networks on one machine.
public enum Loopback {
    /// A TCP port on 127.0.0.1 that was free a moment ago (bound to port 0, then released).
    public static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw SyncError(.io, "cannot make a socket: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        let named = withUnsafeMutablePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) }
        }
        guard bound == 0, named == 0 else { throw SyncError(.io, "cannot find a free loopback port") }
        return Int(UInt16(bigEndian: addr.sin_port))
    }

    /// Whether a TCP listener could bind `host:port` now (a loopback IPv4 or IPv6 address): throws
    /// the reason it could not, in the operator's words. Used before the daemon starts, so a port
    /// another process holds is one `spsync:` line and a non-zero exit, not a failure after
    /// "daemon started".
    public static func checkBindable(host: String, port: Int, what: String) throws(SyncError) {
        let v6 = host.contains(":")
        let fd = socket(v6 ? AF_INET6 : AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw SyncError(.io, "cannot make a socket: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        let bound: Int32
        if v6 {
            var addr = sockaddr_in6()
            addr.sin6_family = sa_family_t(AF_INET6)
            addr.sin6_port = in_port_t(UInt16(port).bigEndian)
            guard inet_pton(AF_INET6, host, &addr.sin6_addr) == 1 else {
                throw SyncError(.usage, "\(what) \(host):\(port): not an IPv6 address")
            }
            bound = withUnsafePointer(to: &addr) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in6>.size))
                }
            }
        } else {
            var addr = sockaddr_in()
            addr.sin_family = sa_family_t(AF_INET)
            addr.sin_port = in_port_t(UInt16(port).bigEndian)
            guard inet_pton(AF_INET, host == "localhost" ? "127.0.0.1" : host, &addr.sin_addr) == 1 else {
                throw SyncError(.usage, "\(what) \(host):\(port): not an IPv4 address")
            }
            bound = withUnsafePointer(to: &addr) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
        }
        guard bound == 0 else {
            let reason = String(cString: strerror(errno)).lowercased()
            throw SyncError(
                .io,
                "cannot serve \(what) on \(host):\(port): \(reason); another process (another spsync daemon?) may hold "
                    + "the port: stop it, or change the address in node.toml")
        }
        // Held by this process for a moment only: listen so that the port is known to be free for a listener.
        guard listen(fd, 1) == 0 else {
            throw SyncError(.io, "cannot serve \(what) on \(host):\(port): \(String(cString: strerror(errno)))")
        }
    }
}
