import Foundation
import SpsyncTestSupport
import SyncNode
import Testing

/// Progress on long syncs (issue 11 item 6): `spsync sync` on a terminal shows received of the
/// total the hub announced, the rate and the time left.
@Suite("operators: progress on long syncs", .serialized)
struct ProgressTests {
    @Test("`spsync sync` on a terminal shows a progress line on stderr, with the total the peer announced")
    func terminal() throws {
        let net = try TestNetwork()
        defer { net.stopAll() }
        try net.hub.fillReferrals(4000)  // 16,000 field writes for the practice to receive
        try net.hub.start()
        // `script` gives the command a terminal, as an operator's shell would.
        let command = "\(SpsyncBinary.path) sync --home \(net.practice.home)"
        let r = try runCommand(executable: "/usr/bin/script", arguments: ["-qefc", command, "/dev/null"])
        #expect(r.status == 0, "\(r.out) \(r.err)")
        let lines = r.out.components(separatedBy: "\r").map { $0.replacingOccurrences(of: "\u{1B}[K", with: "") }
        let progress = lines.filter { $0.hasPrefix("U12345: ") && $0.contains(" field writes, ") && $0.contains("/s") }
        #expect(!progress.isEmpty, "no progress line in \(r.out.prefix(2000))")
        #expect(progress.contains { $0.contains(" of at most 16,") && $0.contains(" left") }, "\(progress)")
        #expect(r.out.contains("U12345: ok, received 160"), "\(r.out.suffix(300))")
        // Without a terminal (cron, a pipe) there is no progress line.
        let piped = try net.practice.run(["sync"])
        #expect(!piped.err.contains("field writes, ") && !piped.out.contains("\r"), "\(piped.err)")
    }
}
