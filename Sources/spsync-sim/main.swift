import ArgumentParser
import Foundation
import SyncSimulation

/// `spsync-sim`: runs the deterministic simulator over many seeds, or replays one with its trace.
@main
struct SimulatorCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "spsync-sim",
        abstract: "Deterministic network simulator: checks convergence, no lost writes and audiences under faults.")

    @Option(help: "Run seeds 1...N and print how many ran, converged and failed.")
    var seeds: Int?

    @Option(help: "With --seeds: the first seed (runs first...first+N-1).")
    var from: UInt64 = 1

    @Option(help: "Replay one seed, printing its trace.")
    var seed: UInt64?

    @Option(help: "Workload steps per seed before healing.")
    var steps = 120

    func validate() throws {
        guard (seeds == nil) != (seed == nil) else {
            throw ValidationError("give exactly one of --seeds N or --seed S")
        }
        if let seeds, seeds < 1 { throw ValidationError("--seeds must be at least 1") }
    }

    func run() throws {
        if let seed {
            let report = Simulation.run(.init(seed: seed, steps: steps))
            for line in report.trace { print(line) }
            print(Self.attackSummary([report]))
            print(Self.lifecycleSummary([report]))
            print(report.converged ? "seed \(seed): converged" : "seed \(seed): FAILED")
            if !report.converged { throw ExitCode.failure }
            return
        }
        let n = seeds ?? 0
        var failed: [UInt64] = []
        var reports: [Simulation.Report] = []
        for s in from..<from + UInt64(n) {
            var report = Simulation.run(.init(seed: s, steps: steps))
            report.trace = []
            reports.append(report)
            if !report.converged {
                failed.append(s)
                print("seed \(s) FAILED (replay: spsync-sim --seed \(s)): \(report.failures.first ?? "")")
            }
            let done = Int(s - from) + 1
            if done % 100 == 0, done < n {
                // Progress on stderr, so stdout stays the report.
                FileHandle.standardError.write(Data("… \(done) of \(n) seeds run, \(failed.count) failed\n".utf8))
            }
        }
        print(Self.attackSummary(reports))
        print(Self.lifecycleSummary(reports))
        print("ran \(n), converged \(n - failed.count), failed \(failed.count)")
        if !failed.isEmpty { throw ExitCode.failure }
    }

    /// One line: progress events the lifecycle table refused at their origin, and those held at the
    /// hub that fall out of order (held, relayed, not counted).
    static func lifecycleSummary(_ reports: [Simulation.Report]) -> String {
        let refused = reports.reduce(0) { $0 + $1.refusedTransitions }
        let outOfOrder = reports.reduce(0) { $0 + $1.outOfOrderEvents }
        return "progress events refused by the lifecycle table \(refused); out of order at the hub \(outOfOrder)"
    }

    /// One line: the forged writes made and refused elsewhere by attack, the refused key bindings,
    /// and the false `HELLO` claims made and audited.
    static func attackSummary(_ reports: [Simulation.Report]) -> String {
        let kinds = Attack.allCases.map { attack in
            let made = reports.reduce(0) { $0 + ($1.attacks[attack] ?? 0) }
            let refused = reports.reduce(0) { $0 + ($1.refusalsByAttack[attack] ?? 0) }
            return "\(attack) \(made)/\(refused)"
        }
        let keys = reports.reduce(0) { $0 + $1.keyRefusals }
        let claims = reports.reduce(0) { $0 + $1.helloClaims }
        let audited = reports.reduce(0) { $0 + $1.falseClaims }
        return "forged writes made/refusals elsewhere: \(kinds.joined(separator: ", ")); key bindings refused \(keys); "
            + "HELLO claims \(claims), false claims audited \(audited)"
    }
}
