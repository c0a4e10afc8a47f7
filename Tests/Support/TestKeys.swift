import Foundation
import SyncCore
import SyncStore
import SyncTransport

/// The signing keys of the test nodes: one in-memory P-256 identity per node id for the whole test
/// process (key generation costs), so a node keeps its key across the stores a test makes for it.
public enum TestKeys {
    /// Identities made so far, by node id. `@unchecked Sendable`: `lock` guards `byNode`.
    private final class Cache: @unchecked Sendable {
        let lock = NSLock()
        var byNode: [NodeID: NodeIdentity] = [:]
    }

    private static let cache = Cache()

    /// The key and self-signed certificate of `node`.
    public static func identity(_ node: NodeID) -> NodeIdentity {
        cache.lock.withLock {
            if let known = cache.byNode[node] { return known }
            do {
                let made = try NodeIdentity.makeInMemory(nodeID: node.rawValue)
                cache.byNode[node] = made
                return made
            } catch {
                preconditionFailure("test identity \(node): \(error)")
            }
        }
    }

    /// Gives `store` the binding of `identity`'s key to `origin` from seq 1, as if `origin.node`
    /// had sent it itself (anchored `direct`), so that it verifies changes signed with
    /// `IncomingChange.signed(by:)`.
    public static func introduce(_ origin: Origin, _ identity: NodeIdentity, to store: Store) throws {
        try accept(
            [try KeyBinding.first(of: origin, signer: identity)], from: origin.node, in: store)
    }

    /// Gives every store the key bindings of every other store's node, as peers that pin each other
    /// would hold them: changes relayed by any of them then verify at all of them.
    public static func introduceAll(_ stores: [Store]) throws {
        for a in stores {
            let state = try a.nodeState()
            let bindings = try a.keyBindings(for: [state.origin: UInt64.max])
            for b in stores where b !== a { try accept(bindings, from: state.node, in: b) }
        }
    }

    private static func accept(_ bindings: [KeyBinding], from peer: NodeID, in store: Store) throws {
        let refused = try store.addKeyBindings(
            bindings, from: peer, policy: DeliveryAnchorPolicy(), wallMillis: Fixture.wall)
        if let first = refused.first { throw first }
    }
}

extension Store {
    /// A new store for `node` that signs with the node's test key (`TestKeys.identity`).
    public static func signed(
        at path: String, node: NodeID, wallMillis: UInt64 = Fixture.wall, limits: Limits = .standard
    ) throws -> Store {
        try Store.create(
            at: path, node: node, wallMillis: wallMillis, limits: limits, signer: TestKeys.identity(node))
    }

    /// Opens the store of `node` at `path` with the node's test key and binds the key to its current
    /// incarnation, as `NodeHome.store()` does (a restored store has a new incarnation to bind).
    public static func openSigned(at path: String, node: NodeID, wallMillis: UInt64 = Fixture.wall) throws -> Store {
        let store = try Store.open(at: path, signer: TestKeys.identity(node))
        try store.ensureOwnKey(previous: nil, wallMillis: wallMillis)
        return store
    }
}
