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
        subcommands: [ServiceAdd.self, ServiceSetCapacity.self, ServiceList.self])
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
    @Argument(help: "The service id (S.…).") var service: String
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
            let id = try recordID(service)
            let capacity = try domain(home.nodeHome).setCapacity(
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
    @OptionGroup var output: OutputOptions

    func run() throws {
        try runReporting {
            let store = try home.nodeHome.store()
            let node = try store.nodeState().node
            let services = try store.services(owner: mine ? node : nil, wallMillis: WallClock.now())
            if output.json { return try printJSON(services) }
            printTable(
                ["id", "name", "category", "owner", "accepting", "capacity", "updated"],
                services.map { s in
                    let cap =
                        s.capacity.map { "\($0.available)/\($0.maximum) \($0.unit)" + (s.stale ? " (stale)" : "") }
                        ?? "-"
                    return [
                        s.id, s.name ?? "-", s.category ?? "-", s.owner, s.accepting ?? "-", cap,
                        s.capacity.map { isoTime($0.updated) } ?? "-",
                    ]
                })
        }
    }
}
