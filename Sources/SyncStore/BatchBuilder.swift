import SyncCore

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
    /// The highest seq the peer says it issued in its current incarnation (its `HELLO`): its own
    /// changes beyond it go back to it, as the proof that its store was rolled back.
    public let peerLastSeq: UInt64
    public let limits: Limits

    public init(
        store: Store, peer: NodeID, peerIncarnation: Incarnation, peerLastSeq: UInt64 = 0, limits: Limits = .standard
    ) {
        self.store = store
        self.peer = peer
        self.peerIncarnation = peerIncarnation
        self.peerLastSeq = peerLastSeq
        self.limits = limits
    }

    /// Most rows of the log read for one batch: enough for `batchChangesMax` changes of eight field
    /// writes (a referral's creation has seven or eight). Read at `batchChangesMax` rows, an initial
    /// sync of referrals went in batches of 64 changes, eight times as many transactions and
    /// round trips as the limit allows.
    var rowsMax: Int { limits.batchChangesMax * 8 }

    /// Largest total of field-write bytes put in one batch: half a frame, the rest left for `WIDEN`s.
    var batchBodyBytesMax: Int { limits.frameBytesMax / 2 }

    /// Largest total of `WIDEN` contents in one batch: the other half of the frame, less a
    /// sixteenth kept for `NARROW`s and the envelope.
    var widenBytesMax: Int { limits.frameBytesMax / 2 - limits.frameBytesMax / 16 }

    /// What a batch left for the next one (`BatchCarry`).
    public typealias Carry = BatchCarry

    /// One batch with the visibility decisions it carries (for the pending ledger) and its carry.
    public struct Built: Sendable {
        public var changes: Changes
        public var ledger: [LedgerEntry]
        public var carry: Carry
    }

    /// The visibility decisions for one record: a `WIDEN` (its writes still to send), a `NARROW`.
    struct Decision {
        var record: RecordID
        var widenClasses: Set<DataClass> = []
        var widenRows: [StoredWrite] = []
        var narrow: Narrow?
        var ledger: [LedgerEntry] = []

        /// What writes cost in the frame: bodies plus per-write and per-change overhead (a change
        /// repeats its record id, origin index, seq and clock).
        static func cost(_ rows: ArraySlice<StoredWrite>) -> Int {
            let perChange = 64 + (rows.first?.write.record.rawValue.utf8.count ?? 0)
            return rows.reduce(0) { $0 + $1.body.count + 16 } + Set(rows.map(\.localSeq)).count * perChange
        }

        /// The longest run of whole changes (rows sharing a local seq) from the start that costs at
        /// most `budget`, and never less than one change, so every part makes progress.
        func widenPrefix(costingAtMost budget: Int) -> ArraySlice<StoredWrite> {
            var end = 0
            var cost = 0
            var cutAt = 0
            while end < widenRows.count {
                let seq = widenRows[end].localSeq
                var next = end
                while next < widenRows.count, widenRows[next].localSeq == seq { next += 1 }
                cost += Self.cost(widenRows[end..<next])
                if cost > budget, cutAt > 0 { break }
                cutAt = next
                end = next
            }
            return widenRows[..<cutAt]
        }
    }

    /// The batch after `after`, or nil when the log holds nothing after it and `resync` is empty.
    ///
    /// Direct changes take at most half a frame, `WIDEN` contents the other half: a batch is cut
    /// before a record whose `WIDEN` would not fit, and resync records without room are carried.
    /// A single `WIDEN` larger than its half goes in parts (`cursor` continues one).
    ///
    /// A write held without its value (killed by a redaction) goes with the redactions that killed
    /// it, in the same batch (`Explained`), so no receiver holds a stripped write it cannot explain.
    public func build(after: UInt64, resync: [RecordID], cursor: WidenCursor? = nil) throws -> Built? {
        let rows = try store.changes(after: after, limit: rowsMax)
        if rows.isEmpty, resync.isEmpty { return nil }
        let cursor = cursor?.after == after ? cursor : nil
        var upTo = after
        var bytes = 0
        var items: [IncomingChange] = []
        var views: [RecordID: Audience.ReferralView] = [:]
        var seen: Set<RecordID> = []
        var widens: [BatchItem] = []
        var narrows: [BatchItem] = []
        var ledger: [LedgerEntry] = []
        var widenBytes = 0
        var carry = Carry()
        var explained = Explained()
        let resyncSet = Set(resync)
        var isEmpty: Bool { upTo == after && widens.isEmpty && narrows.isEmpty }

        /// Takes a record's decisions into the batch if its `WIDEN`, with the redactions explaining
        /// its stripped writes, fits in what is left of its half.
        func admit(_ decision: Decision) throws -> Bool {
            let rows = decision.widenRows.filter { !explained.sent.contains($0.write.id) }
            let explaining = try explanations(for: rows, explained, &views)
            let cost = Decision.cost(rows[...]) + Decision.cost(explaining[...])
            guard widenBytes + cost <= widenBytesMax else { return false }
            widenBytes += cost
            if !decision.widenClasses.isEmpty {
                var changes: [IncomingChange] = []
                for row in rows { Self.append(row, to: &changes) }
                widens.append(
                    .widen(
                        Widen(record: decision.record, classes: Self.ordered(decision.widenClasses), changes: changes)))
                explained.note(rows)
            }
            widens += explained.take(explaining)
            if let narrow = decision.narrow { narrows.append(.narrow(narrow)) }
            ledger += decision.ledger
            return true
        }

        /// A batch of nothing but the next part of `decision`'s `WIDEN` (and what explains it).
        func part(_ decision: Decision, carrying resync: [RecordID]) throws -> Built {
            let rows = decision.widenPrefix(costingAtMost: widenBytesMax)
            var changes: [IncomingChange] = []
            for row in rows { Self.append(row, to: &changes) }
            var carry = Carry()
            carry.resync = resync
            carry.widen = WidenCursor(
                after: after, record: decision.record, classes: decision.widenClasses,
                sentThrough: rows.last?.localSeq ?? after)
            let widen = BatchItem.widen(
                Widen(record: decision.record, classes: Self.ordered(decision.widenClasses), changes: changes))
            explained.note(rows)
            let explaining = explained.take(try explanations(for: rows, explained, &views))
            return Built(
                changes: Changes(after: after, upTo: after, items: [widen] + explaining), ledger: [], carry: carry)
        }

        for row in rows {
            if bytes > 0, bytes + row.body.count > batchBodyBytesMax { break }
            // At most `batchChangesMax` direct changes: stop before a row that would start one more.
            if items.count >= limits.batchChangesMax, !Self.joins(row, items) { break }
            let record = row.write.record
            if needsLedger(record), !seen.contains(record) {
                let decision = try decide(record, resync: resyncSet.contains(record), after: after, cursor, &views)
                if try !admit(decision) {
                    if isEmpty, items.isEmpty { return try part(decision, carrying: resync) }
                    carry.resync = resync
                    return Built(
                        changes: Changes(after: after, upTo: upTo, items: widens + items.map { .change($0) } + narrows),
                        ledger: ledger, carry: carry)
                }
                seen.insert(record)
            }
            // Filtered out, or carried already to explain a stripped write: the position still advances.
            guard !explained.sent.contains(row.write.id), try shouldSend(row, views: &views) else {
                upTo = row.localSeq
                continue
            }
            let explaining = try explanations(for: [row], explained, &views)
            if !explaining.isEmpty {
                let cost = Decision.cost(explaining[...])
                if widenBytes + cost > widenBytesMax, !(isEmpty && items.isEmpty) { break }
                widenBytes += cost
                widens += explained.take(explaining)
            }
            upTo = row.localSeq
            bytes += row.body.count
            Self.append(row, to: &items)
            explained.note([row])
        }
        let listed = resync.filter { !seen.contains($0) && needsLedger($0) }
        for (i, record) in listed.enumerated() {
            let decision = try decide(record, resync: true, after: after, cursor, &views)
            if try !admit(decision) {
                let rest = Array(listed[i...])
                if isEmpty, items.isEmpty { return try part(decision, carrying: rest) }
                carry.resync = rest
                break
            }
        }
        return Built(
            changes: Changes(after: after, upTo: upTo, items: widens + items.map { .change($0) } + narrows),
            ledger: ledger, carry: carry)
    }

    /// What one batch carries so far, for the rule that a stripped write travels with the
    /// redactions that killed it: the writes in it, and the (record, class) pairs explained.
    struct Explained {
        var sent: Set<WriteID> = []
        var classes: Set<String> = []

        static func key(_ record: RecordID, _ dataClass: DataClass) -> String { "\(record)|\(dataClass.rawValue)" }

        mutating func note(_ rows: some Sequence<StoredWrite>) {
            for row in rows {
                sent.insert(row.write.id)
                if row.write.field.isRedaction { classes.insert(Self.key(row.write.record, row.write.field.dataClass)) }
            }
        }

        /// Takes explaining redactions into the batch: one `WIDEN` item per record.
        mutating func take(_ rows: [StoredWrite]) -> [BatchItem] {
            var byRecord: [RecordID: [StoredWrite]] = [:]
            var order: [RecordID] = []
            for row in rows where sent.insert(row.write.id).inserted {
                classes.insert(Self.key(row.write.record, row.write.field.dataClass))
                if byRecord[row.write.record] == nil { order.append(row.write.record) }
                byRecord[row.write.record, default: []].append(row)
            }
            return order.map { record in
                let rows = byRecord[record] ?? []
                var changes: [IncomingChange] = []
                for row in rows { BatchBuilder.append(row, to: &changes) }
                let classes = BatchBuilder.ordered(Set(rows.map(\.write.field.dataClass)))
                return .widen(Widen(record: record, classes: classes, changes: changes))
            }
        }
    }

    /// The redactions the peer must be sent with `rows`: for each write held without its value,
    /// every element of its class's redaction set on the record that the batch does not carry yet
    /// and the peer may be sent (its own current incarnation's it holds already).
    func explanations(
        for rows: some Sequence<StoredWrite>, _ explained: Explained, _ views: inout [RecordID: Audience.ReferralView]
    ) throws -> [StoredWrite] {
        var out: [StoredWrite] = []
        var done: Set<String> = explained.classes
        for row in rows where row.write.value == nil && !row.write.field.isRedaction {
            let key = Explained.key(row.write.record, row.write.field.dataClass)
            guard done.insert(key).inserted else { continue }
            for r in try store.redactionWrites(of: row.write.record, dataClass: row.write.field.dataClass)
            where !explained.sent.contains(r.write.id) {
                if try shouldSend(r, views: &views) { out.append(r) }
            }
        }
        return out
    }

    /// What the peer should be told of a record now: the classes to widen (with the live writes of
    /// them it may see, local seq ≤ `after`, less those a `cursor` already sent) and to narrow.
    func decide(
        _ record: RecordID, resync: Bool, after: UInt64, _ cursor: WidenCursor?,
        _ views: inout [RecordID: Audience.ReferralView]
    ) throws -> Decision {
        var decision = Decision(record: record)
        let continuing = cursor?.record == record ? cursor : nil
        guard let view = try view(record, &views) else {
            // A listed record this node does not hold (it was restored from an older backup, say)
            // cannot be decided yet. A `NARROW` now would have the lister purge what may be the
            // last copies of this node's own lost writes before sending them back (seed 2781):
            // the record is decided when its writes arrive, as a listed one.
            if resync { try store.deferResync(peer: peer, incarnation: peerIncarnation, record: record) }
            return decision
        }
        let ledger: Set<DataClass> =
            resync ? [] : try store.ledgerClasses(peer: peer, incarnation: peerIncarnation, record: record)
        // A deferred `HOLDING` record has no ledger entry for the lister (it was unknown here when
        // listed), so the note is looked up only for records without one, not for every record.
        let resync =
            try resync
            || (ledger.isEmpty && store.resyncDeferred(peer: peer, incarnation: peerIncarnation, record: record))
        let visible = Self.visibleClasses(peer, view: view)
        let held: Set<DataClass> = resync ? [] : ledger
        let widen = visible.subtracting(held)
        // Classes of a `WIDEN` cut in parts that are no longer visible: their parts must be taken back.
        let abandoned = (continuing?.classes ?? []).subtracting(visible)
        let narrow =
            (resync ? Set(DataClass.referralClasses).subtracting(visible) : held.subtracting(visible))
            .union(abandoned)
        if !widen.isEmpty {
            decision.widenClasses = widen
            let sentThrough = continuing.map { widen.isSubset(of: $0.classes) ? $0.sentThrough : 0 } ?? 0
            for row in try store.liveWrites(of: record, classes: widen, atOrBefore: after)
            where row.localSeq > sentThrough {
                if try shouldSend(row, views: &views) { decision.widenRows.append(row) }
            }
            decision.ledger += widen.map { LedgerEntry(record: record, dataClass: $0, sent: true) }
        }
        if !narrow.isEmpty {
            let cause: NarrowCause =
                resync
                ? .resync
                : (visible.isEmpty ? .readdressed : (narrow == [.contact] ? .consentWithdrawn : .unspecified))
            decision.narrow = Narrow(record: record, classes: Self.ordered(narrow), cause: cause)
            decision.ledger += narrow.map { LedgerEntry(record: record, dataClass: $0, sent: false) }
        }
        return decision
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
        if w.origin.node == peer { return w.origin.incarnation != peerIncarnation || w.seq > peerLastSeq }
        return try Self.entitled(peer, row, store: store, views: &views)
    }

    /// Whether `peer` may be sent a write of another origin now (its audience, Protocol/SPEC.md 7.1).
    static func entitled(
        _ peer: NodeID, _ row: StoredWrite, store: Store, views: inout [RecordID: Audience.ReferralView]
    ) throws -> Bool {
        let w = row.write
        guard let (practice, pcn) = w.record.referralParties, peer != practice, peer != pcn else { return true }
        if w.field.dataClass == .routing, !row.live { return false }
        if views[w.record] == nil { views[w.record] = try store.referralView(w.record) }
        guard let view = views[w.record] else { return false }
        return Audience.mayRead(peer, w, view: view)
    }

    /// How many field writes of this node's log `peer` is entitled to now and has not acknowledged
    /// (Protocol/SPEC.md 7.1; `spsync status`): the writes after the highest point of the log it
    /// acknowledged, by `ACK` or `PULL`, other than its own and those it sent. 0 for a peer in
    /// step. Counting stops at
    /// `cap` (a status line, not an inventory).
    public static func pending(store: Store, peer: NodeID, cap: Int = 1_000_000) throws -> Int {
        var after = try store.acknowledgedUpTo(peer: peer)
        var views: [RecordID: Audience.ReferralView] = [:]
        var count = 0
        while count < cap {
            let rows = try store.changes(after: after, limit: 4096)
            guard let last = rows.last else { break }
            // Its own writes, and writes it sent this node, it holds already.
            for row in rows where row.write.origin.node != peer && row.receivedFrom != peer.rawValue {
                if try entitled(peer, row, store: store, views: &views) { count += 1 }
            }
            after = last.localSeq
            if views.count > 65_536 { views.removeAll() }
        }
        return min(count, cap)
    }

    /// The referral classes the peer may see of a referral it is not a party to.
    public static func visibleClasses(_ peer: NodeID, view: Audience.ReferralView) -> Set<DataClass> {
        Audience.visibleClasses(peer, view: view)
    }

    static func ordered(_ classes: Set<DataClass>) -> [DataClass] {
        DataClass.allCases.filter(classes.contains)
    }

    /// The batch with each change's origin signature and withheld digests, and the key bindings
    /// its changes need that were not sent in this session yet (noted in `keysSent`).
    public func sealed(_ batch: Changes, keysSent: inout Set<KeyBindingRef>) throws -> Changes {
        var out = batch
        var needed: [Origin: UInt64] = [:]
        for c in batch.allChanges { needed[c.origin] = max(needed[c.origin] ?? 0, c.seq) }
        for binding in try store.keyBindings(for: needed) {
            let ref = KeyBindingRef(origin: binding.origin, fromSeq: binding.fromSeq)
            if keysSent.insert(ref).inserted { out.keys.append(binding) }
        }
        let direct = try store.sealed(
            batch.items.compactMap { item -> IncomingChange? in
                if case .change(let c) = item { return c }
                return nil
            })
        var next = direct.makeIterator()
        out.items = try batch.items.map { item in
            switch item {
            case .change:
                guard let c = next.next() else { preconditionFailure("one sealed change per change") }
                return .change(c)
            case .widen(var w):
                w.changes = try store.sealed(w.changes)
                return .widen(w)
            case .narrow: return item
            }
        }
        return out
    }

    /// Whether a held write joins the last change of a list (is part of it, and follows it).
    static func joins(_ row: StoredWrite, _ changes: [IncomingChange]) -> Bool {
        guard let last = changes.last else { return false }
        return last.origin == row.write.origin && last.seq == row.write.seq && last.record == row.write.record.rawValue
    }

    /// Adds a held write to a list of changes, joining it to the previous change when it is part of it.
    static func append(_ row: StoredWrite, to changes: inout [IncomingChange]) {
        let w = row.write
        if var last = changes.last, joins(row, changes) {
            last.bodies.append(row.body)
            changes[changes.count - 1] = last
        } else {
            changes.append(
                IncomingChange(origin: w.origin, seq: w.seq, hlc: w.hlc, record: w.record.rawValue, bodies: [row.body]))
        }
    }
}
