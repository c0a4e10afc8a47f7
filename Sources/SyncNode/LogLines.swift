import Foundation
import Logging
import SyncCore

/// Structured log lines on stderr: `2026-11-25T01:02:03.456Z info spsync.daemon message key=value …`.
public struct LogLines: LogHandler {
    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level
    let label: String

    public init(label: String, level: Logger.Level) {
        self.label = label
        self.logLevel = level
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        let prefix = LogLines.toJournal ? LogLines.priority(event.level) : ""
        FileHandle.standardError.write(Data((prefix + line(event.level, event.message, event.metadata) + "\n").utf8))
    }

    /// Whether stderr is systemd's journal: `JOURNAL_STREAM` names its device and inode
    /// (`systemd.exec(5)`). Then each line starts with its syslog priority, `<4>` for a warning, so
    /// `journalctl -p warning` finds it.
    static let toJournal: Bool = {
        guard let stream = ProcessInfo.processInfo.environment["JOURNAL_STREAM"] else { return false }
        let parts = stream.split(separator: ":")
        guard parts.count == 2, let device = UInt64(parts[0]), let inode = UInt64(parts[1]) else { return false }
        var st = stat()
        guard fstat(2, &st) == 0 else { return false }
        return UInt64(st.st_dev) == device && UInt64(st.st_ino) == inode
    }()

    /// The `sd-daemon(3)` prefix of a level.
    static func priority(_ level: Logger.Level) -> String {
        switch level {
        case .trace, .debug: return "<7>"
        case .info: return "<6>"
        case .notice: return "<5>"
        case .warning: return "<4>"
        case .error: return "<3>"
        case .critical: return "<2>"
        }
    }

    /// The text of one log line, without its newline.
    ///
    /// Messages and values may hold text a peer chose (a certificate's node name, an error's
    /// detail): whatever reaches here, a line stays one line. Characters that are not plainly
    /// printable are escaped (`EscapedText.printable`), and a value with a space, quote, `=` or
    /// backslash is quoted with `\` and `"` escaped, so a value cannot pose as another `key=value`.
    func line(_ level: Logger.Level, _ message: Logger.Message, _ extra: Logger.Metadata?) -> String {
        var fields = metadata
        if let extra { fields.merge(extra) { $1 } }
        var line = "\(LogLines.timestamp()) \(level) \(label) \(EscapedText.printable(message.description))"
        for (key, value) in fields.sorted(by: { $0.key < $1.key }) {
            line += " \(EscapedText.printable(key))=" + LogLines.value("\(value)")
        }
        return line
    }

    /// A metadata value as it is written: bare when it is a plain word, quoted otherwise.
    static func value(_ text: String) -> String {
        let plain =
            !text.isEmpty
            && !text.unicodeScalars.contains {
                $0 == " " || $0 == "\"" || $0 == "=" || $0 == "\\" || EscapedText.needsEscape($0)
            }
        guard !plain else { return text }
        let quoted = text.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
        return "\"" + EscapedText.printable(quoted) + "\""
    }

    /// The time now in UTC as `2026-11-25T01:02:03.456Z` (rounded to the millisecond), the text
    /// `ISO8601DateFormatter` with `.withInternetDateTime` and `.withFractionalSeconds` gives.
    ///
    /// Formatted from `gmtime_r` rather than by `ISO8601DateFormatter`: that formatter goes through
    /// ICU, and its first use (the daemon's first log line) keeps about 5 MiB more of ICU resident
    /// for the life of the process (`spsync-bench idle` at the default log level: RSS 43.0 MiB with
    /// it, 38.0 MiB without; see docs/performance.md).
    static func timestamp() -> String {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        let millis = Int(now.tv_sec) * 1000 + (Int(now.tv_nsec) + 500_000) / 1_000_000
        var seconds = time_t(millis / 1000)
        var utc = tm()
        gmtime_r(&seconds, &utc)
        func digits(_ value: Int, _ count: Int) -> String {
            let text = String(value)
            return text.count >= count ? text : String(repeating: "0", count: count - text.count) + text
        }
        return digits(Int(utc.tm_year) + 1900, 4) + "-" + digits(Int(utc.tm_mon) + 1, 2) + "-"
            + digits(Int(utc.tm_mday), 2) + "T" + digits(Int(utc.tm_hour), 2) + ":" + digits(Int(utc.tm_min), 2)
            + ":" + digits(Int(utc.tm_sec), 2) + "." + digits(millis % 1000, 3) + "Z"
    }

    /// A logger for `label` writing these lines at `level` and above.
    public static func logger(_ label: String, level: Logger.Level) -> Logger {
        Logger(label: label) { _ in LogLines(label: label, level: level) }
    }
}
