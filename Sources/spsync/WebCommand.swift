import ArgumentParser
import Foundation
import SyncCore
import SyncHTTP
import SyncNode

/// `spsync web login`: a one-time sign-in link to the daemon's web console.
struct WebCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "web", abstract: "The web console for coordinators and link workers.",
        subcommands: [WebLogin.self])
}

struct WebLogin: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "login",
        abstract: "Print a one-time link that signs one person in to the web console.",
        discussion: """
            The link works once, within --minutes, on this machine (the console listens on a loopback \
            address: [http] listen in node.toml). Give it to the person who will use the console; the \
            session it starts ends after an hour unused or twelve hours in all.
            """)

    @OptionGroup var home: HomeOptions
    @Option(help: "Minutes the link stays good (1–\(ConsoleLogins.validMinutesMax)).")
    var minutes = ConsoleLogins.validMinutesDefault

    func validate() throws {
        guard (1...ConsoleLogins.validMinutesMax).contains(minutes) else {
            throw ValidationError("--minutes must be between 1 and \(ConsoleLogins.validMinutesMax)")
        }
    }

    func run() throws {
        try runReporting {
            let home = self.home.nodeHome
            guard let listen = try home.config().http?.listen else {
                throw SyncError(
                    .usage,
                    "the web console is served on [http] listen in node.toml, which is not set: add `[http]` with `listen = \"127.0.0.1:9464\"` and restart the daemon"
                )
            }
            let token = try ConsoleLogins(home: home.path).issue(nowMillis: WallClock.now(), minutes: minutes)
            print("http://\(listen)/login?token=\(token)")
        }
    }
}
