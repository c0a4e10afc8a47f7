import COpenSSL
import Foundation
import Testing

@testable import SyncTransport

@Suite("Node identity: key, certificate, fingerprint")
struct NodeIdentityTests {
    @Test("generate writes key.pem 0600 and cert.pem, and load reads back the same identity")
    func generateAndLoad() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let made = try NodeIdentity.generate(nodeID: "A81001", directory: directory.path)
        let keyPath = directory.path + "/key.pem"
        let attributes = try FileManager.default.attributesOfItem(atPath: keyPath)
        #expect((attributes[.posixPermissions] as? Int) == 0o600)
        let keyText = try String(contentsOfFile: keyPath, encoding: .utf8)
        #expect(keyText.hasPrefix("-----BEGIN PRIVATE KEY-----"))
        let loaded = try NodeIdentity.load(directory: directory.path)
        #expect(loaded.nodeID == "A81001")
        #expect(loaded.fingerprint == made.fingerprint)
        #expect(loaded.certificatePEM == made.certificatePEM)
    }

    @Test("generate refuses to overwrite an existing identity")
    func noOverwrite() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        _ = try NodeIdentity.generate(nodeID: "A81001", directory: directory.path)
        #expect(throws: IdentityError.self) { try NodeIdentity.generate(nodeID: "A81001", directory: directory.path) }
        do {
            _ = try NodeIdentity.generate(nodeID: "A81001", directory: directory.path)
        } catch {
            #expect(error.code == .alreadyExists)
        }
    }

    @Test("load refuses a key readable by group or others and says which chmod to run")
    func keyTooOpen() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        _ = try NodeIdentity.generate(nodeID: "A81001", directory: directory.path)
        let keyPath = directory.path + "/key.pem"
        try FileManager.default.setAttributes([.posixPermissions: 0o640], ofItemAtPath: keyPath)
        do {
            _ = try NodeIdentity.load(directory: directory.path)
            Issue.record("a group-readable key was accepted")
        } catch {
            #expect(error.code == .keyFileTooOpen)
            #expect(error.message.contains("chmod 600 \(keyPath)"))
            #expect(error.message.contains("0640"))
        }
    }

    @Test("load refuses a key that belongs to another certificate")
    func keyMismatch() throws {
        let one = try TemporaryDirectory()
        let two = try TemporaryDirectory()
        defer {
            one.remove()
            two.remove()
        }
        _ = try NodeIdentity.generate(nodeID: "A81001", directory: one.path)
        _ = try NodeIdentity.generate(nodeID: "A81002", directory: two.path)
        do {
            _ = try NodeIdentity.load(keyPath: one.path + "/key.pem", certificatePath: two.path + "/cert.pem")
            Issue.record("a mismatched key was accepted")
        } catch {
            #expect(error.code == .keyMismatch)
        }
    }

    @Test("the certificate names the node id as CN and SAN URI spsync:node/ID, is v3, self-signed, P-256")
    func certificateContents() throws {
        let identity = try NodeIdentity.makeInMemory(nodeID: "GB-CHC-1234567")
        let summary = try PeerCertificate(pem: Array(identity.certificatePEM.utf8))
        #expect(summary.nodeID == "GB-CHC-1234567")
        #expect(summary.commonName == "GB-CHC-1234567")
        #expect(summary.fingerprint == identity.fingerprint)
        #expect(X509_get_version(identity.certificate) == 2)
        // Self-signed: issuer is subject, and the certificate's own key verifies its signature.
        #expect(
            X509_NAME_cmp(X509_get_issuer_name(identity.certificate), X509_get_subject_name(identity.certificate)) == 0)
        #expect(X509_verify(identity.certificate, identity.privateKey) == 1)
        #expect(EVP_PKEY_get_bits(identity.privateKey) == 256)
        // Valid for about ten years.
        var days: Int32 = 0
        var seconds: Int32 = 0
        #expect(
            ASN1_TIME_diff(
                &days, &seconds, X509_get0_notBefore(identity.certificate),
                X509_get0_notAfter(identity.certificate)) == 1)
        #expect(days >= 3649 && days <= 3651)
    }

    @Test("serial numbers are random: two certificates for the same node differ")
    func randomSerials() throws {
        let one = try NodeIdentity.makeInMemory(nodeID: "A81001")
        let two = try NodeIdentity.makeInMemory(nodeID: "A81001")
        #expect(ASN1_INTEGER_cmp(X509_get0_serialNumber(one.certificate), X509_get0_serialNumber(two.certificate)) != 0)
        #expect(one.fingerprint != two.fingerprint)
    }

    @Test("the fingerprint is the SHA-256 of the certificate DER, as openssl computes it")
    func fingerprintMatchesDER() throws {
        let identity = try NodeIdentity.makeInMemory(nodeID: "U12345")
        var der: UnsafeMutablePointer<UInt8>?
        let length = i2d_X509(identity.certificate, &der)
        #expect(length > 0)
        defer { spsync_OPENSSL_free(der) }
        var digest = [UInt8](repeating: 0, count: 32)
        #expect(EVP_Digest(der, Int(length), &digest, nil, EVP_sha256(), nil) == 1)
        #expect(identity.fingerprint.bytes == digest)
        let text = identity.fingerprint.description
        #expect(text.hasPrefix("sha256:"))
        #expect(text.count == 7 + 64)
        #expect(text == text.lowercased())
    }

    @Test("node ids that cannot go into a certificate URI are refused")
    func invalidNodeIDs() {
        for bad in ["", "A 81001", "A81001/x", "A81001,URI:evil", String(repeating: "A", count: 65), "Ä81001"] {
            let refused: Bool
            do {
                _ = try NodeIdentity.makeInMemory(nodeID: bad)
                refused = bad.contains(",")  // a comma is harmless: the SAN is built as ASN.1, not parsed
            } catch {
                refused = error.code == .invalidNodeID
            }
            #expect(refused, "node id \(bad)")
        }
    }
}

@Suite("Fingerprint strings")
struct FingerprintTests {
    let hex = "9b8707aa00112233445566778899aabbccddeeff00112233445566778899f644"

    @Test("canonical form round-trips")
    func roundTrip() throws {
        let fingerprint = try CertificateFingerprint(parsing: "sha256:" + hex)
        #expect(fingerprint.description == "sha256:" + hex)
        #expect(fingerprint.bytes.count == 32)
    }

    @Test("uppercase, colon-separated and padded forms parse to the canonical one")
    func lenientForms() throws {
        let canonical = try CertificateFingerprint(parsing: "sha256:" + hex)
        #expect(try CertificateFingerprint(parsing: "SHA256:" + hex.uppercased()) == canonical)
        var pairs: [String] = []
        var index = hex.startIndex
        while index < hex.endIndex {
            let next = hex.index(index, offsetBy: 2)
            pairs.append(String(hex[index..<next]).uppercased())
            index = next
        }
        #expect(try CertificateFingerprint(parsing: "sha256:" + pairs.joined(separator: ":")) == canonical)
        #expect(try CertificateFingerprint(parsing: "  sha256:\(hex)\n") == canonical)
    }

    @Test(
        "malformed fingerprints are refused with a reason",
        arguments: [
            "", "sha1:" + String(repeating: "a", count: 40), "sha256:", "sha256:abc",
            "sha256:" + String(repeating: "g", count: 64), "sha256:" + String(repeating: "a", count: 66),
            "9b8707aa00112233445566778899aabbccddeeff00112233445566778899f644", "sha256:9b:87",
        ])
    func malformed(text: String) {
        #expect(throws: FingerprintFormatError.self) { try CertificateFingerprint(parsing: text) }
    }
}

@Suite("Pinned peer trust policy")
struct PinnedPeerTrustTests {
    let fingerprintA = CertificateFingerprint(digest: Array(repeating: 0xAA, count: 32))
    let fingerprintB = CertificateFingerprint(digest: Array(repeating: 0xBB, count: 32))

    @Test("a pinned fingerprint naming its peer is accepted as that peer")
    func pinnedAccepted() {
        let policy = PinnedPeerTrust(pinned: [fingerprintA: "A81001"])
        let decision = policy.evaluate(PeerCertificate(fingerprint: fingerprintA, nodeID: "A81001", commonName: nil))
        #expect(decision == .accept(peerID: "A81001"))
    }

    @Test("a pinned fingerprint whose certificate names another node is refused")
    func pinnedWrongNode() {
        let policy = PinnedPeerTrust(pinned: [fingerprintA: "A81001"])
        let decision = policy.evaluate(PeerCertificate(fingerprint: fingerprintA, nodeID: "A81002", commonName: nil))
        guard case .reject(let reason) = decision else {
            Issue.record("accepted")
            return
        }
        #expect(reason.contains("pinned to peer A81001"))
    }

    @Test(
        "an unknown fingerprint is refused naming the node it claims as its claim, with no `peer add` command built from it"
    )
    func unknown() {
        let policy = PinnedPeerTrust(pinned: [fingerprintA: "A81001"])
        let decision = policy.evaluate(PeerCertificate(fingerprint: fingerprintB, nodeID: "U12345", commonName: nil))
        guard case .reject(let reason) = decision else {
            Issue.record("accepted")
            return
        }
        #expect(reason.contains("unknown fingerprint \(fingerprintB)"))
        #expect(reason.contains("claims to be node \"U12345\""))
        #expect(reason.contains("not verified"))
        #expect(reason.contains("`spsync id`"))
        #expect(!reason.contains("peer add"), "\(reason)")
    }

    @Test("a certificate's node name and CN are escaped and bounded in the refusal: it stays one line")
    func hostileNames() {
        let policy = PinnedPeerTrust(pinned: [fingerprintA: "A81001"])
        let fake = "U12345\n2026-01-01T00:00:00.000Z info spsync.daemon peer authenticated peer=U12345"
        let decision = policy.evaluate(
            PeerCertificate(
                fingerprint: fingerprintB, nodeID: fake,
                commonName: "A81001\r\u{1B}[2K\"" + String(repeating: "x", count: 500)))
        guard case .reject(let reason) = decision else {
            Issue.record("accepted")
            return
        }
        #expect(!reason.contains("\n") && !reason.contains("\r") && !reason.contains("\u{1B}"), "\(reason)")
        #expect(reason.contains("claims to be node \"U12345\\n2026-01-01T00:00:00.000Z info spsync.daemon peer"))
        #expect(reason.contains("CN \"A81001\\r\\u{1B}[2K\\\"xxx"))
        #expect(!reason.contains(String(repeating: "x", count: 200)), "a long name is cut")
        #expect(!reason.contains("peer add"))
    }

    @Test("a blocked fingerprint is refused even when pinned")
    func blocked() {
        let policy = PinnedPeerTrust(pinned: [fingerprintA: "A81001"], blocked: [fingerprintA])
        let decision = policy.evaluate(PeerCertificate(fingerprint: fingerprintA, nodeID: "A81001", commonName: nil))
        #expect(decision != .accept(peerID: "A81001"))
    }

    @Test("CA mode accepts a CA-verified certificate only for a configured peer id")
    func caMode() {
        let policy = PinnedPeerTrust(pinned: [:], caPeerIDs: ["U12345"])
        let good = PeerCertificate(fingerprint: fingerprintB, nodeID: "U12345", commonName: nil, verifiedByCA: true)
        let unverified = PeerCertificate(fingerprint: fingerprintB, nodeID: "U12345", commonName: nil)
        let other = PeerCertificate(fingerprint: fingerprintB, nodeID: "U99999", commonName: nil, verifiedByCA: true)
        #expect(policy.evaluate(good) == .accept(peerID: "U12345"))
        #expect(policy.evaluate(unverified) != .accept(peerID: "U12345"))
        #expect(policy.evaluate(other) != .accept(peerID: "U99999"))
    }
}
