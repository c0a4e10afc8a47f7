import SyncCore

/// When the daemon dials a peer: `live`, `nightly HH:MM-HH:MM`, `every 15m`, or `manual`.
public enum Schedule: Equatable, Sendable, CustomStringConvertible {
    /// Keep one connection open and push changes as they happen.
    case live
    /// One successful sync per night inside the window (minutes after local midnight; may wrap).
    case nightly(startMinute: Int, endMinute: Int)
    /// A sync every so many seconds.
    case every(seconds: Int)
    /// Only `spsync sync` or `spsync sync --now`.
    case manual

    /// The longest interval of `every`, in seconds: a year (366 days).
    public static let everySecondsMax = 366 * 24 * 3600

    public init(_ text: String) throws {
        let t = text.trimmingCharacters(in: .whitespaces)
        if t == "live" {
            self = .live
            return
        }
        if t == "manual" {
            self = .manual
            return
        }
        if t.hasPrefix("nightly ") {
            let window = t.dropFirst("nightly ".count).split(separator: "-").map(String.init)
            guard window.count == 2, let a = Schedule.minute(window[0]), let b = Schedule.minute(window[1]), a != b
            else {
                throw Schedule.error(text)
            }
            self = .nightly(startMinute: a, endMinute: b)
            return
        }
        if t.hasPrefix("every ") {
            let amount = t.dropFirst("every ".count)
            guard let unit = amount.last, let n = Int(amount.dropLast()), n > 0 else { throw Schedule.error(text) }
            let unitSeconds: Int
            switch unit {
            case "s": unitSeconds = 1
            case "m": unitSeconds = 60
            case "h": unitSeconds = 3600
            default: throw Schedule.error(text)
            }
            // Bounded so the interval, in ms, added to any clock reading cannot overflow: an
            // interval of 10^16 hours trapped the daemon at startup.
            guard n <= Schedule.everySecondsMax / unitSeconds else {
                throw SyncError(.usage, "schedule '\(text)': the interval is longer than a year")
            }
            self = .every(seconds: n * unitSeconds)
            return
        }
        throw Schedule.error(text)
    }

    public var description: String {
        switch self {
        case .live: return "live"
        case .manual: return "manual"
        case .every(let s):
            return s % 3600 == 0 ? "every \(s / 3600)h" : s % 60 == 0 ? "every \(s / 60)m" : "every \(s)s"
        case .nightly(let a, let b):
            func hm(_ m: Int) -> String {
                let h = m / 60, mm = m % 60
                return (h < 10 ? "0" : "") + "\(h):" + (mm < 10 ? "0" : "") + "\(mm)"
            }
            return "nightly \(hm(a))-\(hm(b))"
        }
    }

    private static func minute(_ text: String) -> Int? {
        let parts = text.split(separator: ":")
        guard parts.count == 2, parts[0].count == 2, parts[1].count == 2, let h = Int(parts[0]), let m = Int(parts[1]),
            (0..<24).contains(h), (0..<60).contains(m)
        else { return nil }
        return h * 60 + m
    }

    private static func error(_ text: String) -> SyncError {
        SyncError(.usage, "schedule '\(text)': use live, nightly HH:MM-HH:MM, every 15m (s, m or h), or manual")
    }
}
