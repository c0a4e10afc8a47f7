import Foundation
import SyncTransport

/// Benchmark (not a test) of our TLS transport against the system's openssl tools, in one run.
///
/// Rounds alternate which side goes first, so a change in the machine's load during the run
/// touches both sides alike; the summary compares medians.
@main
struct TLSBench {
    struct Options {
        var seconds = 5
        var bytes = 2 * 1024 * 1024 * 1024
        var frameBytes = 64 * 1024
        var rounds = 3
        var inFlight = 4
        var openssl = "/usr/bin/openssl"

        static let usage = """
            usage: spsync-tls-bench [--seconds N] [--bytes N] [--frame-bytes N] [--rounds N] [--in-flight N] \
            [--openssl PATH]
              --seconds      handshake window per run, in seconds (default 5)
              --bytes        bulk volume per run, in bytes, a multiple of --frame-bytes (default 2 GiB)
              --frame-bytes  our frames' size on the wire, in bytes (default 64 KiB)
              --rounds       runs of each measurement; the summary takes medians (default 3)
              --in-flight    concurrent dialers for the extra handshake figure (default 4)
              --openssl      the openssl executable (default /usr/bin/openssl)
            """

        init(arguments: [String]) throws {
            var rest = arguments[...]
            while let flag = rest.popFirst() {
                guard let value = rest.popFirst() else { throw BenchError("\(flag) needs a value\n\(Self.usage)") }
                func number() throws -> Int {
                    guard let number = Int(value), number > 0 else {
                        throw BenchError("\(flag) needs a positive integer, not \(value)")
                    }
                    return number
                }
                switch flag {
                case "--seconds": seconds = try number()
                case "--bytes": bytes = try number()
                case "--frame-bytes": frameBytes = try number()
                case "--rounds": rounds = try number()
                case "--in-flight": inFlight = try number()
                case "--openssl": openssl = value
                default: throw BenchError("unknown option \(flag)\n\(Self.usage)")
                }
            }
            guard frameBytes > 5, frameBytes - 1 <= 4 * 1024 * 1024, bytes % frameBytes == 0 else {
                throw BenchError("--bytes must be a multiple of --frame-bytes, and frames 6 B to 4 MiB")
            }
        }
    }

    static func main() async {
        do {
            let options = try Options(arguments: Array(CommandLine.arguments.dropFirst()))
            let environment = try BenchEnvironment.make()
            do {
                try await run(options, environment)
            } catch {
                await environment.tearDown()
                throw error
            }
            await environment.tearDown()
        } catch {
            FileHandle.standardError.write(Data("spsync-tls-bench: \(error)\n".utf8))
            exit(1)
        }
    }

    static func run(_ options: Options, _ environment: BenchEnvironment) async throws {
        let tools = OpenSSLTools(executable: options.openssl, environment: environment)
        let defaults = TransportConfiguration(tls: environment.clientConfiguration.tls)
        say("spsync-tls-bench  \(ISO8601DateFormatter().string(from: Date()))")
        say("  command: spsync-tls-bench \(CommandLine.arguments.dropFirst().joined(separator: " "))")
        say("  machine: \(ProcessInfo.processInfo.activeProcessorCount) cores, load average \(loadAverage())")
        say("  \(try await tools.version())")
        say(
            "  certificates: NodeIdentity, ECDSA P-256, self-signed; listener \(environment.server.nodeID) "
                + "\(environment.server.fingerprint), dialer \(environment.client.nodeID) "
                + "\(environment.client.fingerprint)")
        say(
            "  our listener's admission caps RAISED for the benchmark: handshakesPerSecondMax "
                + "\(defaults.handshakesPerSecondMax) -> \(BenchEnvironment.handshakesPerSecondMaxRaised), "
                + "sessionsMax \(defaults.sessionsMax) -> \(BenchEnvironment.sessionsMaxRaised), "
                + "unauthenticatedMax and unauthenticatedPerAddressMax \(defaults.unauthenticatedMax) and "
                + "\(defaults.unauthenticatedPerAddressMax) -> \(BenchEnvironment.unauthenticatedMaxRaised) "
                + "(one address dials in a loop)")
        say(
            "  ours: listener and dialer in this process, one event loop thread each; "
                + "openssl: s_server and s_time/s_client, one process each")
        say(
            "  both: TLS 1.3 only, suites \(OpenSSLTools.cipherSuites), groups \(OpenSSLTools.groups), "
                + "client certificate required, no tickets, no resumption")

        say("\nHandshakes: full mutual TLS 1.3 handshakes, a new connection each, \(options.seconds) s per run")
        var ours: [Double] = []
        var theirs: [Double] = []
        var oursInFlight: [Double] = []
        for round in 1...options.rounds {
            func measureOurs() async throws {
                let run = try await OurTransport.handshakes(
                    seconds: options.seconds, inFlight: 1, environment: environment)
                ours.append(run.perSecond)
                say(
                    "  round \(round) ours, 1 in flight:     \(format(run.perSecond, 1))/s  (\(run.completed) in "
                        + "\(format(run.seconds, 2)) s; listener authenticated \(run.served); \(run.negotiated))")
            }
            func measureTheirs() async throws {
                let run = try await tools.handshakes(seconds: options.seconds)
                theirs.append(run.perSecond)
                say(
                    "  round \(round) openssl s_time -new:   \(format(run.perSecond, 1))/s  (\(run.completed) in "
                        + "\(format(run.seconds, 2)) s)")
            }
            if round % 2 == 1 {
                try await measureOurs()
                try await measureTheirs()
            } else {
                try await measureTheirs()
                try await measureOurs()
            }
            let concurrent = try await OurTransport.handshakes(
                seconds: options.seconds, inFlight: options.inFlight, environment: environment)
            oursInFlight.append(concurrent.perSecond)
            say(
                "  round \(round) ours, \(options.inFlight) in flight:     \(format(concurrent.perSecond, 1))/s  "
                    + "(\(concurrent.completed) in \(format(concurrent.seconds, 2)) s; listener authenticated "
                    + "\(concurrent.served))")
        }
        let handshakeRatio = median(ours) / median(theirs)
        say(
            "  median: ours \(format(median(ours), 1))/s, openssl s_time \(format(median(theirs), 1))/s: "
                + "ratio \(format(handshakeRatio, 2)) (target >= 0.8: \(handshakeRatio >= 0.8 ? "met" : "NOT met"))")
        say(
            "  median with \(options.inFlight) dialers in flight (s_server serves one at a time, so no openssl "
                + "counterpart): \(format(median(oursInFlight), 1))/s")

        let mebibytes = options.bytes / (1024 * 1024)
        say(
            "\nBulk: \(mebibytes) MiB one way (dialer -> listener) over loopback TLS; ours as "
                + "\(options.bytes / options.frameBytes) frames of \(options.frameBytes) bytes, openssl as "
                + "head -c | s_client -> s_server > /dev/null; MB = 10^6 bytes")
        var oursBulk: [Double] = []
        var theirsBulk: [Double] = []
        for round in 1...options.rounds {
            func measureOurs() async throws {
                let run = try await OurTransport.bulk(
                    bytes: options.bytes, frameBytes: options.frameBytes, environment: environment)
                oursBulk.append(run.megabytesPerSecond)
                say(
                    "  round \(round) ours:                 \(format(run.megabytesPerSecond, 0)) MB/s  "
                        + "(\(format(run.seconds, 2)) s; \(run.negotiated))")
            }
            func measureTheirs() async throws {
                let run = try await tools.bulk(bytes: options.bytes)
                theirsBulk.append(run.megabytesPerSecond)
                say(
                    "  round \(round) openssl s_client:     \(format(run.megabytesPerSecond, 0)) MB/s  "
                        + "(\(format(run.seconds, 2)) s; \(run.negotiated))")
            }
            if round % 2 == 1 {
                try await measureOurs()
                try await measureTheirs()
            } else {
                try await measureTheirs()
                try await measureOurs()
            }
        }
        let bulkRatio = median(oursBulk) / median(theirsBulk)
        say(
            "  median: ours \(format(median(oursBulk), 0)) MB/s, openssl \(format(median(theirsBulk), 0)) MB/s: "
                + "ratio \(format(bulkRatio, 2)) (target >= 1.0: \(bulkRatio >= 1.0 ? "met" : "NOT met"))")
        say("\n  load average at the end: \(loadAverage())")
    }

    /// Writes a line to stdout at once (unbuffered), so a long run shows progress in a pipe too.
    static func say(_ line: String) {
        FileHandle.standardOutput.write(Data((line + "\n").utf8))
    }

    static func median(_ values: [Double]) -> Double {
        let sorted = values.sorted()
        guard !sorted.isEmpty else { return .nan }
        let middle = sorted.count / 2
        return sorted.count % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2
    }

    static func format(_ value: Double, _ decimals: Int) -> String {
        String(format: "%.\(decimals)f", value)
    }

    /// The 1, 5 and 15 minute load averages: other work on the machine depresses both sides.
    static func loadAverage() -> String {
        do {
            let text = try String(contentsOfFile: "/proc/loadavg", encoding: .utf8)
            return text.split(separator: " ").prefix(3).joined(separator: " ")
        } catch {
            return "unknown"
        }
    }
}
