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

    /// `node.toml`, read after checking that neither it nor the home can be written by group or
    /// others (as a key that others can read is refused: whoever can rewrite node.toml chooses
    /// which peers this node trusts).
    public func config() throws -> NodeConfig {
        try NodeHome.refuseWritableByOthers(path, isDirectory: true)
        try NodeHome.refuseWritableByOthers(configPath, isDirectory: false)
        return try NodeConfig.load(configPath)
    }

    /// `node.toml`, checked against the store: both must name the same node. For commands that
    /// read or change node.toml without otherwise opening the store (`peer …`, `cert rotate`).
    public func checkedConfig() throws -> NodeConfig {
        let config = try config()
        _ = try openStore(config, signer: nil)
        return config
    }

    /// Opens the store with the node's key (`key.pem`), which signs its changes, and makes sure the
    /// key is bound to the store's current incarnation: from seq 1 for a new incarnation, handed
    /// over by the previous key (`key.old.pem`, kept by a certificate rotation) otherwise.
    public func store() throws -> Store {
        // node.toml first: a home that is not there says "run spsync init" rather than "no key.pem".
        _ = try config()
        return try store(identity: try identity())
    }

    /// Opens the store with `identity` as its signer (see `store()`), once node.toml, the
    /// certificate and the store are known to name the same node: nothing is written to a store
    /// that another node's configuration or key points at.
    public func store(identity: NodeIdentity) throws -> Store {
        let config = try config()
        guard identity.nodeID == config.node.id else {
            throw SyncError(
                .storeInvalid,
                "node.toml in \(path) names node \(escaped: config.node.id) but its certificate (cert.pem) names "
                    + "\(escaped: identity.nodeID): check --home; nothing was changed")
        }
        let store = try openStore(config, signer: identity)
        let oldKey = path + "/key.old.pem", oldCertificate = path + "/cert.old.pem"
        let previous =
            FileManager.default.fileExists(atPath: oldKey)
            ? try? NodeIdentity.load(keyPath: oldKey, certificatePath: oldCertificate) : nil
        try store.ensureOwnKey(previous: previous, wallMillis: WallClock.now())
        return store
    }

    /// The node the store belongs to, read without writing where it can be (for `restore`, which
    /// must also work on a store it cannot open).
    public func storedNode() throws -> NodeID {
        if let stored = try Store.peekNode(at: storePath) { return try NodeID(stored) }
        return try Store.open(at: storePath).nodeState().node
    }

    /// Opens the store after checking its file's mode, and refuses it if it belongs to another
    /// node than node.toml names.
    ///
    /// The node id is read before the store is opened for writing where it can be, since opening
    /// writes to the file; only when that read cannot tell is it checked after opening.
    private func openStore(_ config: NodeConfig, signer: NodeIdentity?) throws -> Store {
        try NodeHome.refuseWritableByOthers(storePath, isDirectory: false)
        if let stored = try Store.peekNode(at: storePath) {
            try refuseMismatch(config, stored)
        }
        let store = try Store.open(
            at: storePath, signer: signer, guardingRollback: true, wallMillis: WallClock.now())
        try refuseMismatch(config, store.nodeState().node.rawValue)
        return store
    }

    private func refuseMismatch(_ config: NodeConfig, _ stored: String) throws {
        guard stored != config.node.id else { return }
        throw SyncError(
            .storeInvalid,
            "node.toml in \(path) names node \(escaped: config.node.id) but the store belongs to \(escaped: stored): "
                + "put back the node.toml of \(escaped: stored), or pass the right --home; nothing was changed")
    }

    /// Refuses `path` if group or others may write it; a path that does not exist is left to the
    /// reader to report.
    static func refuseWritableByOthers(_ path: String, isDirectory: Bool) throws {
        var status = stat()
        guard stat(path, &status) == 0 else { return }
        let mode = UInt32(status.st_mode) & 0o7777
        guard mode & 0o022 != 0 else { return }
        let what = isDirectory ? "the node's home" : "the node's file"
        throw SyncError(
            .io,
            "\(what) \(path) has mode 0\(String(mode, radix: 8)) and can be written by group or others; run "
                + "`chmod \(isDirectory ? "700" : "600") \(path)` (and check who may have changed it) before "
                + "using the node")
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
    /// `SPSYNC_CLOCK_OFFSET_SECONDS` (tests), read once: reading the environment copies all of it,
    /// and a hub reads the clock for every session's every tick and frame.
    static let offsetSeconds = Double(ProcessInfo.processInfo.environment["SPSYNC_CLOCK_OFFSET_SECONDS"] ?? "") ?? 0

    public static func now() -> UInt64 {
        UInt64(max(0, (Date().timeIntervalSince1970 + offsetSeconds) * 1000))
    }
}
