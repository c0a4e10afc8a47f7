import Foundation
import SpsyncTestSupport
import Testing

/// `spsync held` and `spsync audit` (issue 11 item 3), with real daemons and a hub whose clock runs ahead.
@Suite("operators: held writes and the audit log")
struct OperatorListsTests {
    @Test(
        "writes parked for a peer's fast clock are listed by `held` with why and what to do, and by `audit --action parked`, without values; they leave `held` once applied"
    )
    func heldAndAudit() throws {
        let net = try TestNetwork()
        defer { net.stopAll() }
        net.hub.environment["SPSYNC_CLOCK_OFFSET_SECONDS"] = "3600"
        _ = try net.hub.ok([
            "referral", "create", "--to", "U12345", "--practice", "A81001", "--need", "housing", "--phone",
            "07700 900123", "--consent", "explicit",
        ])
        try net.hub.start()
        _ = try net.practice.ok(["sync"])
        let now = Date().timeIntervalSince1970 * 1000

        let held = try net.practice.json(["held"]) as? [[String: Any]] ?? []
        #expect(!held.isEmpty)
        for h in held {
            #expect(h["kind"] as? String == "parked")
            #expect(h["origin"] as? String == "U12345" && h["receivedFrom"] as? String == "U12345")
            #expect(h["field"] as? String != nil)
            #expect((h["appliesFrom"] as? Double ?? 0) > now + 50 * 60_000)
            #expect((h["whatToDo"] as? String)?.contains("U12345's clock runs fast") == true)
            #expect(h["value"] == nil)
        }
        let text = try net.practice.ok(["held"])
        #expect(text.contains("parked  U12345 seq ") && text.contains("  why: stamped ") && text.contains("  do:  "))
        #expect(!text.contains("900123"), "a held value was printed: \(text)")

        let parked = try net.practice.json(["audit", "--action", "parked"]) as? [[String: Any]] ?? []
        #expect(parked.count == held.count)
        #expect(parked.allSatisfy { $0["origin"] as? String == "U12345" && $0["actor"] as? String == "U12345" })
        let everything = try net.practice.ok(["audit", "--since", "1h"])
        #expect(everything.contains("parked") && !everything.contains("900123"))
        #expect(try net.practice.ok(["audit", "--since", "2099-01-01"]) == "no audit entries match")

        for (args, words) in [
            (["audit", "--action", "bogus"], "unknown action 'bogus'"),
            (["audit", "--since", "yesterday"], "is not a time"),
        ] {
            let r = try net.practice.run(args)
            #expect(r.status == 64, "\(args): \(r.err)")
            #expect(r.err.hasPrefix("spsync: ") && r.err.contains(words), "\(args): \(r.err)")
            #expect(r.err.split(separator: "\n").count == 1, "\(args): \(r.err)")
        }

        // An hour later at the practice: the writes apply and leave `held`; the audit log keeps them.
        net.practice.environment["SPSYNC_CLOCK_OFFSET_SECONDS"] = "3600"
        _ = try net.practice.ok(["sync"])
        #expect(try net.practice.ok(["held"]) == "no writes are parked or quarantined")
        #expect((try net.practice.json(["audit", "--action", "parked"]) as? [Any])?.count == held.count)
    }
}
