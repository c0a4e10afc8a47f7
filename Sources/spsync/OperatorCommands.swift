import ArgumentParser
import Foundation
import SyncCore
import SyncNode
import SyncStore

/// `spsync audit`: the audit log — refusals, redactions, purges, parked and quarantined writes, key
/// events — never a value.
struct AuditCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "audit", abstract: "List the audit log (ids, times and codes; never values).",
        discussion: "Actions: \(Store.auditActions.joined(separator: ", ")).")

    @OptionGroup var home: HomeOptions
    @Option(
        help:
            "Only entries since this time: a date (2026-12-01), a UTC time (2026-12-01T09:30Z), or an age (90m, 24h, 7d)."
    )
    var since: String?
    @Option(help: "Only this action (repeat, or separate with commas).") var action: [String] = []
    @Option(help: "At most this many entries, the newest (1–100000).") var limit = 200
    @OptionGroup var output: OutputOptions

    func validate() throws {
        for a in actions where !Store.auditActions.contains(a) {
            throw ValidationError(
                "unknown action '\(EscapedText.escape(a))': use one of \(Store.auditActions.joined(separator: ", "))")
        }
        guard (1...100_000).contains(limit) else { throw ValidationError("--limit must be between 1 and 100000") }
        if let since { _ = try Self.time(since, now: WallClock.now()) }
    }

    var actions: [String] {
        action.flatMap { $0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } }
    }

    /// A `--since` value in ms since the Unix epoch.
    static func time(_ text: String, now: UInt64) throws -> UInt64 {
        if let unit = text.last, let n = UInt64(text.dropLast()), n > 0,
            let per = ["m": 60_000, "h": 3_600_000, "d": 86_400_000][unit]
        {
            let span = n.multipliedReportingOverflow(by: UInt64(per))
            return span.overflow || span.partialValue > now ? 0 : now - span.partialValue
        }
        let day = DateFormatter()
        day.locale = Locale(identifier: "en_US_POSIX")
        day.timeZone = TimeZone(identifier: "UTC")
        day.dateFormat = "yyyy-MM-dd"
        if let d = day.date(from: text) { return UInt64(max(0, d.timeIntervalSince1970) * 1000) }
        let iso = ISO8601DateFormatter()
        for format in ["yyyy-MM-dd'T'HH:mmXXXXX", "yyyy-MM-dd'T'HH:mm:ssXXXXX"] {
            day.dateFormat = format
            if let d = day.date(from: text) { return UInt64(max(0, d.timeIntervalSince1970) * 1000) }
        }
        if let d = iso.date(from: text) { return UInt64(max(0, d.timeIntervalSince1970) * 1000) }
        throw ValidationError(
            "--since '\(EscapedText.escape(text))' is not a time: use a date (2026-12-01), a UTC time (2026-12-01T09:30Z) or an age (90m, 24h, 7d)"
        )
    }

    func run() throws {
        try runReporting {
            let store = try home.nodeHome.store()
            let since = try since.map { try Self.time($0, now: WallClock.now()) }
            let entries = try store.audit(since: since, actions: actions.isEmpty ? nil : actions, limit: limit)
            if output.json { return try printJSON(entries) }
            if entries.isEmpty { return print("no audit entries" + (since == nil && actions.isEmpty ? "" : " match")) }
            printTable(
                ["time", "action", "by", "origin", "seq", "field", "code", "record"],
                entries.map { e in
                    [
                        isoTime(e.at), e.action, e.actor ?? "-", e.origin ?? "-", e.seq.map { "\($0)" } ?? "-",
                        e.field ?? "-", e.code ?? "-", e.record ?? "-",
                    ]
                })
        }
    }
}

/// `spsync held`: writes this node holds but has not applied, with why and what to do.
struct HeldCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "held", abstract: "List parked and quarantined writes, with the reason and what to do.")

    @OptionGroup var home: HomeOptions
    @OptionGroup var output: OutputOptions

    func run() throws {
        try runReporting {
            let held = try home.nodeHome.store().held()
            if output.json { return try printJSON(held) }
            if held.isEmpty { return print("no writes are parked or quarantined") }
            let now = WallClock.now()
            for h in held {
                print(
                    EscapedText.printable(
                        "\(h.kind.rawValue)  \(h.origin) seq \(h.seq)  \(h.field ?? "(undecodable)")  \(h.record)  "
                            + "from \(h.receivedFrom ?? "this node"), \(Age.ago(h.at, now: now))"))
                print(EscapedText.printable("  why: \(h.reason)"))
                print(EscapedText.printable("  do:  \(h.whatToDo)"))
            }
        }
    }
}
