import Foundation
import Hummingbird
import Logging
import Metrics
import NIOCore
import Prometheus
import ServiceLifecycle
import SyncCore
import SyncNode
import SyncProtocol
import SyncStore

/// The daemon's HTTP side on a loopback address (`[http] listen` in node.toml): Prometheus text at
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

    /// The HTTP service for `address`, to run beside the daemon's own services.
    public static func service(
        daemon: Daemon, registry: PrometheusCollectorRegistry, address: String, logger: Logger
    ) throws -> some Service {
        try NodeConfig.validateHTTPListen(address, option: "[http] listen")
        let (host, port) = try NodeRuntime.hostPort(address)
        try Loopback.checkBindable(host: host, port: port, what: "metrics and health over HTTP ([http] listen)")
        let router = Router()
        router.get("healthz") { _, _ -> Response in
            text(.ok, "ok\n")
        }
        router.get("readyz") { _, _ -> Response in
            let problems = await readiness(daemon)
            return problems.isEmpty
                ? text(.ok, "ready\n") : text(.serviceUnavailable, problems.joined(separator: "\n") + "\n")
        }
        router.get("metrics") { _, _ -> Response in
            await refreshGauges(daemon)
            var headers = HTTPFields()
            headers[.contentType] = "text/plain; version=0.0.4; charset=utf-8"
            return Response(
                status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: registry.emitToBuffer())))
        }
        Console(daemon: daemon).add(to: router)
        return Application(
            router: router, configuration: .init(address: .hostname(host, port: port), serverName: nil),
            eventLoopGroupProvider: .shared(daemon.runtime.group), logger: logger)
    }

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
            if let id = try? NodeID(p.id), let pending = try? BatchBuilder.pending(store: store, peer: id) {
                Gauge(label: "spsync_peer_pending_field_writes", dimensions: byPeer).record(pending)
            }
        }
        if let c = try? store.counts() {
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
