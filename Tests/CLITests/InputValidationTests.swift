import Foundation
import GRDB
import SpsyncTestSupport
import Testing

/// What a store holds that a refused command must not change: its writes, audit entries, last seq
/// and the statuses of its referrals.
func storeState(_ node: CLI) throws -> [String] {
    var config = Configuration()
    config.readonly = true
    let queue = try DatabaseQueue(path: node.home + "/store.sqlite", configuration: config)
    defer { try? queue.close() }
    return try queue.read { db in
        [
            "writes \(try Int.fetchOne(db, sql: "SELECT count(*) FROM field_write") ?? -1)",
            "audit \(try Int.fetchOne(db, sql: "SELECT count(*) FROM audit") ?? -1)",
            "last_seq \(try Int.fetchOne(db, sql: "SELECT last_seq FROM node") ?? -1)",
            "statuses \(try String.fetchAll(db, sql: "SELECT status FROM referral ORDER BY key"))",
        ]
    }
}

/// Runs `spsync` through `/bin/sh`, so an argument can carry bytes a Swift `String` cannot hold:
/// `script` is appended to the binary's path and may use `printf` for them.
func runThroughShell(_ script: String) throws -> CommandResult {
    try runCommand(
        executable: "/bin/sh", arguments: ["-c", "exec \"$SPSYNC\" " + script],
        environment: ["SPSYNC": SpsyncBinary.path])
}

@Suite("input validation on the command line: bad input is one spsync: line and changes nothing")
struct InputValidationTests {
    /// A practice and a charity with a service the practice has not received.
    static func nodes(_ ws: Workspace) throws -> (practice: CLI, charity: CLI, service: String) {
        let p = ws.node("practice")
        _ = try p.ok(["init", "--org", "A81001", "--name", "Riverside", "--pcn", "U12345"])
        let c = ws.node("charity")
        _ = try c.ok(["init", "--org", "GB-CHC-1234567", "--name", "Walk Leeds"])
        let s = try c.ok([
            "service", "add", "--name", "Walk and Talk", "--category", "physical_activity", "--maximum", "10",
            "--available", "4",
        ])
        return (p, c, s)
    }

    /// Runs `args` at `node`, expects a one-line refusal naming `hint`, and the store as it was.
    func expectRefusedUnchanged(
        _ node: CLI, _ args: [String], _ hint: String, sourceLocation: SourceLocation = #_sourceLocation
    ) throws {
        let before = try storeState(node)
        let result = try node.run(args)
        expectOneLineRefusal(
            result, hint, "spsync \(args.joined(separator: " "))", sourceLocation: sourceLocation)
        #expect(try storeState(node) == before, "\(args) changed the store", sourceLocation: sourceLocation)
    }

    @Test("each input the tester found is refused: dates, phone, email, control characters, an unknown service")
    func testersInputs() throws {
        let ws = Workspace()
        let (p, _, service) = try Self.nodes(ws)
        let create = ["referral", "create", "--to", "U12345", "--need", "loneliness", "--consent", "explicit"]
        let id = try p.ok(create)  // something in the store to leave alone
        for (extra, hint) in [
            (["--dob", "2026-02-30"], "--dob 2026-02-30 is not a real date; use YYYY-MM-DD"),
            (["--dob", "2999-01-01"], "--dob 2999-01-01 is in the future"),
            (["--dob", "30/01/1956"], "give the date of birth as YYYY-MM-DD"),
            (["--phone", "abc;rm -rf"], "--phone \"abc;rm -rf\" is not a UK phone number"),
            (["--email", "notanemail"], "--email \"notanemail\" is not an email address"),
            (["--name", "Pat\u{1B}[2J"], "--name contains an escape character (U+001B)"),
            (["--name", "Pat\r"], "--name contains a carriage return"),
            (["--name", "Pat\u{07}"], "--name contains a bell character"),
            (["--note", "Ring\u{07} first"], "--note contains a bell character"),
            (["--address", "1 High St\r\nLeeds"], "--address contains a carriage return"),
            (["--preferred-contact", "pigeon"], "is not a way to contact"),
        ] {
            try expectRefusedUnchanged(p, create + extra, hint)
        }
        let unknown = ["referral", "create", "--to", "GB-CHC-1234567", "--service", service, "--need", "debt"]
        try expectRefusedUnchanged(p, unknown, "is known here: sync first, or check the id")
        try expectRefusedUnchanged(p, ["referral", "update", id, "--service", service], "(add --force)")
        try expectRefusedUnchanged(p, ["referral", "update", id, "--phone", "0770"], "not a UK phone number")
        // --force addresses a service not yet synced here.
        _ = try p.ok(["referral", "update", id, "--service", service, "--force"])
        _ = try p.ok(unknown + ["--force"])
    }

    @Test("invalid UTF-8 in an argument is refused, not replaced, and nothing is written")
    func invalidUTF8() throws {
        let ws = Workspace()
        let (p, _, _) = try Self.nodes(ws)
        let before = try storeState(p)
        let result = try runThroughShell(
            "referral create --home '\(p.home)' --to U12345 --need loneliness --consent explicit "
                + "--name \"$(printf 'Pat\\377')\"")
        expectOneLineRefusal(result, "the value of --name is not valid UTF-8 text", status: 64, "--name Pat\\xFF")
        #expect(try storeState(p) == before)
        // The same command with valid bytes goes through.
        let ok = try runThroughShell(
            "referral create --home '\(p.home)' --to U12345 --need loneliness --consent explicit "
                + "--name \"$(printf 'Zo\\303\\253')\"")
        #expect(ok.status == 0, "\(ok.err)")
    }

    @Test("capacity and other counts beyond their named limits are refused (and do not crash)")
    func counts() throws {
        let ws = Workspace()
        let (_, c, service) = try Self.nodes(ws)
        let huge = "9223372036854775807"
        let add = ["service", "add", "--name", "Knit", "--category", "befriending"]
        for (extra, hint) in [
            (["--maximum", huge, "--available", "1"], "--maximum \(huge) is out of range"),
            (["--maximum", "100001", "--available", "1"], "0 to 100000 (capacityMax)"),
            (["--maximum", "5", "--available", "1", "--valid-days", huge], "--valid-days \(huge) is out of range"),
            (["--age-max", "200"], "ageYearsMax"), (["--wait-days", "4000"], "waitDaysMax"),
            (["--name", "Knit\u{1B}[5m"], "--name contains an escape character"),
            (["--unit", "pla\u{7F}ces", "--maximum", "5", "--available", "1"], "--unit contains a control character"),
        ] {
            try expectRefusedUnchanged(c, add + extra, hint)
        }
        let set = ["service", "set-capacity", service]
        try expectRefusedUnchanged(c, set + ["--available", huge], "capacityMax")
        try expectRefusedUnchanged(c, set + ["--available", "1", "--valid-days", huge], "capacityValidDaysMax")
        _ = try c.ok(set + ["--available", "100000", "--maximum", "100000"])
    }

    @Test("progress out of order is refused with what may follow; the practice's own events follow the table too")
    func transitions() throws {
        let ws = Workspace()
        let (p, _, _) = try Self.nodes(ws)
        let id = try p.ok(["referral", "create", "--to", "U12345", "--need", "loneliness"])
        try expectRefusedUnchanged(p, ["referral", "update", id, "--status", "referred"], "is recorded once")
        try expectRefusedUnchanged(
            p, ["referral", "update", id, "--status", "reopened"], "'reopened' follows only 'closed' or 'withdrawn'")
        _ = try p.ok(["referral", "update", id, "--status", "closed"])
        for status in ["closed", "withdrawn"] {
            try expectRefusedUnchanged(p, ["referral", "update", id, "--status", status], "cannot follow 'closed'")
        }
        _ = try p.ok(["referral", "update", id, "--status", "reopened"])
        #expect(try p.ok(["referral", "show", id]).contains("status   referred"))
    }

    @Test("free text keeps its new lines in the store and prints them escaped, one row per write")
    func newLinesPrintEscaped() throws {
        let ws = Workspace()
        let (p, _, _) = try Self.nodes(ws)
        let id = try p.ok([
            "referral", "create", "--to", "U12345", "--need", "loneliness", "--note", "Lives alone.\nRing first.",
        ])
        let shown = try p.ok(["referral", "show", id])
        #expect(shown.contains(#"Lives alone.\nRing first."#))
        #expect(!shown.contains("Lives alone.\nRing first."))
        let json = try p.json(["referral", "show", id]) as? [String: Any]
        let values = (json?["timeline"] as? [[String: Any]])?.compactMap { $0["value"] as? String } ?? []
        #expect(values.contains("Lives alone.\nRing first."))
    }
}
