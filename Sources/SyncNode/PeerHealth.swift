import Foundation
import SyncCore

/// What `spsync status --check` finds wrong, one problem a line: with a peer (exit 1) or with this
/// node itself (exit 2). Computed from `PeerStatus` rows and the node's own state, so the daemon,
/// `status` and a monitoring scrape agree.
public struct HealthProblem: Codable, Sendable, Equatable {
    public enum Level: String, Codable, Sendable {
        /// A peer is failing, overdue, or missed its window: exit 1.
        case peer
        /// This node cannot do its work (writes stopped, rolled back, store unreadable, daemon
        /// down with peers on a schedule): exit 2.
        case node
    }

    public var level: Level
    public var peer: String?
    public var message: String

    public init(level: Level, peer: String?, message: String) {
        self.level = level
        self.peer = peer
        self.message = message
    }

    /// 0 when there is no problem, 1 for problems with peers only, 2 when the node itself has one.
    public static func exitStatus(_ problems: [HealthProblem]) -> Int32 {
        problems.contains { $0.level == .node } ? 2 : problems.isEmpty ? 0 : 1
    }
}

public enum PeerHealth {
    /// How long a `live` peer may be without a session before it counts as down.
    public static let liveGraceMillis: UInt64 = 5 * 60_000

    /// What is wrong with one peer's syncing now, if anything. A blocked peer is the operator's
    /// decision, not a problem; a peer that never synced and was never tried is waiting for its
    /// first sync.
    public static func problem(
        _ p: PeerStatus, now: UInt64, daemonRunning: Bool, calendar: Calendar = .current
    ) -> HealthProblem? {
        guard p.state != .blocked, let schedule = try? Schedule(p.schedule) else { return nil }
        func problem(_ text: String) -> HealthProblem { HealthProblem(level: .peer, peer: p.id, message: text) }
        let success = p.lastSuccessAt.map { "last success \(Age.ago($0, now: now))" } ?? "never synced"
        if let at = p.lastErrorAt {
            let tries = p.failuresInARow > 1 ? " (\(p.failuresInARow) attempts in a row)" : ""
            return problem(
                "\(p.id): last sync failed \(Age.ago(at, now: now))\(tries), \(success): "
                    + "\((p.lastErrorCode ?? .unknown).rawValue): \(p.lastError ?? "")")
        }
        guard daemonRunning else { return nil }  // the node's problem, reported once for all peers
        switch schedule {
        case .manual:
            return nil
        case .live:
            if p.state == .connected { return nil }
            guard let last = p.lastSuccessAt else { return nil }
            if now > last + liveGraceMillis {
                return problem("\(p.id): live link down, \(success)")
            }
            return nil
        case .every(let seconds):
            guard let last = p.lastSuccessAt else { return nil }
            let due = last + 2 * UInt64(seconds) * 1000 + 60_000
            if now > due, p.state != .connected {
                return problem("\(p.id): overdue (\(schedule)), \(success)")
            }
            return nil
        case .nightly:
            guard let window = schedule.lastClosedWindow(before: now, calendar: calendar),
                p.lastSuccessAt != nil || p.lastAttemptAt != nil
            else { return nil }
            if (p.lastSuccessAt ?? 0) < window.opened {
                return problem(
                    "\(p.id): missed the \(schedule) window that closed \(Age.ago(window.closed, now: now)), \(success)"
                )
            }
            return nil
        }
    }
}

extension Schedule {
    /// The last nightly window that has closed at `nowMillis`: when it opened and closed, ms since
    /// the Unix epoch (nil for other schedules).
    public func lastClosedWindow(before nowMillis: UInt64, calendar: Calendar) -> (opened: UInt64, closed: UInt64)? {
        guard case .nightly(let start, let end) = self else { return nil }
        let now = Date(timeIntervalSince1970: Double(nowMillis) / 1000)
        let midnight = calendar.startOfDay(for: now)
        let length = (end - start + 1440) % 1440
        // Today's closing, else yesterday's: the latest one not after now.
        for dayOffset in [0, -1, -2] {
            guard let closed = calendar.date(byAdding: .minute, value: end + dayOffset * 1440, to: midnight),
                closed <= now
            else { continue }
            let opened = closed.addingTimeInterval(-Double(length) * 60)
            return (UInt64(opened.timeIntervalSince1970 * 1000), UInt64(closed.timeIntervalSince1970 * 1000))
        }
        return nil
    }
}

/// Times as people read them in a status table: "3 h ago", "in 12 min".
public enum Age {
    public static func ago(_ millis: UInt64, now: UInt64) -> String {
        guard millis <= now else { return "in " + span(millis - now) }
        let d = now - millis
        return d < 5_000 ? "just now" : span(d) + " ago"
    }

    public static func until(_ millis: UInt64, now: UInt64) -> String {
        millis <= now ? "now" : "in " + span(millis - now)
    }

    /// "45 s", "12 min", "3 h", "2 d".
    public static func span(_ millis: UInt64) -> String {
        let s = millis / 1000
        if s < 60 { return "\(s) s" }
        if s < 3600 { return "\(s / 60) min" }
        if s < 2 * 86_400 { return "\(s / 3600) h" }
        return "\(s / 86_400) d"
    }
}
