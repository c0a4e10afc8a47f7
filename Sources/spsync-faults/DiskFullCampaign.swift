import Foundation
import GRDB

/// A full disk under a node: its home on a small tmpfs, while it receives a sync and while its CLI
/// writes. Each must fail with a clear error and leave the store sound and whole; once the space
/// returns, the next sync or write must complete.
struct DiskFullCampaign {
    let pair: PreparedPair
    let work: String

    /// One scenario's outcome.
    struct Outcome {
        var name: String
        var failures: [String] = []
        var notes: [String] = []
        var integrity = "?"
        var lost = 0
        var doubled = 0
        var seconds = 0.0
    }

    func run() throws -> Bool {
        let logs = work + "/logs"
        try FileManager.default.createDirectory(atPath: logs, withIntermediateDirectories: true)
        let mount = work + "/tmpfs"
        try FileManager.default.createDirectory(atPath: mount, withIntermediateDirectories: true)
        say("disk-full campaign: the hub's home on a tmpfs at \(mount)")
        var outcomes: [Outcome] = []
        for fraction in [0.05, 0.3, 0.7] {
            outcomes.append(try receiving(mount: mount, logs: logs, fraction: fraction))
        }
        for withDaemon in [false, true] {
            outcomes.append(try writing(mount: mount, logs: logs, withDaemon: withDaemon))
        }
        for o in outcomes {
            say(
                String(
                    format: "  %@: lost %d, doubled %d, integrity %@, %.1f s, %@", o.name, o.lost, o.doubled,
                    o.integrity, o.seconds, o.failures.isEmpty ? "ok" : "FAILED: " + o.failures.joined(separator: "; "))
            )
            for n in o.notes { say("      " + n) }
        }
        let failed = outcomes.filter { !$0.failures.isEmpty }.count
        say(
            "disk-full campaign: \(outcomes.count) runs, \(failed) failures, lost \(outcomes.reduce(0) { $0 + $1.lost }), doubled \(outcomes.reduce(0) { $0 + $1.doubled }), integrity ok \(outcomes.filter { $0.integrity == "ok" }.count)/\(outcomes.count)"
        )
        return failed == 0
    }

    /// Bytes a directory's files take (du's count, which is what tmpfs charges, in KiB blocks).
    private func diskUsage(_ path: String) -> Int {
        var total = 0
        if let e = FileManager.default.enumerator(atPath: path) {
            for case let name as String in e {
                let attributes = try? FileManager.default.attributesOfItem(atPath: path + "/" + name)
                if attributes?[.type] as? FileAttributeType == .typeRegular {
                    total += ((attributes?[.size] as? Int ?? 0) + 4095) / 4096 * 4096
                }
            }
        }
        return total
    }

    /// The hub receives the whole sync on a disk with room for about `fraction` of it.
    private func receiving(mount: String, logs: String, fraction: Double) throws -> Outcome {
        var o = Outcome(name: String(format: "full while receiving (room for ~%.0f%% of the sync)", fraction * 100))
        let start = ContinuousClock.now
        let (practice, copied) = try pair.copy(to: work + "/run", logs: logs)
        // The practice's store is about what the hub's grows to; give the hub its home and a part of that.
        let room = diskUsage(copied.home) + Int(Double(diskUsage(pair.directory + "/practice")) * fraction)
        let sizeKiB = room / 1024 + 64
        try shell("/bin/mount", ["-t", "tmpfs", "-o", "size=\(sizeKiB)k,mode=0700", "tmpfs", mount])
        defer { try? shell("/bin/umount", [mount]) }
        try shell("/bin/cp", ["-a", copied.home, mount + "/hub"])
        let hub = CampaignNode(id: copied.id, home: mount + "/hub", log: logs + "/hub-full.log")
        try? FileManager.default.removeItem(atPath: hub.log)
        try hub.startDaemon()
        defer { hub.stopDaemon(signal: SIGKILL) }
        let full = try practice.run(["sync"])
        o.notes.append("tmpfs \(sizeKiB) KiB; sync on the full disk: exit \(full.status): \(full.firstLine)")
        if full.status == 0 { o.failures.append("the sync succeeded on a full disk (tmpfs too large?)") }
        if !hub.daemonRunning { o.notes.append("the hub's daemon exited: \(tail(hub.log, lines: 2))") }
        let hubSide = try hub.run(["status"])
        for line in hubSide.out.split(separator: "\n") where line.hasPrefix(PreparedPair.practiceID) {
            o.notes.append("hub's status row: " + line.split(separator: " ").joined(separator: " "))
        }
        let logTail = tail(hub.log, lines: 3)
        if !logTail.isEmpty { o.notes.append("hub's log: \(logTail.prefix(400))") }
        // Sound and whole on the full disk: every change the hub holds of the practice's is held complete.
        let integrity = try hub.integrity()
        if integrity != "ok" { o.failures.append("integrity_check on the full disk: \(integrity)") }
        if let partial = try pair.unaccounted(at: hub) {
            o.failures.append("half-applied on the full disk: \(partial)")
        }
        let heldAtFull = try hub.fieldWrites() - pair.hubOwnWrites
        o.notes.append("held on the full disk: \(heldAtFull) of \(pair.senderWrites.count) field writes")
        // Space returns: the next sync completes.
        try shell("/bin/mount", ["-o", "remount,size=\(sizeKiB + 256 * 1024)k", mount])
        if !hub.daemonRunning {
            hub.stopDaemon()
            try hub.startDaemon()
        }
        let resumed = try practice.run(["sync", "--json"])
        if resumed.status != 0 {
            o.failures.append("the sync after the space returned failed: \(resumed.out.prefix(300))")
        }
        let again = try practice.run(["sync", "--json"])
        let row = ((try? JSONSerialization.jsonObject(with: Data(again.out.utf8))) as? [[String: Any]])?.first
        if again.status != 0 || row?["sent"] as? Int != 0 {
            o.failures.append("a further sync moved writes: sent \(row?["sent"] ?? "?")")
        }
        o.failures += try healthProblems(hub)
        let c = try pair.check(hub: hub)
        (o.lost, o.doubled) = (c.lost, c.doubled)
        if !c.clean { o.failures.append("\(c)") }
        hub.stopDaemon()
        o.integrity = try hub.integrity()
        if o.integrity != "ok" { o.failures.append("integrity_check: \(o.integrity)") }
        o.seconds = seconds(ContinuousClock.now - start)
        return o
    }

    /// `spsync referral create` at the practice on a full disk, with or without its daemon running.
    private func writing(mount: String, logs: String, withDaemon: Bool) throws -> Outcome {
        var o = Outcome(name: "full while writing locally (" + (withDaemon ? "daemon running" : "no daemon") + ")")
        let start = ContinuousClock.now
        let (copied, _) = try pair.copy(to: work + "/run", logs: logs)
        let sizeKiB = diskUsage(copied.home) / 1024 + 4096
        try shell("/bin/mount", ["-t", "tmpfs", "-o", "size=\(sizeKiB)k,mode=0700", "tmpfs", mount])
        defer { try? shell("/bin/umount", [mount]) }
        try shell("/bin/cp", ["-a", copied.home, mount + "/practice"])
        let practice = CampaignNode(id: copied.id, home: mount + "/practice", log: logs + "/practice-full.log")
        if withDaemon { try practice.startDaemon() }
        defer { practice.stopDaemon(signal: SIGKILL) }
        let before = try referrals(practice)
        // Fill what is left of the disk.
        let filler = mount + "/filler"
        // dd stops, and complains on stderr, when the disk is full: that is the point.
        try? shell("/bin/dd", ["if=/dev/zero", "of=\(filler)", "bs=64k", "status=none"], quiet: true)
        let create = [
            "referral", "create", "--to", PreparedPair.hubID, "--need", "loneliness", "--name", "Pat", "--consent",
            "explicit",
        ]
        let refused = try practice.run(create)
        let lines = refused.err.split(separator: "\n")
        o.notes.append("on the full disk: exit \(refused.status), stderr \(lines.count) line(s): \(refused.firstLine)")
        if refused.status == 0 { o.failures.append("the write succeeded on a full disk") }
        if lines.count != 1 || !refused.err.hasPrefix("spsync: ") {
            o.failures.append("not a one-line `spsync:` error: \(refused.err.prefix(400))")
        }
        if !refused.out.isEmpty { o.failures.append("printed an id on a full disk: \(refused.out)") }
        if withDaemon, !practice.daemonRunning { o.notes.append("the daemon exited: \(tail(practice.log, lines: 2))") }
        let integrityFull = try practice.integrity()
        if integrityFull != "ok" { o.failures.append("integrity_check on the full disk: \(integrityFull)") }
        if try referrals(practice) != before { o.failures.append("the refused write left a referral") }
        // Space returns: the same write works.
        try FileManager.default.removeItem(atPath: filler)
        let created = try practice.run(create)
        if created.status != 0 { o.failures.append("the write failed once space returned: \(created.firstLine)") }
        if try referrals(practice) != before + 1 {
            o.failures.append("referrals \(before) -> \(try referrals(practice)), not +1")
        }
        if withDaemon { o.failures += try healthProblems(practice) }
        practice.stopDaemon()
        o.integrity = try practice.integrity()
        if o.integrity != "ok" { o.failures.append("integrity_check: \(o.integrity)") }
        o.seconds = seconds(ContinuousClock.now - start)
        return o
    }

    private func referrals(_ node: CampaignNode) throws -> Int {
        try node.query { try Int.fetchOne($0, sql: "SELECT count(*) FROM referral") ?? 0 }
    }
}
