import Foundation
import SyncCore
import SyncNode
import Testing

/// node.toml parsed once into typed settings: good entries typed, a bad value refused whole in a
/// line that names it.
@Suite("node settings")
struct NodeSettingsTests {
    static let pin = "sha256:" + String(repeating: "ab", count: 32)
    static let other = "SHA256:" + String(repeating: "CD", count: 32)

    func config(_ peers: [PeerConfig], blocked: [String] = [], listen: String? = "127.0.0.1:7443") -> NodeConfig {
        NodeConfig(
            node: .init(id: "U12345", role: "hub", name: "Riverside PCN", listen: listen), peers: peers,
            blocked: blocked)
    }

    @Test("every peer's id, address, schedule and fingerprints are typed; blocked keys are matched as keys, not text")
    func typed() throws {
        let settings = try NodeSettings(
            config(
                [
                    PeerConfig(
                        id: "A81001", address: "127.0.0.1:7001", fingerprint: Self.pin, schedule: "nightly 02:00-04:00"),
                    PeerConfig(
                        id: "GB-CHC-1234567", address: "[::1]:7002", fingerprint: Self.other.lowercased(),
                        schedule: "live"),
                    PeerConfig(id: "A81002", address: "localhost:7003", fingerprint: nil),
                ], blocked: [Self.other]))
        #expect(settings.node.rawValue == "U12345")
        #expect(settings.listen == (try NodeSettings.Endpoint(parsing: "127.0.0.1:7443", what: "listen")))
        #expect(settings.tlsMinimum == .tls13)
        let practice = try #require(settings.peer("A81001"))
        #expect(practice.schedule == .nightly(startMinute: 120, endMinute: 240))
        #expect(practice.address.host == "127.0.0.1" && practice.address.port == 7001)
        #expect(settings.peer("GB-CHC-1234567")?.address.host == "::1")
        #expect(settings.peer("GB-CHC-1234567")?.address.description == "[::1]:7002")
        #expect(settings.peer("A81002")?.schedule == .manual)
        #expect(settings.accepts("A81001"))
        // Blocked by the same key written in capitals: still the same key.
        #expect(!settings.accepts("GB-CHC-1234567"))
        #expect(settings.accepts("A81002"))
        #expect(!settings.accepts("Y99999"))
    }

    @Test("a bad schedule, address, fingerprint, id or tls_min is refused, naming it")
    func refused() {
        func message(_ config: NodeConfig) -> String? {
            do {
                _ = try NodeSettings(config)
                return nil
            } catch { return error.message }
        }
        let good = PeerConfig(id: "A81001", address: "127.0.0.1:7001", fingerprint: Self.pin, schedule: "live")
        var peer = good
        peer.schedule = "hourly"
        #expect(message(config([peer]))?.contains("peer A81001") == true)
        #expect(message(config([peer]))?.contains("hourly") == true)
        peer = good
        peer.address = "127.0.0.1"
        #expect(message(config([peer]))?.contains("peer A81001 address") == true)
        peer.address = "127.0.0.1:99999"
        #expect(message(config([peer]))?.contains("HOST:PORT") == true)
        peer = good
        peer.fingerprint = "sha256:123"
        #expect(message(config([peer]))?.contains("peer A81001") == true)
        peer = good
        peer.id = "not an id"
        #expect(message(config([peer])) != nil)
        #expect(message(config([good], listen: "7443"))?.contains("listen") == true)
        var tls = config([good])
        tls.node.tlsMin = "1.1"
        #expect(message(tls)?.contains("tls_min") == true)
        #expect(message(config([good], blocked: ["nope"]))?.contains("blocked") == true)
        var from = config([good])
        from.node.dialFrom = "gateway"
        #expect(message(from)?.contains("dial_from") == true)
        #expect(message(config([good])) == nil)
    }

    @Test("dial_from: an IP address of this host, kept when node.toml is written back")
    func dialFrom() throws {
        var file = config([])
        file.node.dialFrom = "127.0.0.7"
        let reread = try NodeConfig(toml: file.render())
        #expect(reread.node.dialFrom == "127.0.0.7")
        #expect(try NodeSettings(reread).dialFrom == "127.0.0.7")
        #expect(try NodeSettings(config([])).dialFrom == nil)
    }
}

/// The daemon's peer rows are written together, not after every change.
@Suite("peer status book")
struct PeerStatusBookTests {
    final class Writes: @unchecked Sendable {
        // Guarded by `lock`.
        private let lock = NSLock()
        private var list: [[PeerStatus]] = []
        func add(_ rows: [PeerStatus]) { lock.withLock { list.append(rows) } }
        var all: [[PeerStatus]] { lock.withLock { list } }
    }

    @Test("many changes are one write when flushed; nothing changed, nothing written")
    func coalesced() async throws {
        let config = NodeConfig(
            node: .init(id: "U12345", role: "hub", name: "Riverside PCN"),
            peers: [PeerConfig(id: "A81001", address: "127.0.0.1:7001", fingerprint: nil)])
        let writes = Writes()
        // An hour: the scheduled write never comes within the test; only `flush` writes.
        let book = PeerStatusBook(
            PeerStatus.rows(config: config, saved: [], connected: []), persistAfter: .seconds(3600)
        ) { writes.add($0) }
        for n in 1...50 { await book.started("A81001", at: UInt64(n)) }
        #expect(writes.all.isEmpty)
        await book.flush()
        #expect(writes.all.count == 1)
        #expect(writes.all.first?.first?.lastAttemptAt == 50)
        await book.flush()
        #expect(writes.all.count == 1)
    }
}
