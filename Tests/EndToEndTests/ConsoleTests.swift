import Foundation
import SpsyncTestSupport
import SyncNode
import Testing

/// The web console over real HTTP (curl, a real client that shows the raw exchange) against real
/// daemons: sign-in by a one-time link, the session cookie's attributes, CSRF, and writes that sync.
@Suite("web console over HTTP", .serialized)
struct ConsoleTests {
    /// One HTTP exchange: status, headers (lower-cased names) and body.
    struct Exchange {
        var status: Int
        var headers: [(String, String)]
        var body: String

        func header(_ name: String) -> [String] { headers.filter { $0.0 == name }.map(\.1) }
    }

    /// Runs curl once (no redirects followed), with the session cookie and a form body when given.
    func http(_ url: String, cookie: String? = nil, form: [String: String]? = nil, curl extra: [String] = [])
        throws -> Exchange
    {
        var args = ["-s", "-i", "--max-time", "10"] + extra
        if let cookie { args += ["-b", "spsync_console=\(cookie)"] }
        for (k, v) in (form ?? [:]).sorted(by: { $0.key < $1.key }) { args += ["--data-urlencode", "\(k)=\(v)"] }
        let r = try runCommand(executable: "/usr/bin/curl", arguments: args + [url])
        #expect(r.status == 0, "curl \(url): \(r.err)")
        let text = r.out.replacingOccurrences(of: "\r\n", with: "\n")
        let split = text.range(of: "\n\n")
        let head = split.map { String(text[..<$0.lowerBound]) } ?? text
        let lines = head.split(separator: "\n")
        let status = lines.first.flatMap { Int($0.split(separator: " ").dropFirst().first ?? "") } ?? 0
        let headers = lines.dropFirst().compactMap { line -> (String, String)? in
            guard let colon = line.firstIndex(of: ":") else { return nil }
            return (
                line[..<colon].lowercased(), line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            )
        }
        return Exchange(status: status, headers: headers, body: split.map { String(text[$0.upperBound...]) } ?? "")
    }

    /// The value of the first `name="…" value="…"` hidden input or attribute in a page.
    func attribute(_ page: String, after marker: String) -> String? {
        guard let r = page.range(of: marker) else { return nil }
        let rest = page[r.upperBound...]
        guard let end = rest.firstIndex(of: "\"") else { return nil }
        return String(rest[..<end])
    }

    func withHTTP(_ node: TestNode, _ net: TestNetwork) throws -> Int {
        let port = try net.freePort()
        let config = node.home + "/node.toml"
        let text = try String(contentsOfFile: config, encoding: .utf8)
        try (text + "\n[http]\nlisten = \"127.0.0.1:\(port)\"\n").write(
            toFile: config, atomically: true, encoding: .utf8)
        return port
    }

    /// Signs in through a fresh one-time link and returns the session cookie.
    func signIn(_ node: TestNode, port: Int) throws -> String {
        let link = try node.ok(["web", "login"])
        #expect(link.hasPrefix("http://127.0.0.1:\(port)/login?token="))
        let login = try http(link)
        #expect(login.status == 303 && login.header("location") == ["/"])
        let cookie = try #require(login.header("set-cookie").first)
        for attribute in ["HttpOnly", "SameSite=Strict", "Path=/"] {
            #expect(cookie.contains(attribute), "the session cookie lacks \(attribute): \(cookie)")
        }
        // The link works once.
        #expect(try http(link).status == 401)
        return String(cookie.split(separator: ";")[0].split(separator: "=", maxSplits: 1)[1])
    }

    @Test(
        "over HTTPS with a certificate `spsync web certificate` made, the console may listen on every address: https sign-in link, a Secure cookie, pages and writes; plain HTTP gets nothing; without TLS such an address is refused"
    )
    func overTLS() throws {
        let net = try TestNetwork()
        defer { net.stopAll() }
        let charity = net.charity
        let port = try net.freePort()
        let config = charity.home + "/node.toml"
        let original = try String(contentsOfFile: config, encoding: .utf8)
        // Without TLS a non-loopback address is refused, with what to do.
        let refused = try runCommand(
            executable: SpsyncBinary.path,
            arguments: [
                "init", "--home", charity.home + "-other", "--org", "GB-CHC-7654321", "--name", "X", "--http",
                "0.0.0.0:\(port)",
            ])
        #expect(refused.status != 0 && refused.err.contains("tls_certificate"), "\(refused.err)")
        try (original + "\n[http]\nlisten = \"0.0.0.0:\(port)\"\n").write(
            toFile: config, atomically: true, encoding: .utf8)
        let plainStart = try runCommand(
            executable: "/usr/bin/timeout", arguments: ["20", SpsyncBinary.path, "daemon", "--home", charity.home])
        #expect(
            plainStart.status != 0 && plainStart.err.contains("spsync: [http] listen 0.0.0.0:\(port): without TLS"),
            "\(plainStart.err)")
        // One of the two files alone is refused too.
        try (original + "\n[http]\nlisten = \"0.0.0.0:\(port)\"\ntls_key = \"web-key.pem\"\n").write(
            toFile: config, atomically: true, encoding: .utf8)
        let half = try charity.run(["web", "login"])
        #expect(half.status != 0 && half.err.contains("give both"), "\(half.err)")

        let made = try charity.ok(["web", "certificate", "--host", "localhost", "--host", "127.0.0.1"])
        #expect(made.contains("tls_certificate = \"web-cert.pem\""))
        #expect(try charity.run(["web", "certificate", "--host", "bad name!"]).err.contains("not a host name"))
        try
            (original
            + "\n[http]\nlisten = \"0.0.0.0:\(port)\"\ntls_certificate = \"web-cert.pem\"\ntls_key = \"web-key.pem\"\n")
            .write(toFile: config, atomically: true, encoding: .utf8)
        let service = try charity.ok([
            "service", "add", "--name", "Walk and Talk", "--category", "physical_activity", "--maximum", "10",
            "--available", "4",
        ])
        try charity.start()
        // The link names the certificate's host; curl checks the certificate against it.
        let link = try charity.ok(["web", "login"])
        #expect(link.hasPrefix("https://localhost:\(port)/login?token="), "\(link)")
        let tls = ["--cacert", charity.home + "/web-cert.pem", "--resolve", "localhost:\(port):127.0.0.1"]
        let login = try http(link, curl: tls)
        #expect(login.status == 303)
        let setCookie = try #require(login.header("set-cookie").first)
        for attribute in ["HttpOnly", "SameSite=Strict", "Secure"] {
            #expect(setCookie.contains(attribute), "the session cookie lacks \(attribute): \(setCookie)")
        }
        let cookie = String(setCookie.split(separator: ";")[0].split(separator: "=", maxSplits: 1)[1])
        let base = "https://localhost:\(port)"
        let page = try http(base + "/services", cookie: cookie, curl: tls)
        #expect(page.status == 200 && page.body.contains("4 of 10 places free"))
        let csrf = try #require(attribute(page.body, after: "name=\"csrf\" value=\""))
        let action = try #require(attribute(page.body, after: "action=\"/services/"))
        let done = try http(
            base + "/services/" + action, cookie: cookie,
            form: [
                "available": "2", "maximum": "10", "accepting": "open", "validDays": "7", "step": "set", "csrf": csrf,
            ],
            curl: tls)
        #expect(done.status == 303 && done.header("location") == ["/services"], "nothing of the change in the URL")
        // The notice comes with the next page, once.
        let next = try http(base + "/services", cookie: cookie, curl: tls)
        #expect(next.body.contains("Walk and Talk: 2 of 10 places free"), "\(next.body)")
        #expect(!(try http(base + "/services", cookie: cookie, curl: tls)).body.contains("class=\"notice\""))
        let shown = try charity.json(["service", "show", service]) as? [String: Any]
        #expect((shown?["capacity"] as? [String: Any])?["available"] as? Int == 2)
        // The operator endpoints answer a loopback client over TLS.
        #expect(
            try http("https://127.0.0.1:\(port)/healthz", curl: ["--cacert", charity.home + "/web-cert.pem"]).body
                == "ok\n")
        // Plain HTTP on the TLS port gets no page.
        let plain = try runCommand(
            executable: "/usr/bin/curl", arguments: ["-s", "--max-time", "5", "http://127.0.0.1:\(port)/healthz"])
        #expect(plain.status != 0 && !plain.out.contains("ok"), "plain HTTP was answered: \(plain.out)")
        // A client that does not trust the certificate stops at the handshake.
        let untrusted = try runCommand(
            executable: "/usr/bin/curl", arguments: ["-s", "--max-time", "5", "https://127.0.0.1:\(port)/healthz"])
        #expect(untrusted.status == 60, "curl without the certificate: \(untrusted.status)")
    }

    @Test(
        "a coordinator signs in with a one-time link and sets free places; without the cookie or with another CSRF token nothing changes; the change reaches the hub"
    )
    func charitySetsCapacity() throws {
        let net = try TestNetwork()
        defer { net.stopAll() }
        let port = try withHTTP(net.charity, net)
        let service = try net.charity.ok([
            "service", "add", "--name", "Walk and Talk", "--category", "physical_activity", "--maximum", "10",
            "--available", "4",
        ])
        try net.hub.start()
        try net.charity.start()
        let base = "http://127.0.0.1:\(port)"
        #expect(try http(base + "/services").status == 401, "a page without a session")
        #expect(try http(base + "/login?token=made-up").status == 401)
        let cookie = try signIn(net.charity, port: port)
        let page = try http(base + "/services", cookie: cookie)
        #expect(page.status == 200 && page.body.contains("Walk and Talk") && page.body.contains("4 of 10 places free"))
        #expect(page.header("content-security-policy").first?.contains("default-src 'none'") == true)
        let csrf = try #require(attribute(page.body, after: "name=\"csrf\" value=\""))
        let action = try #require(attribute(page.body, after: "action=\"/services/"))
        let post = base + "/services/" + action
        let form = ["available": "7", "maximum": "10", "accepting": "open", "validDays": "7", "step": "set"]
        func available() throws -> Int? {
            let shown = try net.charity.json(["service", "show", service]) as? [String: Any]
            return (shown?["capacity"] as? [String: Any])?["available"] as? Int
        }
        var forged = form
        forged["csrf"] = "not-the-token"
        #expect(try http(post, cookie: cookie, form: forged).status == 403)
        var signed = form
        signed["csrf"] = csrf
        #expect(try http(post, form: signed).status == 401, "a POST without the session cookie")
        #expect(try available() == 4, "a refused POST changed the capacity")
        let done = try http(post, cookie: cookie, form: signed)
        #expect(done.status == 303, "\(done.body)")
        #expect(try available() == 7)
        // A step down from the page, as the −1 button sends it.
        signed["step"] = "down"
        #expect(try http(post, cookie: cookie, form: signed).status == 303)
        #expect(try available() == 6)
        try waitUntil("the hub sees the new capacity", seconds: 30) {
            let services = try net.hub.json(["service", "list"]) as? [[String: Any]]
            return (services?.first?["capacity"] as? [String: Any])?["available"] as? Int == 6
        }
        // Signing out ends the session.
        #expect(try http(base + "/logout", cookie: cookie, form: ["csrf": csrf]).status == 303)
        #expect(try http(base + "/services", cookie: cookie).status == 401)
    }

    @Test("a link worker addresses a referral from the console to a service listed for its need, with its free places")
    func linkWorkerAddresses() throws {
        let net = try TestNetwork()
        defer { net.stopAll() }
        let port = try withHTTP(net.hub, net)
        _ = try net.charity.ok([
            "service", "add", "--name", "Tea and Chat", "--category", "befriending", "--maximum", "5", "--available",
            "2",
        ])
        let referral = try net.practice.ok([
            "referral", "create", "--need", "loneliness", "--name", "Pat", "--consent", "explicit",
        ])
        try net.hub.start()
        try net.charity.start()
        _ = try net.practice.ok(["sync"])
        try waitUntil("the hub sees the service", seconds: 30) { try net.hub.storeCount("services") == 1 }
        let base = "http://127.0.0.1:\(port)"
        let cookie = try signIn(net.hub, port: port)
        let inbox = try http(base + "/referrals?need=loneliness", cookie: cookie)
        #expect(inbox.status == 200 && inbox.body.contains("Pat"))
        let reference = String(referral.suffix(8))
        let page = try http(base + "/referrals/\(reference)", cookie: cookie)
        #expect(page.body.contains("Tea and Chat — 2 of 5 free"), "\(page.body)")
        let csrf = try #require(attribute(page.body, after: "name=\"csrf\" value=\""))
        let serviceID = try #require(attribute(page.body, after: "<option value=\"S."))
        let addressed = try http(
            base + "/referrals/\(reference)/address", cookie: cookie,
            form: ["csrf": csrf, "service": "S." + serviceID, "urgency": "soon"])
        #expect(addressed.status == 303, "\(addressed.body)")
        try waitUntil("the charity receives the referral", seconds: 30) { try net.charity.storeCount("referrals") == 1 }
        let atCharity = try net.charity.json(["referral", "list"]) as? [[String: Any]]
        #expect(atCharity?.first?["serviceName"] as? String == "Tea and Chat")
        #expect(atCharity?.first?["urgency"] as? String == "soon")
        // The commissioners' report is a page too: the referral counted under its need, the
        // small count suppressed, every chart drawn.
        let report = try http(base + "/report", cookie: cookie)
        #expect(report.status == 200)
        for chart in ["chart-needs", "chart-funnel", "chart-first-contact", "chart-ons4", "chart-capacity"] {
            #expect(report.body.contains("id=\"\(chart)\""), "the report page lacks \(chart)")
        }
        #expect(report.body.contains("Loneliness and isolation") && report.body.contains("&lt;5"))
        #expect(try http(base + "/report?from=2026-02-01&to=2026-01-01", cookie: cookie).status == 400)
        #expect(try http(base + "/report").status == 401, "no report without a session")
    }

    @Test(
        "a link worker records ONS4 scores and an outcome, and settles a field two people changed at once, from the console"
    )
    func outcomesAndConflicts() throws {
        let net = try TestNetwork()
        defer { net.stopAll() }
        let port = try withHTTP(net.hub, net)
        let referral = try net.practice.ok(["referral", "create", "--need", "debt", "--urgency", "routine"])
        try net.hub.start()
        _ = try net.practice.ok(["sync"])
        // The practice and the hub change the urgency at once: a conflict at both.
        _ = try net.practice.ok(["referral", "update", referral, "--urgency", "soon"])
        _ = try net.hub.ok(["referral", "update", referral, "--urgency", "urgent"])
        _ = try net.practice.ok(["sync"])
        #expect((try net.hub.json(["conflicts"]) as? [Any])?.count == 1)
        let base = "http://127.0.0.1:\(port)"
        let cookie = try signIn(net.hub, port: port)
        let page = try http(base + "/conflicts", cookie: cookie)
        #expect(page.body.contains("routing.urgency") && page.body.contains("Keep this"), "\(page.body)")
        #expect(page.body.contains("Riverside Surgery") || page.body.contains("A81001"))
        let csrf = try #require(attribute(page.body, after: "name=\"csrf\" value=\""))
        let keep = try #require(attribute(page.body, after: "name=\"keep\" value=\""))
        let resolved = try http(
            base + "/conflicts/resolve", cookie: cookie,
            form: ["csrf": csrf, "record": referral, "field": "routing.urgency", "keep": keep])
        #expect(resolved.status == 303, "\(resolved.body)")
        #expect((try net.hub.json(["conflicts"]) as? [Any])?.isEmpty == true)
        // Scores out of range change nothing; good ones are recorded with the message.
        let reference = String(referral.suffix(8))
        var form = ["csrf": csrf, "message": "Joined the group"]
        for (i, v) in ["4", "5", "4", "7"].enumerated() { form["before\(i + 1)"] = v }
        for (i, v) in ["7", "7", "6", "11"].enumerated() { form["after\(i + 1)"] = v }
        let bad = try http(base + "/referrals/\(reference)/outcome", cookie: cookie, form: form)
        #expect(bad.status == 400 && bad.body.contains("Nothing was changed"), "\(bad.status) \(bad.body)")
        form["after4"] = "3"
        #expect(try http(base + "/referrals/\(reference)/outcome", cookie: cookie, form: form).status == 303)
        let shown = try net.hub.ok(["referral", "show", reference])
        #expect(
            shown.contains("recorded an outcome: ONS4 before 4,5,4,7; ONS4 after 7,7,6,3; message: Joined the group"),
            "\(shown)")
    }
}
