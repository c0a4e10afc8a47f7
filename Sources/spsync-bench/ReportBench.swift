import Foundation
import SyncCore

/// `spsync-bench report`: `spsync report --out` at the hub of a PCN year (made here, or `--home`),
/// as a commissioner runs it: wall time and the report process's peak memory, beside the store's
/// size and what it holds. Target (issue 13): 200,000 referrals in under 5 s and 200 MB.
enum ReportBench {
    static func run() throws {
        var hub = PCNYear.stringOption("--home")
        var root: String?
        if hub == nil {
            let referrals = option("--referrals", default: 200_000)
            let dir = NSTemporaryDirectory() + "spsync-bench-report-" + UUID().uuidString
            root = dir
            let every = option("--sync-every", default: 7)
            print(
                "making a PCN year of \(referrals) referrals (every write through the domain API and sync; the charities sync and work every \(every) days) …"
            )
            let made = try PCNYear.make(root: dir, referrals: referrals, seed: 1, progress: true, syncEvery: every)
            print("  made \(made.referrals) referrals in \(String(format: "%.0f", made.seconds)) s")
            hub = made.hubHome
        }
        defer { if let root { try? FileManager.default.removeItem(atPath: root) } }
        guard let hub else { return }
        let storeBytes = (try? FileManager.default.attributesOfItem(atPath: hub + "/store.sqlite")[.size] as? Int) ?? 0
        let out = NSTemporaryDirectory() + "spsync-bench-report-out-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: out) }
        for round in 1...3 {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: NetworkBench.spsync)
            p.arguments = ["report", "--home", hub, "--out", out]
            p.standardOutput = FileHandle.nullDevice
            var before = rusage()
            getrusage(RUSAGE_CHILDREN.rawValue, &before)
            let start = Date()
            try p.run()
            p.waitUntilExit()
            let seconds = Date().timeIntervalSince(start)
            // Children's usage once reaped: CPU adds up; ru_maxrss (KiB on Linux) is the largest
            // child's, the report process (the `spsync init`s before it are small).
            var usage = rusage()
            getrusage(RUSAGE_CHILDREN.rawValue, &usage)
            func cpu(_ u: rusage) -> Double {
                Double(u.ru_utime.tv_sec) + Double(u.ru_utime.tv_usec) / 1e6 + Double(u.ru_stime.tv_sec)
                    + Double(u.ru_stime.tv_usec) / 1e6
            }
            guard p.terminationStatus == 0 else { throw SyncError(.io, "spsync report failed") }
            print(
                String(
                    format:
                        "run %d: spsync report --out over a store of %.0f MiB: %.2f s wall, %.2f s CPU, peak RSS %.1f MiB",
                    round, Double(storeBytes) / 1_048_576, seconds, cpu(usage) - cpu(before),
                    Double(usage.ru_maxrss) / 1024))
        }
        let files = (try? FileManager.default.contentsOfDirectory(atPath: out)) ?? []
        print("wrote \(files.count) files; target: under 5 s and 200 MB")
    }
}
