import Foundation
import Hummingbird
import HummingbirdCore
import Logging
import Metrics
import NIOCore
import Prometheus
import ServiceLifecycle
import SyncCore
import SyncNode
import SyncProtocol
import SyncStore
import SyncTransport

/// The daemon's HTTP side (`[http] listen` in node.toml; HTTPS with `tls_certificate` and `tls_key`): Prometheus text at
/// `/metrics`, liveness at `/healthz`, readiness at `/readyz`, and the web console (`Console`) at
/// every other path. Served by Hummingbird 2 on the daemon's own event loops.
public enum HTTPEndpoints {
    /// Makes the metrics backend (a Prometheus registry behind swift-metrics) for this process.
    /// Call once, before the daemon counts anything.
    public static func bootstrapMetrics() -> PrometheusCollectorRegistry {
        let registry = PrometheusCollectorRegistry()
        var factory = PrometheusMetricsFactory(registry: registry)
        // Sync durations run from a second (in step) to many minutes (a first sync of a large store).
        factory.defaultDurationHistogramBuckets = [
            .milliseconds(100), .milliseconds(500), .seconds(1), .seconds(5), .seconds(15), .seconds(60),
            .seconds(300), .seconds(1800),
        ]
        MetricsSystem.bootstrap(factory)
        return registry
    }

    /// The HTTP service for `address`, to run beside the daemon's own services: plain HTTP on a
    /// loopback address, or HTTPS (the system OpenSSL) with the certificate and key of `[http]`.
    public static func service(
        daemon: Daemon, registry: PrometheusCollectorRegistry, address: String, logger: Logger
    ) throws -> some Service {
        let http = daemon.runtime.config.http ?? NodeConfig.HTTP(listen: address)
        let tls = try http.servesTLS()
        let endpoint = try NodeConfig.validateHTTPListen(address, option: "[http] listen", tls: tls)
        let (host, port) = (endpoint.host, endpoint.port)
        try Loopback.checkBindable(
            host: host, port: port, what: "the console, metrics and health over HTTP ([http] listen)")
        let server: HTTPServerBuilder
        if tls, let certificate = http.tlsCertificate, let key = http.tlsKey {
            let home = daemon.runtime.home.path
            func resolved(_ path: String) -> String { path.hasPrefix("/") ? path : home + "/" + path }
            do {
                let identity = try NodeIdentity.loadWebServer(
                    keyPath: resolved(key), certificatePath: resolved(certificate))
                var configuration = SyncTransport.TLSConfiguration(
                    identity: identity,
                    trust: ClosureTrustPolicy { _ in .reject(reason: "no client certificates here") })
                configuration.clientCertificates = .notRequested
                server = .http1(tls: try TLSContext(configuration: configuration))
            } catch {
                throw SyncError(.usage, "[http] TLS: \(error)")
            }
        } else {
            server = .http1()
        }
        let router = Router(context: EndpointContext.self)
        // The operator endpoints answer loopback clients only: on a TLS listener on another address,
        // the console is for people who sign in; metrics name peers and are not.
        router.get("healthz") { _, context -> Response in
            guard context.fromLoopback else { return notFound() }
            return text(.ok, "ok\n")
        }
        router.get("readyz") { _, context -> Response in
            guard context.fromLoopback else { return notFound() }
            let problems = await readiness(daemon)
            return problems.isEmpty
                ? text(.ok, "ready\n") : text(.serviceUnavailable, problems.joined(separator: "\n") + "\n")
        }
        router.get("metrics") { _, context -> Response in
            guard context.fromLoopback else { return notFound() }
            await refreshGauges(daemon)
            var headers = HTTPFields()
            headers[.contentType] = "text/plain; version=0.0.4; charset=utf-8"
            return Response(
                status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: registry.emitToBuffer())))
        }
        Console(daemon: daemon, secure: tls).add(to: router)
        return Application(
            router: router, server: server, configuration: .init(address: .hostname(host, port: port), serverName: nil),
            eventLoopGroupProvider: .shared(daemon.runtime.group), logger: logger)
    }

    static func notFound() -> Response { text(.notFound, "not found\n") }

    static func text(_ status: HTTPResponse.Status, _ body: String) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "text/plain; charset=utf-8"
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(string: body)))
    }

    /// Why the node is not ready, if it is not: its store cannot be read, or its peers' listener is
    /// not bound yet.
    static func readiness(_ daemon: Daemon) async -> [String] {
        var problems: [String] = []
        do { _ = try daemon.runtime.store.nodeState() } catch {
            problems.append("store: \(EscapedText.printable("\(error)"))")
        }
        if !daemon.listening { problems.append("listener: not bound yet") }
        return problems
    }

    /// Sets the gauges of state from what `spsync status` reads: each peer's rows, pending counts,
    /// the store's counts and size, the sessions open.
    static func refreshGauges(_ daemon: Daemon) async {
        let store = daemon.runtime.store
        for p in await daemon.book.snapshot() {
            let byPeer = [("peer", p.id)]
            Gauge(label: "spsync_peer_last_success_timestamp_seconds", dimensions: byPeer)
                .record(Double(p.lastSuccessAt ?? 0) / 1000)
            Gauge(label: "spsync_peer_last_attempt_timestamp_seconds", dimensions: byPeer)
                .record(Double(p.lastAttemptAt ?? 0) / 1000)
            Gauge(label: "spsync_peer_connected", dimensions: byPeer).record(p.state == .connected ? 1 : 0)
            Gauge(label: "spsync_peer_failures_in_a_row", dimensions: byPeer).record(p.failuresInARow)
            if let id = try? NodeID(p.id),
                let pending = try? await daemon.runtime.storeWork({ try BatchBuilder.pending(store: store, peer: id) })
            {
                Gauge(label: "spsync_peer_pending_field_writes", dimensions: byPeer).record(pending)
            }
        }
        if let c = try? await daemon.runtime.storeWork({ try store.counts() }) {
            Gauge(label: "spsync_referrals").record(c.referrals)
            Gauge(label: "spsync_services").record(c.services)
            Gauge(label: "spsync_field_writes").record(c.changes)
            Gauge(label: "spsync_conflicts").record(c.conflicts)
            Gauge(label: "spsync_parked").record(c.parked)
            Gauge(label: "spsync_quarantined").record(c.quarantined)
        }
        let path = daemon.runtime.home.storePath
        let size = ["", "-wal"].reduce(Int64(0)) { total, suffix in
            let attributes = try? FileManager.default.attributesOfItem(atPath: path + suffix)
            return total + ((attributes?[.size] as? NSNumber)?.int64Value ?? 0)
        }
        Gauge(label: "spsync_store_bytes").record(size)
        Gauge(label: "spsync_sessions_open").record(await daemon.openSessions())
    }
}

/// A request's context: Hummingbird's, and whether the client connected from a loopback address.
struct EndpointContext: RequestContext {
    var coreContext: CoreRequestContextStorage
    let fromLoopback: Bool

    init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        fromLoopback = Self.isLoopback(source.channel.remoteAddress)
    }

    static func isLoopback(_ address: SocketAddress?) -> Bool {
        guard let ip = address?.ipAddress else { return false }
        return ip.hasPrefix("127.") || ip == "::1" || ip.hasPrefix("::ffff:127.")
    }
}
