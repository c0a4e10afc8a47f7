/// A hybrid logical clock stamp: 48 bits of milliseconds since the Unix epoch, then a 16-bit counter.
public struct HLC: Hashable, Comparable, Sendable, CustomStringConvertible {
    public let rawValue: UInt64

    public init(rawValue: UInt64) { self.rawValue = rawValue }

    public init(millis: UInt64, counter: UInt16) {
        precondition(millis < 1 << 48, "HLC milliseconds overflow 48 bits")
        self.rawValue = millis << 16 | UInt64(counter)
    }

    public var millis: UInt64 { rawValue >> 16 }
    public var counter: UInt16 { UInt16(truncatingIfNeeded: rawValue) }

    public static let zero = HLC(rawValue: 0)

    public static func < (lhs: HLC, rhs: HLC) -> Bool { lhs.rawValue < rhs.rawValue }

    public var description: String { "\(millis).\(counter)" }
}

/// The node's hybrid logical clock. The wall clock is passed in, never read here.
public struct HybridLogicalClock: Sendable, Equatable {
    /// The highest stamp issued or observed.
    public private(set) var last: HLC

    public init(last: HLC = .zero) { self.last = last }

    /// A stamp for a new local write, above every stamp seen so far.
    public mutating func tick(wallMillis: UInt64) -> HLC {
        if wallMillis > last.millis {
            last = HLC(millis: wallMillis, counter: 0)
        } else if last.counter == .max {
            last = HLC(millis: last.millis + 1, counter: 0)
        } else {
            last = HLC(millis: last.millis, counter: last.counter + 1)
        }
        return last
    }

    /// Advances past an accepted remote stamp.
    public mutating func observe(_ remote: HLC) {
        if remote > last { last = remote }
    }

    /// How far the clock runs ahead of the wall clock, in milliseconds (0 when behind).
    public func aheadMillis(ofWall wallMillis: UInt64) -> UInt64 {
        last.millis > wallMillis ? last.millis - wallMillis : 0
    }
}
