import SyncTransport
import Testing

@Suite("certificate rotation signatures")
struct CertificateRotationTests {
    @Test("a signature by the current key verifies against its certificate, and fails for other data or another key")
    func signVerify() throws {
        let current = try NodeIdentity.makeInMemory(nodeID: "A81001")
        let next = try NodeIdentity.makeInMemory(nodeID: "A81001")
        let stranger = try NodeIdentity.makeInMemory(nodeID: "A81001")
        let data = Array("spsync-rotate-v1".utf8) + [0] + next.certificateDER
        let signature = try CertificateRotation.sign(data, with: current)
        #expect(CertificateRotation.verify(signature, over: data, signer: current.certificateDER))
        #expect(!CertificateRotation.verify(signature, over: data + [1], signer: current.certificateDER))
        #expect(!CertificateRotation.verify(signature, over: data, signer: stranger.certificateDER))
        var tampered = signature
        tampered[tampered.count / 2] ^= 0x01
        #expect(!CertificateRotation.verify(tampered, over: data, signer: current.certificateDER))
        #expect(!CertificateRotation.verify(signature, over: data, signer: [0x30, 0x00]))
    }

    @Test("a DER certificate parses to the same fingerprint and node id as its identity")
    func derRoundTrip() throws {
        let identity = try NodeIdentity.makeInMemory(nodeID: "GB-CHC-1234567")
        let parsed = try PeerCertificate(der: identity.certificateDER)
        #expect(parsed.fingerprint == identity.fingerprint)
        #expect(parsed.nodeID == "GB-CHC-1234567")
        #expect(parsed.der == identity.certificateDER)
        #expect(throws: IdentityError.self) { try PeerCertificate(der: [0x30, 0x03, 0x02, 0x01, 0x07]) }
    }
}
