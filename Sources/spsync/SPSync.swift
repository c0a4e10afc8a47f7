import ArgumentParser
import Foundation
import SyncCore
import SyncStore

/// The root command: it only routes.
@main
struct SPSync: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "spsync",
        abstract:
            "Keeps social prescribing referrals and service capacity in step between GP practices, PCN hubs and charities.",
        discussion:
            "Every command takes --home DIR (default $SPSYNC_HOME, then $XDG_STATE_HOME/spsync). Listings take --json.",
        subcommands: [
            Init.self, Id.self, PeerCommand.self, CertCommand.self, ServiceCommand.self, ReferralCommand.self,
            Conflicts.self,
            Resolve.self, Settle.self,
            SyncCommand.self, DaemonCommand.self, StatusCommand.self, DemoCommand.self, Backup.self, Restore.self,
            Recover.self, AuditCommand.self, HeldCommand.self, WebCommand.self, ReportCommand.self,
        ]
    )

    /// Parses and runs a command; every error ends as one line on stderr starting `spsync:` and a
    /// non-zero exit (64 for usage), as the README promises — argument errors and errors no command
    /// caught included. Help and `--version` print as ArgumentParser prints them.
    static func main() async {
        if let line = nonUTF8Argument() {
            FileHandle.standardError.write(Data(("spsync: " + line + "\n").utf8))
            Foundation.exit(64)
        }
        do {
            var command = try parseAsRoot()
            if var asyncCommand = command as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch {
            let (line, status) = report(error)
            guard let line else { exit(withError: error) }
            FileHandle.standardError.write(Data(("spsync: " + line + "\n").utf8))
            Foundation.exit(status)
        }
    }

    /// The refusal (without `spsync: `) of the first command-line argument that is not valid UTF-8,
    /// if there is one. `CommandLine.arguments` would quietly replace its bad bytes with U+FFFD and
    /// the command would store the mangled text, so the raw bytes are checked before parsing.
    static func nonUTF8Argument() -> String? {
        let argv = CommandLine.unsafeArgv
        for i in 1..<Int(CommandLine.argc) {
            guard let raw = argv[i], String(validatingCString: raw) == nil else { continue }
            let which: String
            if i > 1, let previous = argv[i - 1].flatMap({ String(validatingCString: $0) }), previous.hasPrefix("-") {
                which = "the value of \(EscapedText.escape(previous))"
            } else {
                which = "argument \(i)"
            }
            return "\(which) is not valid UTF-8 text: re-type it, or set the terminal (its locale) to UTF-8; "
                + "nothing was changed"
        }
        return nil
    }

    /// The one line (without `spsync: `) and exit status for `error`; nil for what ArgumentParser
    /// itself must handle: help, `--version`, and an `ExitCode` whose message was already printed.
    static func report(_ error: any Error) -> (line: String?, status: Int32) {
        if let exit = error as? ExitCode { return (nil, exit.rawValue) }
        let code = exitCode(for: error)
        if code == .success { return (nil, 0) }
        let line: String
        var status: Int32 = code.rawValue == 0 ? 1 : code.rawValue
        if let error = error as? SyncError {
            line = error.message
            status = error.code == .usage ? 64 : 1
        } else if let error = Store.operatorError(error) {
            line = error.message
        } else if code == .validationFailure {
            line = message(for: error) + usageHint(fullMessage(for: error, columns: 10_000))
        } else {
            line = "\(error)"
        }
        return (oneLine(line), status)
    }

    /// `; see `spsync … --help``, from the "See '…' for more information." line ArgumentParser writes
    /// under an argument error, naming the subcommand that was being parsed.
    static func usageHint(_ full: String) -> String {
        guard let start = full.range(of: "See '"), let end = full[start.upperBound...].range(of: "'") else {
            return " (see `spsync --help`)"
        }
        return " (see `\(full[start.upperBound..<end.lowerBound])`)"
    }

    /// `text` as one printable line: line breaks become "; ", other control characters escapes.
    static func oneLine(_ text: String) -> String {
        let lines = text.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }
        return EscapedText.printable(lines.filter { !$0.isEmpty }.joined(separator: "; "))
    }
}
