import Foundation
import Testing

/// Consent that holds with real daemons, every link `live` (issue 9): whatever the two sides of a
/// link do at once, a charity never keeps contact details after consent is withdrawn, and each
/// pair of daemons runs one session at a time.
@Suite("end to end: consent that holds", .serialized)
struct ConsentTests {
    func daemonLog(_ node: TestNode) -> String {
        (try? String(contentsOfFile: node.home + "/daemon.log", encoding: .utf8)) ?? ""
    }

    @Test(
        "every link live, consent withdrawn right after addressing, 16 referrals over two starts of every daemon: the charity keeps no contact details, no session races another"
    )
    func withdrawalsRightAfterAddressing() throws {
        let net = try TestNetwork(allLive: true)
        defer { net.stopAll() }
        let service = try net.charity.ok([
            "service", "add", "--name", "Befriending", "--category", "befriending", "--maximum", "30", "--available",
            "30",
        ])
        var referrals: [(id: String, name: String, phone: String)] = []
        for start in 0..<2 {
            for node in [net.charity, net.hub, net.practice] { try node.start() }
            try waitUntil("the practice holds the charity's service", seconds: 30) {
                try net.practice.storeCount("services") == 1
            }
            for n in 0..<8 {
                let name = "Hollyhock\(start)\(n)q"
                let phone = "077009\(start)0\(n)55"
                let referral = try net.practice.ok([
                    "referral", "create", "--to", "U12345", "--need", "loneliness", "--name", name, "--phone", phone,
                    "--consent", "explicit",
                ])
                _ = try net.practice.ok(["referral", "update", referral, "--service", service])
                if n % 2 == 1 { usleep(150_000) }  // some withdrawals land while the contact is on its way
                _ = try net.practice.ok(["referral", "update", referral, "--consent", "withdrawn"])
                referrals.append((referral, name, phone))
            }
            try waitUntil("the charity holds every withdrawal", seconds: 60) {
                try referrals.allSatisfy { r in
                    try net.charity.run(["referral", "show", r.id, "--json"]).out.contains("withdrawnAt")
                }
            }
            if start == 0 { net.stopAll() }
        }
        for r in referrals {
            let shown = try net.charity.ok(["referral", "show", r.id, "--json"])
            #expect(!shown.contains(r.name) && !shown.contains(r.phone), "the charity keeps contact of \(r.id)")
        }
        // The hub may keep them: consent concerns the service's owner, not the PCN.
        #expect(try net.hub.ok(["referral", "show", referrals[0].id]).contains(referrals[0].phone))
        for node in [net.practice, net.hub, net.charity] {
            #expect(
                !daemonLog(node).contains("checkpoint_mismatch"), "\(node.id): two sessions raced:\n\(daemonLog(node))")
        }
    }
}
