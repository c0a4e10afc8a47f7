import Logging
import NIOConcurrencyHelpers
import NIOCore

/// Logs refused connections, at most a set number of lines per minute, and reports every refusal to a callback.
///
/// A scanner or a misconfigured peer retrying in a loop must not flood the log: past the limit,
/// refusals are counted and the count is logged when the minute ends (by a timer on `timers`, so
/// a flood that stops is still accounted for), or with the next refusal after it, whichever comes first.
final class RefusalLog: Sendable {
    private struct Window {
        var start: NIODeadline
        var lines = 0
        var suppressed = 0
    }

    private let logger: Logger
    private let linesPerMinuteMax: Int
    private let onRefusal: (@Sendable (ConnectionRefusal) -> Void)?
    private let timers: (any EventLoop)?
    private let clock: @Sendable () -> NIODeadline
    private let window: NIOLockedValueBox<Window>

    /// Without `timers`, a minute's count waits for the next refusal after it.
    init(
        logger: Logger, linesPerMinuteMax: Int, onRefusal: (@Sendable (ConnectionRefusal) -> Void)?,
        timers: (any EventLoop)? = nil, clock: @escaping @Sendable () -> NIODeadline = { NIODeadline.now() }
    ) {
        self.logger = logger
        self.linesPerMinuteMax = linesPerMinuteMax
        self.onRefusal = onRefusal
        self.timers = timers
        self.clock = clock
        self.window = NIOLockedValueBox(Window(start: clock()))
    }

    /// Records one refusal: to the log if this minute's budget allows, then always to the callback.
    ///
    /// The callback comes last, so whoever it tells about a refusal sees the log as it stands after it.
    func record(_ refusal: ConnectionRefusal) {
        defer { onRefusal?(refusal) }
        let now = clock()
        let (shouldLog, suppressedBefore, minuteLeft) = window.withLockedValue {
            window -> (Bool, Int, TimeAmount?) in
            var suppressedBefore = 0
            if now - window.start >= .minutes(1) {
                suppressedBefore = window.suppressed
                window = Window(start: now)
            }
            guard window.lines < linesPerMinuteMax else {
                window.suppressed += 1
                // The first refusal left out of this minute: have its count logged when the minute ends.
                let minuteLeft = window.suppressed == 1 ? window.start + .minutes(1) - now : nil
                return (false, suppressedBefore, minuteLeft)
            }
            window.lines += 1
            return (true, suppressedBefore, nil)
        }
        if suppressedBefore > 0 {
            logSuppressed(suppressedBefore)
        }
        if let minuteLeft {
            scheduleFlush(in: minuteLeft)
        }
        guard shouldLog else { return }
        var metadata: Logger.Metadata = [
            "code": "\(refusal.error.code.rawValue)",
            "remote": "\(refusal.remoteAddress.map { "\($0)" } ?? "unknown")",
        ]
        if let fingerprint = refusal.error.offeredFingerprint {
            metadata["fingerprint"] = "\(fingerprint)"
        }
        logger.warning("refused connection: \(refusal.error.message)", metadata: metadata)
    }

    /// Logs the count of refusals left out of a minute that has ended (and starts a new minute);
    /// before the minute ends, tries again when it does.
    func flush() {
        let now = clock()
        let (suppressed, minuteLeft) = window.withLockedValue { window -> (Int, TimeAmount?) in
            guard window.suppressed > 0 else { return (0, nil) }
            guard now - window.start >= .minutes(1) else { return (0, window.start + .minutes(1) - now) }
            let suppressed = window.suppressed
            window = Window(start: now)
            return (suppressed, nil)
        }
        if suppressed > 0 {
            logSuppressed(suppressed)
        }
        if let minuteLeft {
            scheduleFlush(in: minuteLeft)
        }
    }

    private func scheduleFlush(in delay: TimeAmount) {
        guard let timers else { return }
        timers.scheduleTask(in: delay) { self.flush() }
    }

    private func logSuppressed(_ count: Int) {
        logger.warning(
            "refused connections not logged in the last minute (rate limit)", metadata: ["count": "\(count)"])
    }
}
