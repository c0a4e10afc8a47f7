/// The protobuf wire encoding of the few messages SyncCore itself must produce byte for byte.
///
/// A field write's bytes are what a store keeps and relays unchanged, so the core encodes them
/// canonically itself (fields in tag order, defaults omitted). The schema is `Protocol/spsync.proto`;
/// SyncProtocol's generated code reads the same bytes, and the vectors check both agree.
enum ProtoWire {
    static func appendVarint(_ value: UInt64, to out: inout [UInt8]) {
        var v = value
        while v >= 0x80 {
            out.append(UInt8(truncatingIfNeeded: v) | 0x80)
            v >>= 7
        }
        out.append(UInt8(v))
    }

    static func appendTag(_ field: Int, _ wireType: Int, to out: inout [UInt8]) {
        appendVarint(UInt64(field << 3 | wireType), to: &out)
    }

    static func appendBytes(_ field: Int, _ bytes: some Collection<UInt8>, to out: inout [UInt8]) {
        appendTag(field, 2, to: &out)
        appendVarint(UInt64(bytes.count), to: &out)
        out.append(contentsOf: bytes)
    }

    static func appendUInt(_ field: Int, _ value: UInt64, to out: inout [UInt8]) {
        appendTag(field, 0, to: &out)
        appendVarint(value, to: &out)
    }

    /// A cursor over protobuf bytes that refuses anything malformed.
    struct Reader {
        let bytes: [UInt8]
        var offset: Int
        let end: Int

        init(_ bytes: [UInt8]) {
            self.bytes = bytes
            self.offset = 0
            self.end = bytes.count
        }

        var atEnd: Bool { offset >= end }

        mutating func varint() throws(SyncError) -> UInt64 {
            var result: UInt64 = 0
            var shift: UInt64 = 0
            while true {
                guard offset < end else { throw SyncError(.malformed, "truncated varint") }
                let byte = bytes[offset]
                offset += 1
                guard shift < 64, !(shift == 63 && byte > 1) else {
                    throw SyncError(.malformed, "varint overflows 64 bits")
                }
                result |= UInt64(byte & 0x7F) << shift
                if byte & 0x80 == 0 { return result }
                shift += 7
            }
        }

        /// The next field's number and wire type, and the range of its raw bytes (tag included).
        mutating func field() throws(SyncError) -> (number: Int, wireType: Int, start: Int) {
            let start = offset
            let tag = try varint()
            let number = Int(truncatingIfNeeded: tag >> 3)
            guard number > 0, number < 1 << 29 else { throw SyncError(.malformed, "invalid field number") }
            return (number, Int(tag & 7), start)
        }

        mutating func lengthDelimited() throws(SyncError) -> ArraySlice<UInt8> {
            let length = try varint()
            guard length <= UInt64(end - offset) else { throw SyncError(.malformed, "length runs past the end") }
            let slice = bytes[offset..<offset + Int(length)]
            offset += Int(length)
            return slice
        }

        mutating func skip(wireType: Int) throws(SyncError) {
            switch wireType {
            case 0: _ = try varint()
            case 1:
                guard end - offset >= 8 else { throw SyncError(.malformed, "truncated fixed64") }
                offset += 8
            case 2: _ = try lengthDelimited()
            case 5:
                guard end - offset >= 4 else { throw SyncError(.malformed, "truncated fixed32") }
                offset += 4
            default: throw SyncError(.malformed, "unsupported wire type \(wireType)")
            }
        }

        func string(_ slice: ArraySlice<UInt8>) throws(SyncError) -> String {
            guard let s = String(validating: slice, as: UTF8.self) else { throw SyncError(.malformed, "invalid UTF-8") }
            return s
        }
    }
}
