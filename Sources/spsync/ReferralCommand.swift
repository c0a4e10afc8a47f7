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
    @Option(help: "Who it is addressed to: the PCN hub, or a charity together with --service.") var to: String
    @Option(help: "The service to refer to (S.…), one this node knows (see `spsync service list`).")
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
                to: try nodeID(to, option: "--to"), service: try service.map(recordID), serviceNotYetSynced: force,
                urgency: urgency.flatMap(Urgency.init), note: note, consent: consent.flatMap(ConsentBasis.init),
                person: try person.person())
            let id = try addressingUnknown { try domain.createReferral(new, at: WallClock.now()) }
            notifyDaemon(home)
            if output.json { try printJSON(["id": id.rawValue]) } else { print(id) }
        }
    }
}

struct ReferralUpdate: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "update", abstract: "Address, progress, annotate or record the outcome of a referral.")

    @OptionGroup var home: HomeOptions
    @Argument(help: "The referral id (R.…).") var id: String
    @Option(help: "Address it to this service (practices and hubs), one this node knows (see `spsync service list`).")
    var service: String?
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
            let record = try recordID(id)
            let change = Domain.ReferralChange(
                service: try service.map(recordID), serviceNotYetSynced: force,
                progress: status.flatMap(ProgressEvent.Kind.init), reason: reason, note: note,
                consent: consent.map {
                    $0 == "withdrawn" ? .withdrawn : .given(ConsentBasis(rawValue: $0) ?? .implied)
                },
                ons4Before: try Self.scores(ons4Before, "--ons4-before"),
                ons4After: try Self.scores(ons4After, "--ons4-after"), outcome: outcome, person: try person.person())
            let ref = try addressingUnknown { try domain.update(record, change, at: WallClock.now()) }
            notifyDaemon(home)
            let now = try domain.store.referral(record)
            print("\(record): \(now.status), to \(now.to) (change \(ref.seq))")
        }
    }
}

struct ReferralList: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list", abstract: "List the referrals this node holds.")

    @OptionGroup var home: HomeOptions
    @Option(help: "Only referrals with this status.") var status: String?
    @OptionGroup var output: OutputOptions

    func run() throws {
        try runReporting {
            let referrals = try home.nodeHome.store().referrals(status: status)
            if output.json { return try printJSON(referrals) }
            printTable(
                ["id", "status", "to", "service", "needs", "updated"],
                referrals.map {
                    [$0.id, $0.status, $0.to, $0.service ?? "-", $0.needs.joined(separator: ","), isoTime($0.updated)]
                })
        }
    }
}

/// One line of a referral's timeline.
struct TimelineEntry: Codable {
    var at: String
    var hlc: String
    var origin: String
    var change: String
    var field: String
    var value: String?
    var live: Bool
    /// A progress event that does not count towards the status: the lifecycle table does not allow
    /// it where it falls (Protocol/SPEC.md 9.1).
    var outOfOrder: Bool
    var receivedFrom: String?
}

struct ReferralDetail: Codable {
    var referral: ReferralSummary
    var timeline: [TimelineEntry]
}

struct ReferralShow: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "show", abstract: "Show a referral and its timeline.")

    @OptionGroup var home: HomeOptions
    @Argument var id: String
    @OptionGroup var output: OutputOptions

    func run() throws {
        try runReporting {
            let store = try home.nodeHome.store()
            let record = try recordID(id)
            let summary = try store.referral(record)
            let writes = try store.writes(of: record).sorted { FieldWrite.precedes($0.write, $1.write) }
            // The same fold as the status the listing shows, for the events it does not count.
            let fold = StatusFold.fold(
                events: writes.filter { $0.live && $0.write.field == .progressEvents }.map(\.write),
                currentService: summary.service.flatMap { try? RecordID($0) })
            let outOfOrder = Set(fold.outOfOrder)
            let timeline = writes.map { w in
                TimelineEntry(
                    at: isoTime(w.write.hlc.millis), hlc: w.write.hlc.description, origin: w.write.origin.node.rawValue,
                    change: w.write.change.description, field: w.write.field.rawValue,
                    value: w.write.value == nil ? "(redacted)" : w.write.text, live: w.live,
                    outOfOrder: w.live && w.write.field == .progressEvents && outOfOrder.contains(w.write.change),
                    receivedFrom: w.receivedFrom)
            }
            if output.json { return try printJSON(ReferralDetail(referral: summary, timeline: timeline)) }
            for line in [
                summary.id, "  status   \(summary.status)", "  to       \(summary.to)",
                "  service  \(summary.service ?? "-")", "  needs    \(summary.needs.joined(separator: ", "))", "",
            ] {
                print(EscapedText.printable(line))
            }
            printTable(
                ["when", "by", "field", "value"],
                timeline.map {
                    let note = !$0.live ? " (replaced)" : $0.outOfOrder ? " (out of order: does not count)" : ""
                    return [$0.at, $0.origin, $0.field + note, $0.value ?? ""]
                })
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
            let record = try recordID(id)
            try domain(home.nodeHome).redact(record, cls, reason: reason, at: WallClock.now())
            notifyDaemon(home.nodeHome)
            print("\(record): \(cls.rawValue) redacted here; peers strip it when they receive the redaction")
        }
    }
}
