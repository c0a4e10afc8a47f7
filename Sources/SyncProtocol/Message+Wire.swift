import Foundation
import SwiftProtobuf
import SyncCore

/// Conversion between protocol messages and frames at the edge of SyncProtocol. Decoding checks
/// every envelope and every limit, so a malformed message fails here with a typed error and never
/// reaches the session or the store. Field-write bodies stay opaque bytes (the store decodes and
/// validates each one, refusing it alone).
extension Message {
    /// Decodes a frame; throws `malformed`, `limitExceeded` or `unexpectedMessage` (unknown type).
    public init(frame: Frame, limits: Limits = .standard) throws(ProtocolError) {
        guard let type = MessageType(rawValue: frame.type) else {
            throw ProtocolError(.unexpectedMessage, "unknown frame type 0x\(String(frame.type, radix: 16))")
        }
        let payload = Data(frame.payload)
        func decode<M: SwiftProtobuf.Message>(_: M.Type) throws(ProtocolError) -> M {
            do {
                return try M(serializedBytes: payload)
            } catch {
                throw ProtocolError(.malformed, "\(type) payload is not a valid protobuf message")
            }
        }
        switch type {
        case .hello: self = .hello(try Hello(wire: decode(Spsync_V1_Hello.self), limits: limits))
        case .pull:
            let w = try decode(Spsync_V1_Pull.self)
            self = .pull(incarnation: try Wire.incarnation(w.incarnation, "PULL"), after: w.after)
        case .holding:
            let w = try decode(Spsync_V1_Holding.self)
            guard w.records.count <= limits.batchChangesMax else {
                throw ProtocolError(
                    .limitExceeded, "HOLDING lists \(w.records.count) records, more than \(limits.batchChangesMax)")
            }
            self = .holding(try w.records.map { text throws(ProtocolError) in try Wire.record(text, "HOLDING") })
        case .changes: self = .changes(try Changes(wire: decode(Spsync_V1_Changes.self), limits: limits))
        case .ack: self = .ack(upTo: try decode(Spsync_V1_Ack.self).upTo)
        case .caughtUp: self = .caughtUp(seq: try decode(Spsync_V1_CaughtUp.self).seq)
        case .ping: self = .ping(nonce: try decode(Spsync_V1_Ping.self).nonce)
        case .pong: self = .pong(nonce: try decode(Spsync_V1_Pong.self).nonce)
        case .bye:
            _ = try decode(Spsync_V1_Bye.self)
            self = .bye
        case .error:
            let w = try decode(Spsync_V1_Error.self)
            self = .error(
                ProtocolError(ErrorCode(rawValue: w.code.rawValue) ?? .unspecified, String(w.detail.prefix(1024))))
        case .rotate:
            let w = try decode(Spsync_V1_Rotate.self)
            guard !w.certificate.isEmpty, w.certificate.count <= RotationAnnouncement.certificateBytesMax,
                !w.signature.isEmpty, w.signature.count <= RotationAnnouncement.signatureBytesMax
            else {
                throw ProtocolError(.limitExceeded, "ROTATE: certificate or signature empty or too large")
            }
            self = .rotate(RotationAnnouncement(certificate: [UInt8](w.certificate), signature: [UInt8](w.signature)))
        }
    }

    /// The frame carrying this message (protobuf payload, deterministic field order).
    public var frame: Frame {
        let payload: [UInt8]
        do {
            switch self {
            case .hello(let h): payload = try h.wire.serializedBytes()
            case .pull(let incarnation, let after):
                payload = try Spsync_V1_Pull.with {
                    $0.incarnation = Data(incarnation.bytes)
                    $0.after = after
                }.serializedBytes()
            case .holding(let records):
                payload = try Spsync_V1_Holding.with { $0.records = records.map(\.rawValue) }.serializedBytes()
            case .changes(let c): payload = try c.wire.serializedBytes()
            case .ack(let upTo): payload = try Spsync_V1_Ack.with { $0.upTo = upTo }.serializedBytes()
            case .caughtUp(let seq): payload = try Spsync_V1_CaughtUp.with { $0.seq = seq }.serializedBytes()
            case .ping(let nonce): payload = try Spsync_V1_Ping.with { $0.nonce = nonce }.serializedBytes()
            case .pong(let nonce): payload = try Spsync_V1_Pong.with { $0.nonce = nonce }.serializedBytes()
            case .bye: payload = []
            case .error(let e):
                payload = try Spsync_V1_Error.with {
                    $0.code = Spsync_V1_ErrorCode(rawValue: e.code.rawValue) ?? .unspecified
                    $0.detail = e.detail
                }.serializedBytes()
            case .rotate(let r):
                payload = try Spsync_V1_Rotate.with {
                    $0.certificate = Data(r.certificate)
                    $0.signature = Data(r.signature)
                }.serializedBytes()
            }
        } catch {
            // Encoding a message built from valid domain values cannot fail (no required fields, no maps).
            preconditionFailure("protobuf encoding failed: \(error)")
        }
        return Frame(type: type.rawValue, payload: payload)
    }
}

/// Shared checks of wire values.
enum Wire {
    static func incarnation(_ data: Data, _ what: String) throws(ProtocolError) -> Incarnation {
        do {
            return try UUIDv7(bytes: [UInt8](data))
        } catch {
            throw ProtocolError(.malformed, "\(what): an incarnation has 16 bytes, not \(data.count)")
        }
    }

    static func node(_ text: String, _ what: String) throws(ProtocolError) -> NodeID {
        do {
            return try NodeID(text)
        } catch {
            throw ProtocolError(.malformed, "\(what): \(quoted: text.prefix(64)) is not a node id")
        }
    }

    static func record(_ text: String, _ what: String) throws(ProtocolError) -> RecordID {
        do {
            return try RecordID(text)
        } catch {
            throw ProtocolError(.malformed, "\(what): \(quoted: text.prefix(128)) is not a record id")
        }
    }
}

extension Hello {
    /// Converts and checks a wire `Hello`.
    public init(wire w: Spsync_V1_Hello, limits: Limits = .standard) throws(ProtocolError) {
        guard w.protocolVersions.count <= 64, w.heldOfYou.count <= 1024, w.software.utf8.count <= 256 else {
            throw ProtocolError(.limitExceeded, "HELLO is larger than any node sends")
        }
        var held: [Incarnation: UInt64] = [:]
        for entry in w.heldOfYou {
            let inc = try Wire.incarnation(entry.incarnation, "HELLO held_of_you")
            held[inc] = max(held[inc] ?? 0, entry.seq)
        }
        let mode: SessionMode
        switch w.mode {
        case .live: mode = .live
        case .oneShot, .UNRECOGNIZED: mode = .oneShot
        }
        self.init(
            protocolVersions: w.protocolVersions, schemaVersion: w.schemaVersion, node: try Wire.node(w.node, "HELLO"),
            incarnation: try Wire.incarnation(w.incarnation, "HELLO"), heldOfYou: held, software: w.software,
            wallMillis: w.wallMillis, mode: mode, lastSeq: w.lastSeq)
    }

    /// The wire form; `held_of_you` sorted by incarnation so the bytes are deterministic.
    public var wire: Spsync_V1_Hello {
        Spsync_V1_Hello.with {
            $0.protocolVersions = protocolVersions
            $0.schemaVersion = schemaVersion
            $0.node = node.rawValue
            $0.incarnation = Data(incarnation.bytes)
            $0.heldOfYou = heldOfYou.sorted { $0.key < $1.key }.map { inc, seq in
                Spsync_V1_SeqHeld.with {
                    $0.incarnation = Data(inc.bytes)
                    $0.seq = seq
                }
            }
            $0.software = software
            $0.wallMillis = wallMillis
            $0.mode = mode == .live ? .live : .oneShot
            $0.lastSeq = lastSeq
        }
    }
}

extension Changes {
    /// Converts and checks a wire batch: origins, envelopes, and the batch, change and write limits.
    public init(wire w: Spsync_V1_Changes, limits: Limits = .standard) throws(ProtocolError) {
        guard w.upTo >= w.after else {
            throw ProtocolError(.malformed, "CHANGES up_to \(w.upTo) is before after \(w.after)")
        }
        guard w.origins.count <= limits.batchChangesMax else {
            throw ProtocolError(.limitExceeded, "CHANGES names more than \(limits.batchChangesMax) origins")
        }
        var origins: [Origin] = []
        for o in w.origins {
            origins.append(
                Origin(
                    node: try Wire.node(o.node, "CHANGES origin"),
                    incarnation: try Wire.incarnation(o.incarnation, "CHANGES origin")))
        }
        func change(_ c: Spsync_V1_Change) throws(ProtocolError) -> IncomingChange {
            guard Int(c.origin) < origins.count else {
                throw ProtocolError(.malformed, "a change names origin \(c.origin) of \(origins.count)")
            }
            guard c.seq > 0 else { throw ProtocolError(.malformed, "a change has seq 0") }
            guard !c.writes.isEmpty else { throw ProtocolError(.malformed, "a change carries no field writes") }
            guard c.writes.count <= limits.fieldWritesPerChangeMax else {
                throw ProtocolError(
                    .limitExceeded, "a change carries more than \(limits.fieldWritesPerChangeMax) field writes")
            }
            guard c.record.utf8.count <= 256 else {
                throw ProtocolError(.limitExceeded, "a record id is over 256 bytes")
            }
            for body in c.writes where body.count > limits.fieldWriteBytesMax {
                throw ProtocolError(.limitExceeded, "a field write is over \(limits.fieldWriteBytesMax) bytes")
            }
            guard c.writes.count + c.withheld.count <= limits.fieldWritesPerChangeMax else {
                throw ProtocolError(
                    .limitExceeded, "a change lists more than \(limits.fieldWritesPerChangeMax) field writes")
            }
            guard c.signature.count == Seal.signatureBytes, c.withheld.allSatisfy({ $0.count == Seal.digestBytes })
            else {
                // Signatures are checked by the store, write by write; their shape is checked here.
                throw ProtocolError(.malformed, "a change's signature is not 64 bytes or a withheld digest not 32")
            }
            return IncomingChange(
                origin: origins[Int(c.origin)], seq: c.seq, hlc: HLC(rawValue: c.hlc), record: c.record,
                bodies: c.writes.map { [UInt8]($0) }, signature: [UInt8](c.signature),
                withheld: c.withheld.map { [UInt8]($0) })
        }
        var items: [BatchItem] = []
        for item in w.items {
            switch item.item {
            case .change(let c): items.append(.change(try change(c)))
            case .widen(let wd):
                var changes: [IncomingChange] = []
                for c in wd.changes { changes.append(try change(c)) }
                let record = try Wire.record(wd.record, "WIDEN")
                guard changes.allSatisfy({ $0.record == record.rawValue }) else {
                    throw ProtocolError(.malformed, "WIDEN of \(record) carries a change of another record")
                }
                items.append(
                    .widen(
                        Widen(
                            record: record, classes: wd.classes.compactMap(DataClass.init(rawValue:)), changes: changes)
                    ))
            case .narrow(let n):
                // Class names a newer node knows and this one does not are ignored.
                items.append(
                    .narrow(
                        Narrow(
                            record: try Wire.record(n.record, "NARROW"),
                            classes: n.classes.compactMap(DataClass.init(rawValue:)),
                            cause: NarrowCause(rawValue: n.cause.rawValue) ?? .unspecified)))
            case nil:
                // An item kind of a newer version: nothing this node can apply.
                continue
            }
        }
        guard w.keys.count <= limits.batchChangesMax else {
            throw ProtocolError(.limitExceeded, "CHANGES carries more than \(limits.batchChangesMax) key bindings")
        }
        var keys: [KeyBinding] = []
        for k in w.keys {
            guard k.certificate.count <= KeyBinding.certificateBytesMax, k.signature.count == Seal.signatureBytes,
                k.fromSeq >= 1
            else {
                throw ProtocolError(.malformed, "a key binding's certificate, signature or seq is out of bounds")
            }
            keys.append(
                KeyBinding(
                    node: try Wire.node(k.node, "key binding"),
                    incarnation: try Wire.incarnation(k.incarnation, "key binding"),
                    fromSeq: k.fromSeq, certificate: [UInt8](k.certificate), signature: [UInt8](k.signature)))
        }
        self.init(after: w.after, upTo: w.upTo, items: items, keys: keys, expectedWrites: w.expectedWrites)
        guard changeCount <= limits.batchChangesMax else {
            throw ProtocolError(
                .limitExceeded, "CHANGES carries \(changeCount) changes, more than \(limits.batchChangesMax)")
        }
    }

    /// The wire form, with origins numbered in order of first use.
    public var wire: Spsync_V1_Changes {
        var origins: [Origin] = []
        var index: [Origin: UInt32] = [:]
        func change(_ c: IncomingChange) -> Spsync_V1_Change {
            let i: UInt32
            if let known = index[c.origin] {
                i = known
            } else {
                i = UInt32(origins.count)
                index[c.origin] = i
                origins.append(c.origin)
            }
            return Spsync_V1_Change.with {
                $0.origin = i
                $0.seq = c.seq
                $0.hlc = c.hlc.rawValue
                $0.record = c.record
                $0.writes = c.bodies.map { Data($0) }
                $0.signature = Data(c.signature)
                $0.withheld = c.withheld.map { Data($0) }
            }
        }
        var out = Spsync_V1_Changes()
        out.after = after
        out.upTo = upTo
        out.items = items.map { item in
            switch item {
            case .change(let c): return Spsync_V1_BatchItem.with { $0.change = change(c) }
            case .widen(let w):
                let changes = w.changes.map(change)
                return Spsync_V1_BatchItem.with {
                    $0.widen = Spsync_V1_Widen.with {
                        $0.record = w.record.rawValue
                        $0.classes = w.classes.map(\.rawValue)
                        $0.changes = changes
                    }
                }
            case .narrow(let n):
                return Spsync_V1_BatchItem.with {
                    $0.narrow = Spsync_V1_Narrow.with {
                        $0.record = n.record.rawValue
                        $0.classes = n.classes.map(\.rawValue)
                        $0.cause = Spsync_V1_NarrowCause(rawValue: n.cause.rawValue) ?? .unspecified
                    }
                }
            }
        }
        out.origins = origins.map { o in
            Spsync_V1_OriginRef.with {
                $0.node = o.node.rawValue
                $0.incarnation = Data(o.incarnation.bytes)
            }
        }
        out.keys = keys.map(\.wire)
        out.expectedWrites = expectedWrites
        return out
    }
}

extension KeyBinding {
    /// The wire form of a key binding.
    public var wire: Spsync_V1_KeyBinding {
        Spsync_V1_KeyBinding.with {
            $0.node = node.rawValue
            $0.incarnation = Data(incarnation.bytes)
            $0.fromSeq = fromSeq
            $0.certificate = Data(certificate)
            $0.signature = Data(signature)
        }
    }

    /// Bytes the binding takes in a `CHANGES` message (field 5: tag, length, body).
    public var wireBytes: Int {
        // Encoding a message built from valid domain values cannot fail.
        let body = (try? wire.serializedBytes() as [UInt8])?.count ?? 0
        return 1 + (body < 128 ? 1 : 2) + body
    }
}
