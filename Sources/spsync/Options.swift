import ArgumentParser
import Foundation
import SyncCore
import SyncNode

/// `--home DIR`, shared by every command.
struct HomeOptions: ParsableArguments {
    @Option(name: .long, help: "The node's home folder (default: $SPSYNC_HOME, then $XDG_STATE_HOME/spsync).")
    var home: String?

    var nodeHome: NodeHome { NodeHome.resolve(home) }
}

/// `--json`, on every listing.
struct OutputOptions: ParsableArguments {
    @Flag(name: .long, help: "Print JSON instead of a table.")
    var json = false
}

/// Runs a command body, turning operating errors into one line on stderr and a non-zero exit.
func runReporting(_ body: () throws -> Void) throws {
    // The store, keys and config hold patient data and secrets: files spsync creates are private.
    umask(0o077)
    do {
        try body()
    } catch let error as SyncError {
        FileHandle.standardError.write(Data("spsync: \(error.message)\n".utf8))
        throw ExitCode(error.code == .usage ? 64 : 1)
    }
}

/// Prints a value as pretty, stable JSON.
func printJSON(_ value: some Encodable) throws {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
    let data = try encoder.encode(value)
    print(String(decoding: data, as: UTF8.self))
}

/// Prints rows as an aligned text table, one line per row: what a cell holds that is not plainly
/// printable (a new line in a note, an escape character a peer sent) is shown as an escape.
func printTable(_ header: [String], _ rows: [[String]]) {
    let rows = rows.map { $0.map(EscapedText.printable) }
    var widths = header.map(\.count)
    for row in rows { for (i, cell) in row.enumerated() { widths[i] = max(widths[i], cell.count) } }
    func line(_ cells: [String]) -> String {
        cells.enumerated().map { i, c in
            i == cells.count - 1 ? c : c.padding(toLength: widths[i], withPad: " ", startingAt: 0)
        }
        .joined(separator: "  ")
    }
    print(line(header))
    for row in rows { print(line(row)) }
}

/// A time in ms since the Unix epoch as ISO 8601 (UTC).
func isoTime(_ millis: UInt64) -> String {
    ISO8601DateFormatter().string(from: Date(timeIntervalSince1970: Double(millis) / 1000))
}

/// Applies a value rule (`ValueRules`) to an option in `validate()`: its refusal becomes an
/// argument error, one `spsync:` line naming the command's help, exit status 64.
func checkOption(_ rule: () throws(SyncError) -> Void) throws {
    do {
        try rule()
    } catch {
        throw ValidationError(error.message)
    }
}

/// Checks an optional text option against a value rule for text (`ValueRules.text`).
func checkText(_ value: String?, _ option: String, _ kind: ValueRules.TextKind) throws {
    guard let value else { return }
    try checkOption { () throws(SyncError) in try ValueRules.text(value, option, kind) }
}

/// Checks an optional count option against its named limit (`ValueRules.count`).
func checkCount(_ value: Int?, _ option: String, _ range: ClosedRange<Int>, limit: String) throws {
    guard let value else { return }
    try checkOption { () throws(SyncError) in try ValueRules.count(value, option, range, limit: limit) }
}

/// Parses an organisation code given on the command line.
func nodeID(_ text: String, option: String) throws -> NodeID {
    do {
        return try NodeID(text)
    } catch {
        throw SyncError(.usage, "\(option): \(error.message)")
    }
}

/// Parses a record id given on the command line.
func recordID(_ text: String) throws -> RecordID {
    do {
        return try RecordID(text)
    } catch {
        throw SyncError(.usage, error.message)
    }
}

/// Tells a running daemon that this command wrote to the store, so live peers get the change now.
/// Best effort: without a daemon there is nobody to tell, and a daemon polls the store anyway.
func notifyDaemon(_ home: NodeHome) {
    do {
        _ = try ControlClient.send(ControlRequest(command: "changed"), home: home, timeoutSeconds: 2)
    } catch {
        // The daemon notices the change at its next poll (within a tenth of a second).
    }
}

/// Tells a running daemon that node.toml changed; returns a line for the operator saying what
/// happened (the daemon was told, or is not running, or could not reload and must be restarted).
func reloadDaemon(_ home: NodeHome) -> String {
    do {
        guard let response = try ControlClient.send(ControlRequest(command: "reload"), home: home, timeoutSeconds: 5)
        else { return "no daemon is running: it takes effect when `spsync daemon` starts" }
        guard response.ok else {
            return "the running daemon could not reload (\(response.error ?? "no reason given")): restart it"
        }
        let cut = response.cut ?? []
        return "the running daemon has it now"
            + (cut.isEmpty ? "" : "; it cut the sessions of \(cut.joined(separator: ", "))")
    } catch {
        return "the running daemon did not answer (\(error)): restart it for this to take effect"
    }
}
