import Foundation
import Testing

/// One connection per pair of peers with real daemons (issue 14): when both sides of a link are
/// `live` each dials the other; the tie-break keeps one connection, and one session owns the pair's
/// checkpoints, so a minute of writes on both sides brings no `checkpoint_mismatch` and every write
/// reaches the other side.
@Suite("end to end: one connection per pair", .serialized)
struct LivePairTests {
    func daemonLog(_ node: TestNode) -> String {
        (try? String(contentsOfFile: node.home + "/daemon.log", encoding: .utf8)) ?? ""
    }

    @Test(
        "hub and charity, both live to each other, writing on both sides for a minute: every write on both sides, no session raced or failed"
    )
    func bothLiveForAMinute() throws {
        let net = try TestNetwork(allLive: true)
        defer { net.stopAll() }
        let service = try net.charity.ok([
            "service", "add", "--name", "Befriending", "--category", "befriending", "--maximum", "500", "--available",
            "500",
        ])
        // The practice too: the hub's live link to it would otherwise fail, and say so in its log.
        for node in [net.practice, net.hub, net.charity] { try node.start() }
        try waitUntil("the hub holds the charity's service", seconds: 30) { try net.hub.storeCount("services") == 1 }
        var referrals: [String] = []
        var available = 500
        let end = Date().addingTimeInterval(60)
        while Date() < end {
            // The hub refers to the charity's service; the charity changes its free places.
            referrals.append(
                try net.hub.ok([
                    "referral", "create", "--practice", "A81001", "--need", "loneliness", "--service", service,
                    "--note",
                    "Pair \(referrals.count)",
                ]))
            available -= 1
            _ = try net.charity.ok(["service", "set-capacity", service, "--available", "\(available)"])
        }
        #expect(referrals.count > 20, "only \(referrals.count) rounds of writes in a minute")
        try waitUntil("the charity holds every referral", seconds: 60) {
            let held = try net.charity.json(["referral", "list"]) as? [[String: Any]]
            return Set((held ?? []).compactMap { $0["id"] as? String }).isSuperset(of: referrals)
        }
        try waitUntil("the hub holds the last capacity", seconds: 60) {
            let services = try net.hub.json(["service", "list"]) as? [[String: Any]]
            return (services?.first?["capacity"] as? [String: Any])?["available"] as? Int == available
        }
        for node in [net.practice, net.hub, net.charity] {
            let log = daemonLog(node)
            #expect(!log.contains("checkpoint_mismatch"), "\(node.id): two sessions raced:\n\(log)")
            // Dials before the other daemons listened fail as unreachable; nothing else may.
            let failed = log.split(separator: "\n").filter {
                $0.contains("session failed") && !$0.contains("code=unreachable")
            }
            #expect(failed.isEmpty, "\(node.id): a session failed:\n\(log)")
        }
    }
}
