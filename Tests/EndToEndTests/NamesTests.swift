import Foundation
import Testing

/// Issue 12 as its users would run it: names and short references instead of ids, services found
/// by need with their free places, through real daemons.
@Suite("names instead of ids, end to end", .serialized)
struct NamesTests {
    @Test(
        "a charity sets free places by name; a link worker finds services for a need, addresses a referral by name and short reference; the charity accepts and takes a place; all of it reaches the other nodes"
    )
    func byName() throws {
        let net = try TestNetwork()
        defer { net.stopAll() }
        _ = try net.charity.ok([
            "service", "add", "--name", "Walk and Talk", "--category", "physical_activity", "--maximum", "10",
            "--available", "0", "--area", "LS1, ls2", "--description", "A gentle walk and a chat, Tuesdays",
        ])
        _ = try net.charity.ok([
            "service", "add", "--name", "Tea and Chat", "--category", "befriending", "--maximum", "5", "--available",
            "2",
        ])
        // The coordinator sets free places by the service's name.
        let set = try net.charity.ok(["service", "set-capacity", "Walk and Talk", "--available", "4"])
        #expect(set.contains("4 of 10 places available"), "\(set)")
        let shown = try net.charity.ok(["service", "show", "walk and talk"])
        for part in ["Walk and Talk", "4 of 10 places free", "LS1, LS2", "A gentle walk and a chat, Tuesdays"] {
            #expect(shown.contains(part), "service show lacks \(part): \(shown)")
        }
        // A practice refers to its hub without naming it.
        let referral = try net.practice.ok([
            "referral", "create", "--need", "loneliness", "--name", "Pat", "--phone", "07700900123", "--consent",
            "explicit",
        ])
        try net.hub.start()
        try net.charity.start()
        _ = try net.practice.ok(["sync"])
        try waitUntil("the hub sees both services", seconds: 30) { try net.hub.storeCount("services") == 2 }
        // The link worker looks for services for the person's need, with their free places.
        let forNeed = try net.hub.json(["service", "list", "--need", "loneliness", "--available"]) as? [[String: Any]]
        #expect(forNeed?.map { $0["name"] as? String } == ["Tea and Chat"])
        #expect((forNeed?.first?["capacity"] as? [String: Any])?["available"] as? Int == 2)
        let table = try net.hub.ok(["service", "list", "--need", "mobility"])
        #expect(table.contains("Walk and Talk") && table.contains("4/10"), "\(table)")
        // It picks the referral by the short reference the list shows, and the service by name.
        let lines = try net.hub.json(["referral", "list", "--need", "loneliness"]) as? [[String: Any]]
        let reference = try #require(lines?.first?["reference"] as? String)
        #expect(referral.hasSuffix(reference))
        #expect(lines?.first?["person"] as? String == "Pat")
        let listed = try net.hub.ok(["referral", "list"])
        #expect(listed.split(separator: "\n").allSatisfy { $0.count <= 100 }, "wider than 100 columns: \(listed)")
        _ = try net.hub.ok(["referral", "update", reference, "--service", "Tea and Chat", "--urgency", "soon"])
        try waitUntil("the charity receives the referral", seconds: 30) { try net.charity.storeCount("referrals") == 1 }
        let inbox = try net.charity.json(["referral", "list", "--service", "Tea and Chat"]) as? [[String: Any]]
        #expect(inbox?.first?["person"] as? String == "Pat")
        #expect(inbox?.first?["serviceName"] as? String == "Tea and Chat")
        #expect(inbox?.first?["urgency"] as? String == "soon")
        _ = try net.charity.ok(["referral", "update", reference, "--status", "received"])
        let accepted = try net.charity.ok(["referral", "update", reference, "--status", "accepted", "--take-place"])
        #expect(accepted.contains("took a place: 1 of 5 places free now"), "\(accepted)")
        try waitUntil("the hub sees the acceptance and the place taken", seconds: 30) {
            let detail = try net.hub.json(["service", "show", "Tea and Chat"]) as? [String: Any]
            let status = (try net.hub.json(["referral", "list"]) as? [[String: Any]])?.first?["status"] as? String
            return (detail?["capacity"] as? [String: Any])?["available"] as? Int == 1 && status == "accepted"
        }
        _ = try net.practice.ok(["sync"])
        let atPractice = try net.practice.json(["referral", "list", "--status", "accepted"]) as? [[String: Any]]
        #expect(atPractice?.first?["serviceName"] as? String == "Tea and Chat")
    }
}
