/// One field's write within a change: the unit of merging, filtering, idempotency and relaying.
///
/// The envelope (origin, seq, HLC, record) is the change's; the body (field, kind, value, causal
/// context, and any fields a newer version added) is what `encodedBody` produces and what a store
/// keeps unchanged.
public struct FieldWrite: Hashable, Sendable {
    public var origin: Origin
    public var seq: UInt64
    public var hlc: HLC
    public var record: RecordID
    public var field: FieldKey
    public var kind: FieldKind
    /// The value's canonical bytes; nil once redacted (ids, stamps and context stay).
    public var value: [UInt8]?
    public var context: CausalContext
    /// Protobuf fields this version does not know, kept byte for byte so newer nodes can speak
    /// through older ones.
    public var unknownFields: [UInt8]
    /// 16 random bytes that make the value's digest unguessable (every referral write has one;
    /// directory writes, which every node sees, have none). Removed with the value on redaction.
    public var salt: [UInt8]?
    /// The digest of the value part, carried by a redacted write in place of salt and value.
    public var carriedValueDigest: [UInt8]?

    public init(
        origin: Origin, seq: UInt64, hlc: HLC, record: RecordID, field: FieldKey, kind: FieldKind,
        value: [UInt8]?, context: CausalContext = CausalContext(), unknownFields: [UInt8] = [],
        salt: [UInt8]? = nil, carriedValueDigest: [UInt8]? = nil
    ) {
        self.origin = origin
        self.seq = seq
        self.hlc = hlc
        self.record = record
        self.field = field
        self.kind = kind
        self.value = value
        self.context = context
        self.unknownFields = unknownFields
        self.salt = salt
        self.carriedValueDigest = carriedValueDigest
    }

    public var id: WriteID { WriteID(origin: origin, seq: seq, field: field) }
    public var change: ChangeRef { ChangeRef(origin: origin, seq: seq) }

    /// The value as UTF-8 text, if it has one.
    public var text: String? { value.map { String(decoding: $0, as: UTF8.self) } }

    /// The write as the merge sees it once redacted: no value, salt or unknown fields (the
    /// in-memory `Replica` needs no value digest; stores use `redacted(_:)`).
    public var withoutValue: FieldWrite {
        var w = self
        w.value = nil
        w.unknownFields = []
        w.salt = nil
        return w
    }

    /// The write with its value (and any unknown fields, which may hold values too) removed, and
    /// its salt: what is left is the value digest, so the origin's signature still verifies.
    public func redacted(_ crypto: some SealCrypto) -> FieldWrite {
        guard value != nil else { return self }
        var w = self
        // A write with a value always has a value digest; `valueDigest` throws only without one.
        w.carriedValueDigest = crypto.sha256(
            Seal.valueDigestInput(salt: salt ?? [], value: value ?? [], unknownFields: unknownFields))
        w.value = nil
        w.unknownFields = []
        w.salt = nil
        return w
    }

    /// Tie order of concurrent writes: `(hlc, origin, seq)`; the highest wins.
    public static func precedes(_ a: FieldWrite, _ b: FieldWrite) -> Bool {
        (a.hlc, a.origin, a.seq) < (b.hlc, b.origin, b.seq)
    }

    // MARK: Body encoding (message FieldWrite in Protocol/spsync.proto)

    /// The canonical body bytes: field 1 name, 2 kind (omitted for a register), 3 value (absent
    /// once redacted), 4 context entries sorted by origin, 5 salt, 6 the value digest (only once
    /// redacted), then unknown fields as received.
    public func encodedBody() -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(16 + (value?.count ?? 0) + context.count * 32 + unknownFields.count)
        ProtoWire.appendBytes(1, field.rawValue.utf8, to: &out)
        if kind != .register { ProtoWire.appendUInt(2, UInt64(kind.rawValue), to: &out) }
        if let value { ProtoWire.appendBytes(3, value, to: &out) }
        for entry in context.sorted {
            var e: [UInt8] = []
            ProtoWire.appendBytes(1, entry.origin.node.rawValue.utf8, to: &e)
            ProtoWire.appendBytes(2, entry.origin.incarnation.bytes, to: &e)
            ProtoWire.appendUInt(3, entry.seq, to: &e)
            ProtoWire.appendBytes(4, e, to: &out)
        }
        if let salt { ProtoWire.appendBytes(5, salt, to: &out) }
        if let carriedValueDigest { ProtoWire.appendBytes(6, carriedValueDigest, to: &out) }
        out.append(contentsOf: unknownFields)
        return out
    }

    /// Decodes a body received for the change `(origin, seq, hlc, record)`.
    public init(origin: Origin, seq: UInt64, hlc: HLC, record: RecordID, body: [UInt8]) throws(SyncError) {
        var reader = ProtoWire.Reader(body)
        var fieldName: String?
        var kindRaw: UInt64 = 0
        var value: [UInt8]?
        var context = CausalContext()
        var unknown: [UInt8] = []
        var salt: [UInt8]?
        var valueDigest: [UInt8]?
        while !reader.atEnd {
            let (number, wireType, start) = try reader.field()
            switch (number, wireType) {
            case (1, 2): fieldName = try reader.string(try reader.lengthDelimited())
            case (2, 0): kindRaw = try reader.varint()
            case (3, 2): value = Array(try reader.lengthDelimited())
            case (4, 2):
                let entry = try FieldWrite.decodeContextEntry(Array(try reader.lengthDelimited()))
                guard context.entries[entry.0] == nil else {
                    throw SyncError(.malformed, "a causal context names one origin twice")
                }
                context.include(entry.0, entry.1)
            case (5, 2):
                let bytes = Array(try reader.lengthDelimited())
                guard bytes.count == Seal.saltBytes else {
                    throw SyncError(.malformed, "field write: a salt has \(Seal.saltBytes) bytes, not \(bytes.count)")
                }
                salt = bytes
            case (6, 2):
                let bytes = Array(try reader.lengthDelimited())
                guard bytes.count == Seal.digestBytes else {
                    throw SyncError(.malformed, "field write: a value digest has 32 bytes, not \(bytes.count)")
                }
                valueDigest = bytes
            case (1...6, _):
                throw SyncError(.malformed, "field write: field \(number) has the wrong wire type")
            default:
                try reader.skip(wireType: wireType)
                unknown.append(contentsOf: body[start..<reader.offset])
            }
        }
        guard let fieldName else { throw SyncError(.malformed, "field write without a field name") }
        // A write has its value part (value, salt) or, once redacted, only the value part's digest.
        guard (value == nil) == (valueDigest != nil), value != nil || (salt == nil && unknown.isEmpty) else {
            throw SyncError(
                .malformed, "field write: a value and a value digest, or neither, or a salt without its value")
        }
        guard let kind = FieldKind(rawValue: UInt8(truncatingIfNeeded: kindRaw)), kindRaw <= 1 else {
            throw SyncError(.malformed, "field write of unknown kind \(kindRaw)")
        }
        self.init(
            origin: origin, seq: seq, hlc: hlc, record: record, field: try FieldKey(fieldName), kind: kind,
            value: value, context: context, unknownFields: unknown, salt: salt, carriedValueDigest: valueDigest)
    }

    private static func decodeContextEntry(_ bytes: [UInt8]) throws(SyncError) -> (Origin, UInt64) {
        var reader = ProtoWire.Reader(bytes)
        var node: String?
        var incarnation: [UInt8]?
        var seq: UInt64 = 0
        while !reader.atEnd {
            let (number, wireType, _) = try reader.field()
            switch (number, wireType) {
            case (1, 2): node = try reader.string(try reader.lengthDelimited())
            case (2, 2): incarnation = Array(try reader.lengthDelimited())
            case (3, 0): seq = try reader.varint()
            default: try reader.skip(wireType: wireType)
            }
        }
        guard let node, let incarnation, seq > 0 else {
            throw SyncError(.malformed, "a causal context entry needs a node, an incarnation and a seq")
        }
        return (Origin(node: try NodeID(node), incarnation: try UUIDv7(bytes: incarnation)), seq)
    }
}
