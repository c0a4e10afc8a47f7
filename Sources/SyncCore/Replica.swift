/// An in-memory replica: the merge rules applied to a set of writes, with no storage.
///
/// It is the executable specification the SQLite store is tested against, and the state the
/// simulator's nodes compare. `apply` is idempotent per field write, and a write that a known
/// redaction kills is held without its value, whichever arrived first.
public struct Replica: Sendable {
    /// Every write held, by record and field.
    public private(set) var writes: [RecordID: [FieldKey: [WriteID: FieldWrite]]] = [:]

    public init() {}

    /// Adds a write; returns false when it was already held (a duplicate changes nothing).
    @discardableResult
    public mutating func apply(_ incoming: FieldWrite) -> Bool {
        if writes[incoming.record]?[incoming.field]?[incoming.id] != nil { return false }
        var write = incoming
        let redactions = self.redactions(incoming.record, incoming.field.dataClass)
        if !incoming.field.isRedaction, !redactions.allSatisfy({ incoming.context.covers($0.origin, $0.seq) }) {
            write = write.withoutValue
        }
        writes[write.record, default: [:]][write.field, default: [:]][write.id] = write
        if write.field.isRedaction { stripKilled(write.record, write.field.dataClass) }
        return true
    }

    /// The redaction markers of a class on a record.
    public func redactions(_ record: RecordID, _ dataClass: DataClass) -> [FieldWrite] {
        writes[record]?[.redaction(dataClass)].map { Array($0.values) } ?? []
    }

    /// All writes to one field.
    public func fieldWrites(_ record: RecordID, _ field: FieldKey) -> [FieldWrite] {
        writes[record]?[field].map { Array($0.values) } ?? []
    }

    public func resolution(_ record: RecordID, _ field: FieldKey) -> Merge.Resolution {
        Merge.resolve(
            fieldWrites(record, field), redactions: field.isRedaction ? [] : redactions(record, field.dataClass))
    }

    /// The winning value of a register, or nil.
    public func value(_ record: RecordID, _ field: FieldKey) -> [UInt8]? {
        guard let winner = resolution(record, field).winner else { return nil }
        return writes[record]?[field]?[winner]?.value
    }

    /// The live writes of a field (a set's elements), in tie order.
    public func live(_ record: RecordID, _ field: FieldKey) -> [FieldWrite] {
        resolution(record, field).live.compactMap { writes[record]?[field]?[$0] }
    }

    /// The causal context a new write to this field would carry here.
    public func context(for record: RecordID, _ field: FieldKey) -> CausalContext {
        Merge.context(
            replacing: fieldWrites(record, field),
            redactions: field.isRedaction ? [] : redactions(record, field.dataClass))
    }

    /// The facts that decide a referral's audience.
    public func referralView(_ record: RecordID) -> Audience.ReferralView {
        let service = value(record, .routingService).flatMap { try? RecordID(String(decoding: $0, as: UTF8.self)) }
        let consent = value(record, .consent).flatMap { try? FieldValue.decode(Consent.self, $0, field: .consent) }
        return Audience.ReferralView(currentService: service, explicitConsent: consent?.isExplicitAndStanding ?? false)
    }

    public func status(_ record: RecordID) -> ReferralStatus {
        StatusFold.status(events: live(record, .progressEvents), currentService: referralView(record).currentService)
    }

    /// Removes another origin's writes of some classes of a record (on `NARROW`). Never the
    /// node's own writes: they are its own record.
    public mutating func purge(_ record: RecordID, classes: Set<DataClass>, keepingNode own: NodeID) {
        guard var fields = writes[record] else { return }
        for (field, byID) in fields where classes.contains(field.dataClass) {
            fields[field] = byID.filter { $0.value.origin.node == own }
        }
        writes[record] = fields
    }

    /// A canonical text of everything that convergence promises: each field's live writes with
    /// values, its winner and conflict flag, and each referral's status.
    public func fingerprint(classes: Set<DataClass> = Set(DataClass.allCases)) -> String {
        var lines: [String] = []
        for record in writes.keys.sorted() {
            for field in (writes[record] ?? [:]).keys.sorted() where classes.contains(field.dataClass) {
                let r = resolution(record, field)
                let live = r.live.map { id in "\(id)=\(writes[record]?[field]?[id]?.text ?? "∅")" }
                lines.append(
                    "\(record) \(field) live[\(live.joined(separator: ","))] win=\(r.winner?.description ?? "-") conflict=\(r.inConflict)"
                )
            }
            if record.referralParties != nil, classes.contains(.progress) {
                lines.append("\(record) status=\(status(record))")
            }
        }
        return lines.joined(separator: "\n")
    }

    private mutating func stripKilled(_ record: RecordID, _ dataClass: DataClass) {
        let redactions = self.redactions(record, dataClass)
        guard var fields = writes[record] else { return }
        for (field, byID) in fields where field.dataClass == dataClass && !field.isRedaction {
            var updated = byID
            for (id, w) in byID where w.value != nil && !redactions.allSatisfy({ w.context.covers($0.origin, $0.seq) })
            {
                updated[id] = w.withoutValue
            }
            fields[field] = updated
        }
        writes[record] = fields
    }
}
