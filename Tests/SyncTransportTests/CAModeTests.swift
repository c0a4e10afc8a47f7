import Foundation
import SpsyncTestSupport
import Testing

@testable import SyncTransport

extension OperatorCA {
    /// Issues a certificate for `nodeID` and loads it the way the daemon does (`NodeIdentity.load`).
    func identity(nodeID: String, under base: String) throws -> NodeIdentity {
        let nodeDirectory = base + "/node-\(nodeID)-\(UUID().uuidString)"
        try issue(nodeID: nodeID, into: nodeDirectory)
        return try NodeIdentity.load(directory: nodeDirectory)
    }
}

@Suite("CA mode: certificates from a network CA made with the openssl command line", .timeLimit(.minutes(3)))
struct CAModeTests {
    /// The hub listening in CA mode: `identity` and `trust` as given, `ca_file` = `caFile`.
    static func hubConfiguration(
        identity: NodeIdentity, trust: PinnedPeerTrust, caFile: String?
    ) -> TransportConfiguration {
        TransportConfiguration(
            tls: TLSConfiguration(
                identity: identity, trust: trust, caFilePath: caFile, handshakeTimeoutSeconds: 20,
                idleTimeoutSeconds: 30))
    }

    /// A node dialing the hub: `identity`, trusting `trust`, in CA mode if `caFile` is given.
    static func dialerConfiguration(
        identity: NodeIdentity, trust: PinnedPeerTrust, caFile: String? = nil
    ) -> TransportConfiguration {
        TransportConfiguration(
            tls: TLSConfiguration(
                identity: identity, trust: trust, caFilePath: caFile, handshakeTimeoutSeconds: 20,
                idleTimeoutSeconds: 30))
    }

    /// What `NodeRuntime.trust` builds in CA mode: the peers' pins, and every peer id as a CA peer.
    static func caTrust(
        peers: [String], pinned: [NodeIdentity] = [], blocked: Set<CertificateFingerprint> = []
    ) -> PinnedPeerTrust {
        PinnedPeerTrust(
            pinned: Dictionary(uniqueKeysWithValues: pinned.map { ($0.fingerprint, $0.nodeID) }),
            caPeerIDs: Set(peers), blocked: blocked)
    }

    @Test("NodeIdentity loads a CA-issued key and certificate made with the openssl command line")
    func loadsOperatorCertificate() throws {
        let base = try TemporaryDirectory()
        defer { base.remove() }
        let ca = try OperatorCA.make(in: base.path + "/ca")
        let nodeDirectory = base.path + "/practice"
        try ca.issue(nodeID: "A81001", into: nodeDirectory)
        // openssl genpkey creates the key owner-only, so the daemon's 0600 rule holds without a chmod.
        let mode = try FileManager.default.attributesOfItem(atPath: nodeDirectory + "/key.pem")[.posixPermissions]
        #expect(mode as? Int == 0o600)
        let identity = try NodeIdentity.load(directory: nodeDirectory)
        #expect(identity.nodeID == "A81001")
        let summary = try PeerCertificate(pem: Array(identity.certificatePEM.utf8))
        #expect(summary.nodeID == "A81001")
        #expect(summary.commonName == "A81001")
        #expect(summary.fingerprint == identity.fingerprint)
        // The certificate the node presents is the CA-issued one, not a self-signed stand-in.
        let onDisk = try String(contentsOfFile: nodeDirectory + "/cert.pem", encoding: .utf8)
        #expect(try PeerCertificate(pem: Array(onDisk.utf8)).fingerprint == identity.fingerprint)
    }

    @Test("a CA-signed peer naming a configured peer id is accepted without a pin, both ways, over loopback TLS")
    func caSignedConfiguredPeer() async throws {
        let base = try TemporaryDirectory()
        defer { base.remove() }
        let ca = try OperatorCA.make(in: base.path + "/ca")
        let hub = try ca.identity(nodeID: "U12345", under: base.path)
        let practice = try ca.identity(nodeID: "A81001", under: base.path)
        // Neither side pins the other's fingerprint: only the CA vouches.
        let server = Self.hubConfiguration(
            identity: hub, trust: Self.caTrust(peers: ["A81001"]), caFile: ca.certificatePath)
        try await EchoServer.with(server) { server in
            let dialer = Self.dialerConfiguration(
                identity: practice, trust: Self.caTrust(peers: ["U12345"]), caFile: ca.certificatePath)
            let seenByDialer = try await server.exchange(configuration: dialer, expectedPeerID: "U12345")
            #expect(seenByDialer.peerID == "U12345")
            #expect(seenByDialer.fingerprint == hub.fingerprint)
            #expect(seenByDialer.certificate.verifiedByCA)
            let seenByListener = try await server.nextPeer()
            #expect(seenByListener.peerID == "A81001")
            #expect(seenByListener.fingerprint == practice.fingerprint)
            #expect(seenByListener.certificate.verifiedByCA)
            #expect(seenByListener.tlsVersion == "TLSv1.3")
        }
    }

    @Test("a CA-signed certificate naming a node that is not a configured peer is refused")
    func caSignedUnknownNode() async throws {
        let base = try TemporaryDirectory()
        defer { base.remove() }
        let ca = try OperatorCA.make(in: base.path + "/ca")
        let hub = try ca.identity(nodeID: "U12345", under: base.path)
        let outsider = try ca.identity(nodeID: "A81002", under: base.path)
        let practice = try ca.identity(nodeID: "A81001", under: base.path)
        let server = Self.hubConfiguration(
            identity: hub, trust: Self.caTrust(peers: ["A81001"]), caFile: ca.certificatePath)
        try await EchoServer.with(server) { server in
            let dialer = Self.dialerConfiguration(
                identity: outsider, trust: Self.caTrust(peers: ["U12345"]), caFile: ca.certificatePath)
            let clientError = await server.refusedDial(configuration: dialer)
            #expect(clientError != nil, "a CA-signed certificate of an unconfigured node was served")
            let refusal = try await server.nextRefusal()
            #expect(refusal.error.code == .untrustedPeer, "\(refusal)")
            #expect(refusal.error.offeredFingerprint == outsider.fingerprint)
            #expect(refusal.error.message.contains("node \"A81002\""), "\(refusal)")
            // The listener keeps serving the configured peer.
            let good = Self.dialerConfiguration(
                identity: practice, trust: Self.caTrust(peers: ["U12345"]), caFile: ca.certificatePath)
            _ = try await server.exchange(configuration: good, expectedPeerID: "U12345")
            #expect(try await server.nextPeer().peerID == "A81001")
        }
    }

    @Test("a certificate for a configured peer signed by another CA (same CA name) is refused")
    func otherCA() async throws {
        let base = try TemporaryDirectory()
        defer { base.remove() }
        let ca = try OperatorCA.make(in: base.path + "/ca")
        let rogue = try OperatorCA.make(in: base.path + "/rogue")  // same subject name, another key
        let hub = try ca.identity(nodeID: "U12345", under: base.path)
        let impostor = try rogue.identity(nodeID: "A81001", under: base.path)
        let server = Self.hubConfiguration(
            identity: hub, trust: Self.caTrust(peers: ["A81001"]), caFile: ca.certificatePath)
        try await EchoServer.with(server) { server in
            // The impostor trusts the real CA for the hub, so only the hub's judgement refuses it.
            let dialer = Self.dialerConfiguration(
                identity: impostor, trust: Self.caTrust(peers: ["U12345"]), caFile: ca.certificatePath)
            let clientError = await server.refusedDial(configuration: dialer)
            #expect(clientError != nil, "a certificate from another CA was served")
            let refusal = try await server.nextRefusal()
            #expect(refusal.error.code == .untrustedPeer, "\(refusal)")
            #expect(refusal.error.offeredFingerprint == impostor.fingerprint)
            #expect(refusal.error.message.contains("node \"A81001\""), "\(refusal)")
            #expect(refusal.error.message.contains("network CA"), "says why CA mode did not vouch: \(refusal)")
        }
    }

    @Test("a dialer in CA mode refuses a server whose certificate another CA signed")
    func dialerRefusesOtherCA() async throws {
        let base = try TemporaryDirectory()
        defer { base.remove() }
        let ca = try OperatorCA.make(in: base.path + "/ca")
        let rogue = try OperatorCA.make(in: base.path + "/rogue")
        let fakeHub = try rogue.identity(nodeID: "U12345", under: base.path)
        let practice = try ca.identity(nodeID: "A81001", under: base.path)
        // The fake hub would serve the practice (it trusts the real CA); the practice must not trust it.
        let server = Self.hubConfiguration(
            identity: fakeHub, trust: Self.caTrust(peers: ["A81001"]), caFile: ca.certificatePath)
        try await EchoServer.with(server) { server in
            let dialer = Self.dialerConfiguration(
                identity: practice, trust: Self.caTrust(peers: ["U12345"]), caFile: ca.certificatePath)
            do {
                _ = try await server.exchange(configuration: dialer, expectedPeerID: "U12345")
                Issue.record("the dialer accepted a hub certificate from another CA")
            } catch {
                #expect(error.transportCode == .untrustedPeer, "\(error)")
                #expect((error as? TransportError)?.offeredFingerprint == fakeHub.fingerprint)
            }
        }
    }

    @Test("in CA mode a pinned self-signed peer is still accepted; an unpinned self-signed one naming a CA peer is not")
    func selfSignedInCAMode() async throws {
        let base = try TemporaryDirectory()
        defer { base.remove() }
        let ca = try OperatorCA.make(in: base.path + "/ca")
        let hub = try ca.identity(nodeID: "U12345", under: base.path)
        let charity = TestIdentities.charity  // self-signed by `spsync init`, pinned
        let forged = try NodeIdentity.makeInMemory(nodeID: "A81001")  // self-signed, names a CA peer, not pinned
        let trust = Self.caTrust(peers: ["A81001", "GB-CHC-1234567"], pinned: [charity])
        let server = Self.hubConfiguration(identity: hub, trust: trust, caFile: ca.certificatePath)
        try await EchoServer.with(server) { server in
            // The charity pins the hub's CA-issued certificate (no CA mode on its side).
            let pinnedDialer = Self.dialerConfiguration(
                identity: charity, trust: Self.caTrust(peers: [], pinned: [hub]))
            let seen = try await server.exchange(configuration: pinnedDialer, expectedPeerID: "U12345")
            #expect(seen.peerID == "U12345")
            #expect(!seen.certificate.verifiedByCA)  // no CA mode on the charity: it was the pin
            let charityAtHub = try await server.nextPeer()
            #expect(charityAtHub.peerID == "GB-CHC-1234567")
            #expect(charityAtHub.fingerprint == charity.fingerprint)
            #expect(!charityAtHub.certificate.verifiedByCA)

            let forgedDialer = Self.dialerConfiguration(
                identity: forged, trust: Self.caTrust(peers: [], pinned: [hub]))
            #expect(await server.refusedDial(configuration: forgedDialer) != nil)
            let refusal = try await server.nextRefusal()
            #expect(refusal.error.code == .untrustedPeer, "\(refusal)")
            #expect(refusal.error.offeredFingerprint == forged.fingerprint)
        }
    }

    @Test("a blocked fingerprint is refused even though the CA signed it for a configured peer")
    func blockedBeatsCA() async throws {
        let base = try TemporaryDirectory()
        defer { base.remove() }
        let ca = try OperatorCA.make(in: base.path + "/ca")
        let hub = try ca.identity(nodeID: "U12345", under: base.path)
        let lostLaptop = try ca.identity(nodeID: "A81001", under: base.path)
        let trust = Self.caTrust(peers: ["A81001"], blocked: [lostLaptop.fingerprint])
        let server = Self.hubConfiguration(identity: hub, trust: trust, caFile: ca.certificatePath)
        try await EchoServer.with(server) { server in
            let dialer = Self.dialerConfiguration(
                identity: lostLaptop, trust: Self.caTrust(peers: ["U12345"]), caFile: ca.certificatePath)
            #expect(await server.refusedDial(configuration: dialer) != nil)
            let refusal = try await server.nextRefusal()
            #expect(refusal.error.code == .untrustedPeer, "\(refusal)")
            #expect(refusal.error.message.contains("is blocked"), "\(refusal)")
        }
    }

    @Test("without ca_file, a CA-signed certificate of a CA-mode peer id is not accepted")
    func caPeersNeedCAFile() async throws {
        let base = try TemporaryDirectory()
        defer { base.remove() }
        let ca = try OperatorCA.make(in: base.path + "/ca")
        let hub = try ca.identity(nodeID: "U12345", under: base.path)
        let practice = try ca.identity(nodeID: "A81001", under: base.path)
        // caPeerIDs set but no CA file: nothing verified the chain, so nothing may vouch for it.
        let server = Self.hubConfiguration(identity: hub, trust: Self.caTrust(peers: ["A81001"]), caFile: nil)
        try await EchoServer.with(server) { server in
            let dialer = Self.dialerConfiguration(
                identity: practice, trust: Self.caTrust(peers: ["U12345"]), caFile: ca.certificatePath)
            #expect(await server.refusedDial(configuration: dialer) != nil)
            let refusal = try await server.nextRefusal()
            #expect(refusal.error.code == .untrustedPeer, "\(refusal)")
            #expect(refusal.error.offeredFingerprint == practice.fingerprint)
        }
    }

    @Test("a CA-signed certificate without clientAuth is refused by the listener")
    func withoutClientAuth() async throws {
        let base = try TemporaryDirectory()
        defer { base.remove() }
        let ca = try OperatorCA.make(in: base.path + "/ca")
        let hub = try ca.identity(nodeID: "U12345", under: base.path)
        let nodeDirectory = base.path + "/server-only"
        try ca.issue(nodeID: "A81001", into: nodeDirectory, extendedKeyUsage: "serverAuth")
        let serverOnly = try NodeIdentity.load(directory: nodeDirectory)
        let server = Self.hubConfiguration(
            identity: hub, trust: Self.caTrust(peers: ["A81001"]), caFile: ca.certificatePath)
        try await EchoServer.with(server) { server in
            let dialer = Self.dialerConfiguration(
                identity: serverOnly, trust: Self.caTrust(peers: ["U12345"]), caFile: ca.certificatePath)
            #expect(await server.refusedDial(configuration: dialer) != nil)
            let refusal = try await server.nextRefusal()
            #expect(refusal.error.code == .untrustedPeer, "\(refusal)")
            #expect(refusal.error.message.contains("network CA"), "\(refusal)")
        }
    }

    @Test("a missing ca_file is a configuration error naming the file")
    func missingCAFile() throws {
        let configuration = TLSConfiguration(
            identity: TestIdentities.hub, trust: pinning(TestIdentities.practice),
            caFilePath: "/nonexistent/spsync-network-ca.pem")
        do {
            _ = try TLSContext(configuration: configuration)
            Issue.record("a missing CA file was accepted")
        } catch {
            #expect(error.code == .configuration)
            #expect(error.message.contains("/nonexistent/spsync-network-ca.pem"))
        }
    }
}
