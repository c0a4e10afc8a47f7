import Foundation
import NIOConcurrencyHelpers
import SyncProtocol

/// Progress of a session's receiving side, from its statistics: field writes received, of how many
/// the peer said its log holds (an upper bound), the rate, and the time left. Emits at most once
/// per `interval`, and only when something moved.
public final class SyncProgress: Sendable {
    public struct Line: Sendable, Equatable {
        public var peer: String
        public var received: Int
        /// What the peer's first batch said the pull may bring; 0 when it did not say.
        public var expected: Int
        public var perSecond: Double
        /// nil when the rate or the total is not known.
        public var secondsLeft: Double?

        public init(peer: String, received: Int, expected: Int, perSecond: Double, secondsLeft: Double?) {
            self.peer = peer
            self.received = received
            self.expected = expected
            self.perSecond = perSecond
            self.secondsLeft = secondsLeft
        }

        /// `U12345: 12,345 of at most 80,003 field writes, 9,350/s, about 7 s left`.
        public var text: String {
            var out = "\(peer): \(Self.grouped(received))"
            if expected > 0, received <= expected { out += " of at most \(Self.grouped(expected))" }
            out += " field writes, \(Self.grouped(Int(perSecond.rounded())))/s"
            if let left = secondsLeft { out += ", about \(Age.span(UInt64(max(0, left) * 1000))) left" }
            return out
        }

        static func grouped(_ n: Int) -> String {
            let digits = Array(String(n))
            var out = ""
            for (i, d) in digits.enumerated() {
                if i > 0, (digits.count - i) % 3 == 0 { out += "," }
                out.append(d)
            }
            return out
        }
    }

    private struct State {
        var lastEmit: ContinuousClock.Instant
        var lastReceived = 0
    }

    let peer: String
    let interval: Duration
    let started: ContinuousClock.Instant
    private let state: NIOLockedValueBox<State>
    private let emit: @Sendable (Line) -> Void

    public init(peer: String, every interval: Duration, emit: @escaping @Sendable (Line) -> Void) {
        self.peer = peer
        self.interval = interval
        self.emit = emit
        let now = ContinuousClock.now
        started = now
        state = NIOLockedValueBox(State(lastEmit: now))
    }

    /// Takes the session's statistics after a frame; emits a line when one is due.
    public func update(_ statistics: SessionDriver.Statistics) {
        let now = ContinuousClock.now
        let due: Bool = state.withLockedValue { s in
            guard now - s.lastEmit >= interval, statistics.writesIn != s.lastReceived else { return false }
            s.lastEmit = now
            s.lastReceived = statistics.writesIn
            return true
        }
        guard due else { return }
        emit(line(statistics, at: now))
    }

    func line(_ s: SessionDriver.Statistics, at now: ContinuousClock.Instant) -> Line {
        let elapsed = now - started
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        let rate = seconds > 0 ? Double(s.writesIn) / seconds : 0
        var left: Double?
        if s.expectedWritesIn > s.writesIn, rate > 0 { left = Double(s.expectedWritesIn - s.writesIn) / rate }
        return Line(
            peer: peer, received: s.writesIn, expected: s.expectedWritesIn, perSecond: rate, secondsLeft: left)
    }
}
