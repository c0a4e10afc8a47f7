import SyncCore
import SyncStore

/// Builds the `CHANGES` batches this node sends one peer: its change log in local-seq order,
/// filtered by the peer's audience *now*, with `WIDEN` and `NARROW` items from the sent ledger.
///
/// Filtering on send (Protocol/SPEC.md, "Filtering"):
/// - nothing goes back to the peer's current incarnation; the peer's writes of earlier
///   incarnations always go back (they are its own record);
/// - directory records (organisations, services) go to everyone;
/// - a referral goes whole to its practice and PCN; to the owner of its current target service
///   go the live routing writes, consent, contact while explicit consent stands, the
///   practice/hub progress events and the progress and outcome entries naming its own services —
///   never clinical; to anyone else nothing.
public struct BatchBuilder {
    public let store: Store
    public let peer: NodeID
    public let peerIncarnation: Incarnation
    public let limits: Limits

    public init(store: Store, peer: NodeID, peerIncarnation: Incarnation, limits: Limits = .standard) {
        self.store = store
        self.peer = peer
        self.peerIncarnation = peerIncarnation
        self.limits = limits
    }

    /// Largest total of field-write bytes put in one batch: half a frame, the rest left for `WIDEN`s.
    var batchBodyBytesMax: Int { limits.frameBytesMax / 2 }

    /// The batch after `after`, or nil when the log holds nothing after it and `resync` is empty.
    /// The visibility decisions it carries are returned for the pending ledger.
    public func build(after: UInt64, resync: [RecordID]) throws -> (Changes, [LedgerEntry])? {
        let rows = try store.changes(after: after, limit: limits.batchChangesMax)
        if rows.isEmpty, resync.isEmpty { return nil }
        var upTo = after
        var bytes = 0
        var items: [IncomingChange] = []
        var views: [RecordID: Audience.ReferralView] = [:]
        var touched: [RecordID] = []
        var seen: Set<RecordID> = []
        for row in rows {
            if bytes > 0, bytes + row.body.count > batchBodyBytesMax { break }
            upTo = row.localSeq
            let record = row.write.record
            if needsLedger(record), seen.insert(record).inserted { touched.append(record) }
            guard try shouldSend(row, views: &views) else { continue }
            bytes += row.body.count
            Self.append(row, to: &items)
        }

        var widens: [BatchItem] = []
        var narrows: [BatchItem] = []
        var ledger: [LedgerEntry] = []
        let resyncSet = Set(resync)
        for record in touched + resync.filter({ !seen.contains($0) && needsLedger($0) }) {
            guard let view = try view(record, &views) else {
                // A listed record this node does not hold (it was restored from an older backup,
                // say) cannot be vouched for: narrow it; it is widened again once it arrives here.
                if resyncSet.contains(record) {
                    narrows.append(.narrow(Narrow(record: record, classes: DataClass.referralClasses, cause: .resync)))
                    ledger += DataClass.referralClasses.map { LedgerEntry(record: record, dataClass: $0, sent: false) }
                }
                continue
            }
            let visible = Self.visibleClasses(peer, view: view)
            let held: Set<DataClass> =
                resyncSet.contains(record)
                ? [] : try store.ledgerClasses(peer: peer, incarnation: peerIncarnation, record: record)
            let widen = visible.subtracting(held)
            let narrow =
                resyncSet.contains(record)
                ? Set(DataClass.referralClasses).subtracting(visible) : held.subtracting(visible)
            if !widen.isEmpty {
                var changes: [IncomingChange] = []
                for row in try store.liveWrites(of: record, classes: widen, atOrBefore: after)
                where try shouldSend(row, views: &views) {
                    Self.append(row, to: &changes)
                }
                widens.append(.widen(Widen(record: record, classes: Self.ordered(widen), changes: changes)))
                ledger += widen.map { LedgerEntry(record: record, dataClass: $0, sent: true) }
            }
            if !narrow.isEmpty {
                let cause: NarrowCause =
                    resyncSet.contains(record)
                    ? .resync
                    : (visible.isEmpty ? .readdressed : (narrow == [.contact] ? .consentWithdrawn : .unspecified))
                narrows.append(.narrow(Narrow(record: record, classes: Self.ordered(narrow), cause: cause)))
                ledger += narrow.map { LedgerEntry(record: record, dataClass: $0, sent: false) }
            }
        }
        return (Changes(after: after, upTo: upTo, items: widens + items.map { .change($0) } + narrows), ledger)
    }

    /// Whether the peer's view of a record is tracked in the ledger: referrals it is not a party to.
    func needsLedger(_ record: RecordID) -> Bool {
        guard let (practice, pcn) = record.referralParties else { return false }
        return peer != practice && peer != pcn
    }

    func view(_ record: RecordID, _ views: inout [RecordID: Audience.ReferralView]) throws -> Audience.ReferralView? {
        if let v = views[record] { return v }
        guard let v = try store.referralView(record) else { return nil }
        views[record] = v
        return v
    }

    /// Whether one held write goes to the peer now.
    func shouldSend(_ row: StoredWrite, views: inout [RecordID: Audience.ReferralView]) throws -> Bool {
        let w = row.write
        if w.origin.node == peer { return w.origin.incarnation != peerIncarnation }
        guard needsLedger(w.record) else { return true }
        if w.field.dataClass == .routing, !row.live { return false }
        guard let view = try view(w.record, &views) else { return false }
        return Audience.mayRead(peer, w, view: view)
    }

    /// The referral classes the peer may see of a referral it is not a party to.
    public static func visibleClasses(_ peer: NodeID, view: Audience.ReferralView) -> Set<DataClass> {
        guard let owner = view.currentService?.serviceOwner, owner == peer else { return [] }
        var classes: Set<DataClass> = [.routing, .consent, .progress, .outcome]
        if view.explicitConsent { classes.insert(.contact) }
        return classes
    }

    static func ordered(_ classes: Set<DataClass>) -> [DataClass] {
        DataClass.allCases.filter(classes.contains)
    }

    /// Adds a held write to a list of changes, joining it to the previous change when it is part of it.
    static func append(_ row: StoredWrite, to changes: inout [IncomingChange]) {
        let w = row.write
        if var last = changes.last, last.origin == w.origin, last.seq == w.seq, last.record == w.record.rawValue {
            last.bodies.append(row.body)
            changes[changes.count - 1] = last
        } else {
            changes.append(
                IncomingChange(origin: w.origin, seq: w.seq, hlc: w.hlc, record: w.record.rawValue, bodies: [row.body]))
        }
    }
}
