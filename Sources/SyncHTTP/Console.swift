import Foundation
import Hummingbird
import NIOCore
import SyncCore
import SyncDomain
import SyncNode
import SyncReport
import SyncStore

/// The web console: the daemon's own pages for a charity's coordinator and a PCN's link workers,
/// on the `[http]` listener beside `/metrics`. Server-rendered HTML, no JavaScript; every write goes
/// through the domain API, as the CLI's do, and wakes live sessions.
///
/// Sign-in is a one-time link from `spsync web login` (`ConsoleLogins`); the session is an
/// HttpOnly, SameSite=Strict cookie; every form carries the session's CSRF token, and a POST
/// without the cookie or with another token is refused (401, 403) with nothing written.
struct Console: Sendable {
    let daemon: Daemon
    let sessions: ConsoleSessions
    let logins: ConsoleLogins
    /// Served over TLS: the session cookie is marked `Secure`, so a browser never sends it in clear.
    let secure: Bool

    init(daemon: Daemon, secure: Bool = false, sessions: ConsoleSessions = ConsoleSessions()) {
        self.daemon = daemon
        self.secure = secure
        self.sessions = sessions
        self.logins = ConsoleLogins(home: daemon.runtime.home.path)
    }

    var node: String { daemon.runtime.node.rawValue }
    var cookieSecure: String { secure ? "; Secure" : "" }
    static var now: UInt64 { WallClock.now() }

    func domain() throws -> Domain {
        let pcn = try daemon.config.node.pcn.map { try NodeID($0) }
        return try Domain(store: daemon.runtime.store, pcn: pcn)
    }

    // MARK: Routes

    func add(to router: Router<EndpointContext>) {
        router.get("login") { request, _ -> Response in
            let token = request.uri.queryParameters["token"].map(String.init) ?? ""
            guard !token.isEmpty, (try? logins.redeem(token, nowMillis: Self.now)) == true else {
                return Self.html(
                    .unauthorized,
                    HTML.page(
                        title: "This sign-in link does not work", node: node, nav: false,
                        "<p>It was used already, or it is more than its minutes old, or it is not one this node made. Ask for a new one: <code>spsync web login</code> at the node.</p>"
                    ))
            }
            let session = await sessions.start(nowMillis: Self.now)
            var response = Response.redirect(to: "/", type: .normal)
            response.headers[values: .setCookie].append(
                "\(ConsoleSessions.cookieName)=\(session.id); Path=/; HttpOnly; SameSite=Strict; Max-Age=\(sessions.lifetimeMillis / 1000)\(cookieSecure)"
            )
            return response
        }
        router.post("logout") { request, _ -> Response in
            try await post(request) { _, session, _ in
                await sessions.end(session.id)
                var response = Response.redirect(to: "/signed-out", type: .normal)
                response.headers[values: .setCookie].append(
                    "\(ConsoleSessions.cookieName)=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0\(cookieSecure)")
                return response
            }
        }
        router.get("signed-out") { _, _ -> Response in
            Self.html(
                .ok,
                HTML.page(
                    title: "Signed out", node: node, nav: false,
                    "<p>To sign in again, ask for a link: <code>spsync web login</code> at the node.</p>"))
        }
        router.get("/") { request, _ -> Response in
            try await page(request) { _ in
                Response.redirect(to: daemon.runtime.node.role == .vcse ? "/services" : "/referrals", type: .normal)
            }
        }
        router.get("services") { request, _ -> Response in
            try await page(request) { session in try await onStore { try servicesPage(request, session) } }
        }
        router.post("services/:ref/capacity") { request, context -> Response in
            try await post(request) { fields, session, domain in
                let service = try domain.service(
                    named: context.parameters.get("ref") ?? "", ownedBy: domain.node)
                let name = (try? domain.store.service(service, wallMillis: Self.now).name) ?? service.rawValue
                var available = Int(fields["available"] ?? "") ?? -1
                if fields["step"] == "down" { available -= 1 }
                if fields["step"] == "up" { available += 1 }
                guard available >= 0 else { throw SyncError(.usage, "free places must be a whole number, 0 or more") }
                let capacity = try domain.setCapacity(
                    service, available: available, maximum: Int(fields["maximum"] ?? ""),
                    accepting: fields["accepting"].flatMap(Accepting.init), validDays: Int(fields["validDays"] ?? ""),
                    at: Self.now)
                return await back(
                    session,
                    "/services", notice: "\(name): \(capacity.available) of \(capacity.maximum) \(capacity.unit) free")
            }
        }
        router.get("referrals") { request, _ -> Response in
            try await page(request) { session in try await onStore { try referralsPage(request, session) } }
        }
        router.get("referrals/:ref") { request, context -> Response in
            let reference = context.parameters.get("ref") ?? ""
            return try await page(request) { session in
                try await onStore { try referralPage(reference, request, session) }
            }
        }
        router.post("referrals/:ref/progress") { request, context -> Response in
            try await post(request) { fields, session, domain in
                let referral = try domain.referral(named: context.parameters.get("ref") ?? "")
                guard let kind = fields["status"].flatMap(ProgressEvent.Kind.init) else {
                    throw SyncError(.usage, "choose a status")
                }
                var change = Domain.ReferralChange(
                    progress: kind, reason: fields["reason"].flatMap { $0.isEmpty ? nil : $0 })
                change.takePlace = fields["takePlace"] == "on"
                try domain.update(referral, change, at: Self.now)
                return await back(
                    session,
                    "/referrals/\(Domain.shortReference(referral))",
                    notice: "Recorded: \(kind.rawValue.spaced)")
            }
        }
        router.post("referrals/:ref/note") { request, context -> Response in
            try await post(request) { fields, session, domain in
                let referral = try domain.referral(named: context.parameters.get("ref") ?? "")
                let note = fields["note"] ?? ""
                guard !note.isEmpty else { throw SyncError(.usage, "the note is empty") }
                try domain.update(referral, Domain.ReferralChange(note: note), at: Self.now)
                return await back(session, "/referrals/\(Domain.shortReference(referral))", notice: "Note added")
            }
        }
        router.post("referrals/:ref/outcome") { request, context -> Response in
            try await post(request) { fields, session, domain in
                let referral = try domain.referral(named: context.parameters.get("ref") ?? "")
                func scores(_ prefix: String) throws -> ONS4? {
                    let given = (1...4).map { fields["\(prefix)\($0)"] ?? "" }
                    if given.allSatisfy(\.isEmpty) { return nil }
                    return try ONS4(parsing: given.joined(separator: ","))
                }
                let message = fields["message"].flatMap { $0.isEmpty ? nil : $0 }
                let change = Domain.ReferralChange(
                    ons4Before: try scores("before"), ons4After: try scores("after"), outcome: message)
                try domain.update(referral, change, at: Self.now)
                return await back(session, "/referrals/\(Domain.shortReference(referral))", notice: "Outcome recorded")
            }
        }
        router.post("conflicts/resolve") { request, _ -> Response in
            try await post(request) { fields, session, domain in
                let record = try domain.record(named: fields["record"] ?? "")
                let field = fields["field"] ?? ""
                let keep = fields["keep"] ?? ""
                if field == "status" {
                    guard let kind = ProgressEvent.Kind(rawValue: keep) else {
                        throw SyncError(.usage, "choose the decision to keep")
                    }
                    try domain.settle(record, keep: kind, at: Self.now)
                } else {
                    let key: FieldKey
                    do { key = try FieldKey(field) } catch { throw SyncError(.usage, "\(field) is not a field") }
                    try domain.resolve(record, key, .keep(keep), at: Self.now)
                }
                return await back(session, "/conflicts", notice: "Decided")
            }
        }
        router.post("referrals/:ref/address") { request, context -> Response in
            try await post(request) { fields, session, domain in
                let referral = try domain.referral(named: context.parameters.get("ref") ?? "")
                let service = try domain.service(named: fields["service"] ?? "")
                var change = Domain.ReferralChange(service: service)
                change.urgency = fields["urgency"].flatMap(Urgency.init)
                try domain.update(referral, change, at: Self.now)
                let name = domain.serviceName(service.rawValue) ?? service.rawValue
                return await back(
                    session, "/referrals/\(Domain.shortReference(referral))", notice: "Addressed to \(name)")
            }
        }
        router.get("conflicts") { request, _ -> Response in
            try await page(request) { session in try await onStore { try conflictsPage(session) } }
        }
        router.get("status") { request, _ -> Response in
            try await page(request) { session in await statusPage(session) }
        }
        router.get("report") { request, _ -> Response in
            try await page(request) { session in try await onStore { try reportPage(request, session) } }
        }
    }

    /// The commissioners' report (`spsync report`) for the last 12 months or `?from=&to=`, small
    /// numbers suppressed; the same charts and tables as report.html.
    func reportPage(_ request: Request, _ session: ConsoleSessions.Session) throws -> Response {
        let now = Self.now
        guard
            let (from, to) = Report.period(
                from: request.uri.queryParameters["from"].map(String.init),
                to: request.uri.queryParameters["to"].map(String.init), nowMillis: now)
        else { throw SyncError(.usage, "the period starts after it ends: choose a later end") }
        let report = try Report.make(try domain(), from: from, to: to, suppress: true, nowMillis: now)
        let picker = """
            <form method="get" action="/report" class="filters"><label>From <input type="date" name="from" value="\(HTML.escape(report.from))"></label>
            <label>To <input type="date" name="to" value="\(HTML.escape(report.to))"></label><button type="submit">Show</button></form>
            <p>To keep it: <code>spsync report --out DIR</code> at the node writes the CSV files and report.html.</p>
            """
        return Self.html(
            .ok,
            HTML.page(
                title: "Report", node: node, notice: session.notice, csrf: session.csrf, picker + report.htmlBody()))
    }

    // MARK: Sessions and forms

    /// A page for a signed-in person; anyone else is asked to sign in.
    /// Builds a page from the store on the node's store threads, off the cooperative pool.
    func onStore(_ build: @escaping @Sendable () throws -> Response) async throws -> Response {
        try await daemon.runtime.storeWork(build)
    }

    func page(_ request: Request, _ body: (ConsoleSessions.Session) async throws -> Response) async throws -> Response {
        guard
            var session = await sessions.session(
                request.cookies[ConsoleSessions.cookieName]?.value, nowMillis: Self.now)
        else { return signIn() }
        session.notice = await sessions.takeNotice(session.id)
        do { return try await body(session) } catch let e as SyncError {
            return Self.html(
                e.code == .notFound ? .notFound : .badRequest,
                HTML.page(title: "That did not work", node: node, "<p class=\"problem\">\(HTML.escape(e.message))</p>"))
        }
    }

    /// A form's POST: the session cookie and its CSRF token, or a refusal with nothing written.
    /// A `SyncError` from the use case goes back to the page as a problem, in its own words.
    func post(
        _ request: Request,
        _ body: ([String: String], ConsoleSessions.Session, Domain) async throws -> Response
    ) async throws -> Response {
        var request = request
        guard
            let session = await sessions.session(
                request.cookies[ConsoleSessions.cookieName]?.value, nowMillis: Self.now)
        else { return signIn() }
        let buffer = try await request.collectBody(upTo: 64 * 1024)
        let fields = HTML.formFields(String(buffer: buffer))
        guard let token = fields["csrf"], token == session.csrf else {
            return Self.html(
                .forbidden,
                HTML.page(
                    title: "Refused", node: node,
                    "<p class=\"problem\">This form is out of date or did not come from this console: nothing was changed. Go back, reload the page and try again.</p>"
                ))
        }
        do {
            let response = try await body(fields, session, try domain())
            daemon.feed.publish()
            return response
        } catch let e as SyncError {
            return Self.html(
                e.code == .notFound ? .notFound : .badRequest,
                HTML.page(
                    title: "Nothing was changed", node: node,
                    "<p class=\"problem\">\(HTML.escape(e.message))</p><p><a href=\"/\">Back to the console</a></p>"
                ))
        }
    }

    func signIn() -> Response {
        Self.html(
            .unauthorized,
            HTML.page(
                title: "Sign in", node: node, nav: false,
                "<p>Ask whoever runs this node for a sign-in link (<code>spsync web login</code>). A link works once, for a few minutes.</p>"
            ))
    }

    static func html(_ status: HTTPResponse.Status, _ text: String) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "text/html; charset=utf-8"
        headers[.cacheControl] = "no-store"
        // No frames, no scripts, forms to this console only (frame-ancestors stands for X-Frame-Options).
        headers[.contentSecurityPolicy] =
            "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(string: text)))
    }

    /// After a POST: back to `path` (Post/Redirect/Get), with a notice the session keeps for its
    /// next page: nothing of what was done travels in the URL.
    func back(_ session: ConsoleSessions.Session, _ path: String, notice: String) async -> Response {
        await sessions.leave(notice, for: session.id)
        var response = Response.redirect(to: path, type: .normal)
        response.headers[.cacheControl] = "no-store"
        return response
    }

    // MARK: Pages

    func servicesPage(_ request: Request, _ session: ConsoleSessions.Session) throws -> Response {
        let domain = try domain()
        let now = Self.now
        let mine = domain.node.role == .vcse
        let need = request.uri.queryParameters["need"].flatMap { NeedCategory(rawValue: String($0)) }
        let services = try domain.services(
            Domain.ServiceFilter(owner: mine ? domain.node : nil, need: need), wallMillis: now)
        var body = ""
        if !mine {
            body += """
                <form method="get" action="/services">\(HTML.select("need", label: "Services for a need", options: [("", "any need")] + NeedCategory.allCases.map { ($0.rawValue, $0.rawValue.spaced) }, selected: need?.rawValue))<button type="submit" class="secondary">Show</button></form>
                """
        }
        if services.isEmpty {
            body += "<p>No services \(mine ? "published by this charity yet" : "known here yet").</p>"
        }
        for s in services {
            let free =
                s.capacity.map { "\($0.available) of \($0.maximum) \($0.unit) free" } ?? "no capacity published"
            let updated = s.capacity.map { "updated " + Age.ago($0.updated, now: now) } ?? ""
            var card = """
                <section class="card" aria-labelledby="s-\(s.reference)"><h2 id="s-\(s.reference)">\(HTML.escape(s.name ?? s.id))</h2>
                <p><strong>\(HTML.escape(free))</strong> <span class="muted">\(HTML.escape(updated))\(s.stale ? " — <strong>stale</strong>: past its valid date" : "")</span></p>
                <p class="muted">\(HTML.escape(s.category ?? "")) · \(HTML.escape(s.accepting ?? "")) · \(HTML.escape(s.owner))</p>
                """
            if mine {
                let accepting = HTML.select(
                    "accepting-\(s.reference)", label: "Taking referrals",
                    options: Accepting.allCases.map { ($0.rawValue, $0.rawValue) }, selected: s.accepting
                ).replacingOccurrences(of: "name=\"accepting-\(s.reference)\"", with: "name=\"accepting\"")
                card += HTML.form(
                    "/services/\(s.reference)/capacity", csrf: session.csrf,
                    """
                    <label for="available-\(s.reference)">Free places now</label>\
                    <input id="available-\(s.reference)" name="available" type="number" min="0" inputmode="numeric" value="\(s.capacity?.available ?? 0)">\
                    <button type="submit" name="step" value="down" class="secondary" aria-label="One place fewer">−1</button>\
                    <button type="submit" name="step" value="up" class="secondary" aria-label="One place more">+1</button>\
                    <label for="maximum-\(s.reference)">Places in all</label>\
                    <input id="maximum-\(s.reference)" name="maximum" type="number" min="0" inputmode="numeric" value="\(s.capacity?.maximum ?? 0)">\
                    \(accepting)\
                    <label for="valid-\(s.reference)">Figures hold for (days)</label>\
                    <input id="valid-\(s.reference)" name="validDays" type="number" min="1" max="365" value="7">\
                    <p><button type="submit" name="step" value="set">Save</button></p>
                    """, label: "Capacity of \(s.name ?? s.reference)")
            }
            body += card + "</section>"
        }
        return Self.html(
            .ok,
            HTML.page(
                title: mine ? "Your services" : "Services", node: node, notice: session.notice, csrf: session.csrf,
                body))
    }

    func referralsPage(_ request: Request, _ session: ConsoleSessions.Session) throws -> Response {
        let domain = try domain()
        let q = request.uri.queryParameters
        let status = q["status"].flatMap { ProgressEvent.Kind(rawValue: String($0)) }
        let need = q["need"].flatMap { NeedCategory(rawValue: String($0)) }
        let urgency = q["urgency"].flatMap { Urgency(rawValue: String($0)) }
        let lines = try domain.referrals(Domain.ReferralFilter(status: status, need: need, urgency: urgency))
        let now = Self.now
        var body = """
            <form method="get" action="/referrals">\
            \(HTML.select("status", label: "Status", options: [("", "any")] + ProgressEvent.Kind.allCases.map { ($0.rawValue, $0.rawValue.spaced) }, selected: status?.rawValue))\
            \(HTML.select("need", label: "Need", options: [("", "any")] + NeedCategory.allCases.map { ($0.rawValue, $0.rawValue.spaced) }, selected: need?.rawValue))\
            \(HTML.select("urgency", label: "Urgency", options: [("", "any")] + Urgency.allCases.map { ($0.rawValue, $0.rawValue) }, selected: urgency?.rawValue))\
            <p><button type="submit" class="secondary">Filter</button></p></form>
            """
        if lines.isEmpty {
            body += "<p>No referrals match.</p>"
        } else {
            body +=
                "<table><caption class=\"muted\">Newest first</caption><thead><tr><th>Referral</th><th>Status</th><th>Urgency</th><th class=\"optional\">To</th><th class=\"optional\">Needs</th></tr></thead><tbody>"
            for l in lines {
                body += """
                    <tr><td><a href="/referrals/\(l.reference)">\(HTML.escape(l.person ?? l.reference))</a> <span class="muted">\(HTML.escape(Age.ago(l.created, now: now)))</span></td>\
                    <td>\(HTML.escape(l.status.spaced))</td><td>\(HTML.escape(l.urgency ?? "-"))</td>\
                    <td class="optional">\(HTML.escape(l.serviceName ?? l.to))</td><td class="optional">\(HTML.escape(l.needs.joined(separator: ", ")))</td></tr>
                    """
            }
            body += "</tbody></table>"
        }
        return Self.html(
            .ok, HTML.page(title: "Referrals", node: node, notice: session.notice, csrf: session.csrf, body))
    }

    func referralPage(_ reference: String, _ request: Request, _ session: ConsoleSessions.Session) throws -> Response {
        let domain = try domain()
        let referral = try domain.referral(named: reference)
        let summary = try domain.store.referral(referral)
        let ref = Domain.shortReference(referral)
        let serviceName = summary.service.flatMap(domain.serviceName)
        let person = try domain.store.live(referral, .contactGivenName).first?.write.text
        var body = """
            <dl><dt>Status</dt><dd>\(HTML.escape(summary.status.spaced))</dd>\
            <dt>With</dt><dd>\(HTML.escape(serviceName ?? domain.organisationName(summary.to) ?? summary.to))</dd>\
            <dt>Needs</dt><dd>\(HTML.escape(summary.needs.joined(separator: ", ")))</dd>\
            <dt>Urgency</dt><dd>\(HTML.escape(summary.urgency ?? "not set"))</dd>\
            \(person.map { "<dt>Person</dt><dd>\(HTML.escape($0))</dd>" } ?? "")</dl>
            """
        let isParty = referral.referralParties.map { domain.node == $0.practice || domain.node == $0.pcn } ?? false
        if isParty {
            let need = summary.needs.compactMap(NeedCategory.init).first
            let services = try domain.services(Domain.ServiceFilter(need: need), wallMillis: Self.now)
            let options =
                services.map { s -> (value: String, text: String) in
                    let free = s.capacity.map { "\($0.available) of \($0.maximum) free" } ?? "no capacity published"
                    return (s.id, "\(s.name ?? s.reference) — \(free)\(s.stale ? ", stale" : "")")
                }
            if !options.isEmpty {
                body +=
                    "<section class=\"card\"><h2>Address this referral</h2>"
                    + HTML.form(
                        "/referrals/\(ref)/address", csrf: session.csrf,
                        HTML.select(
                            "service",
                            label: need.map { "Services for \($0.rawValue.spaced)" }
                                ?? "Service",
                            options: options, selected: summary.service)
                            + HTML.select(
                                "urgency", label: "Urgency",
                                options: Urgency.allCases.map { ($0.rawValue, $0.rawValue) },
                                selected: summary.urgency ?? Urgency.routine.rawValue)
                            + "<p><button type=\"submit\">Address</button></p>") + "</section>"
            }
            body += progressForm(
                ref, session, title: "Close or withdraw", label: "Record", [.withdrawn, .closed, .reopened],
                extra: "", reasonLabel: "Reason")
        } else if domain.node.role == .vcse {
            let steps: [ProgressEvent.Kind] = [
                .received, .contacted, .accepted, .declined, .unableToContact, .attending, .didNotAttend, .completed,
            ]
            body += progressForm(
                ref, session, title: "Record progress", label: "Status", steps,
                extra:
                    "<p><label><input type=\"checkbox\" name=\"takePlace\"> Take one of the service's free places (when accepting)</label></p>",
                reasonLabel: "Reason or detail (optional)")
        }
        let mayRecordOutcome =
            referral.referralParties?.pcn == domain.node
            || summary.service.flatMap({ try? RecordID($0) })?.serviceOwner == domain.node
        if mayRecordOutcome {
            func scoreInputs(_ prefix: String, _ legend: String) -> String {
                let items = ["Life satisfaction", "Worthwhile", "Happiness", "Anxiety (lower is better)"]
                let inputs = items.enumerated().map { i, label in
                    "<label for=\"\(prefix)\(i + 1)\">\(label)</label><input id=\"\(prefix)\(i + 1)\" name=\"\(prefix)\(i + 1)\" type=\"number\" min=\"0\" max=\"10\" inputmode=\"numeric\">"
                }.joined()
                return "<fieldset><legend>\(legend) (0–10)</legend>\(inputs)</fieldset>"
            }
            body +=
                "<section class=\"card\"><h2>Outcome</h2>"
                + HTML.form(
                    "/referrals/\(ref)/outcome", csrf: session.csrf,
                    scoreInputs("before", "ONS4 wellbeing before") + scoreInputs("after", "ONS4 wellbeing after")
                        + "<label for=\"message\">Message to the GP</label><textarea id=\"message\" name=\"message\" rows=\"2\" cols=\"40\"></textarea>"
                        + "<p><button type=\"submit\" class=\"secondary\">Record outcome</button></p>") + "</section>"
        }
        body +=
            "<section class=\"card\"><h2>Add a note</h2>"
            + HTML.form(
                "/referrals/\(ref)/note", csrf: session.csrf,
                "<label for=\"note\">Note</label><textarea id=\"note\" name=\"note\" rows=\"3\" cols=\"40\"></textarea><p><button type=\"submit\" class=\"secondary\">Add note</button></p>"
            ) + "</section>"
        body += "<h2>Timeline</h2><ol>"
        for e in try domain.timeline(referral) {
            let marker =
                !e.live
                ? " <span class=\"muted\">(replaced)</span>"
                : e.outOfOrder ? " <span class=\"muted\">(out of order: does not count)</span>" : ""
            body +=
                "<li><span class=\"muted\">\(HTML.escape(Age.ago(e.at, now: Self.now)))</span> \(HTML.escape(e.by)) \(HTML.escape(e.text))\(marker)</li>"
        }
        body += "</ol>"
        return Self.html(
            .ok, HTML.page(title: "Referral \(ref)", node: node, notice: session.notice, csrf: session.csrf, body))
    }

    func conflictsPage(_ session: ConsoleSessions.Session) throws -> Response {
        let domain = try domain()
        let conflicts = try domain.store.conflicts()
        var body = conflicts.isEmpty ? "<p>No conflicts: nothing waits for a decision.</p>" : ""
        for c in conflicts {
            let record = try? RecordID(c.record)
            let what =
                record.flatMap { $0.serviceOwner != nil ? domain.serviceName(c.record) : nil }
                ?? record.map { "referral " + Domain.shortReference($0) } ?? c.record
            let isStatus = c.field == "status"
            body +=
                "<section class=\"card\"><h2>\(HTML.escape(isStatus ? "Contradictory decisions" : c.field)) on \(HTML.escape(what))</h2><p>Keep one:</p>"
            for candidate in c.candidates {
                let by = domain.organisationName(candidate.origin) ?? candidate.origin
                let millis = candidate.hlc.split(separator: ".").first.flatMap { UInt64($0) }
                let when = millis.map { Age.ago($0, now: Self.now) } ?? ""
                let value = candidate.value ?? "(redacted)"
                let keep = isStatus ? Self.decision(candidate.value) ?? value : candidate.write
                let fields =
                    "<input type=\"hidden\" name=\"record\" value=\"\(HTML.escape(c.record))\">"
                    + "<input type=\"hidden\" name=\"field\" value=\"\(HTML.escape(c.field))\">"
                    + "<input type=\"hidden\" name=\"keep\" value=\"\(HTML.escape(keep))\">"
                    + "<p>\(HTML.escape(by)), \(HTML.escape(when)): <strong>\(HTML.escape(isStatus ? keep : value))</strong> "
                    + "<button type=\"submit\" class=\"secondary\">Keep this</button></p>"
                body += HTML.form("/conflicts/resolve", csrf: session.csrf, fields)
            }
            body += "</section>"
        }
        return Self.html(.ok, HTML.page(title: "Conflicts", node: node, csrf: session.csrf, body))
    }

    /// A card with a form that records one of `kinds` on a referral, with a reason.
    func progressForm(
        _ ref: String, _ session: ConsoleSessions.Session, title: String, label: String, _ kinds: [ProgressEvent.Kind],
        extra: String, reasonLabel: String
    ) -> String {
        let fields =
            HTML.select("status", label: label, options: kinds.map { ($0.rawValue, $0.rawValue.spaced) }, selected: nil)
            + "<label for=\"reason\">\(reasonLabel)</label><input id=\"reason\" name=\"reason\">" + extra
            + "<p><button type=\"submit\">Record</button></p>"
        return "<section class=\"card\"><h2>\(title)</h2>"
            + HTML.form("/referrals/\(ref)/progress", csrf: session.csrf, fields) + "</section>"
    }

    /// The decision a status conflict's candidate recorded (its event's kind).
    static func decision(_ value: String?) -> String? {
        guard let value, let data = value.data(using: .utf8),
            let event = try? JSONDecoder().decode(ProgressEvent.self, from: data)
        else { return nil }
        return event.event
    }

    func statusPage(_ session: ConsoleSessions.Session) async -> Response {
        let now = Self.now
        var body =
            "<table><thead><tr><th>Peer</th><th>State</th><th>Last success</th><th class=\"optional\">Last error</th></tr></thead><tbody>"
        for p in await daemon.book.snapshot() {
            body += """
                <tr><td>\(HTML.escape(p.id))</td><td>\(HTML.escape("\(p.state)"))</td>\
                <td>\(HTML.escape(p.lastSuccessAt.map { Age.ago($0, now: now) } ?? "never"))</td>\
                <td class="optional">\(HTML.escape(p.lastError ?? "-"))</td></tr>
                """
        }
        body += "</tbody></table>"
        return Self.html(.ok, HTML.page(title: "Sync status", node: node, csrf: session.csrf, body))
    }
}

extension String {
    /// "unable_to_contact" → "unable to contact": a value as people read it.
    var spaced: String { replacingOccurrences(of: "_", with: " ") }
}
