import ArgumentParser
import Foundation
import SyncCore
import SyncNode
import SyncStore

/// `spsync service …`: a charity's services in the directory.
struct ServiceCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "service", abstract: "Publish and list services and their capacity.",
        subcommands: [ServiceAdd.self, ServiceSetCapacity.self, ServiceList.self])
}

/// Opens the home, checks this node is a charity, and returns (node, store).
func charityNode(_ home: NodeHome, action: String) throws -> (NodeID, Store) {
    let store = try home.store()
    let node = try store.nodeState().node
    guard node.role == .vcse else {
        throw SyncError(
            .unauthorised,
            "\(node) is a \(node.role.rawValue): only a charity (vcse) node can \(action); services belong to the charity that runs them"
        )
    }
    return (node, store)
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
            let (node, store) = try charityNode(home.nodeHome, action: "add a service")
            let wall = WallClock.now()
            let id = try RecordID.service(owner: node, uuid: Store.newUUID(wallMillis: wall))
            var fields: [(FieldKey, [UInt8])] = [
                (.serviceName, FieldValue.text(name)), (.serviceCategory, FieldValue.text(category)),
                (.serviceRoute, FieldValue.text(route)), (.serviceAccepting, FieldValue.text(accepting)),
            ]
            if let available, let maximum {
                fields.append(
                    (
                        .serviceCapacity,
                        FieldValue.json(
                            ServiceCapacity(unit: unit, available: available, maximum: maximum, updated: wall))
                    ))
            }
            if let description { fields.append((.serviceDescription, FieldValue.text(description))) }
            if let eligibility { fields.append((.serviceEligibility, FieldValue.text(eligibility))) }
            if let ageMin { fields.append((.serviceAgeMin, FieldValue.integer(ageMin))) }
            if let ageMax { fields.append((.serviceAgeMax, FieldValue.integer(ageMax))) }
            if let area { fields.append((.serviceArea, FieldValue.text(area))) }
            if let schedule { fields.append((.serviceSchedule, FieldValue.text(schedule))) }
            if let waitDays { fields.append((.serviceWaitDays, FieldValue.integer(waitDays))) }
            if let validDays {
                fields.append((.serviceCapacityValidUntil, FieldValue.integer(Int(wall) + validDays * 86_400_000)))
            }
            try store.write(id, fields, wallMillis: wall)
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
            let (node, store) = try charityNode(home.nodeHome, action: "set capacity")
            let id = try recordID(service)
            guard id.serviceOwner == node else {
                throw SyncError(
                    .unauthorised,
                    "\(id) belongs to \(id.serviceOwner?.rawValue ?? "nobody"), not to \(node): only its owner sets its capacity"
                )
            }
            let wall = WallClock.now()
            let current = try store.service(id, wallMillis: wall).capacity
            guard let max = maximum ?? current?.maximum else {
                throw SyncError(.usage, "\(id) has no maximum yet: give --maximum as well")
            }
            let capacity = ServiceCapacity(
                unit: unit ?? current?.unit ?? "places", available: available, maximum: max, updated: wall)
            var fields: [(FieldKey, [UInt8])] = [(.serviceCapacity, FieldValue.json(capacity))]
            if let accepting { fields.append((.serviceAccepting, FieldValue.text(accepting))) }
            if let validDays {
                fields.append((.serviceCapacityValidUntil, FieldValue.integer(Int(wall) + validDays * 86_400_000)))
            }
            try store.write(id, fields, wallMillis: wall)
            notifyDaemon(home.nodeHome)
            print("\(id): \(available) of \(max) \(capacity.unit) available")
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
