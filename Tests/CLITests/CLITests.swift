import Foundation
import SpsyncTestSupport
import Testing

/// Runs the real `spsync` binary, as an operator would.
struct CLI {
    let home: String

    @discardableResult
    func run(_ args: [String], env: [String: String] = [:]) throws -> CommandResult {
        // --home goes after the subcommand path (the first words that are not options).
        var argv = args
        let split = argv.firstIndex { $0.hasPrefix("-") || $0.contains(".") || $0.contains("/") } ?? argv.count
        argv.insert(contentsOf: ["--home", home], at: split)
        return try runCommand(executable: SpsyncBinary.path, arguments: argv, environment: env)
    }

    func ok(_ args: [String]) throws -> String {
        let r = try run(args)
        #expect(r.status == 0, "spsync \(args.joined(separator: " ")) failed: \(r.err)")
        return r.out.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    func json(_ args: [String]) throws -> Any {
        try JSONSerialization.jsonObject(with: Data(try ok(args + ["--json"]).utf8))
    }
}

final class Workspace {
    let path = NSTemporaryDirectory() + "spsync-cli-" + UUID().uuidString
    init() { try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true) }
    func node(_ name: String) -> CLI { CLI(home: path + "/" + name) }
    deinit { try? FileManager.default.removeItem(atPath: path) }
}

@Suite("spsync command line (local)")
struct CLITests {
    @Test("init makes a private home with key (0600), certificate, node.toml and store; id prints them")
    func initAndID() throws {
        let ws = Workspace()
        let p = ws.node("practice")
        let out = try p.ok(["init", "--org", "A81001", "--name", "Riverside Surgery", "--pcn", "U12345"])
        #expect(out.contains("sha256:"))
        let key = try FileManager.default.attributesOfItem(atPath: p.home + "/key.pem")[.posixPermissions] as? Int
        #expect(key == 0o600)
        let store =
            try FileManager.default.attributesOfItem(atPath: p.home + "/store.sqlite")[.posixPermissions] as? Int
        #expect(store == 0o600)
        let id = try p.json(["id"]) as? [String: Any]
        #expect(id?["id"] as? String == "A81001")
        #expect(id?["role"] as? String == "practice")
        #expect((id?["fingerprint"] as? String)?.count == 71)
        #expect((id?["incarnation"] as? String)?.count == 36)
    }

    @Test(
        "init refuses an existing node, an invalid id, a role that disagrees, a practice without a PCN — and leaves nothing behind"
    )
    func initRefusals() throws {
        let ws = Workspace()
        let p = ws.node("p")
        _ = try p.ok(["init", "--org", "A81001", "--name", "Riverside", "--pcn", "U12345"])
        let again = try p.run(["init", "--org", "A81001", "--name", "Riverside", "--pcn", "U12345"])
        #expect(again.status != 0 && again.err.contains("already exists"))
        for (args, hint) in [
            (["--org", "X1", "--name", "n"], "organisation code"),
            (["--org", "A81001", "--role", "vcse", "--name", "n", "--pcn", "U12345"], "does not agree"),
            (["--org", "A81001", "--name", "n"], "--pcn"),
            (["--org", "GB-CHC-1234567", "--name", "n", "--pcn", "U12345"], "no PCN"),
        ] {
            let fresh = ws.node("bad-\(hint.count)")
            let r = try fresh.run(["init"] + args)
            #expect(r.status != 0)
            #expect(r.err.contains(hint), "\(r.err)")
            #expect(!FileManager.default.fileExists(atPath: fresh.home), "init left \(fresh.home) behind")
        }
    }

    @Test(
        "a charity publishes a service and sets capacity; bad capacity and a practice's service are refused, changing nothing"
    )
    func services() throws {
        let ws = Workspace()
        let c = ws.node("charity")
        _ = try c.ok(["init", "--org", "GB-CHC-1234567", "--name", "Walk Leeds"])
        let s = try c.ok([
            "service", "add", "--name", "Walk and Talk", "--category", "physical_activity", "--maximum", "10",
            "--available", "4",
        ])
        #expect(s.hasPrefix("S.GB-CHC-1234567."))
        _ = try c.ok(["service", "set-capacity", s, "--available", "3"])
        let before = try c.ok(["service", "list", "--json"])
        let over = try c.run(["service", "set-capacity", s, "--available", "12"])
        #expect(over.status != 0 && over.err.contains("above the maximum"))
        let badCategory = try c.run(["service", "add", "--name", "X", "--category", "knitting"])
        #expect(badCategory.status != 0)
        #expect(try c.ok(["service", "list", "--json"]) == before)
        let list = try c.json(["service", "list"]) as? [[String: Any]]
        let cap = list?.first?["capacity"] as? [String: Any]
        #expect(cap?["available"] as? Int == 3 && cap?["maximum"] as? Int == 10)
        #expect(list?.first?["stale"] as? Bool == false)

        let p = ws.node("practice")
        _ = try p.ok(["init", "--org", "A81001", "--name", "Riverside", "--pcn", "U12345"])
        let r = try p.run(["service", "add", "--name", "X", "--category", "befriending"])
        #expect(r.status != 0 && r.err.contains("only a charity"))
    }

    @Test("referrals: create, address, show, list; bad input refused with nothing changed")
    func referrals() throws {
        let ws = Workspace()
        let p = ws.node("practice")
        _ = try p.ok(["init", "--org", "A81001", "--name", "Riverside", "--pcn", "U12345"])
        let service = "S.GB-CHC-1234567.019e7044-8800-7234-abcd-ef0123456789"
        let id = try p.ok([
            "referral", "create", "--to", "U12345", "--need", "loneliness", "mobility", "--name", "Pat", "--phone",
            "07700900123", "--consent", "explicit", "--nhs-number", "9990000018",
        ])
        #expect(id.hasPrefix("R.A81001.U12345."))
        let before = try p.ok(["referral", "list", "--json"])
        for (args, hint) in [
            (
                ["referral", "create", "--to", "U12345", "--need", "loneliness", "--nhs-number", "9990000019"],
                "check digit"
            ),
            (
                ["referral", "create", "--to", "U12345", "--need", "loneliness", "--phone", "07700900123"],
                "--consent"
            ),
            (["referral", "create", "--to", "U99999", "--need", "loneliness"], "PCN hub"),
            (["referral", "create", "--to", "ZZ", "--need", "loneliness"], "organisation code"),
            (["referral", "update", id, "--status", "accepted"], "service's owner"),
            (
                ["referral", "update", "R.A81001.U12345.019e7044-8800-7234-abcd-ef0123456780", "--status", "closed"],
                "no referral"
            ),
        ] {
            let r = try p.run(args)
            #expect(r.status != 0, "\(args) was accepted")
            #expect(r.err.contains(hint), "\(args): \(r.err)")
        }
        #expect(try p.ok(["referral", "list", "--json"]) == before)
        // The charity's service has not reached this practice (no sync here): --force addresses it anyway.
        _ = try p.ok(["referral", "update", id, "--service", service, "--force"])
        let list = try p.json(["referral", "list"]) as? [[String: Any]]
        #expect(list?.first?["to"] as? String == "GB-CHC-1234567")
        #expect(list?.first?["service"] as? String == service)
        #expect(list?.first?["status"] as? String == "referred")
        _ = try p.ok(["referral", "update", id, "--status", "withdrawn", "--reason", "moved away"])
        #expect(try p.json(["referral", "list", "--status", "withdrawn"]) as? [Any] != nil)
        let show = try p.json(["referral", "show", id]) as? [String: Any]
        #expect((show?["timeline"] as? [Any])?.count ?? 0 >= 8)
        // Redaction strips contact details here at once.
        _ = try p.ok(["referral", "redact", id, "--class", "contact"])
        let shown = try p.ok(["referral", "show", id])
        #expect(!shown.contains("07700900123"))
        #expect(shown.contains("(redacted)"))
    }

    @Test("backup and restore: the restored node has a new incarnation and the backed-up data")
    func backupRestore() throws {
        let ws = Workspace()
        let p = ws.node("practice")
        _ = try p.ok(["init", "--org", "A81001", "--name", "Riverside", "--pcn", "U12345"])
        let first = try p.ok(["referral", "create", "--to", "U12345", "--need", "debt"])
        let backup = ws.path + "/backup.sqlite"
        _ = try p.ok(["backup", backup])
        _ = try p.ok(["referral", "create", "--to", "U12345", "--need", "housing"])
        let before = try p.json(["id"]) as? [String: Any]
        _ = try p.ok(["restore", backup])
        let after = try p.json(["id"]) as? [String: Any]
        #expect(before?["incarnation"] as? String != after?["incarnation"] as? String)
        let ids = (try p.json(["referral", "list"]) as? [[String: Any]])?.compactMap { $0["id"] as? String }
        #expect(ids == [first])
        let wrong = ws.node("other")
        _ = try wrong.ok(["init", "--org", "B82002", "--name", "Other", "--pcn", "U12345"])
        let r = try wrong.run(["restore", backup])
        #expect(r.status != 0 && r.err.contains("backup of A81001"))
    }

    @Test("conflicts lists nothing on a fresh node; resolve refuses a field that is not in conflict")
    func conflictsEmpty() throws {
        let ws = Workspace()
        let p = ws.node("practice")
        _ = try p.ok(["init", "--org", "A81001", "--name", "Riverside", "--pcn", "U12345"])
        #expect(try p.json(["conflicts"]) as? [Any] != nil)
        let id = try p.ok(["referral", "create", "--to", "U12345", "--need", "debt", "--urgency", "soon"])
        let r = try p.run(["resolve", id, "routing.urgency", "--value", "urgent"])
        #expect(r.status != 0 && r.err.contains("not in conflict"))
    }
}

@Suite("spsync peer")
struct PeerCLITests {
    @Test("peer add validates id, role, fingerprint, address and schedule; list, block and remove")
    func peers() throws {
        let ws = Workspace()
        let p = ws.node("practice"), h = ws.node("hub")
        _ = try p.ok(["init", "--org", "A81001", "--name", "Riverside", "--pcn", "U12345"])
        _ = try h.ok(["init", "--org", "U12345", "--name", "Riverside PCN"])
        let fp = (try h.json(["id"]) as? [String: Any])?["fingerprint"] as? String ?? ""
        _ = try p.ok([
            "peer", "add", "U12345", "--fingerprint", fp, "--address", "127.0.0.1:7443", "--schedule",
            "nightly 01:00-05:00",
        ])
        for (args, hint) in [
            (["peer", "add", "U12345", "--fingerprint", fp, "--address", "127.0.0.1:7443"], "peer already"),
            (["peer", "add", "U12346", "--fingerprint", "sha256:12", "--address", "h:1"], "64 hex digits"),
            (["peer", "add", "U12346", "--fingerprint", fp, "--address", "nohost"], "HOST:PORT"),
            (["peer", "add", "U12346", "--fingerprint", fp, "--address", "h:1", "--schedule", "hourly"], "schedule"),
            (["peer", "add", "U12346", "--role", "vcse", "--fingerprint", fp, "--address", "h:1"], "does not agree"),
            (["peer", "add", "A81001", "--fingerprint", fp, "--address", "h:1"], "this node itself"),
            (["peer", "remove", "U99999"], "not a peer"),
        ] {
            let r = try p.run(args)
            #expect(r.status != 0, "\(args) was accepted")
            #expect(r.err.contains(hint), "\(args): \(r.err)")
        }
        let list = try p.json(["peer", "list"]) as? [[String: Any]]
        #expect(list?.count == 1)
        #expect(list?.first?["schedule"] as? String == "nightly 01:00-05:00")
        _ = try p.ok(["peer", "block", fp])
        #expect((try p.json(["peer", "list"]) as? [[String: Any]])?.first?["blocked"] as? Bool == true)
        _ = try p.ok(["peer", "remove", "U12345"])
        let again = try p.run(["peer", "add", "U12345", "--fingerprint", fp, "--address", "127.0.0.1:7443"])
        #expect(again.status != 0 && again.err.contains("blocked"))
    }
}
