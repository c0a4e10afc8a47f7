import ArgumentParser

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
        ]
    )
}
