import ArgumentParser
import Foundation
import SyncCore
import SyncDomain
import SyncNode
import SyncStore

/// `spsync service …`: a charity's services in the directory.
struct ServiceCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "service", abstract: "Publish and list services and their capacity.",
        subcommands: [
            ServiceAdd.self, ServiceSetCapacity.self, ServiceList.self, ServiceShow.self, ServiceExport.self,
            ServiceImport.self,
        ])
}

struct ServiceAdd: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "add", abstract: "Publish a new service (charities only). Prints its id.")

    @OptionGroup var home: HomeOptions
    @Option var name: String
    @Option(help: "One of: \(ServiceCategory.allCases.map(\.rawValue).joined(separator: ", ")).") var category: String
    @Option(help: "What capacity counts (places, sessions, hours).") var unit = "places"
    @Option(help: "Places (or sessions, hours) in all: 0–\(Limits.standard.capacityMax).") var maximum: Int?
    @Option(help: "How many of them are free now: 0 to --maximum.") var available: Int?
    @Option var description: String?
    @Option var eligibility: String?
    @Option var ageMin: Int?
    @Option var ageMax: Int?
    @Option(help: "Postcode districts served, comma-separated (e.g. LS1,LS2).") var area: String?
    @Option(help: "When it runs, as text.") var schedule: String?
    @Option(help: "direct or signpost.") var route = "direct"
    @Option(help: "open, waitlist, paused or closed.") var accepting = "open"
    @Option(help: "Estimated wait in days.") var waitDays: Int?
    @Option(help: "Days the capacity figures stay valid; after that readers show them as stale.") var validDays: Int?
    @OptionGroup var output: OutputOptions

    func validate() throws {
        guard ServiceCategory(rawValue: category) != nil else {
            throw ValidationError(
                "--category \(category) is not a category: use one of \(ServiceCategory.allCases.map(\.rawValue).joined(separator: ", "))"
            )
        }
        guard ReferralRoute(rawValue: route) != nil else { throw ValidationError("--route must be direct or signpost") }
        guard Accepting(rawValue: accepting) != nil else {
            throw ValidationError("--accepting must be open, waitlist, paused or closed")
        }
        if (available == nil) != (maximum == nil) { throw ValidationError("give --available and --maximum together") }
        let limits = Limits.standard
        try checkText(name, "--name", .line)
        try checkText(unit, "--unit", .line)
        try checkText(description, "--description", .freeText)
        try checkText(eligibility, "--eligibility", .freeText)
        try checkText(area, "--area", .line)
        try checkText(schedule, "--schedule", .freeText)
        try checkCount(maximum, "--maximum", 0...limits.capacityMax, limit: "capacityMax")
        try checkCount(available, "--available", 0...limits.capacityMax, limit: "capacityMax")
        try checkCount(ageMin, "--age-min", 0...limits.ageYearsMax, limit: "ageYearsMax")
        try checkCount(ageMax, "--age-max", 0...limits.ageYearsMax, limit: "ageYearsMax")
        try checkCount(waitDays, "--wait-days", 0...limits.waitDaysMax, limit: "waitDaysMax")
        try checkCount(validDays, "--valid-days", 1...limits.capacityValidDaysMax, limit: "capacityValidDaysMax")
        if let ageMin, let ageMax, ageMin > ageMax { throw ValidationError("--age-min is above --age-max") }
    }

    func run() throws {
        try runReporting {
            var new = Domain.NewService(name: name, category: ServiceCategory(rawValue: category) ?? .other)
            new.unit = unit
            if let available, let maximum { new.capacity = (available, maximum) }
            new.description = description
            new.eligibility = eligibility
            new.ageMin = ageMin
            new.ageMax = ageMax
            new.area = area
            new.schedule = schedule
            new.route = ReferralRoute(rawValue: route) ?? .direct
            new.accepting = Accepting(rawValue: accepting) ?? .open
            new.waitDays = waitDays
            new.validDays = validDays
            let id = try domain(home.nodeHome).addService(new, at: WallClock.now())
            notifyDaemon(home.nodeHome)
            if output.json { try printJSON(["id": id.rawValue]) } else { print(id) }
        }
    }
}

struct ServiceSetCapacity: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "set-capacity", abstract: "Set how many places a service has free now.")

    @OptionGroup var home: HomeOptions
    @Argument(help: "One of this charity's services: its name, its id, or 6+ characters of its id.")
    var service: String
    @Option var available: Int
    @Option var maximum: Int?
    @Option(help: "open, waitlist, paused or closed.") var accepting: String?
    @Option var unit: String?
    @Option(help: "Days the figures stay valid.") var validDays: Int?

    func validate() throws {
        if let accepting, Accepting(rawValue: accepting) == nil {
            throw ValidationError("--accepting must be open, waitlist, paused or closed")
        }
        let limits = Limits.standard
        try checkCount(available, "--available", 0...limits.capacityMax, limit: "capacityMax")
        try checkCount(maximum, "--maximum", 0...limits.capacityMax, limit: "capacityMax")
        try checkCount(validDays, "--valid-days", 1...limits.capacityValidDaysMax, limit: "capacityValidDaysMax")
        try checkText(unit, "--unit", .line)
    }

    func run() throws {
        try runReporting {
            let domain = try domain(home.nodeHome)
            let id = try domain.service(named: service, ownedBy: domain.node)
            let capacity = try domain.setCapacity(
                id, available: available, maximum: maximum, unit: unit, accepting: accepting.flatMap(Accepting.init),
                validDays: validDays, at: WallClock.now())
            notifyDaemon(home.nodeHome)
            print("\(id): \(capacity.available) of \(capacity.maximum) \(capacity.unit) available")
        }
    }
}

struct ServiceList: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list", abstract: "List the services this node knows (the directory).")

    @OptionGroup var home: HomeOptions
    @Flag(help: "Only this node's own services.") var mine = false
    @Option(help: "Only this category: \(ServiceCategory.allCases.map(\.rawValue).joined(separator: ", ")).")
    var category: String?
    @Option(
        help:
            "Only services for this need, best suited first: \(NeedCategory.allCases.map(\.rawValue).joined(separator: ", "))."
    )
    var need: String?
    @Option(help: "Only services covering this postcode district (LS1).") var area: String?
    @Flag(help: "Only services with a free place, taking referrals, with figures not stale.") var available = false
    @Flag(help: "Only services whose capacity figures are past their valid date.") var stale = false
    @OptionGroup var output: OutputOptions

    func validate() throws {
        if let category, ServiceCategory(rawValue: category) == nil {
            throw ValidationError(
                "--category \(category) is not a category: use one of \(ServiceCategory.allCases.map(\.rawValue).joined(separator: ", "))"
            )
        }
        if let need, NeedCategory(rawValue: need) == nil {
            throw ValidationError(
                "--need \(need) is not a need: use \(NeedCategory.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        if let area { try checkText(area, "--area", .line) }
        if available, stale { throw ValidationError("--available and --stale exclude each other") }
    }

    func run() throws {
        try runReporting {
            let domain = try domain(home.nodeHome)
            let now = WallClock.now()
            let filter = Domain.ServiceFilter(
                owner: mine ? domain.node : nil, category: category.flatMap(ServiceCategory.init),
                need: need.flatMap(NeedCategory.init), area: area, available: available, stale: stale)
            let services = try domain.services(filter, wallMillis: now)
            if output.json { return try printJSON(services) }
            if let need = filter.need {
                print(
                    "for \(need.rawValue): \(need.suitableCategories.map(\.rawValue).joined(separator: ", "))")
            }
            if services.isEmpty { return print("no services" + (filter.isEmpty ? " known here yet" : " match")) }
            printTable(
                ["ref", "name", "category", "free", "accepting", "updated", "owner"],
                services.map { s in
                    let free =
                        s.capacity.map { "\($0.available)/\($0.maximum)" + (s.stale ? " stale" : "") } ?? "-"
                    return [
                        s.reference, clip(s.name ?? "-", 20), clip(s.category ?? "-", 16), free, s.accepting ?? "-",
                        s.capacity.map { Age.ago($0.updated, now: now) } ?? "-", s.owner,
                    ]
                })
        }
    }
}

extension Domain.ServiceFilter {
    var isEmpty: Bool { owner == nil && category == nil && need == nil && area == nil && !available && !stale }
}

struct ServiceShow: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "show", abstract: "Show everything a service's owner published about it.")

    @OptionGroup var home: HomeOptions
    @Argument(help: "The service: its name, its id, or 6+ characters of its id.") var service: String
    @OptionGroup var output: OutputOptions

    func run() throws {
        try runReporting {
            let domain = try domain(home.nodeHome)
            let now = WallClock.now()
            let s = try domain.serviceDetail(try domain.service(named: service), wallMillis: now)
            if output.json { return try printJSON(s) }
            let capacity =
                s.capacity.map {
                    "\($0.available) of \($0.maximum) \($0.unit) free, set \(Age.ago($0.updated, now: now))"
                        + (s.stale ? " (stale: past its valid date)" : "")
                } ?? "not published"
            let ages: String? =
                switch (s.ageMin, s.ageMax) {
                case (nil, nil): nil
                case (let a?, nil): "\(a) and over"
                case (nil, let b?): "up to \(b)"
                case (let a?, let b?): "\(a) to \(b)"
                }
            let rows: [(String, String?)] = [
                ("id", s.id), ("run by", s.owner), ("category", s.category), ("capacity", capacity),
                ("accepting", s.accepting), ("valid until", s.capacityValidUntil.map(isoTime)),
                ("wait", s.waitDays.map { "\($0) days" }), ("route", s.route),
                ("area", s.area.isEmpty ? nil : s.area.joined(separator: ", ")), ("ages", ages),
                ("schedule", s.schedule), ("eligibility", s.eligibility), ("description", s.description),
            ]
            print(EscapedText.printable(s.name ?? s.id))
            for case (let label, let value?) in rows {
                print(EscapedText.printable("  " + label.padding(toLength: 12, withPad: " ", startingAt: 0) + value))
            }
        }
    }
}
