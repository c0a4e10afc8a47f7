import ArgumentParser
import Foundation
import SyncCore
import SyncHTTP
import SyncNode
import SyncTransport

/// `spsync web login`: a one-time sign-in link to the daemon's web console.
struct WebCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "web", abstract: "The web console for coordinators and link workers.",
        subcommands: [WebLogin.self, WebCertificate.self])
}

struct WebLogin: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "login",
        abstract: "Print a one-time link that signs one person in to the web console.",
        discussion: """
            The link works once, within --minutes. Without TLS the console listens on a loopback address \
            ([http] listen in node.toml), so the link works on this machine; with tls_certificate and \
            tls_key under [http] it is an https link that may listen on another address. Give it to the \
            person who will use the console; the session it starts ends after an hour unused or twelve \
            hours in all.
            """)

    @OptionGroup var home: HomeOptions
    @Option(help: "Minutes the link stays good (1–\(ConsoleLogins.validMinutesMax)).")
    var minutes = ConsoleLogins.validMinutesDefault
    @Option(
        help:
            "The host name in the link (default: the listen address, or the certificate's name when it listens on every address)."
    )
    var host: String?

    func validate() throws {
        guard (1...ConsoleLogins.validMinutesMax).contains(minutes) else {
            throw ValidationError("--minutes must be between 1 and \(ConsoleLogins.validMinutesMax)")
        }
    }

    func run() throws {
        try runReporting {
            let home = self.home.nodeHome
            guard let http = try home.config().http, let listen = http.listen else {
                throw SyncError(
                    .usage,
                    "the web console is served on [http] listen in node.toml, which is not set: add `[http]` with `listen = \"127.0.0.1:9464\"` and restart the daemon"
                )
            }
            let tls = try http.servesTLS()
            let endpoint = try NodeConfig.validateHTTPListen(listen, option: "[http] listen", tls: tls)
            let (listenHost, port) = (endpoint.host, endpoint.port)
            var name = host ?? listenHost
            if host == nil, ["0.0.0.0", "::"].contains(listenHost), tls, let certificate = http.tlsCertificate,
                let key = http.tlsKey
            {
                func resolved(_ path: String) -> String { path.hasPrefix("/") ? path : home.path + "/" + path }
                name = try NodeIdentity.loadWebServer(keyPath: resolved(key), certificatePath: resolved(certificate))
                    .nodeID
            }
            if name.contains(":") { name = "[\(name)]" }
            let token = try ConsoleLogins(home: home.path).issue(nowMillis: WallClock.now(), minutes: minutes)
            print("\(tls ? "https" : "http")://\(name):\(port)/login?token=\(token)")
        }
    }
}

/// `spsync web certificate`: a key and a self-signed certificate for the console's HTTPS.
struct WebCertificate: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "certificate",
        abstract: "Make a key and a self-signed certificate for serving the web console over HTTPS.",
        discussion: """
            Writes web-cert.pem and web-key.pem (mode 0600) in the node's home, naming each --host (the \
            names or addresses people type in their browser). Then add to [http] in node.toml: \
            tls_certificate = "web-cert.pem" and tls_key = "web-key.pem", and restart the daemon. Browsers \
            warn about a self-signed certificate until they are told to trust it; an organisation with its \
            own certificate authority names its own files there instead.
            """)

    @OptionGroup var home: HomeOptions
    @Option(name: .customLong("host"), help: "A host name or IP address the console is reached by (repeat for more).")
    var hosts: [String] = []
    @Option(help: "Days the certificate is valid (1–825).")
    var days = 397

    func validate() throws {
        guard !hosts.isEmpty else { throw ValidationError("name at least one --host the console is reached by") }
        guard (1...825).contains(days) else { throw ValidationError("--days must be between 1 and 825") }
    }

    func run() throws {
        try runReporting {
            let home = self.home.nodeHome
            _ = try home.config()
            let identity: NodeIdentity
            do {
                identity = try NodeIdentity.generateWebServer(
                    hosts: hosts, keyPath: home.path + "/" + NodeIdentity.webKeyFileName,
                    certificatePath: home.path + "/" + NodeIdentity.webCertificateFileName, validityDays: days)
            } catch let error as IdentityError {
                throw SyncError(.usage, error.message)
            }
            print(
                "wrote \(home.path)/\(NodeIdentity.webCertificateFileName) and \(NodeIdentity.webKeyFileName) for \(hosts.joined(separator: ", "))"
            )
            print("fingerprint \(identity.fingerprint)")
            print("next: add to [http] in node.toml")
            print("  tls_certificate = \"\(NodeIdentity.webCertificateFileName)\"")
            print("  tls_key = \"\(NodeIdentity.webKeyFileName)\"")
            print(
                "then restart the daemon; the console is then served over HTTPS and may listen on a non-loopback address"
            )
        }
    }
}
