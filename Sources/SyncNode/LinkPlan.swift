import Foundation

/// When a peer link dials, as a pure state machine: it takes the time, what status says of the
/// peer and a random source, and says what to do next. It reads no clock and sleeps nowhere, so
/// every schedule and backoff rule is tested without waiting (`LinkPlanTests`); `PeerLink` carries
/// its steps out.
///
/// - `live`: dial at once and keep the connection; while the peer's own connection is open it is
///   the link (one session per pair). A session that ended, or a failed dial, backs off 1 s, 2 s,
///   4 s … up to 60 s, each ±20 %.
/// - `nightly HH:MM-HH:MM`: one successful sync per night inside the window; a failure retries
///   with backoff up to 300 s, but a retry that would fall after the window closes waits for the
///   next window; a window that closed with no success is reported once.
/// - `every N`: the last attempt plus the interval; failures back off as above.
/// - `manual`: never dials (`spsync sync --now` does).
public struct LinkPlan: Sendable {
    public let schedule: Schedule
    public let backoff: Backoff
    /// Failures since the last success (a live session that ended counts as one).
    public private(set) var failures = 0
    /// When to retry after a failure: fixed once per failure, so re-planning after a wake-up does
    /// not push the retry further out.
    public private(set) var retryAt: UInt64?
    /// The close of the last nightly window reported as missed (each is reported once).
    var missedReported: UInt64?

    /// The longest a link sleeps before planning again: the wall clock may jump (a laptop
    /// resumed, an NTP step), and nightly plans follow it.
    public static let wakeEveryMillis: UInt64 = 60_000

    public init(schedule: Schedule) {
        self.schedule = schedule
        self.backoff = Backoff(capSeconds: schedule == .live ? 60 : 300)
    }

    /// What the link knows when it plans.
    public struct Facts: Sendable, Equatable {
        public var nowMillis: UInt64
        /// Whether the peer is in node.toml and its key not blocked.
        public var accepted = true
        /// Whether a session with the peer is open (either side dialled).
        public var sessionOpen = false
        public var lastSuccessAt: UInt64?
        public var lastAttemptAt: UInt64?
        public var lastError: String?

        public init(
            nowMillis: UInt64, accepted: Bool = true, sessionOpen: Bool = false, lastSuccessAt: UInt64? = nil,
            lastAttemptAt: UInt64? = nil, lastError: String? = nil
        ) {
            self.nowMillis = nowMillis
            self.accepted = accepted
            self.sessionOpen = sessionOpen
            self.lastSuccessAt = lastSuccessAt
            self.lastAttemptAt = lastAttemptAt
            self.lastError = lastError
        }
    }

    /// A nightly window that closed with no successful sync inside it.
    public struct MissedWindow: Sendable, Equatable {
        public var opened: UInt64
        public var closed: UInt64
        public init(opened: UInt64, closed: UInt64) {
            self.opened = opened
            self.closed = closed
        }
    }

    public enum Step: Sendable, Equatable {
        /// Sleep until `untilMillis`, then plan again; `nextSyncAt` is the sync planned (for status).
        case sleep(untilMillis: UInt64, nextSyncAt: UInt64?)
        /// Dial the peer now: a live session, or one sync.
        case dial(live: Bool)
        /// Nothing to plan again (`manual`).
        case stop
    }

    /// The next step at `facts.nowMillis`, and a nightly window to report as missed, if one just was.
    public mutating func next(_ facts: Facts, calendar: Calendar) -> (step: Step, missed: MissedWindow?) {
        let now = facts.nowMillis
        // A peer removed or blocked since the daemon started is not dialled.
        guard facts.accepted else { return (.sleep(untilMillis: now + Self.wakeEveryMillis, nextSyncAt: nil), nil) }
        if schedule == .live, facts.sessionOpen {
            // The peer's own connection is the link while it lasts: wait for it quietly.
            return (.sleep(untilMillis: now + 500, nextSyncAt: nil), nil)
        }
        var missed: MissedWindow?
        if let window = schedule.lastClosedWindow(before: now, calendar: calendar), missedReported != window.closed {
            let tried = facts.lastSuccessAt != nil || facts.lastAttemptAt != nil
            if tried, (facts.lastSuccessAt ?? 0) < window.opened {
                missed = MissedWindow(opened: window.opened, closed: window.closed)
            }
            missedReported = window.closed
        }
        if let r = retryAt, !schedule.windowOpen(nowMillis: r, calendar: calendar) {
            // The retry would fall after the nightly window closed: the next window's opening is
            // the retry. (Planned afresh instead, the window still open and no success in it, the
            // link dialled again at once, without backoff, until the window closed.)
            retryAt = schedule.nextRun(
                nowMillis: now, lastSuccessMillis: now, lastAttemptMillis: facts.lastAttemptAt, calendar: calendar)
            failures = 0
        }
        let at: UInt64
        if let retryAt {
            at = retryAt
        } else if schedule == .live {
            at = now
        } else {
            guard
                let planned = schedule.nextRun(
                    nowMillis: now, lastSuccessMillis: facts.lastSuccessAt, lastAttemptMillis: facts.lastAttemptAt,
                    calendar: calendar)
            else { return (.stop, missed) }
            at = planned
        }
        if at > now {
            return (.sleep(untilMillis: min(at, now + Self.wakeEveryMillis), nextSyncAt: at), missed)
        }
        return (.dial(live: schedule == .live), missed)
    }

    /// A dial ended at `endMillis`: plans the retry, if one is due.
    public mutating func finished(
        succeeded: Bool, atMillis endMillis: UInt64, calendar: Calendar, random: inout some RandomNumberGenerator
    ) {
        if succeeded && schedule != .live {
            failures = 0
            retryAt = nil
        } else if !schedule.windowOpen(nowMillis: endMillis, calendar: calendar) {
            // The nightly window closed: try again in the next one.
            failures = 0
            retryAt = nil
        } else {
            // A live session that ended, or a failed attempt: back off with jitter.
            failures = succeeded ? 1 : failures + 1
            let delay = backoff.delaySeconds(failures: failures, jitter: Double.random(in: 0...1, using: &random))
            retryAt = endMillis + UInt64(delay * 1000)
        }
    }
}
