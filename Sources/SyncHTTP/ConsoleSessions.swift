import Foundation

/// The web console's signed-in sessions, in the daemon's memory (a restart signs everyone out).
///
/// A session is a random id in an HttpOnly, SameSite=Strict cookie, with its own CSRF token that
/// every form carries; it ends after `idleMillis` without a request or `lifetimeMillis` after sign-in.
public actor ConsoleSessions {
    public struct Session: Sendable, Equatable {
        public var id: String
        public var csrf: String
        public var started: UInt64
        public var lastSeen: UInt64
        /// What the last form did, shown once on the next page (kept here, not in the URL).
        public var notice: String?
    }

    public static let cookieName = "spsync_console"
    public let idleMillis: UInt64
    public let lifetimeMillis: UInt64
    private var sessions: [String: Session] = [:]
    /// Most sessions at once: a flood of sign-ins cannot grow memory without bound.
    public static let sessionsMax = 256

    public init(idleMillis: UInt64 = 60 * 60_000, lifetimeMillis: UInt64 = 12 * 60 * 60_000) {
        self.idleMillis = idleMillis
        self.lifetimeMillis = lifetimeMillis
    }

    /// Starts a session (after a one-time link was redeemed).
    public func start(nowMillis: UInt64) -> Session {
        expire(nowMillis)
        if sessions.count >= Self.sessionsMax, let oldest = sessions.values.min(by: { $0.lastSeen < $1.lastSeen }) {
            sessions[oldest.id] = nil
        }
        let s = Session(id: Self.random(), csrf: Self.random(), started: nowMillis, lastSeen: nowMillis)
        sessions[s.id] = s
        return s
    }

    /// The session a cookie names, if it is current; it counts as seen now.
    public func session(_ id: String?, nowMillis: UInt64) -> Session? {
        expire(nowMillis)
        guard let id, var s = sessions[id] else { return nil }
        s.lastSeen = nowMillis
        sessions[id] = s
        return s
    }

    /// Leaves `notice` for the session's next page.
    public func leave(_ notice: String, for id: String) {
        sessions[id]?.notice = notice
    }

    /// The notice left for the session, once.
    public func takeNotice(_ id: String) -> String? {
        defer { sessions[id]?.notice = nil }
        return sessions[id]?.notice
    }

    public func end(_ id: String) {
        sessions[id] = nil
    }

    private func expire(_ now: UInt64) {
        sessions = sessions.filter { now < $0.value.lastSeen + idleMillis && now < $0.value.started + lifetimeMillis }
    }

    static func random() -> String {
        var rng = SystemRandomNumberGenerator()
        return ConsoleLogins.base64url((0..<32).map { _ in UInt8.random(in: 0...255, using: &rng) })
    }
}
