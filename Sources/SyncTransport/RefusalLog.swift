import Logging
import NIOConcurrencyHelpers
import NIOCore

/// Logs refused connections, at most a set number of lines per minute, and reports every refusal to a callback.
///
/// A scanner or a misconfigured peer retrying in a loop must not flood the log: past the limit,
/// refusals are counted and the count is logged when the next minute opens.
final class RefusalLog: Sendable {
    private struct Window {
        var start: NIODeadline
        var lines = 0
        var suppressed = 0
    }

    private let logger: Logger
    private let linesPerMinuteMax: Int
    private let onRefusal: (@Sendable (ConnectionRefusal) -> Void)?
    private let window: NIOLockedValueBox<Window>

    init(logger: Logger, linesPerMinuteMax: Int, onRefusal: (@Sendable (ConnectionRefusal) -> Void)?) {
        self.logger = logger
        self.linesPerMinuteMax = linesPerMinuteMax
        self.onRefusal = onRefusal
        self.window = NIOLockedValueBox(Window(start: .now()))
    }

    /// Records one refusal: always to the callback, to the log if this minute's budget allows.
    func record(_ refusal: ConnectionRefusal) {
        onRefusal?(refusal)
        let now = NIODeadline.now()
        let (shouldLog, suppressedBefore) = window.withLockedValue { window -> (Bool, Int) in
            var suppressedBefore = 0
            if now - window.start >= .minutes(1) {
                suppressedBefore = window.suppressed
                window = Window(start: now)
            }
            guard window.lines < linesPerMinuteMax else {
                window.suppressed += 1
                return (false, 0)
            }
            window.lines += 1
            return (true, suppressedBefore)
        }
        if suppressedBefore > 0 {
            logger.warning(
                "refused connections not logged in the last minute (rate limit)",
                metadata: ["count": "\(suppressedBefore)"])
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
}
