import ArgumentParser
import Foundation

/// `spsync-faults`: the fault campaign against real daemons on loopback (not a test, not in CI).
@main
struct FaultsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "spsync-faults",
        abstract: "Fault campaign: real spsync daemons killed mid-sync and run out of disk; prints figures.",
        discussion: """
            Drives the spsync binary beside this one, on 127.0.0.1 only. The practice's home is filled \
            once per referral count in WORK/prepared-N and copied for every run. disk-full mounts tmpfs \
            (needs root). Exit status 0 when every run passed.
            """,
        subcommands: [KillCommand.self, DiskFullCommand.self])
}

/// Options every part shares.
struct CampaignOptions: ParsableArguments {
    @Option(help: "Working folder (short: control sockets live in homes under it).") var work = "/tmp/spsync-faults"
    @Option(help: "Referrals at the practice (4 field writes each).") var referrals = 20_000

    func validate() throws {
        guard referrals >= 1 else { throw ValidationError("--referrals must be at least 1") }
        guard work.utf8.count <= 60 else { throw ValidationError("--work must be at most 60 bytes long") }
    }

    func prepare() throws -> PreparedPair {
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        return try PreparedPair.prepare(work: work, referrals: referrals)
    }
}

struct KillCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kill", abstract: "SIGKILL the receiving daemon at N points of one large sync.")
    @OptionGroup var options: CampaignOptions
    @Option(help: "Kill points, spread evenly over the sync.") var points = 100

    func run() throws {
        guard try KillCampaign(pair: options.prepare(), work: options.work, points: points).run() else {
            throw ExitCode.failure
        }
    }
}

struct DiskFullCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "disk-full", abstract: "Run out of disk while receiving a sync and while writing locally.")
    @OptionGroup var options: CampaignOptions

    func run() throws {
        guard geteuid() == 0 else { throw ValidationError("disk-full mounts tmpfs: run it as root") }
        guard try DiskFullCampaign(pair: options.prepare(), work: options.work).run() else { throw ExitCode.failure }
    }
}

/// Prints one line straight to stdout, unbuffered, so a campaign's progress shows in a log file as it runs.
func say(_ line: String) {
    FileHandle.standardOutput.write(Data((line + "\n").utf8))
}
