import SyncCore

/// The SQLite store as a sync session's store (docs/decisions.md 55): each requirement is one
/// of the store's own calls, or a few of them in the order a session needs.
extension Store: SessionStore {
    public func sessionStart(peer: NodeID) throws -> SessionStart {
        let node = try nodeState()
        return SessionStart(
            node: node.node, incarnation: node.incarnation, lastSeq: node.lastSeq, rolledBack: node.rolledBackAt != nil,
            heldOfPeer: try heldSeqs(of: peer), schemaVersion: UInt32(Store.schemaVersion))
    }

    public func holding(peer: NodeID, peerIncarnation: Incarnation) throws -> [RecordID]? {
        guard try holdingNeeded(peer: peer, peerIncarnation: peerIncarnation) else { return nil }
        return try recordsHeld(through: peer)
    }

    public func prepareBatch(_ request: BatchRequest, keysSent: inout Set<KeyBindingRef>) throws -> PreparedBatch? {
        let builder = BatchBuilder(
            store: self, peer: request.peer, peerIncarnation: request.peerIncarnation,
            peerLastSeq: request.peerLastSeq, limits: request.limits)
        // Resync records an earlier batch had no room for go first; a `WIDEN` cut in parts goes on.
        let carried = request.carry.resync.filter { !request.resync.contains($0) }
        guard
            var built = try builder.build(
                after: request.after, resync: carried + request.resync, cursor: request.carry.widen)
        else { return nil }
        built.changes = try builder.sealed(built.changes, keysSent: &keysSent)
        if request.batch == 1 {
            // The first batch answering the PULL says how much the pull may bring (progress).
            built.changes.expectedWrites = UInt64(try changeCount(after: request.after))
        }
        try recordPendingLedger(
            peer: request.peer, incarnation: request.peerIncarnation, upTo: built.changes.upTo, batch: request.batch,
            visibilityOnly: built.changes.upTo == request.after, built.ledger)
        return PreparedBatch(changes: built.changes, carry: built.carry)
    }

    public func applyBatch(
        _ items: [IncomingItem], keys: [KeyBinding], policy: any KeyAnchorPolicy, from peer: NodeID,
        checkpoint: BatchCheckpoint, wallMillis: UInt64
    ) throws -> SyncApplyReport {
        try apply(items, keys: keys, policy: policy, from: peer, checkpoint: checkpoint, wallMillis: wallMillis)
    }

    public func failureText(_ error: any Error) -> String { Store.syncFailure(error) }
}
