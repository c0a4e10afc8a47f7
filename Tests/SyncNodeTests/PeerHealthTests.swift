import Foundation
import SyncNode
import SyncProtocol
import Testing

@Suite("what status --check finds wrong")
struct PeerHealthTests {
    /// UTC, so windows fall where the test says.
    let calendar: Calendar = {
        var c = Calendar(identifier: .gregorian)
        c.timeZone = TimeZone(identifier: "UTC")!
        return c
    }()
    /// 2026-12-02 06:00 UTC, ms.
    let now: UInt64 = 1_796_191_200_000
    let hour: UInt64 = 3_600_000

    func peer(_ schedule: String, success: UInt64?, attempt: UInt64? = nil, state: PeerStatus.State = .idle)
        -> PeerStatus
    {
        var p = PeerStatus(id: "U12345", role: "hub", address: "127.0.0.1:1", schedule: schedule, state: state)
        p.lastSuccessAt = success
        p.lastAttemptAt = attempt ?? success
        return p
    }

    @Test("a nightly peer that synced inside last night's window is fine; one whose last success is older missed it")
    func nightly() {
        let ok = peer("nightly 01:00-05:00", success: now - 3 * hour)  // 03:00 tonight
        #expect(PeerHealth.problem(ok, now: now, daemonRunning: true, calendar: calendar) == nil)
        let missed = peer("nightly 01:00-05:00", success: now - 27 * hour)  // 03:00 the night before
        let problem = PeerHealth.problem(missed, now: now, daemonRunning: true, calendar: calendar)
        #expect(problem?.level == .peer)
        #expect(problem?.message.contains("missed the nightly 01:00-05:00 window that closed 1 h ago") == true)
        // A window that wraps midnight: 22:00–02:00 closed four hours ago.
        let wrapped = peer("nightly 22:00-02:00", success: now - 7 * hour)  // 23:00 yesterday
        #expect(PeerHealth.problem(wrapped, now: now, daemonRunning: true, calendar: calendar) == nil)
        // Never synced and never tried: waiting for its first night, not a problem.
        #expect(
            PeerHealth.problem(
                peer("nightly 01:00-05:00", success: nil), now: now, daemonRunning: true, calendar: calendar) == nil)
    }

    @Test("an `every` peer is overdue after twice its interval; a live one after five minutes without a session")
    func overdue() {
        #expect(PeerHealth.problem(peer("every 1h", success: now - hour), now: now, daemonRunning: true) == nil)
        #expect(
            PeerHealth.problem(peer("every 1h", success: now - 3 * hour), now: now, daemonRunning: true)?.message
                == "U12345: overdue (every 1h), last success 3 h ago")
        #expect(
            PeerHealth.problem(peer("live", success: now - hour, state: .connected), now: now, daemonRunning: true)
                == nil)
        #expect(
            PeerHealth.problem(peer("live", success: now - 10 * 60_000), now: now, daemonRunning: true)?.message
                == "U12345: live link down, last success 10 min ago")
        // With the daemon down, the node reports it once for every peer: no line per peer.
        #expect(PeerHealth.problem(peer("live", success: now - hour), now: now, daemonRunning: false) == nil)
    }

    @Test("a failure since the last success is a problem on any schedule, manual included; blocked peers are not")
    func failing() {
        var p = peer("manual", success: now - 2 * hour, attempt: now - 60_000)
        p.lastErrorAt = now - 60_000
        p.lastErrorCode = .unreachable
        p.lastError = "cannot reach 127.0.0.1:1: connection refused"
        p.failuresInARow = 2
        #expect(
            PeerHealth.problem(p, now: now, daemonRunning: false)?.message
                == "U12345: last sync failed 1 min ago (2 attempts in a row), last success 2 h ago: unreachable: cannot reach 127.0.0.1:1: connection refused"
        )
        p.state = .blocked
        #expect(PeerHealth.problem(p, now: now, daemonRunning: true) == nil)
        #expect(HealthProblem.exitStatus([]) == 0)
        #expect(HealthProblem.exitStatus([.init(level: .peer, peer: "U12345", message: "x")]) == 1)
        #expect(
            HealthProblem.exitStatus([
                .init(level: .peer, peer: "U12345", message: "x"), .init(level: .node, peer: nil, message: "y"),
            ]) == 2)
    }

    @Test("a success clears the error and joins the history, newest first and at most twenty")
    func history() {
        var p = peer("manual", success: nil)
        var failed = SessionOutcome(peer: "U12345", succeeded: false)
        failed.errorCode = .unreachable
        failed.error = "cannot reach"
        for i in 0..<25 {
            p.record(failed, startedAt: now + UInt64(i), at: now + UInt64(i), via: "spsync sync", localSeq: 3)
        }
        #expect(p.state == .failing && p.failuresInARow == 25 && p.lastErrorCode == .unreachable)
        p.record(
            SessionOutcome(peer: "U12345", succeeded: true), startedAt: now + 100,
            at: now + 200, via: "scheduled", localSeq: 4)
        #expect(p.lastError == nil && p.lastErrorAt == nil && p.failuresInARow == 0 && p.state == .idle)
        #expect(p.lastSuccessAt == now + 200 && p.lastAttemptAt == now + 100)
        #expect(p.history?.count == PeerStatus.historyMax)
        #expect(p.history?.first?.via == "scheduled" && p.history?.first?.ok == true)
        #expect(p.history?.dropFirst().allSatisfy { !$0.ok } == true)
    }

    @Test("ages read as people say them")
    func ages() {
        #expect(Age.ago(now - 2_000, now: now) == "just now")
        #expect(Age.ago(now - 45_000, now: now) == "45 s ago")
        #expect(Age.ago(now - 12 * 60_000, now: now) == "12 min ago")
        #expect(Age.ago(now - 3 * hour, now: now) == "3 h ago")
        #expect(Age.ago(now - 72 * hour, now: now) == "3 d ago")
        #expect(Age.until(now + 5 * 60_000, now: now) == "in 5 min")
        #expect(Age.until(now - 1, now: now) == "now")
    }
}
