import Foundation
import Logging

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
        var fields = metadata
        if let extra = event.metadata { fields.merge(extra) { $1 } }
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        var line = "\(formatter.string(from: Date())) \(event.level) \(label) \(event.message)"
        for (key, value) in fields.sorted(by: { $0.key < $1.key }) {
            let text = "\(value)"
            line += " \(key)=" + (text.contains(" ") || text.isEmpty ? "\"\(text)\"" : text)
        }
        FileHandle.standardError.write(Data((line + "\n").utf8))
    }

    /// A logger for `label` writing these lines at `level` and above.
    public static func logger(_ label: String, level: Logger.Level) -> Logger {
        Logger(label: label) { _ in LogLines(label: label, level: level) }
    }
}
