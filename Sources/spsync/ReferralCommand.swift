import ArgumentParser
import Foundation
import SyncCore
import SyncDomain
import SyncNode
import SyncStore

/// `spsync referral …`: referrals from practices to link workers and on to services.
struct ReferralCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "referral", abstract: "Make, address, progress and inspect referrals.",
        subcommands: [
            ReferralCreate.self, ReferralUpdate.self, ReferralList.self, ReferralShow.self, ReferralRedact.self,
        ])
}

/// Contact and clinical details given on the command line.
struct PersonOptions: ParsableArguments {
    @Option(help: "The person's given name.") var name: String?
    @Option(help: "A UK phone number: 07700 900123, or +44 7700 900123.") var phone: String?
    @Option(help: "An email address, name@example.org.") var email: String?
    @Option(help: "phone, email, text or letter.") var preferredContact: String?
    @Option var accessNeeds: String?
    @Option var interpreter: String?
    @Option(help: "NHS number (ten digits, modulus 11 checked).") var nhsNumber: String?
    @Option(help: "Date of birth, YYYY-MM-DD: a real date, not in the future.") var dob: String?
    @Option var address: String?

    /// The value rules (`ValueRules`) for each detail given; called from the commands' `validate()`.
    func checkValues() throws {
        try checkText(name, "--name", .line)
        try checkText(interpreter, "--interpreter", .line)
        try checkText(accessNeeds, "--access-needs", .freeText)
        try checkText(address, "--address", .freeText)
        if let phone, !phone.isEmpty {
            try checkOption { () throws(SyncError) in try ValueRules.ukPhone(phone, "--phone") }
        }
        if let email, !email.isEmpty {
            try checkOption { () throws(SyncError) in try ValueRules.email(email, "--email") }
        }
        if let preferredContact, !["phone", "email", "text", "letter"].contains(preferredContact) {
            throw ValidationError(
                "--preferred-contact \(quoted: preferredContact) is not a way to contact: use phone, email, text or letter"
            )
        }
        if let nhsNumber {
            try checkOption { () throws(SyncError) in
                do throws(SyncError) {
                    _ = try NHSNumber(nhsNumber)
                } catch {
                    throw SyncError(.usage, "--nhs-number: \(error.message)")
                }
            }
        }
        if let dob {
            try checkOption { () throws(SyncError) in
                try ValueRules.dateOfBirth(dob, "--dob", notAfter: .today)
            }
        }
    }

    /// The details as the domain takes them (values already checked by `checkValues`).
    func person() throws -> Domain.Person {
        var nhs: NHSNumber?
        if let nhsNumber {
            do { nhs = try NHSNumber(nhsNumber) } catch { throw SyncError(.usage, "--nhs-number: \(error.message)") }
        }
        return Domain.Person(
            givenName: name, phone: phone, email: email, preferredContact: preferredContact.flatMap(ContactMethod.init),
            accessNeeds: accessNeeds, interpreter: interpreter, nhsNumber: nhs, dateOfBirth: dob, address: address)
    }

    var hasContact: Bool {
        [name, phone, email, preferredContact, accessNeeds, interpreter].contains { $0 != nil }
    }
}

extension CalendarDate {
    /// Today where the operator is (the system's time zone): a date of birth may be today, not later.
    static var today: CalendarDate {
        let now = Date()
        let c = Calendar.current.dateComponents([.year, .month, .day], from: now)
        return CalendarDate(year: c.year ?? 0, month: c.month ?? 0, day: c.day ?? 0)
            ?? CalendarDate(utcMillis: UInt64(now.timeIntervalSince1970 * 1000))
    }
}

/// The use cases of this node, with the PCN its node.toml names (for a practice).
func domain(_ home: NodeHome) throws -> Domain {
    let store = try home.store()
    let pcn = try home.config().node.pcn.map { try nodeID($0, option: "node.toml pcn") }
    return try Domain(store: store, pcn: pcn)
}

/// Runs a use case that may name a service this node does not hold, adding the option that
/// addresses it anyway to the domain's words.
func addressingUnknown<T>(_ body: () throws -> T) throws -> T {
    do {
        return try body()
    } catch let error as SyncError where error.code == .notFound && error.message.hasPrefix("no service") {
        throw SyncError(.usage, error.message + " (add --force)")
    }
}

struct ReferralCreate: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "create", abstract: "Refer a person (practices and hubs). Prints the referral id.")

    @OptionGroup var home: HomeOptions
    @Option(
        help:
            "Who it is addressed to: the PCN hub (the default without --service), or the charity running --service.")
    var to: String?
    @Option(
        help:
            "The service to refer to: its name, its id, or 6+ characters of its id, as `spsync service list --need …` shows."
    )
    var service: String?
    @Flag(help: "Address the referral to --service even though this node has not received it yet (not yet synced).")
    var force = false
    @Option(parsing: .upToNextOption, help: "Needs: \(NeedCategory.allCases.map(\.rawValue).joined(separator: ", ")).")
    var need: [String]
    @Option(help: "explicit or implied: the basis for sharing contact details with the service.") var consent: String?
    @Option(help: "routine, soon or urgent.") var urgency: String?
    @Option(help: "A note for the service.") var note: String?
    @Option(help: "For a hub: the person's practice (its ODS code).") var practice: String?
    @OptionGroup var person: PersonOptions
    @OptionGroup var output: OutputOptions

    func validate() throws {
        guard !need.isEmpty else { throw ValidationError("give at least one --need") }
        for n in need where NeedCategory(rawValue: n) == nil {
            throw ValidationError(
                "--need \(n) is not a need: use \(NeedCategory.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        if let consent, consent != "explicit", consent != "implied" {
            throw ValidationError("--consent must be explicit or implied")
        }
        if let urgency, !["routine", "soon", "urgent"].contains(urgency) {
            throw ValidationError("--urgency must be routine, soon or urgent")
        }
        try checkText(note, "--note", .freeText)
        try person.checkValues()
    }

    func run() throws {
        try runReporting {
            let home = self.home.nodeHome
            let domain = try domain(home)
            if domain.node.role == .practice, practice != nil {
                throw SyncError(.usage, "--practice is for hubs; a practice refers its own patients")
            }
            if domain.node.role == .hub, practice == nil {
                throw SyncError(.usage, "a hub names the person's practice: add --practice A81001")
            }
            if person.hasContact, consent == nil {
                throw SyncError(
                    .usage,
                    "contact details need a basis for sharing them: add --consent explicit (or implied), or leave the contact details out"
                )
            }
            let new = Domain.NewReferral(
                needs: need.compactMap(NeedCategory.init),
                practice: try practice.map { try nodeID($0, option: "--practice") },
                to: try to.map { try nodeID($0, option: "--to") },
                service: try service.map { try domain.service(named: $0) },
                serviceNotYetSynced: force,
                urgency: urgency.flatMap(Urgency.init), note: note, consent: consent.flatMap(ConsentBasis.init),
                person: try person.person())
            let id = try addressingUnknown { try domain.createReferral(new, at: WallClock.now()) }
            notifyDaemon(home)
            if output.json { try printJSON(["id": id.rawValue]) } else { print(id) }
            if let service = new.service { warnIfNoRoom(domain, service) }
        }
    }
}

struct ReferralUpdate: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "update", abstract: "Address, progress, annotate or record the outcome of a referral.")

    @OptionGroup var home: HomeOptions
    @Argument(help: "The referral: its id, or 6+ characters of it as `spsync referral list` shows.") var id: String
    @Option(help: "Address it to this service (practices and hubs): its name, its id, or 6+ characters of its id.")
    var service: String?
    @Option(help: "routine, soon or urgent (practices and hubs).") var urgency: String?
    @Flag(help: "With --status accepted: take one of the service's free places in the same step.")
    var takePlace = false
    @Flag(help: "Address it to --service even though this node has not received that service yet (not yet synced).")
    var force = false
    @Option(
        help:
            "Record a status: practice/hub: withdrawn, closed, reopened; service: received, contacted, accepted, declined, unable_to_contact, attending, did_not_attend, completed — each only where it may follow the current status (README: what may follow what)."
    )
    var status: String?
    @Option(help: "Reason, with --status (e.g. why declined).") var reason: String?
    @Option(help: "Add a note.") var note: String?
    @Option(help: "withdrawn, or a new basis: explicit or implied.") var consent: String?
    @Option(help: "ONS4 scores before, four numbers 0-10: life satisfaction,worthwhile,happiness,anxiety.")
    var ons4Before: String?
    @Option(help: "ONS4 scores after.") var ons4After: String?
    @Option(help: "Outcome message back to the GP.") var outcome: String?
    @Option(
        help:
            "Record a national SNOMED CT concept for the GP record (practices and hubs): offered, declined (the person declined social prescribing) or signposting."
    ) var snomed: String?
    @OptionGroup var person: PersonOptions

    func validate() throws {
        if let status, ProgressEvent.Kind(rawValue: status) == nil || status == "settled" {
            throw ValidationError(
                "--status \(status) is not a status: use \(ProgressEvent.Kind.allCases.filter { $0 != .settled }.map(\.rawValue).joined(separator: ", ")) (settle contradictions with `spsync settle`)"
            )
        }
        if let consent, !["withdrawn", "explicit", "implied"].contains(consent) {
            throw ValidationError("--consent must be withdrawn, explicit or implied")
        }
        if let urgency, Urgency(rawValue: urgency) == nil {
            throw ValidationError("--urgency must be routine, soon or urgent")
        }
        if takePlace, status != "accepted" { throw ValidationError("--take-place goes with --status accepted") }
        if let snomed, SocialPrescribingCode(word: snomed) == nil {
            throw ValidationError(
                "--snomed \(snomed) is not a national social prescribing concept: use offered, declined or signposting (the referral's own code comes with it)"
            )
        }
        try checkText(reason, "--reason", .freeText)
        try checkText(note, "--note", .freeText)
        try checkText(outcome, "--outcome", .freeText)
        try person.checkValues()
    }

    static func scores(_ text: String?, _ option: String) throws -> ONS4? {
        guard let text else { return nil }
        do { return try ONS4(parsing: text) } catch {
            throw SyncError(.usage, "\(option) \(text): give four scores 0-10, comma-separated, e.g. 6,7,5,4")
        }
    }

    func run() throws {
        try runReporting {
            let home = self.home.nodeHome
            let domain = try domain(home)
            let record = try domain.referral(named: id)
            var change = Domain.ReferralChange(
                service: try service.map { try domain.service(named: $0) }, serviceNotYetSynced: force,
                urgency: urgency.flatMap(Urgency.init),
                progress: status.flatMap(ProgressEvent.Kind.init), reason: reason, note: note,
                consent: consent.map {
                    $0 == "withdrawn" ? .withdrawn : .given(ConsentBasis(rawValue: $0) ?? .implied)
                },
                ons4Before: try Self.scores(ons4Before, "--ons4-before"),
                ons4After: try Self.scores(ons4After, "--ons4-after"), outcome: outcome, person: try person.person())
            change.takePlace = takePlace
            change.snomed = snomed.flatMap(SocialPrescribingCode.init(word:))
            let ref = try addressingUnknown { try domain.update(record, change, at: WallClock.now()) }
            notifyDaemon(home)
            let now = try domain.store.referral(record)
            print("\(record): \(now.status), to \(now.to) (change \(ref.seq))")
            if let service = change.service { warnIfNoRoom(domain, service) }
            if takePlace, let s = now.service.flatMap({ try? RecordID($0) }),
                let c = try? domain.store.service(s, wallMillis: WallClock.now()).capacity
            {
                print("took a place: \(c.available) of \(c.maximum) \(c.unit) free now")
            }
        }
    }
}

struct ReferralList: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list", abstract: "List the referrals this node holds, newest first.")

    @OptionGroup var home: HomeOptions
    @Option(
        help:
            "Only referrals with this status (\(ProgressEvent.Kind.allCases.map(\.rawValue).joined(separator: ", ")), or conflict)."
    )
    var status: String?
    @Option(help: "Only referrals addressed to this service: its name, id, or 6+ characters of its id.")
    var service: String?
    @Option(help: "Only referrals with this need: \(NeedCategory.allCases.map(\.rawValue).joined(separator: ", ")).")
    var need: String?
    @Option(help: "Only referrals of this practice (ODS code).") var practice: String?
    @Option(help: "Only referrals of this urgency: routine, soon or urgent.") var urgency: String?
    @Option(help: "Only referrals made since: a date (2026-12-01), a UTC time, or an age (90m, 24h, 7d).")
    var since: String?
    @OptionGroup var output: OutputOptions

    func validate() throws {
        if let status, status != "conflict", ProgressEvent.Kind(rawValue: status) == nil {
            throw ValidationError(
                "--status \(status) is not a status: use \(ProgressEvent.Kind.allCases.map(\.rawValue).joined(separator: ", ")) or conflict"
            )
        }
        if let need, NeedCategory(rawValue: need) == nil {
            throw ValidationError(
                "--need \(need) is not a need: use \(NeedCategory.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        if let urgency, Urgency(rawValue: urgency) == nil {
            throw ValidationError("--urgency must be routine, soon or urgent")
        }
        if let since { _ = try AuditCommand.time(since, now: WallClock.now()) }
    }

    func run() throws {
        try runReporting {
            let domain = try domain(home.nodeHome)
            let filter = Domain.ReferralFilter(
                service: try service.map { try domain.service(named: $0) }, need: need.flatMap(NeedCategory.init),
                practice: try practice.map { try nodeID($0, option: "--practice") },
                urgency: urgency.flatMap(Urgency.init),
                since: try since.map { try AuditCommand.time($0, now: WallClock.now()) })
            var lines = try domain.referrals(filter)
            if let status { lines = lines.filter { $0.status == status } }
            if output.json { return try printJSON(lines) }
            if lines.isEmpty {
                return print("no referrals" + (filter.isEmpty && status == nil ? " here yet" : " match"))
            }
            let now = WallClock.now()
            printTable(
                ["ref", "age", "status", "urgency", "person", "to", "needs"],
                lines.map {
                    [
                        $0.reference, $0.created > now ? "0 s" : Age.span(now - $0.created), $0.status,
                        $0.urgency ?? "-", clip($0.person ?? "-", 12), clip($0.serviceName ?? $0.to, 20),
                        clip($0.needs.joined(separator: ","), 16),
                    ]
                })
        }
    }
}

extension Domain.ReferralFilter {
    var isEmpty: Bool { service == nil && need == nil && practice == nil && urgency == nil && since == nil }
}

/// At most `width` characters, ending in "…" when cut.
func clip(_ text: String, _ width: Int) -> String {
    text.count <= width ? text : String(text.prefix(width - 1)) + "…"
}

/// Says so, on standard error, when a referral was just addressed to a service with no free places,
/// figures gone stale, or not taking referrals: it is allowed (a waiting list), but rarely meant.
func warnIfNoRoom(_ domain: Domain, _ service: RecordID) {
    guard let s = try? domain.store.service(service, wallMillis: WallClock.now()) else {
        FileHandle.standardError.write(
            Data(
                "spsync: note: \(service) is not known here yet, so its free places cannot be shown; sync to see them\n"
                    .utf8))
        return
    }
    let name = s.name ?? service.rawValue
    var problems: [String] = []
    if let c = s.capacity, c.available == 0 { problems.append("has no free \(c.unit) (0 of \(c.maximum))") }
    if s.capacity == nil { problems.append("has published no capacity") }
    if s.stale { problems.append("has capacity figures past their valid date") }
    if let a = s.accepting, a == Accepting.paused.rawValue || a == Accepting.closed.rawValue {
        problems.append("is \(a) to referrals")
    }
    guard !problems.isEmpty else { return }
    FileHandle.standardError.write(
        Data(
            "spsync: note: \(EscapedText.printable(name)) \(problems.joined(separator: " and ")); the referral was addressed to it all the same\n"
                .utf8))
}

/// One line of a referral's timeline (`referral show --json`).
struct TimelineEntry: Codable {
    var at: String
    var hlc: String
    var origin: String
    /// The organisation's name where this node holds it.
    var by: String
    /// What it did, in words ("addressed it to Walk and Talk").
    var text: String
    var change: String
    var field: String
    var value: String?
    var live: Bool
    /// A progress event that does not count towards the status: the lifecycle table does not allow
    /// it where it falls (Protocol/SPEC.md 9.1).
    var outOfOrder: Bool
    var receivedFrom: String?
    /// The national SNOMED CT concept the step carries, where one exists.
    var snomed: String?
}

struct ReferralDetail: Codable {
    var referral: ReferralSummary
    var serviceName: String?
    var timeline: [TimelineEntry]
}

struct ReferralShow: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "show", abstract: "Show a referral and its timeline.")

    @OptionGroup var home: HomeOptions
    @Argument(help: "The referral: its id, or 6+ characters of it as `spsync referral list` shows.") var id: String
    @OptionGroup var output: OutputOptions

    /// "2 Dec 14:05", in this machine's time zone.
    static func when(_ millis: UInt64) -> String {
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_GB")
        f.dateFormat = "d MMM HH:mm"
        return f.string(from: Date(timeIntervalSince1970: Double(millis) / 1000))
    }

    func run() throws {
        try runReporting {
            let domain = try domain(home.nodeHome)
            let record = try domain.referral(named: id)
            let summary = try domain.store.referral(record)
            let entries = try domain.timeline(record)
            let serviceName = summary.service.flatMap(domain.serviceName)
            let timeline = entries.map {
                TimelineEntry(
                    at: isoTime($0.at), hlc: $0.hlc, origin: $0.node, by: $0.by, text: $0.text, change: $0.change,
                    field: $0.field, value: $0.value, live: $0.live, outOfOrder: $0.outOfOrder,
                    receivedFrom: $0.receivedFrom, snomed: $0.snomed)
            }
            if output.json {
                return try printJSON(ReferralDetail(referral: summary, serviceName: serviceName, timeline: timeline))
            }
            let person = try domain.store.live(record, .contactGivenName).first?.write.text
            let to = summary.service.map { serviceName ?? $0 } ?? (domain.organisationName(summary.to) ?? summary.to)
            var header = [
                "\(summary.id)  (\(Domain.shortReference(record)))", "  status   \(summary.status)",
                "  to       \(to)",
            ]
            if let s = summary.service, serviceName != nil { header.append("  service  \(s)") }
            header += [
                "  needs    \(summary.needs.joined(separator: ", "))", "  urgency  \(summary.urgency ?? "-")",
            ]
            if let person { header.append("  person   \(person)") }
            for line in header + [""] { print(EscapedText.printable(line)) }
            for e in entries {
                let note = !e.live ? " (replaced)" : e.outOfOrder ? " (out of order: does not count)" : ""
                let code = e.snomed.map { "  [\($0)]" } ?? ""
                print(EscapedText.printable("\(Self.when(e.at))  \(e.by) \(e.text)\(note)\(code)"))
            }
            print(
                "\nCodes for the GP record are shown in [ ]; other steps (a service receiving, accepting, declining, "
                    + "attending, completing) have no national SNOMED CT concept, so none is given.")
        }
    }
}

struct ReferralRedact: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "redact",
        abstract: "Strip a class of a referral's data everywhere it reaches (practice and hub only).")

    @OptionGroup var home: HomeOptions
    @Argument var id: String
    @Option(name: .customLong("class"), help: "routing, consent, contact, clinical, progress or outcome.")
    var dataClass: String
    @Option(help: "Why (kept in the record, e.g. 'entered for the wrong person').") var reason = "redacted by operator"

    func validate() throws { try checkText(reason, "--reason", .freeText) }

    func run() throws {
        try runReporting {
            guard let cls = DataClass(rawValue: dataClass), DataClass.referralClasses.contains(cls) else {
                throw SyncError(
                    .usage, "--class \(dataClass): use routing, consent, contact, clinical, progress or outcome")
            }
            let domain = try domain(home.nodeHome)
            let record = try domain.referral(named: id)
            try domain.redact(record, cls, reason: reason, at: WallClock.now())
            notifyDaemon(home.nodeHome)
            print("\(record): \(cls.rawValue) redacted here; peers strip it when they receive the redaction")
        }
    }
}
