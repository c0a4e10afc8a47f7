import Foundation
import SpsyncTestSupport
import Testing

/// `spsync report`, `service export|import --hsds` and `referral update --snomed` as a
/// commissioner, a charity and a practice run them.
@Suite("reports, the HSDS directory and SNOMED CT at the command line")
struct ReportCommandTests {
    @Test("a practice's report: the table, --json, --out DIR with CSVs and report.html; bad dates refused")
    func report() throws {
        let ws = Workspace()
        let p = ws.node("practice")
        _ = try p.ok(["init", "--org", "A81001", "--name", "Riverside Surgery", "--pcn", "U12345"])
        for need in ["loneliness", "loneliness", "debt"] { _ = try p.ok(["referral", "create", "--need", need]) }
        let id = try p.ok(["referral", "create", "--need", "housing"])
        _ = try p.ok(["referral", "update", String(id.suffix(8)), "--snomed", "offered"])
        let table = try p.ok(["report"])
        #expect(table.contains("Referrals: <5") && table.contains("counts from 1 to 4 are shown as <5"), "\(table)")
        let open = try p.ok(["report", "--no-suppress"])
        #expect(open.contains("Referrals: 4") && open.contains("NOT SUPPRESSED"))
        #expect(open.contains("871691000000100 Social prescribing offered") && open.contains("loneliness"))
        let json = try #require(try p.json(["report", "--no-suppress"]) as? [String: Any])
        #expect(json["referrals"] as? Int == 4 && json["role"] as? String == "practice")
        let out = ws.path + "/out"
        let wrote = try p.ok(["report", "--out", out])
        #expect(wrote.contains("report.html") && wrote.contains("14 CSV files"))
        let html = try String(contentsOfFile: out + "/report.html", encoding: .utf8)
        #expect(html.contains("<svg id=\"chart-needs\"") && !html.contains("<script"))
        let byNeed = try String(contentsOfFile: out + "/referrals_by_need.csv", encoding: .utf8)
        #expect(byNeed.hasPrefix("driver,need,referrals\r\n") && byNeed.contains("<5"))
        // The referral shows its codes for the GP record.
        let shown = try p.ok(["referral", "show", String(id.suffix(8))])
        #expect(shown.contains("[SNOMED CT 871731000000106 Referral to social prescribing service]"), "\(shown)")
        #expect(shown.contains("[SNOMED CT 871691000000100 Social prescribing offered]"))
        #expect(shown.contains("have no national SNOMED CT concept"))
        for (args, hint) in [
            (["report", "--from", "2026-13-01"], "is not a date"),
            (["report", "--from", "2026-05-01", "--to", "2026-04-01"], "is after"),
            (
                ["referral", "update", String(id.suffix(8)), "--snomed", "accepted"],
                "not a national social prescribing concept"
            ),
        ] {
            expectOneLineRefusal(try p.run(args), hint, args.joined(separator: " "))
        }
    }

    @Test("a charity exports its directory as HSDS 3.1 and another imports it; a bad file changes nothing")
    func hsds() throws {
        let ws = Workspace()
        let c = ws.node("charity")
        _ = try c.ok(["init", "--org", "GB-CHC-1234567", "--name", "Walk Leeds"])
        _ = try c.ok([
            "service", "add", "--name", "Walk and Talk", "--category", "physical_activity", "--maximum", "10",
            "--available", "4", "--area", "LS1,LS2",
        ])
        let file = ws.path + "/directory.json"
        #expect(try c.ok(["service", "export", "--hsds", "--out", file]).contains("wrote 1 services"))
        let page = try #require(
            try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: file))) as? [String: Any])
        #expect((page["contents"] as? [[String: Any]])?.first?["status"] as? String == "active")
        let other = ws.node("other")
        _ = try other.ok(["init", "--org", "GB-SC-SC012345", "--name", "Walk Glasgow"])
        let imported = try other.ok(["service", "import", "--hsds", file, "--category", "physical_activity"])
        #expect(imported.hasPrefix("Walk and Talk: added"), "\(imported)")
        let listed = try other.json(["service", "list"]) as? [[String: Any]]
        #expect(listed?.first?["name"] as? String == "Walk and Talk")
        #expect(try other.ok(["service", "import", "--hsds", file]).contains("skipped"))
        try Data("{\"contents\": [{\"id\": \"x\", \"status\": \"active\"}], \"empty\": false}".utf8).write(
            to: URL(fileURLWithPath: ws.path + "/bad.json"))
        expectOneLineRefusal(
            try other.run(["service", "import", "--hsds", ws.path + "/bad.json"]), "name is missing",
            "a service without a name")
        expectOneLineRefusal(try other.run(["service", "export"]), "give --hsds", "export without a format")
        #expect((try other.json(["service", "list"]) as? [Any])?.count == 1)
    }
}
