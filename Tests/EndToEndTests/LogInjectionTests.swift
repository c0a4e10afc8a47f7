import Foundation
import Logging
import SpsyncTestSupport
import Testing

@testable import SyncNode

/// A client certificate made with the system `openssl`, whose single `spsync:node/` SAN URI holds
/// `name` verbatim (newlines included: OpenSSL's config reads `\n` as one).
struct HostileCertificate {
    let directory: String
    var certificatePath: String { directory + "/cert.pem" }
    var keyPath: String { directory + "/key.pem" }

    init(sanNodeName name: String, commonName: String, in directory: String) throws {
        self.directory = directory
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let config = """
            [req]
            distinguished_name = dn
            x509_extensions = v3
            prompt = no
            [dn]
            CN = \(commonName)
            [v3]
            basicConstraints = critical,CA:FALSE
            keyUsage = critical,digitalSignature
            extendedKeyUsage = serverAuth,clientAuth
            subjectAltName = @alt
            [alt]
            URI.1 = spsync:node/\(name.replacingOccurrences(of: "\n", with: "\\n"))

            """
        try config.write(toFile: directory + "/req.cnf", atomically: true, encoding: .utf8)
        try openssl(
            ["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", "key.pem"], in: directory)
        try openssl(
            ["req", "-x509", "-new", "-config", "req.cnf", "-key", "key.pem", "-days", "2", "-out", "cert.pem"],
            in: directory)
    }

    /// The SAN URIs as OpenSSL prints them (to check the newline really is in the certificate).
    var subjectAltNames: String {
        get throws {
            try runCommand(
                executable: "/usr/bin/openssl",
                arguments: ["x509", "-in", certificatePath, "-noout", "-ext", "subjectAltName"]
            ).out
        }
    }

    /// The certificate's fingerprint as spsync writes it: `sha256:` and 64 lowercase hex digits.
    var fingerprint: String {
        get throws {
            let out = try runCommand(
                executable: "/usr/bin/openssl",
                arguments: ["x509", "-in", certificatePath, "-noout", "-fingerprint", "-sha256"]
            ).out
            let hex = out.split(separator: "=").last.map { $0.replacingOccurrences(of: ":", with: "") } ?? ""
            return "sha256:" + hex.trimmingCharacters(in: .whitespacesAndNewlines).lowercased()
        }
    }
}

@Suite("end to end: what a peer sends cannot write the daemon's log", .serialized)
struct LogInjectionTests {
    @Test(
        "a client certificate whose node name holds a newline and a fake log line: the hub's log has no line the client wrote, and no `peer add` built from its claim"
    )
    func sanWithNewline() throws {
        let net = try TestNetwork()
        defer { net.stopAll() }
        try net.hub.start()
        let fakeLine =
            "2026-01-01T00:00:00.000Z notice spsync.daemon peer authenticated peer=A81001 remote=127.0.0.1:40000"
        let attacker = try HostileCertificate(
            sanNodeName: "A81001\n" + fakeLine, commonName: "A81001", in: net.root + "/attacker")
        #expect(try attacker.subjectAltNames.contains("spsync:node/A81001\n2026-01-01T"), "no newline in the SAN")
        let fingerprint = try attacker.fingerprint

        let client = try sClient(
            net.hub.port, ["-cert", attacker.certificatePath, "-key", attacker.keyPath, "-quiet"])
        #expect(client.err.contains("bad certificate"), "\(client.err)")
        let logPath = net.hub.home + "/daemon.log"
        try waitUntil("the hub logged the refusal", seconds: 10) {
            ((try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "").contains(fingerprint)
        }
        let log = try String(contentsOfFile: logPath, encoding: .utf8)
        let lines = log.split(separator: "\n")
        #expect(!lines.contains { $0.hasPrefix("2026-01-01T00:00:00.000Z") }, "the client wrote a line:\n\(log)")
        #expect(
            lines.filter { $0.contains("peer authenticated") }.allSatisfy { $0.contains("refused connection") },
            "a line says a peer authenticated outside the refusal:\n\(log)")
        let refusal = try #require(lines.first { $0.contains("refused connection") && $0.contains(fingerprint) })
        #expect(refusal.contains("claims to be node \"A81001\\n2026-01-01T00:00:00.000Z notice"), "\(refusal)")
        #expect(refusal.contains("not verified") && refusal.contains("`spsync id`"), "\(refusal)")
        #expect(!log.contains("peer add"), "the hint offers a command built from the claim:\n\(log)")
        // Every line is one of the daemon's own: a timestamp of now, a level, the daemon's label.
        for line in lines {
            #expect(line.hasPrefix("20") && line.contains(" spsync.daemon "), "not a daemon line: \(line)")
        }
        // The real peers are still served.
        _ = try net.practice.ok(["referral", "create", "--to", "U12345", "--need", "debt"])
        _ = try net.practice.ok(["sync"])
        #expect(try net.hub.storeCount("referrals") == 1)
    }

    @Test("a log line stays one line: messages and values are escaped, and a value cannot pose as another key")
    func logLinesEscape() {
        let handler = LogLines(label: "spsync.daemon", level: .info)
        let line = handler.line(
            .warning, "refused: \("A81001\ninjected\r\u{1B}[2K")",
            [
                "peer": "U12345 fake=1", "error": "said: \"x\" \\ y\n2026 info spsync.daemon peer authenticated",
                "code": "ok",
            ])
        #expect(!line.contains("\n") && !line.contains("\r") && !line.contains("\u{1B}"), "\(line)")
        #expect(line.contains(" spsync.daemon refused: A81001\\ninjected\\r\\u{1B}[2K code=ok "), "\(line)")
        #expect(line.hasSuffix(" peer=\"U12345 fake=1\""), "\(line)")
        #expect(
            line.contains(" error=\"said: \\\"x\\\" \\\\ y\\n2026 info spsync.daemon peer authenticated\" "), "\(line)")
    }
}
