import Foundation
import FuzzSupport
import SyncCore
import SyncNode

/// The calendar schedules are computed in (UTC, so runs do not depend on the machine's zone).
let utc: Calendar = {
    var calendar = Calendar(identifier: .gregorian)
    calendar.timeZone = TimeZone(identifier: "UTC") ?? calendar.timeZone
    return calendar
}()

/// Fuzzes the parsing of `node.toml` (`NodeConfig(toml:)`, TOMLKit) and of the peers' schedules.
///
/// Input: the file's text (invalid UTF-8 is skipped: `NodeConfig.load` refuses it before parsing).
/// Invariants for a file that parses: the text `render()` writes for it (what `spsync peer add` and
/// `cert rotate` save) parses back to the same configuration, a peer without a schedule reading as
/// `manual`; a schedule that parses prints as text that parses back to it, and its next run is
/// computable; nothing traps.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzNodeConfig(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    guard let text = String(validating: UnsafeRawBufferPointer(start: start, count: count), as: UTF8.self) else {
        return 0
    }
    let config: NodeConfig
    do {
        config = try NodeConfig(toml: text)
    } catch {
        return 0
    }
    _ = try? config.nodeID

    let rendered = config.render()
    let reread: NodeConfig
    do {
        reread = try NodeConfig(toml: rendered)
    } catch {
        Fuzz.fail("the rendered configuration does not parse: \(error)\n\(rendered)")
    }
    var expected = config
    for index in expected.peers.indices where expected.peers[index].schedule == nil {
        expected.peers[index].schedule = "manual"
    }
    Fuzz.require(reread == expected, "render() then parse changed the configuration:\n\(rendered)")

    for peer in config.peers {
        guard let text = peer.schedule, let schedule = try? Schedule(text) else { continue }
        let printed: Schedule
        do {
            printed = try Schedule(schedule.description)
        } catch {
            Fuzz.fail("schedule \(text) prints as \(schedule.description), which does not parse: \(error)")
        }
        Fuzz.require(printed == schedule, "schedule \(schedule) does not round-trip")
        // The daemon asks every schedule when to run next, from now and from the last attempt.
        let now: UInt64 = 1_780_000_000_000
        if let next = schedule.nextRun(nowMillis: now, lastSuccessMillis: now, lastAttemptMillis: now, calendar: utc) {
            Fuzz.require(next >= now, "schedule \(schedule) runs next in the past")
        }
    }
    return 0
}

/// Seeds: the files `render()` writes for a practice, a hub and a charity in a CA network.
@_cdecl("LLVMFuzzerInitialize")
public func initializeNodeConfigFuzz(_ argc: UnsafeMutableRawPointer?, _ argv: UnsafeMutableRawPointer?) -> CInt {
    Fuzz.writeSeedsIfAsked {
        let fingerprint = "sha256:" + String(repeating: "3d", count: 32)
        let practice = NodeConfig(
            node: .init(
                id: "A81001", role: "practice", name: "Riverside Surgery", pcn: "U12345", listen: "0.0.0.0:7443"),
            peers: [
                PeerConfig(
                    id: "U12345", address: "hub.riverside-pcn.nhs.uk:7443", fingerprint: fingerprint, role: "hub",
                    schedule: "nightly 01:00-05:00"),
                PeerConfig(
                    id: "GB-CHC-1234567", address: "127.0.0.1:7444", fingerprint: fingerprint, schedule: "every 15m"),
            ],
            blocked: ["sha256:" + String(repeating: "ab", count: 32)])
        let hub = NodeConfig(
            node: .init(id: "U12345", role: "hub", name: "Riverside \"PCN\" \\ hub", tlsMin: "1.2"),
            peers: [
                PeerConfig(
                    id: "A81001", address: "[::1]:7443", fingerprint: fingerprint, schedule: "live",
                    nextFingerprint: "sha256:" + String(repeating: "01", count: 32))
            ])
        let charity = NodeConfig(
            node: .init(
                id: "GB-CHC-1234567", role: "vcse", name: "Leeds Walking Friends", caFile: "/etc/spsync/network-ca.pem"),
            peers: [PeerConfig(id: "U12345", address: "hub:7443", fingerprint: nil, schedule: "every 2h")])
        return [
            "rendered-practice": Array(practice.render().utf8),
            "rendered-hub": Array(hub.render().utf8),
            "rendered-charity-ca": Array(charity.render().utf8),
        ]
    }
    return 0
}
