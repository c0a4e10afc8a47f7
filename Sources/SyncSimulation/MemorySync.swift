import SyncCore
import SyncProtocol
import SyncStore

/// Sessions over a perfect in-memory connection: frames are passed whole, in order, at once.
/// Tests, the benchmark and the simulator's healing rounds use it.
public enum MemorySync {
    /// The outcome of one session between two stores.
    public struct Outcome: Sendable {
        public var a: SessionDriver.Statistics
        public var b: SessionDriver.Statistics
        public var aReason: Session.CloseReason?
        public var bReason: Session.CloseReason?
        /// Both sides ended with `BYE`.
        public var clean: Bool { aReason == .done && bReason == .done }
    }

    /// Runs one one-shot session between `a` (dialing) and `b` until both close; both anchor the
    /// key bindings they receive with `keyPolicy`.
    @discardableResult
    public static func sync(
        _ a: Store, _ b: Store, nowMillis: UInt64, limits: Limits? = nil,
        keyPolicy: any KeyAnchorPolicy = DeliveryAnchorPolicy()
    ) throws -> Outcome {
        let da = try SessionDriver(
            store: a, peer: try b.nodeState().node, mode: .oneShot, limits: limits, keyPolicy: keyPolicy)
        let db = try SessionDriver(
            store: b, peer: try a.nodeState().node, mode: .oneShot, limits: limits, keyPolicy: keyPolicy)
        pump(da, db, nowMillis: nowMillis)
        return Outcome(a: da.statistics, b: db.statistics, aReason: da.closeReason, bReason: db.closeReason)
    }

    /// Starts both drivers and passes frames between them until neither has anything to send.
    public static func pump(_ a: SessionDriver, _ b: SessionDriver, nowMillis: UInt64) {
        var toB = a.start(nowMillis: nowMillis)[...]
        var toA = b.start(nowMillis: nowMillis)[...]
        while !toA.isEmpty || !toB.isEmpty {
            if let f = toB.popFirst() {
                if !b.isClosed { toA.append(contentsOf: b.receive(f, nowMillis: nowMillis)) }
            } else if let f = toA.popFirst() {
                if !a.isClosed { toB.append(contentsOf: a.receive(f, nowMillis: nowMillis)) }
            }
        }
        if !a.isClosed { a.transportClosed() }
        if !b.isClosed { b.transportClosed() }
    }
}
