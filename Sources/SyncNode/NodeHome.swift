import Foundation
import SyncCore
import SyncStore
import SyncTransport

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

    /// Opens the store with the node's key (`key.pem`), which signs its changes, and makes sure the
    /// key is bound to the store's current incarnation: from seq 1 for a new incarnation, handed
    /// over by the previous key (`key.old.pem`, kept by a certificate rotation) otherwise.
    public func store() throws -> Store {
        try store(identity: try identity())
    }

    /// Opens the store with `identity` as its signer (see `store()`).
    public func store(identity: NodeIdentity) throws -> Store {
        let store = try Store.open(at: storePath, signer: identity)
        let oldKey = path + "/key.old.pem", oldCertificate = path + "/cert.old.pem"
        let previous =
            FileManager.default.fileExists(atPath: oldKey)
            ? try? NodeIdentity.load(keyPath: oldKey, certificatePath: oldCertificate) : nil
        try store.ensureOwnKey(previous: previous, wallMillis: WallClock.now())
        return store
    }

    /// The node's key and certificate (`key.pem`, `cert.pem`).
    public func identity() throws -> NodeIdentity {
        do { return try NodeIdentity.load(directory: path) } catch { throw SyncError(.io, "\(error)") }
    }
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
