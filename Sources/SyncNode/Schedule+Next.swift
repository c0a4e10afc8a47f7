import Foundation

extension Schedule {
    /// When the next sync with a peer on this schedule should start, in ms since the Unix epoch,
    /// or nil for `manual` (and `live`, which keeps a connection instead).
    ///
    /// `nightly`: now, if inside tonight's window and no sync succeeded since it opened; otherwise
    /// the next window's opening. `every`: the last attempt plus the interval.
    public func nextRun(nowMillis: UInt64, lastSuccessMillis: UInt64?, lastAttemptMillis: UInt64?, calendar: Calendar)
        -> UInt64?
    {
        switch self {
        case .manual, .live:
            return nil
        case .every(let seconds):
            guard let last = lastAttemptMillis else { return nowMillis }
            return max(nowMillis, last + UInt64(seconds) * 1000)
        case .nightly(let start, let end):
            let now = Date(timeIntervalSince1970: Double(nowMillis) / 1000)
            let midnight = calendar.startOfDay(for: now)
            let minute = Int(now.timeIntervalSince(midnight) / 60)
            // The window that contains now (it may have opened yesterday when it wraps midnight).
            let inside = start < end ? (minute >= start && minute < end) : (minute >= start || minute < end)
            if inside {
                let openedToday = minute >= start
                let dayOffset = openedToday ? 0 : -1
                let opened = calendar.date(byAdding: .minute, value: start + dayOffset * 1440, to: midnight) ?? now
                let openedMillis = UInt64(opened.timeIntervalSince1970 * 1000)
                if (lastSuccessMillis ?? 0) < openedMillis { return nowMillis }
            }
            // The next opening after now.
            var next = calendar.date(byAdding: .minute, value: start, to: midnight) ?? now
            if next <= now { next = calendar.date(byAdding: .day, value: 1, to: next) ?? now }
            return UInt64(next.timeIntervalSince1970 * 1000)
        }
    }

    /// Whether `nowMillis` falls inside a nightly window (always true for other schedules).
    public func windowOpen(nowMillis: UInt64, calendar: Calendar) -> Bool {
        guard case .nightly(let start, let end) = self else { return true }
        let now = Date(timeIntervalSince1970: Double(nowMillis) / 1000)
        let minute = Int(now.timeIntervalSince(calendar.startOfDay(for: now)) / 60)
        return start < end ? (minute >= start && minute < end) : (minute >= start || minute < end)
    }
}

/// Exponential backoff with jitter: 1 s, 2 s, 4 s … up to a cap, each ±20 %.
public struct Backoff: Sendable {
    public var capSeconds: Double
    public init(capSeconds: Double = 300) { self.capSeconds = capSeconds }

    public func delaySeconds(failures: Int, jitter: Double) -> Double {
        let base = min(capSeconds, pow(2, Double(max(0, failures - 1))))
        return base * (0.8 + 0.4 * min(1, max(0, jitter)))
    }
}
