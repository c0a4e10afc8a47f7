import Foundation
import SpsyncTestSupport
import Testing

/// Runs `openssl s_client` against a node's listener, with stdin closed, and returns its output.
func sClient(_ port: Int, _ extra: [String]) throws -> CommandResult {
    try runCommand(
        executable: "/usr/bin/openssl", arguments: ["s_client", "-connect", "127.0.0.1:\(port)"] + extra,
        standardInput: FileHandle.nullDevice)
}

@Suite("end to end: the system's openssl s_client against a daemon", .serialized)
struct HostileClientTests {
    @Test(
        "s_client without a certificate, with a stranger's certificate, or limited to TLS 1.2 is refused and logged; the daemon keeps serving peers"
    )
    func refusals() throws {
        let net = try TestNetwork()
        defer { net.stopAll() }
        try net.hub.start()
        let stranger = TestNode(id: "B82002", home: net.root + "/stranger", port: 0)
        _ = try stranger.ok(["init", "--org", "B82002", "--name", "Stranger", "--pcn", "U12345"])

        let none = try sClient(net.hub.port, ["-quiet"])
        #expect(none.err.contains("certificate required"), "\(none.err)")
        let old = try sClient(net.hub.port, ["-tls1_2"])
        #expect(old.err.contains("protocol version"), "\(old.err)")
        let strange = try sClient(
            net.hub.port, ["-cert", stranger.home + "/cert.pem", "-key", stranger.home + "/key.pem", "-quiet"])
        #expect(strange.err.contains("bad certificate"), "\(strange.err)")

        try waitUntil("the hub logged three refusals", seconds: 10) {
            let log = (try? String(contentsOfFile: net.hub.home + "/daemon.log", encoding: .utf8)) ?? ""
            return log.contains("code=no_peer_certificate") && log.contains("code=protocol_version")
                && log.contains("unknown fingerprint")
        }
        let log = try String(contentsOfFile: net.hub.home + "/daemon.log", encoding: .utf8)
        #expect(log.contains(try stranger.fingerprint), "the refusal names the fingerprint offered")
        // The listener still serves its real peers.
        _ = try net.practice.ok(["referral", "create", "--to", "U12345", "--need", "debt"])
        _ = try net.practice.ok(["sync"])
        #expect(try net.hub.storeCount("referrals") == 1)
    }
}
