import Foundation
import SyncCore
import SyncNode
import Testing

/// Inputs the node-config fuzzer (Fuzz/Sources/fuzz-node-config) found breaking an invariant.
@Suite("node.toml and schedules: fuzzer regressions")
struct NodeConfigFuzzRegressionTests {
    /// A node.toml whose name holds control characters written as escapes, as TOML allows.
    static let controlCharacters = """
        [node]
        id = "A81001"
        role = "practice"
        name = "Riverside\\nSurgery\\r\\b\\f\\u0001\\u007F\\t\\"\\\\"

        [[peers]]
        id = "U12345"
        address = "hub\\n:7443"
        fingerprint = "sha256:\\u001b[31m"
        schedule = "manual"
        """

    @Test("a config with control characters in its strings renders to TOML that parses back to it")
    func controlCharactersRoundTrip() throws {
        let config = try NodeConfig(toml: Self.controlCharacters)
        #expect(config.node.name == "Riverside\nSurgery\r\u{08}\u{0C}\u{01}\u{7F}\t\"\\")
        let reread = try NodeConfig(toml: config.render())
        #expect(reread == config)
    }

    @Test("save then load keeps a name with a new line (what `spsync peer add` does to a hand-edited file)")
    func saveLoad() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("spsync-config-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let path = folder.appendingPathComponent("node.toml").path
        let config = try NodeConfig(toml: Self.controlCharacters)
        try config.save(path)
        #expect(try NodeConfig.load(path) == config)
    }

    @Test("an `every` interval beyond a year is refused instead of overflowing (every 9999999999999999h trapped)")
    func everyOverflow() throws {
        #expect(throws: (any Error).self) { try Schedule("every 9999999999999999h") }
        #expect(throws: (any Error).self) { try Schedule("every 9223372036854775807m") }
        #expect(throws: (any Error).self) { try Schedule("every 8785h") }
        #expect(try Schedule("every 8784h") == .every(seconds: Schedule.everySecondsMax))
        #expect(try Schedule("every 31622400s") == .every(seconds: Schedule.everySecondsMax))
    }

    @Test("the longest `every` interval still gives a next run")
    func longestNextRun() throws {
        let now: UInt64 = 1_780_000_000_000
        let next = try Schedule("every 8784h").nextRun(
            nowMillis: now, lastSuccessMillis: now, lastAttemptMillis: now, calendar: Calendar(identifier: .gregorian))
        #expect(next == now + UInt64(Schedule.everySecondsMax) * 1000)
    }
}

/// The node-config fuzzer's input that stopped the process inside TOMLKit (toml++ asserts on a
/// table header without a name): it must be refused with an error instead.
@Suite("node.toml: a table header without a name")
struct NodeConfigHeaderRegressionTests {
    @Test(
        "`[` alone on a line, and its kin, are refused with a usage error, not an abort",
        arguments: [
            "[\n", "[", "[[\n", "[ \t\n", "[#x]\n", "[=]\n", "[\r\n", "blocked = []\n[\nnode]\nid = \"A81001\"\n",
        ])
    func headerWithoutName(_ text: String) {
        #expect(throws: SyncError.self) { try NodeConfig(toml: text) }
    }

    @Test("headers with names still parse, quoted ones and arrays of tables too")
    func namedHeaders() throws {
        let config = try NodeConfig(
            toml:
                "[ \"node\" ]\nid = \"A81001\"\nrole = \"practice\"\nname = \"R\"\n[[peers]]\nid = \"U12345\"\naddress = \"h:1\"\n"
        )
        #expect(config.node.id == "A81001" && config.peers.count == 1)
    }
}
