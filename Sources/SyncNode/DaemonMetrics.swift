import Metrics
import SyncProtocol

/// What the daemon counts, through the swift-metrics API (the binary chooses the backend:
/// Prometheus when `[http]` is set, nothing otherwise). Gauges of state (a peer's last success,
/// pending, store size) are set when `/metrics` is read, from the same rows `spsync status` reads.
public enum DaemonMetrics {
    /// A session ended: its bytes and field writes per peer and way, its duration, its result,
    /// and the node's apply counts.
    static func sessionFinished(peer: String, _ outcome: SessionOutcome, millis: UInt64?) {
        let s = outcome.statistics
        let byPeer = [("peer", peer)]
        Counter(label: "spsync_peer_bytes_received_total", dimensions: byPeer).increment(by: Int64(s.bytesIn))
        Counter(label: "spsync_peer_bytes_sent_total", dimensions: byPeer).increment(by: Int64(s.bytesOut))
        Counter(label: "spsync_peer_field_writes_received_total", dimensions: byPeer).increment(by: Int64(s.writesIn))
        Counter(label: "spsync_peer_field_writes_sent_total", dimensions: byPeer).increment(by: Int64(s.writesOut))
        Counter(
            label: "spsync_peer_syncs_total", dimensions: byPeer + [("result", outcome.succeeded ? "ok" : "failed")]
        )
        .increment()
        if !outcome.succeeded {
            let code = outcome.errorCode ?? .unknown
            Counter(label: "spsync_peer_sync_failures_total", dimensions: byPeer + [("code", code.rawValue)])
                .increment()
        }
        if let millis {
            Metrics.Timer(label: "spsync_peer_sync_duration_seconds", dimensions: byPeer)
                .recordNanoseconds(Int64(millis) * 1_000_000)
        }
        Counter(label: "spsync_sessions_total").increment()
        Counter(label: "spsync_field_writes_applied_total").increment(by: Int64(s.applied))
        Counter(label: "spsync_field_writes_refused_total").increment(by: Int64(s.refused))
        Counter(label: "spsync_field_writes_parked_total").increment(by: Int64(s.parked))
        Counter(label: "spsync_field_writes_quarantined_total").increment(by: Int64(s.quarantined))
    }

    /// A connection refused before a session, by the transport's reason (`untrusted_peer`, …).
    static func refused(_ reason: String) {
        Counter(label: "spsync_handshake_refusals_total", dimensions: [("reason", reason)]).increment()
    }
}
