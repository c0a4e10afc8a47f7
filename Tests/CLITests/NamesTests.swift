import Foundation
import SpsyncTestSupport
import Testing

@Suite("naming services and referrals at the command line")
struct NamesTests {
    @Test(
        "a name or a short reference finds one service or referral; an ambiguous one lists the candidates, an unknown one says to sync; bad filters are refused"
    )
    func lookups() throws {
        let ws = Workspace()
        let c = ws.node("charity")
        _ = try c.ok(["init", "--org", "GB-CHC-1234567", "--name", "Walk Leeds"])
        let first = try c.ok(["service", "add", "--name", "Walk", "--category", "physical_activity"])
        let second = try c.ok([
            "service", "add", "--name", "Walk", "--category", "gardening", "--maximum", "3", "--available", "0",
        ])
        let ambiguous = try c.run(["service", "show", "Walk"])
        expectOneLineRefusal(ambiguous, "could be any of 2 services", "an ambiguous name")
        #expect(ambiguous.err.contains(first) && ambiguous.err.contains(second), "\(ambiguous.err)")
        let unknown = try c.run(["service", "show", "Swimming"])
        expectOneLineRefusal(unknown, "no service \"Swimming\" is known here: sync first, or check the name", "unknown")
        // The end of the id (its random part), as lists show it, or its start.
        let end = String(second.suffix(8))
        #expect(try c.ok(["service", "show", end]).contains("gardening"))
        // The start: the shortest start of the first id's UUID that the second's does not share finds
        // the first; the start both share (UUIDv7: the same minute), when 6 or more characters, is ambiguous.
        let a = Array(first.split(separator: ".").last!), b = Array(second.split(separator: ".").last!)
        let shared = zip(a, b).prefix { $0 == $1 }.count
        let unique = String(a.prefix(max(6, shared + 1)))
        #expect(try c.ok(["service", "show", unique]).contains("physical_activity"), "start \(unique)")
        if shared >= 6 {
            let both = try c.run(["service", "show", String(a.prefix(shared))])
            expectOneLineRefusal(both, "could be any of 2 services", "a start both ids share")
        }
        expectOneLineRefusal(try c.run(["service", "show", "abcde"]), "is known here", "a name nothing has")
        expectOneLineRefusal(try c.run(["referral", "show", "abcde"]), "at least 6 characters", "a short reference")
        // Lists and their filters.
        let free = try c.json(["service", "list", "--available"]) as? [[String: Any]]
        #expect(free?.isEmpty == true, "a service without capacity or with none free is not available")
        let full = try c.json(["service", "list", "--category", "gardening"]) as? [[String: Any]]
        #expect(full?.map { $0["id"] as? String } == [second])
        for (args, hint) in [
            (["service", "list", "--need", "swimming"], "is not a need"),
            (["service", "list", "--category", "swimming"], "is not a category"),
            (["referral", "list", "--status", "bogus"], "is not a status"),
            (["referral", "list", "--urgency", "asap"], "routine, soon or urgent"),
            (["referral", "list", "--since", "yesterday"], "is not a time"),
        ] {
            expectOneLineRefusal(try c.run(args), hint, args.joined(separator: " "))
        }
        #expect(try c.ok(["referral", "list"]) == "no referrals here yet")
    }

    @Test("a practice addresses a referral by service name; a service with no free places is addressed with a note")
    func noRoomNote() throws {
        let ws = Workspace()
        let p = ws.node("practice")
        _ = try p.ok(["init", "--org", "A81001", "--name", "Riverside", "--pcn", "U12345"])
        let id = try p.ok(["referral", "create", "--need", "debt", "--urgency", "routine"])
        let updated = try p.run(["referral", "update", String(id.suffix(8)), "--urgency", "urgent"])
        #expect(updated.status == 0, "\(updated.err)")
        let lines = try p.json(["referral", "list", "--urgency", "urgent"]) as? [[String: Any]]
        #expect(lines?.map { $0["id"] as? String } == [id])
        // A service of a charity this node has not synced with: refused by name, with --force by id only.
        let unknown = try p.run(["referral", "update", id, "--service", "Debt Advice"])
        expectOneLineRefusal(unknown, "no service \"Debt Advice\" is known here", "an unknown service name")
        let far = "S.GB-CHC-1234567.019e7044-8800-7234-abcd-ef0123456780"
        let refused = try p.run(["referral", "update", id, "--service", far])
        expectOneLineRefusal(refused, "(add --force)", "an unknown service id")
        let forced = try p.run(["referral", "update", id, "--service", far, "--force"])
        #expect(forced.status == 0, "\(forced.err)")
        #expect(forced.err.contains("spsync: note:") && forced.err.contains("is not known here yet"), "\(forced.err)")
    }
}
