import Foundation
import NIOConcurrencyHelpers
import SyncNode
import SyncProtocol
import Testing

@Suite("progress lines of a long sync")
struct SyncProgressTests {
    @Test("a line says received of the announced total, the rate and the time left, with thousands grouped")
    func text() {
        let line = SyncProgress.Line(
            peer: "U12345", received: 12_345, expected: 80_003, perSecond: 9_350.4, secondsLeft: 7.2)
        #expect(line.text == "U12345: 12,345 of at most 80,003 field writes, 9,350/s, about 7 s left")
        // No total announced (an older peer), or a live stream past it: no "of", no time left.
        let open = SyncProgress.Line(peer: "U12345", received: 950, expected: 0, perSecond: 12, secondsLeft: nil)
        #expect(open.text == "U12345: 950 field writes, 12/s")
        let past = SyncProgress.Line(
            peer: "U12345", received: 90_000, expected: 80_003, perSecond: 5_000, secondsLeft: nil)
        #expect(past.text == "U12345: 90,000 field writes, 5,000/s")
    }

    @Test("a line is emitted only when writes arrived since the last, and at most once per interval")
    func throttle() {
        let lines = NIOLockedValueBox<[SyncProgress.Line]>([])
        let fast = SyncProgress(peer: "U12345", every: .zero) { line in lines.withLockedValue { $0.append(line) } }
        var s = SessionDriver.Statistics()
        s.expectedWritesIn = 100
        fast.update(s)  // nothing received yet
        s.writesIn = 10
        fast.update(s)
        fast.update(s)  // nothing new
        s.writesIn = 40
        fast.update(s)
        #expect(lines.withLockedValue { $0.map(\.received) } == [10, 40])
        #expect(lines.withLockedValue { $0.last?.expected } == 100)
        #expect(lines.withLockedValue { $0.last?.secondsLeft.map { $0 > 0 } } == true)

        let slow = SyncProgress(peer: "U12345", every: .seconds(3600)) { line in
            lines.withLockedValue { $0.append(line) }
        }
        s.writesIn = 50
        slow.update(s)
        #expect(lines.withLockedValue { $0.count } == 2, "a line came before its interval")
    }
}
