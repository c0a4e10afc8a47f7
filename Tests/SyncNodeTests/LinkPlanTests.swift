import Foundation
import SpsyncTestSupport
import SyncNode
import Testing

/// A peer link's schedule and backoff (`LinkPlan`), driven by a clock and a random source the
/// test holds: no sleeping, no daemon.
@Suite("peer link plans")
struct LinkPlanTests {
    static let utc: Calendar = {
        var c = Calendar(identifier: .gregorian)
        c.timeZone = TimeZone(identifier: "UTC")!
        return c
    }()
    /// 2026-12-02 00:00 UTC.
    static let midnight: UInt64 = 1_796_169_600_000
    static func at(_ hour: Int, _ minute: Int = 0, second: Int = 0, day: Int = 0) -> UInt64 {
        midnight + UInt64(((day * 24 + hour) * 60 + minute) * 60 + second) * 1000
    }

    @Test(
        "live: dials at once; after each end backs off 1 s, 2 s, 4 s … to 60 s, ±20 %; waits while the peer's connection is the link"
    )
    func live() {
        var plan = LinkPlan(schedule: .live)
        var random = SeededRandom(seed: 42)
        var now = Self.at(9)
        #expect(plan.next(.init(nowMillis: now), calendar: Self.utc).step == .dial(live: true))
        #expect(
            plan.next(.init(nowMillis: now, sessionOpen: true), calendar: Self.utc).step
                == .sleep(untilMillis: now + 500, nextSyncAt: nil))
        var delays: [Double] = []
        for n in 1...10 {
            plan.finished(succeeded: false, atMillis: now, calendar: Self.utc, random: &random)
            guard case .sleep(let until, let next) = plan.next(.init(nowMillis: now), calendar: Self.utc).step else {
                Issue.record("failure \(n): no sleep")
                return
            }
            let retry = next ?? 0
            #expect(until == min(retry, now + LinkPlan.wakeEveryMillis))
            let base = min(60, pow(2, Double(n - 1)))
            let delay = Double(retry - now) / 1000
            #expect(delay >= base * 0.8 && delay <= base * 1.2, "failure \(n): \(delay) s")
            delays.append(delay)
            // Woken before the retry (a minute at most), the plan keeps the same retry time.
            if until < retry {
                #expect(
                    plan.next(.init(nowMillis: until), calendar: Self.utc).step
                        == .sleep(untilMillis: retry, nextSyncAt: retry))
            }
            now = retry
            #expect(plan.next(.init(nowMillis: now), calendar: Self.utc).step == .dial(live: true))
        }
        #expect(plan.failures == 10 && delays.last! >= 48)
        // The same seed draws the same jitter: the plan reads no other randomness.
        var again = LinkPlan(schedule: .live)
        var random2 = SeededRandom(seed: 42)
        again.finished(succeeded: false, atMillis: Self.at(9), calendar: Self.utc, random: &random2)
        var first = LinkPlan(schedule: .live)
        var random3 = SeededRandom(seed: 42)
        first.finished(succeeded: false, atMillis: Self.at(9), calendar: Self.utc, random: &random3)
        #expect(again.retryAt == first.retryAt)
        // A live session that ran and ended starts the backoff afresh at 1 s.
        plan.finished(succeeded: true, atMillis: now, calendar: Self.utc, random: &random)
        #expect(plan.failures == 1 && plan.retryAt! - now <= 1200)
    }

    @Test("a peer removed or blocked is not dialled; manual never is")
    func notDialled() {
        var plan = LinkPlan(schedule: .live)
        let now = Self.at(9)
        #expect(
            plan.next(.init(nowMillis: now, accepted: false), calendar: Self.utc).step
                == .sleep(untilMillis: now + LinkPlan.wakeEveryMillis, nextSyncAt: nil))
        var manual = LinkPlan(schedule: .manual)
        #expect(manual.next(.init(nowMillis: now), calendar: Self.utc).step == .stop)
    }

    @Test(
        "nightly 02:00-04:00: waits for the window, dials once in it, retries inside it, and a retry past its close waits for the next night"
    )
    func nightly() throws {
        var plan = LinkPlan(schedule: try Schedule("nightly 02:00-04:00"))
        var random = SeededRandom(seed: 7)
        // 01:00: the window opens at 02:00; the link wakes within a minute to plan again.
        let early = plan.next(.init(nowMillis: Self.at(1)), calendar: Self.utc)
        #expect(early.step == .sleep(untilMillis: Self.at(1, 1), nextSyncAt: Self.at(2)))
        #expect(plan.next(.init(nowMillis: Self.at(2)), calendar: Self.utc).step == .dial(live: false))
        // A failure at 02:10 retries a second or so later, inside the window.
        plan.finished(succeeded: false, atMillis: Self.at(2, 10), calendar: Self.utc, random: &random)
        let retry = try #require(plan.retryAt)
        #expect(retry > Self.at(2, 10) && retry <= Self.at(2, 10, second: 2))
        // Once it succeeded, the next sync is tomorrow's window.
        plan.finished(succeeded: true, atMillis: Self.at(2, 11), calendar: Self.utc, random: &random)
        #expect(plan.retryAt == nil && plan.failures == 0)
        let after = plan.next(.init(nowMillis: Self.at(2, 12), lastSuccessAt: Self.at(2, 11)), calendar: Self.utc)
        #expect(after.step == .sleep(untilMillis: Self.at(2, 13), nextSyncAt: Self.at(2, day: 1)))
        // Failures at 03:58 whose retry would fall after 04:00: the next night, not at once again.
        var late = LinkPlan(schedule: try Schedule("nightly 02:00-04:00"))
        for _ in 0..<9 {
            late.finished(succeeded: false, atMillis: Self.at(3, 58), calendar: Self.utc, random: &random)
        }
        // The ninth backs off 205-307 s: past the window's close.
        #expect(try #require(late.retryAt) > Self.at(4))
        let next = late.next(.init(nowMillis: Self.at(3, 58), lastAttemptAt: Self.at(3, 58)), calendar: Self.utc)
        #expect(next.step == .sleep(untilMillis: Self.at(3, 59), nextSyncAt: Self.at(2, day: 1)))
        #expect(late.retryAt == Self.at(2, day: 1) && late.failures == 0)
        // Woken at 03:59, still inside the window with no success in it: it keeps waiting.
        let woken = late.next(.init(nowMillis: Self.at(3, 59), lastAttemptAt: Self.at(3, 58)), calendar: Self.utc)
        #expect(woken.step == .sleep(untilMillis: Self.at(4), nextSyncAt: Self.at(2, day: 1)))
        #expect(
            late.next(.init(nowMillis: Self.at(2, day: 1), lastAttemptAt: Self.at(3, 58)), calendar: Self.utc).step
                == .dial(live: false))
        // A failure after the window closed does not back off: the next window is the retry.
        late.finished(succeeded: false, atMillis: Self.at(4, 1), calendar: Self.utc, random: &random)
        #expect(late.retryAt == nil && late.failures == 0)
    }

    @Test("a nightly window that closed with no success is reported once; a night that succeeded is not")
    func missedWindow() throws {
        let schedule = try Schedule("nightly 02:00-04:00")
        var plan = LinkPlan(schedule: schedule)
        let tried = LinkPlan.Facts(nowMillis: Self.at(4, 30), lastAttemptAt: Self.at(3), lastError: "refused")
        let first = plan.next(tried, calendar: Self.utc)
        #expect(first.missed == LinkPlan.MissedWindow(opened: Self.at(2), closed: Self.at(4)))
        var later = tried
        later.nowMillis = Self.at(5)
        #expect(plan.next(later, calendar: Self.utc).missed == nil)
        var fine = LinkPlan(schedule: schedule)
        let succeeded = LinkPlan.Facts(
            nowMillis: Self.at(4, 30), lastSuccessAt: Self.at(2, 5), lastAttemptAt: Self.at(2))
        #expect(fine.next(succeeded, calendar: Self.utc).missed == nil)
        // A node that never tried (first start after the window) has nothing to report.
        var fresh = LinkPlan(schedule: schedule)
        #expect(fresh.next(.init(nowMillis: Self.at(4, 30)), calendar: Self.utc).missed == nil)
    }

    @Test("every 15m: the last attempt plus the interval")
    func every() throws {
        var plan = LinkPlan(schedule: try Schedule("every 15m"))
        var random = SeededRandom(seed: 3)
        #expect(plan.next(.init(nowMillis: Self.at(9)), calendar: Self.utc).step == .dial(live: false))
        plan.finished(succeeded: true, atMillis: Self.at(9), calendar: Self.utc, random: &random)
        let step = plan.next(
            .init(nowMillis: Self.at(9, 1), lastSuccessAt: Self.at(9), lastAttemptAt: Self.at(9)), calendar: Self.utc
        ).step
        #expect(step == .sleep(untilMillis: Self.at(9, 2), nextSyncAt: Self.at(9, 15)))
        #expect(
            plan.next(
                .init(nowMillis: Self.at(9, 15), lastSuccessAt: Self.at(9), lastAttemptAt: Self.at(9)),
                calendar: Self.utc
            )
            .step == .dial(live: false))
    }
}
