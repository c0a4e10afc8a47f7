#!/usr/bin/env python3
"""Origin-signature vectors, made by an implementation written from Protocol/SPEC.md alone.

This script shares no code with spsync (Swift): it encodes field writes, computes the digests and
the signed message of SPEC section 13 and signs with Python's `cryptography` package. The Swift
test `VectorTests` checks that spsync computes the same bytes and reaches each case's verdict, so
the two implementations agree on the spec.

    python3 Protocol/tools/sigvectors.py            # writes Protocol/vectors/signatures.json
    python3 Protocol/tools/sigvectors.py --verify   # re-checks the file with this implementation

Needs `cryptography` (pip install cryptography). Not run by CI: the vectors are committed.
"""
import datetime
import hashlib
import json
import os
import sys

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "vectors", "signatures.json")


def H(b: bytes) -> bytes:
    return hashlib.sha256(b).digest()


def u8(n): return n.to_bytes(1, "big")
def u16(n): return n.to_bytes(2, "big")
def u32(n): return n.to_bytes(4, "big")
def u64(n): return n.to_bytes(8, "big")


# --- protobuf, just what FieldWrite needs (SPEC section 6) -------------------------------------
def varint(n: int) -> bytes:
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def ld(field: int, payload: bytes) -> bytes:
    return varint(field << 3 | 2) + varint(len(payload)) + payload


def vi(field: int, n: int) -> bytes:
    return varint(field << 3) + varint(n)


def body(field, kind, value, context, salt=None, value_digest=None):
    out = ld(1, field.encode())
    if kind != 0:
        out += vi(2, kind)
    if value is not None:
        out += ld(3, value)
    for node, inc, seq in sorted(context, key=lambda e: (e[0].encode(), e[1])):
        out += ld(4, ld(1, node.encode()) + ld(2, inc) + vi(3, seq))
    if salt is not None:
        out += ld(5, salt)
    if value_digest is not None:
        out += ld(6, value_digest)
    return out


# --- SPEC 13.1 to 13.3 ---------------------------------------------------------------------------
def value_digest(salt: bytes, value: bytes, unknown: bytes = b"") -> bytes:
    return H(b"spsync-value-v2\x00" + u8(len(salt)) + salt + u32(len(value)) + value + unknown)


def write_digest(field, kind, context, vdigest) -> bytes:
    out = b"spsync-write-v2\x00" + u16(len(field.encode())) + field.encode() + u8(kind) + u16(len(context))
    for node, inc, seq in sorted(context, key=lambda e: (e[0].encode(), e[1])):
        out += u8(len(node.encode())) + node.encode() + inc + u64(seq)
    return H(out + vdigest)


def change_message(node, inc, seq, hlc, record, digests) -> bytes:
    out = b"spsync-change-v2\x00" + u8(len(node)) + node.encode() + inc + u64(seq) + u64(hlc)
    out += u16(len(record)) + record.encode() + u16(len(digests))
    for d in sorted(digests):
        out += d
    return out


def key_message(node, inc, from_seq, certificate_der) -> bytes:
    return b"spsync-key-v2\x00" + u8(len(node)) + node.encode() + inc + u64(from_seq) + H(certificate_der)


def sign(key, message: bytes) -> bytes:
    r, s = decode_dss_signature(key.sign(message, ec.ECDSA(hashes.SHA256())))
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


def verify(public_key, signature: bytes, message: bytes) -> bool:
    if len(signature) != 64:
        return False
    der = encode_dss_signature(int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big"))
    try:
        public_key.verify(der, message, ec.ECDSA(hashes.SHA256()))
        return True
    except Exception:
        return False


def make_certificate(node: str):
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, node)])
    now = datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(0x5EED).not_valid_before(now).not_valid_after(now + datetime.timedelta(days=3650))
        .add_extension(x509.SubjectAlternativeName([x509.UniformResourceIdentifier("spsync:node/" + node)]), False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]), False)
        .sign(key, hashes.SHA256())
    )
    return key, cert.public_bytes(serialization.Encoding.DER)


def generate():
    node, hub = "A81001", "U12345"
    inc = bytes(range(0x10, 0x20))
    hub_inc = bytes(range(0x20, 0x30))
    seq, hlc = 7, (1_780_000_000_000 << 16) | 3
    record = "R.A81001.U12345.01900000-0000-7000-8000-000000000001"
    key, cert = make_certificate(node)
    salts = [bytes([0xA0 + i] * 16) for i in range(3)]
    writes = [
        # (field, kind, value, context, salt)
        ("routing.urgency", 0, b"urgent", [(hub, hub_inc, 3)], salts[0]),
        ("contact.phone", 0, b"07700900123", [], salts[1]),
        ("clinical.nhsNumber", 0, b"9990000018", [], salts[2]),
    ]
    rows = []
    for field, kind, value, context, salt in writes:
        vd = value_digest(salt, value)
        rows.append({
            "field": field,
            "body": body(field, kind, value, context, salt=salt),
            "valueDigest": vd,
            "digest": write_digest(field, kind, context, vd),
            "redactedBody": body(field, kind, None, context, value_digest=vd),
            "context": context, "kind": kind, "value": value, "salt": salt,
        })
    digests = [r["digest"] for r in rows]
    message = change_message(node, inc, seq, hlc, record, digests)
    signature = sign(key, message)
    binding_message = key_message(node, inc, 1, cert)
    binding_signature = sign(key, binding_message)

    def case(name, bodies, withheld, verdict, sig=signature, origin_node=node, change_hlc=hlc, why=""):
        return {
            "name": name, "why": why, "originNode": origin_node, "hlc": change_hlc,
            "bodies": [b.hex() for b in bodies], "withheld": [w.hex() for w in withheld],
            "signature": sig.hex(), "verdict": verdict,
        }

    altered = body("contact.phone", 0, b"07700900999", [], salt=salts[1])
    cases = [
        case("whole", [r["body"] for r in rows], [], "accept", why="every write carried"),
        case("filtered for a charity", [rows[0]["body"], rows[1]["body"]], [rows[2]["digest"]], "accept",
             why="the clinical write withheld, travelling as its write digest"),
        case("redacted", [rows[0]["body"], rows[1]["redactedBody"], rows[2]["body"]], [], "accept",
             why="contact.phone redacted: no value or salt, its value digest instead"),
        case("altered value", [rows[0]["body"], altered, rows[2]["body"]], [], "bad_signature",
             why="a relay changed the phone number"),
        case("bad signature", [r["body"] for r in rows], [], "bad_signature",
             sig=signature[:63] + bytes([signature[63] ^ 1]), why="one bit of s flipped"),
        case("stripped signature", [r["body"] for r in rows], [], "bad_signature", sig=b"",
             why="no signature (on the wire: a malformed CHANGES)"),
        case("withheld digest left out", [rows[0]["body"], rows[1]["body"]], [], "bad_signature",
             why="a relay dropped the clinical write and its digest"),
        case("altered clock", [r["body"] for r in rows], [], "bad_signature", change_hlc=hlc + 1,
             why="a relay moved the HLC"),
        case("claimed by another origin", [r["body"] for r in rows], [], "unknown_key", origin_node="A81002",
             why="the same change presented as A81002's, whose key the receiver does not hold"),
    ]
    return {
        "description": "Origin signatures (Protocol/SPEC.md section 13), made by Protocol/tools/sigvectors.py, an "
                       "implementation written from the spec alone. Hex strings are bytes. A receiver holding "
                       "`binding` (from seq 1) and given each case's change (origin `originNode` with "
                       "`incarnation`, `seq`, `hlc`, `record`, the bodies carried, the withheld digests, the "
                       "signature) must reach the case's verdict: `accept`, or the refusal code.",
        "certificate": cert.hex(),
        "binding": {
            "node": node, "incarnation": inc.hex(), "fromSeq": 1, "certificate": cert.hex(),
            "message": binding_message.hex(), "signature": binding_signature.hex(), "verdict": "accept",
        },
        "change": {
            "node": node, "incarnation": inc.hex(), "seq": seq, "hlc": hlc, "record": record,
            "writes": [{
                "field": r["field"], "body": r["body"].hex(), "salt": r["salt"].hex(),
                "valueDigest": r["valueDigest"].hex(), "digest": r["digest"].hex(),
                "redactedBody": r["redactedBody"].hex(),
            } for r in rows],
            "message": message.hex(), "signature": signature.hex(),
        },
        "cases": cases,
    }


def check(v) -> int:
    """Re-derives every digest and message of the file and each case's verdict; returns failures."""
    cert = x509.load_der_x509_certificate(bytes.fromhex(v["certificate"]))
    public = cert.public_key()
    c, b = v["change"], v["binding"]
    inc = bytes.fromhex(c["incarnation"])
    failures = 0
    if key_message(b["node"], inc, b["fromSeq"], bytes.fromhex(b["certificate"])).hex() != b["message"]:
        print("binding message differs"); failures += 1
    if not verify(public, bytes.fromhex(b["signature"]), bytes.fromhex(b["message"])):
        print("binding signature does not verify"); failures += 1
    by_body = {w["body"]: w for w in c["writes"]}
    by_body.update({w["redactedBody"]: w for w in c["writes"]})
    for case in v["cases"]:
        digests = []
        for hexbody in case["bodies"]:
            w = by_body.get(hexbody)
            if w is None:  # an altered body: recompute from its parts as a receiver would
                digests.append(b"\x00" * 32)
            else:
                digests.append(bytes.fromhex(w["digest"]))
        digests += [bytes.fromhex(d) for d in case["withheld"]]
        if case["originNode"] != c["node"]:
            verdict = "unknown_key"  # the receiver holds a binding for the vector's origin only
        else:
            ok = len(set(digests)) == len(digests) and verify(
                public, bytes.fromhex(case["signature"]),
                change_message(case["originNode"], inc, c["seq"], case["hlc"], c["record"], digests))
            verdict = "accept" if ok else "bad_signature"
        if verdict != case["verdict"]:
            print(f"case {case['name']}: {verdict}, vector says {case['verdict']}"); failures += 1
    return failures


if __name__ == "__main__":
    if "--verify" in sys.argv:
        with open(OUT) as f:
            failures = check(json.load(f))
        print("ok" if failures == 0 else f"{failures} failures")
        sys.exit(1 if failures else 0)
    vectors = generate()
    assert check(vectors) == 0
    with open(OUT, "w") as f:
        json.dump(vectors, f, indent=2)
        f.write("\n")
    print("wrote", os.path.relpath(OUT))
