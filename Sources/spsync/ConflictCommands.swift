import ArgumentParser
import Foundation
import SyncCore
import SyncDomain
import SyncNode
import SyncStore

/// `spsync conflicts`: fields and statuses waiting for a person to decide.
struct Conflicts: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List conflicts waiting for a person (resolve with `spsync resolve` or `spsync settle`).")

    @OptionGroup var home: HomeOptions
    @OptionGroup var output: OutputOptions

    func run() throws {
        try runReporting {
            let domain = try domain(home.nodeHome)
            let conflicts = try domain.store.conflicts()
            if output.json { return try printJSON(conflicts) }
            if conflicts.isEmpty { return print("no conflicts") }
            // Who wrote each candidate, when, and what; `--keep` takes the choice's reference.
            for c in conflicts {
                let record = (try? RecordID(c.record))
                let name =
                    record.flatMap { r in r.serviceOwner != nil ? domain.serviceName(c.record) : nil }
                    ?? record.map { "referral " + Domain.shortReference($0) } ?? c.record
                print(EscapedText.printable("\(name): \(c.field) has \(c.candidates.count) values (\(c.record))"))
                for candidate in c.candidates {
                    let millis = candidate.hlc.split(separator: ".").first.flatMap { UInt64($0) }
                    let when = millis.map(ReferralShow.when) ?? candidate.hlc
                    let by = domain.organisationName(candidate.origin) ?? candidate.origin
                    print(
                        EscapedText.printable(
                            "  \(when)  \(by) wrote \(candidate.value ?? "(redacted)")    choice: \(candidate.write)"))
                }
            }
            print(
                "Keep one: spsync resolve RECORD FIELD --keep CHOICE (or spsync settle REFERRAL --keep STATUS for a status)"
            )
        }
    }
}

/// `spsync resolve RECORD FIELD (--keep WRITE | --value V)`: a write that replaces every live value.
struct Resolve: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Resolve a field in conflict by keeping one value or writing a new one.")

    @OptionGroup var home: HomeOptions
    @Argument var record: String
    @Argument var field: String
    @Option(help: "Keep this candidate's value (its write reference from `spsync conflicts`).") var keep: String?
    @Option(help: "Write this value instead.") var value: String?

    func validate() throws {
        guard (keep == nil) != (value == nil) else { throw ValidationError("give exactly one of --keep or --value") }
    }

    func run() throws {
        try runReporting {
            let domain = try domain(home.nodeHome)
            let id = try domain.record(named: record)
            let key: FieldKey
            do { key = try FieldKey(field) } catch let e as SyncError { throw SyncError(.usage, e.message) }
            let resolution: Domain.Resolution = keep.map { .keep($0) } ?? .value(FieldValue.text(value ?? ""))
            do {
                try domain.resolve(id, key, resolution, at: WallClock.now())
            } catch let e as SyncError where e.code == .notFound {
                throw SyncError(.notFound, "\(id) \(key) is not in conflict here (see `spsync conflicts`)")
            }
            notifyDaemon(home.nodeHome)
            print("\(id) \(key): resolved")
        }
    }
}

/// `spsync settle REFERRAL --keep STATUS`: settles contradictory decisions of the current episode.
struct Settle: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Settle contradictory service decisions (e.g. accepted and declined) on a referral.")

    @OptionGroup var home: HomeOptions
    @Argument var referral: String
    @Option(help: "The status to keep: accepted, declined or unable_to_contact.") var keep: String

    func validate() throws {
        guard ProgressEvent.Kind(rawValue: keep)?.isDecision == true else {
            throw ValidationError("--keep must be accepted, declined or unable_to_contact")
        }
    }

    func run() throws {
        try runReporting {
            let domain = try domain(home.nodeHome)
            let id = try domain.referral(named: referral)
            try domain.settle(id, keep: ProgressEvent.Kind(rawValue: keep) ?? .accepted, at: WallClock.now())
            notifyDaemon(home.nodeHome)
            print("\(id): settled as \(keep) (\(try domain.store.referral(id).status))")
        }
    }
}

/// `spsync backup FILE`.
struct Backup: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write a consistent copy of the store to FILE (safe while the daemon runs).")

    @OptionGroup var home: HomeOptions
    @Argument var file: String

    func run() throws {
        try runReporting {
            try home.nodeHome.store().backup(to: file)
            print("backed up to \(file)")
        }
    }
}

/// `spsync restore FILE`: replace the store with a backup under a new incarnation.
struct Restore: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Replace the store with a backup, starting a new incarnation (stop the daemon first).",
        discussion: "Writes made after the backup are not lost: peers hold them and send them back on the next sync.")

    @OptionGroup var home: HomeOptions
    @Argument var file: String

    func run() throws {
        try runReporting {
            let home = self.home.nodeHome
            let node = try home.config().nodeID
            guard FileManager.default.fileExists(atPath: file) else {
                throw SyncError(.notFound, "no backup at \(file)")
            }
            // Restoring is how a store that cannot be opened (damaged, empty, not ours) is replaced,
            // so only a store that opens is checked: it must be this node's.
            let stored: NodeID?
            do { stored = try home.storedNode() } catch { stored = nil }
            if let stored, stored != node {
                throw SyncError(
                    .storeInvalid,
                    "node.toml in \(home.path) names node \(node) but the store belongs to \(stored): put back "
                        + "the node.toml of \(stored), or pass the right --home; nothing was changed")
            }
            let inc = try Store.restore(from: file, to: home.storePath, expecting: node, wallMillis: WallClock.now())
            print(
                "restored \(file) as incarnation \(inc); the previous store is kept beside it as store.sqlite.replaced-*"
            )
            print("Run `spsync sync` (or start the daemon) so peers send back anything newer than the backup.")
        }
    }
}

/// `spsync recover`: after the store was found to be an older copy of itself (put back by hand,
/// or by a snapshot), carry the changes made since into a new incarnation.
struct Recover: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract:
            "Continue after the store was put back to an older copy without `spsync restore` (stop the daemon first).",
        discussion: """
            Starts a new incarnation and carries into it every change made since the store was put back, \
            so that none is lost and no change number means two things; peers send back the changes the \
            older copy lacked on the next sync. Run it when status or a command says local writes are stopped.
            """)

    @OptionGroup var home: HomeOptions
    @OptionGroup var output: OutputOptions

    func run() throws {
        try runReporting {
            let home = self.home.nodeHome
            if let live = try ControlClient.send(ControlRequest(command: "status"), home: home, timeoutSeconds: 5) {
                throw SyncError(
                    .usage,
                    "the daemon is running (pid \(live.pid.map(String.init) ?? "?")): stop it first (`systemctl stop spsync` or kill it), "
                        + "then run `spsync recover` again; nothing was changed")
            }
            let store = try home.store()
            let r = try store.recover(wallMillis: WallClock.now())
            if output.json {
                return try printJSON(
                    RecoveryJSON(
                        previous: r.previous.description, incarnation: r.incarnation.description,
                        keptThrough: r.keptThrough, carriedChanges: r.carriedChanges, carriedWrites: r.carriedWrites,
                        redactedWrites: r.redactedWrites))
            }
            print(
                "recovered: new incarnation \(r.incarnation); kept changes 1-\(r.keptThrough) of \(r.previous), "
                    + "carried \(r.carriedChanges) changes (\(r.carriedWrites) field writes) made since the store was put back"
                    + (r.redactedWrites > 0 ? ", \(r.redactedWrites) writes already redacted left out" : ""))
            print("Start the daemon (or run `spsync sync`) so peers send back the changes the older copy lacked.")
        }
    }
}

/// `spsync recover --json`.
struct RecoveryJSON: Encodable {
    var previous: String
    var incarnation: String
    var keptThrough: UInt64
    var carriedChanges: Int
    var carriedWrites: Int
    var redactedWrites: Int
}
