import ArgumentParser
import Foundation
import SyncCore
import SyncNode
import SyncReport

/// `spsync report`: the evidence a commissioner asks for, over what this node may see.
struct ReportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report",
        abstract: "Referrals by need, practice and month; the funnel and times per service; ONS4 outcomes; capacity.",
        discussion: """
            Over the referrals this node may see that were made in the period (default: the last 12 \
            months): a hub its PCN's, a practice its patients', a charity those addressed to its services. \
            Counts from 1 to 4 are shown as <5, and rates and times resting on fewer than 5 people are not \
            shown (NHS statistical disclosure control); --no-suppress shows them, for viewing at the node \
            only. --out DIR writes one CSV per table and report.html with its charts (self-contained: no \
            script, no network).
            """)

    @OptionGroup var home: HomeOptions
    @Option(help: "First day of the period, YYYY-MM-DD (default: a year before --to).") var from: String?
    @Option(help: "Last day of the period, YYYY-MM-DD (default: today).") var to: String?
    @Option(help: "Write the CSV files and report.html into this folder (made if missing).") var out: String?
    @Flag(help: "Show counts from 1 to 4 as they are (not for sharing).") var noSuppress = false
    @OptionGroup var output: OutputOptions

    func validate() throws {
        for (option, value) in [("--from", from), ("--to", to)] {
            if let value, Report.parseDate(value) == nil {
                throw ValidationError("\(option) \(value) is not a date: give YYYY-MM-DD, e.g. 2026-04-01")
            }
        }
        if let from, let to, let a = Report.parseDate(from), let b = Report.parseDate(to), a > b {
            throw ValidationError("--from \(from) is after --to \(to)")
        }
    }

    func run() throws {
        try runReporting {
            let now = WallClock.now()
            guard let (start, end) = Report.period(from: from, to: to, nowMillis: now) else {
                throw SyncError(.usage, "the period starts after it ends: give a --from before --to")
            }
            let domain = try domain(home.nodeHome)
            let report = try Report.make(domain, from: start, to: end, suppress: !noSuppress, nowMillis: now)
            if let out {
                try write(report, to: out)
                if !output.json { return }
            }
            if output.json { return try printJSON(report) }
            print(report.text(), terminator: "")
        }
    }

    func write(_ report: Report, to folder: String) throws {
        let fm = FileManager.default
        do {
            try fm.createDirectory(atPath: folder, withIntermediateDirectories: true)
            var written: [String] = []
            for (name, text) in report.csvFiles() {
                try Data(text.utf8).write(to: URL(fileURLWithPath: folder + "/" + name), options: .atomic)
                written.append(name)
            }
            try Data(report.html().utf8).write(to: URL(fileURLWithPath: folder + "/report.html"), options: .atomic)
            if !output.json {
                print("wrote \(folder)/report.html and \(written.count) CSV files (\(written.joined(separator: ", ")))")
                print(
                    report.suppressed
                        ? "small numbers suppressed (<5); totals are exact: check before publishing"
                        : "NOT suppressed (--no-suppress): counts below 5 are shown; do not share these files")
            }
        } catch let error as CocoaError {
            throw SyncError(
                .io,
                "cannot write the report into \(folder): \(error.localizedDescription); check the folder and free space"
            )
        }
    }
}
