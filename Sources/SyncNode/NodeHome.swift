import Foundation
import SyncCore
import SyncStore

/// A node's home folder: `node.toml`, `store.sqlite`, `key.pem`, `cert.pem`, `control.sock`.
public struct NodeHome: Sendable {
    public let path: String

    public init(path: String) { self.path = path }

    public var configPath: String { path + "/node.toml" }
    public var storePath: String { path + "/store.sqlite" }
    public var controlSocketPath: String { path + "/control.sock" }

    /// `--home`, else `$SPSYNC_HOME`, else `$XDG_STATE_HOME/spsync`, else `~/.local/state/spsync`.
    public static func resolve(_ option: String?) -> NodeHome {
        let env = ProcessInfo.processInfo.environment
        if let option, !option.isEmpty { return NodeHome(path: option) }
        if let home = env["SPSYNC_HOME"], !home.isEmpty { return NodeHome(path: home) }
        if let xdg = env["XDG_STATE_HOME"], !xdg.isEmpty { return NodeHome(path: xdg + "/spsync") }
        return NodeHome(path: NSHomeDirectory() + "/.local/state/spsync")
    }

    public var exists: Bool { FileManager.default.fileExists(atPath: configPath) }

    public func config() throws -> NodeConfig { try NodeConfig.load(configPath) }

    public func store() throws -> Store { try Store.open(at: storePath) }
}

/// The wall clock in ms since the Unix epoch: the one place the CLI reads it.
///
/// `SPSYNC_CLOCK_OFFSET_SECONDS` shifts it, for tests that need a node whose clock runs ahead.
public enum WallClock {
    public static func now() -> UInt64 {
        let offset = Double(ProcessInfo.processInfo.environment["SPSYNC_CLOCK_OFFSET_SECONDS"] ?? "") ?? 0
        return UInt64(max(0, (Date().timeIntervalSince1970 + offset) * 1000))
    }
}
