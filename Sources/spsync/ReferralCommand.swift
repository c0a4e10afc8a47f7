import ArgumentParser
import Foundation
import SyncCore
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

    var contactFields: [(FieldKey, [UInt8])] {
        [
            (FieldKey.contactGivenName, name), (.contactPhone, phone), (.contactEmail, email),
            (.contactPreferred, preferredContact), (.contactAccessNeeds, accessNeeds),
            (.contactInterpreter, interpreter),
        ].compactMap { k, v in v.map { (k, FieldValue.text($0)) } }
    }

    func clinicalFields() throws -> [(FieldKey, [UInt8])] {
        var out: [(FieldKey, [UInt8])] = []
        if let nhsNumber {
            let n: NHSNumber
            do { n = try NHSNumber(nhsNumber) } catch { throw SyncError(.usage, "--nhs-number: \(error.message)") }
            out.append((.clinicalNHSNumber, FieldValue.text(n.digits)))
        }
        if let dob { out.append((.clinicalDateOfBirth, FieldValue.text(dob))) }
        if let address { out.append((.clinicalAddress, FieldValue.text(address))) }
        return out
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

/// Refuses to address a referral to a service this node does not hold — a mistyped id, or one not
/// synced here yet — unless `force`: the charity may have published it and not yet reached this node.
func checkKnownService(_ store: Store, _ service: RecordID, force: Bool) throws {
    guard !force else { return }
    do {
        _ = try store.service(service, wallMillis: WallClock.now())
    } catch let error as SyncError where error.code == .notFound {
        throw SyncError(
            .usage,
            "--service \(service) is not a service this node knows: check the id with `spsync service list`, or "
                + "sync first; add --force to address it to a service not yet synced here")
    }
}

/// The node must be a practice or a hub to make or address referrals.
func referringNode(_ store: Store) throws -> NodeID {
    let node = try store.nodeState().node
    guard node.role != .vcse else {
        throw SyncError(
            .unauthorised,
            "\(node) is a charity: referrals are made by practices and PCN hubs; a charity records progress with `spsync referral update ID --status …`"
        )
    }
    return node
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
            let store = try home.store()
            let node = try referringNode(store)
            let config = try home.config()
            let (practiceID, pcnID): (NodeID, NodeID)
            if node.role == .practice {
                guard let pcn = config.node.pcn else {
                    throw SyncError(.usage, "node.toml names no pcn for this practice")
                }
                (practiceID, pcnID) = (node, try nodeID(pcn, option: "node.toml pcn"))
                if practice != nil {
                    throw SyncError(.usage, "--practice is for hubs; a practice refers its own patients")
                }
            } else {
                guard let practice else {
                    throw SyncError(.usage, "a hub names the person's practice: add --practice A81001")
                }
                (practiceID, pcnID) = (try nodeID(practice, option: "--practice"), node)
                guard practiceID.role == .practice else {
                    throw SyncError(.usage, "--practice \(practice) is not a practice ODS code")
                }
            }
            let toID = try nodeID(to, option: "--to")
            var serviceID: RecordID?
            if let service {
                serviceID = try recordID(service)
                guard let owner = serviceID?.serviceOwner else {
                    throw SyncError(.usage, "--service \(service) is not a service id (S.…)")
                }
                guard owner == toID else {
                    throw SyncError(
                        .usage,
                        "--service \(service) is run by \(owner): a referral to a service is addressed to its owner, so use --to \(owner)"
                    )
                }
                if let serviceID { try checkKnownService(store, serviceID, force: force) }
            } else if toID != pcnID {
                throw SyncError(
                    .usage, "--to \(toID): a referral goes to the PCN hub \(pcnID), or to a charity with --service S.…")
            }
            let contact = person.contactFields
            if !contact.isEmpty, consent == nil {
                throw SyncError(
                    .usage,
                    "contact details need a basis for sharing them: add --consent explicit (or implied), or leave the contact details out"
                )
            }
            let wall = WallClock.now()
            let id = try RecordID.referral(practice: practiceID, pcn: pcnID, uuid: Store.newUUID(wallMillis: wall))
            var fields: [(FieldKey, [UInt8])] = [
                (.routingNeeds, FieldValue.json(need.sorted())),
                (.progressEvents, FieldValue.json(ProgressEvent(event: "referred"))),
            ]
            if let serviceID { fields.append((.routingService, FieldValue.text(serviceID.rawValue))) }
            if let urgency { fields.append((.routingUrgency, FieldValue.text(urgency))) }
            if let note { fields.append((.routingNote, FieldValue.text(note))) }
            if let consent {
                fields.append((.consent, FieldValue.json(Consent(basis: consent, recordedBy: node.rawValue, at: wall))))
            }
            fields += contact
            fields += try person.clinicalFields()
            try store.write(id, fields, wallMillis: wall)
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

    static func scores(_ text: String?, _ option: String) throws -> [Int]? {
        guard let text else { return nil }
        let parts = text.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard parts.count == 4, parts.allSatisfy({ $0 != nil && (0...10).contains($0!) }) else {
            throw SyncError(.usage, "\(option) \(text): give four scores 0-10, comma-separated, e.g. 6,7,5,4")
        }
        return parts.compactMap { $0 }
    }

    func run() throws {
        try runReporting {
            let store = try home.nodeHome.store()
            let node = try store.nodeState().node
            let record = try recordID(id)
            guard let (practice, pcn) = record.referralParties else {
                throw SyncError(.usage, "\(id) is not a referral id (R.…)")
            }
            let current = try store.referral(record)
            let isParty = node == practice || node == pcn
            // A charity's events and notes name its service: the referral's current target, which it must own.
            func ownService() throws -> String {
                guard let s = current.service, (try? RecordID(s))?.serviceOwner == node else {
                    throw SyncError(
                        .unauthorised,
                        "\(record) is not addressed to a service of \(node): only the current service's owner records its progress"
                    )
                }
                return s
            }
            let wall = WallClock.now()
            var fields: [(FieldKey, [UInt8])] = []
            if let service {
                let s = try recordID(service)
                guard s.serviceOwner != nil else {
                    throw SyncError(.usage, "--service \(service) is not a service id (S.…)")
                }
                try checkKnownService(store, s, force: force)
                fields.append((.routingService, FieldValue.text(s.rawValue)))
            }
            if let status, let kind = ProgressEvent.Kind(rawValue: status) {
                if kind.byPracticeOrHub {
                    guard isParty else {
                        throw SyncError(
                            .unauthorised,
                            "'\(status)' is the practice's or PCN's to record; a service records received, contacted, accepted, declined, unable_to_contact, attending, did_not_attend, completed"
                        )
                    }
                    fields.append((.progressEvents, FieldValue.json(ProgressEvent(event: status, reason: reason))))
                } else {
                    guard !isParty || node.role == .vcse else {
                        throw SyncError(.unauthorised, "'\(status)' is for the service's owner to record, not \(node)")
                    }
                    fields.append(
                        (
                            .progressEvents,
                            FieldValue.json(ProgressEvent(event: status, service: try ownService(), reason: reason))
                        ))
                }
            }
            if let note {
                let n = isParty ? ReferralNote(text: note) : ReferralNote(text: note, service: try ownService())
                fields.append((.progressNotes, FieldValue.json(n)))
            }
            if let consent {
                let held = try store.live(record, .consent).first?.write.value.flatMap {
                    try? FieldValue.decode(Consent.self, $0, field: .consent)
                }
                let c =
                    consent == "withdrawn"
                    ? Consent(
                        basis: held?.basis ?? "explicit", recordedBy: node.rawValue, at: held?.at ?? wall,
                        withdrawnAt: wall)
                    : Consent(basis: consent, recordedBy: node.rawValue, at: wall)
                fields.append((.consent, FieldValue.json(c)))
            }
            let before = try Self.scores(ons4Before, "--ons4-before"),
                after = try Self.scores(ons4After, "--ons4-after")
            if before != nil || after != nil || outcome != nil {
                let entry = OutcomeEntry(
                    service: node == pcn ? current.service : try ownService(), ons4Before: before, ons4After: after,
                    message: outcome)
                fields.append((.outcomeEntries, FieldValue.json(entry)))
            }
            fields += person.contactFields
            fields += try person.clinicalFields()
            guard !fields.isEmpty else {
                throw SyncError(
                    .usage, "nothing to update: give --service, --status, --note, --consent, an outcome or details")
            }
            let ref = try store.write(record, fields, wallMillis: wall)
            notifyDaemon(home.nodeHome)
            let now = try store.referral(record)
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
            let store = try home.nodeHome.store()
            _ = try referringNode(store)
            let record = try recordID(id)
            _ = try store.referral(record)
            try store.write(record, [(.redaction(cls), FieldValue.text(reason))], wallMillis: WallClock.now())
            notifyDaemon(home.nodeHome)
            print("\(record): \(cls.rawValue) redacted here; peers strip it when they receive the redaction")
        }
    }
}
