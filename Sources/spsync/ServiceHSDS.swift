import ArgumentParser
import Foundation
import SyncCore
import SyncNode
import SyncReport

/// `spsync service export --hsds`: the directory as Open Referral HSDS 3.1 JSON.
struct ServiceExport: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Write every service this node knows (a charity: its own) as Open Referral HSDS 3.1 JSON.",
        discussion: """
            The HSDS 3.1 API's page of fully nested services: each with its organisation, capacities, \
            schedules and service areas. A service's HSDS id is the UUID of its spsync id; the owner's \
            code is among the organisation's identifiers.
            """)

    @OptionGroup var home: HomeOptions
    @Flag(help: "Open Referral HSDS 3.1 JSON (the one format there is, for now).") var hsds = false
    @Option(help: "Write to this file instead of standard output.") var out: String?

    func validate() throws {
        guard hsds else { throw ValidationError("give --hsds: the export is Open Referral HSDS 3.1 JSON") }
    }

    func run() throws {
        try runReporting {
            let domain = try domain(home.nodeHome)
            let page = try HSDS.export(domain, nowMillis: WallClock.now())
            let data = try HSDS.encode(page)
            if let out {
                do {
                    try data.write(to: URL(fileURLWithPath: out), options: .atomic)
                } catch {
                    throw SyncError(.io, "cannot write \(out): \(error.localizedDescription)")
                }
                print("wrote \(page.contents.count) services to \(out) (Open Referral HSDS 3.1)")
            } else {
                print(String(decoding: data, as: UTF8.self))
            }
        }
    }
}

/// `spsync service import --hsds FILE`: a charity publishes its existing listing.
struct ServiceImport: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import",
        abstract: "Publish this charity's services from an Open Referral HSDS 3.1 JSON file.",
        discussion: """
            Takes a page of services (contents), a list, or one service. Every service is checked \
            before any is added; one this charity already has (same id or name) is skipped. HSDS has \
            no category of spsync's: give --category for them all (default other), and change one \
            later with `service add`.
            """)

    @OptionGroup var home: HomeOptions
    @Flag(help: "The file is Open Referral HSDS 3.1 JSON.") var hsds = false
    @Argument(help: "The HSDS file.") var file: String
    @Option(
        help:
            "The category of every service imported: \(ServiceCategory.allCases.map(\.rawValue).joined(separator: ", "))."
    )
    var category = "other"
    @OptionGroup var output: OutputOptions

    func validate() throws {
        guard hsds else { throw ValidationError("give --hsds: the import reads Open Referral HSDS 3.1 JSON") }
        guard ServiceCategory(rawValue: category) != nil else {
            throw ValidationError(
                "--category \(category) is not a category: use \(ServiceCategory.allCases.map(\.rawValue).joined(separator: ", "))"
            )
        }
    }

    func run() throws {
        try runReporting {
            let home = self.home.nodeHome
            let data: Data
            do {
                data = try Data(contentsOf: URL(fileURLWithPath: file))
            } catch {
                throw SyncError(.io, "cannot read \(file): \(error.localizedDescription)")
            }
            let domain = try domain(home)
            let done = try HSDS.importServices(
                data, into: domain, category: ServiceCategory(rawValue: category) ?? .other, nowMillis: WallClock.now())
            notifyDaemon(home)
            if output.json { return try printJSON(done) }
            for d in done { print(EscapedText.printable("\(d.name): \(d.result)\(d.id.map { " (\($0))" } ?? "")")) }
        }
    }
}
