import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import SyncCore
import SyncProtocol
import SyncStore
import SyncTransport

/// How a session with a peer ended, and what moved.
public struct SessionOutcome: Sendable {
    public var peer: String
    /// True when both sides caught up and said `BYE` (or a live session was stopped cleanly).
    public var succeeded: Bool
    /// A protocol or transport error code, when it failed.
    public var errorCode: PeerErrorCode?
    public var error: String?
    public var statistics: SessionDriver.Statistics
    public var protocolVersion: UInt32?
    /// The peer's clock minus ours when its HELLO arrived, seconds.
    public var clockSkewSeconds: Int64?
    /// This node's pending rotation was announced to the peer in this session.
    public var rotationSent = false
    /// The peer announced its next certificate and the announcement checked out.
    public var peerNextFingerprint: CertificateFingerprint?
    /// Why the peer's announcement was refused, if it was.
    public var rotationProblem: String?
    /// The fingerprint the peer authenticated with.
    public var presentedFingerprint: CertificateFingerprint?
    /// How a sync that needed no session of its own went (a live session carried it).
    public var note: String?
    /// The peer's announcement as received, before it is checked.
    var announcedRotation: RotationAnnouncement?

    public init(peer: String, succeeded: Bool, statistics: SessionDriver.Statistics = .init()) {
        self.peer = peer
        self.succeeded = succeeded
        self.statistics = statistics
    }
}

/// Why a session is being cut when it is not because the node stops: its closing `ERROR` says so.
public final class SessionStop: Sendable {
    private let reason = NIOLockedValueBox<(code: ErrorCode, detail: String)?>(nil)

    public init() {}

    /// Sets the code and text the session ends with when it is cancelled.
    public func set(_ code: ErrorCode, _ detail: String) {
        reason.withLockedValue { $0 = (code, detail) }
    }

    var closing: (code: ErrorCode, detail: String) {
        reason.withLockedValue { $0 } ?? (.shuttingDown, "the node is stopping")
    }
}

/// Runs one sync session over an authenticated connection: frames in, frames out, timers every
/// second, local changes pushed in live mode, and a clean `ERROR shutting_down` on cancellation.
public enum SessionRunner {
    enum Event {
        case frame(Frame)
        case closed((any Error)?)
        case tick
        case localChanges
        case shutdown
    }

    /// `onApplied` is called when a frame from the peer brought new writes into the store, so other
    /// live sessions can push them on at once. Every call into the session driver (which may block
    /// on the store) runs on `storeThreads`, one at a time, never on the cooperative pool.
    public static func run(
        _ connection: TransportConnection, store: Store, storeThreads: NIOThreadPool, mode: SessionMode,
        localChanges: AsyncStream<Void>? = nil,
        rotation: RotationAnnouncement? = nil, keyPolicy: any KeyAnchorPolicy = DeliveryAnchorPolicy(), logger: Logger,
        clock: @escaping @Sendable () -> UInt64, onApplied: @escaping @Sendable () -> Void = {},
        onCaughtUp: @escaping @Sendable () async -> Void = {}, stop: SessionStop = SessionStop(),
        progress: SyncProgress? = nil
    ) async -> SessionOutcome {
        let peerText = connection.peer.peerID
        var outcome = SessionOutcome(peer: peerText, succeeded: false, statistics: .init())
        let peer: NodeID
        do { peer = try NodeID(peerText) } catch {
            outcome.error = error.message
            outcome.errorCode = .wrongNode
            await connection.close()
            return outcome
        }
        do {
            outcome = try await connection.executeThenClose { inbound, outbound in
                try await drive(
                    inbound: inbound, outbound: outbound, store: store, storeThreads: storeThreads, peer: peer,
                    mode: mode,
                    localChanges: localChanges, rotation: rotation, keyPolicy: keyPolicy, logger: logger, clock: clock,
                    onApplied: onApplied, onCaughtUp: onCaughtUp, stop: stop, progress: progress)
            }
        } catch {
            outcome.error = "\(error)"
            outcome.errorCode = (error as? TransportError).map { PeerErrorCode($0.code) } ?? .transport
        }
        outcome.presentedFingerprint = connection.peer.fingerprint
        if let announced = outcome.announcedRotation {
            // Signed by the key that authenticated this very connection, for the same node id.
            let signed = RotationAnnouncement.signedBytes(announced.certificate)
            if !CertificateRotation.verify(announced.signature, over: signed, signer: connection.peer.certificate.der) {
                outcome.rotationProblem = "the signature does not verify against the certificate of this connection"
            } else {
                do {
                    let next = try PeerCertificate(der: announced.certificate)
                    if next.nodeID == peer.rawValue {
                        outcome.peerNextFingerprint = next.fingerprint
                    } else {
                        outcome.rotationProblem =
                            "the new certificate names \(next.nodeID.map { "node \(quoted: $0)" } ?? "no node"), not \(peer)"
                    }
                } catch {
                    outcome.rotationProblem = EscapedText.printable("\(error)")
                }
            }
        }
        return outcome
    }

    /// Refuses a peer's session on an authenticated connection: sends `ERROR code` and closes,
    /// after waiting briefly for the peer to close first (so the `ERROR` is not lost to a reset).
    public static func refuse(_ connection: TransportConnection, _ code: ErrorCode, _ detail: String) async {
        await connection.refuse(ProtocolError(code, detail))
    }

    static func drive(
        inbound: NIOAsyncChannelInboundStream<Frame>, outbound: NIOAsyncChannelOutboundWriter<Frame>, store: Store,
        storeThreads: NIOThreadPool, peer: NodeID, mode: SessionMode, localChanges: AsyncStream<Void>?,
        rotation: RotationAnnouncement?,
        keyPolicy: any KeyAnchorPolicy, logger: Logger, clock: @escaping @Sendable () -> UInt64,
        onApplied: @escaping @Sendable () -> Void,
        onCaughtUp: @escaping @Sendable () async -> Void, stop: SessionStop, progress: SyncProgress?
    ) async throws -> SessionOutcome {
        let work = try await storeThreads.runIfActive {
            DriverOnStoreThreads(
                try SessionDriver(store: store, peer: peer, mode: mode, rotation: rotation, keyPolicy: keyPolicy))
        }
        let driver = work.driver
        /// Runs one call into the driver on the store threads.
        func onStore(_ call: @escaping @Sendable (SessionDriver) -> [Frame]) async throws -> [Frame] {
            try await storeThreads.runIfActive { call(work.driver) }
        }
        let (events, sink) = AsyncStream<Event>.makeStream()
        return try await withTaskCancellationHandler {
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    // On cancellation (shutdown) the reader stops quietly: the `.shutdown` event ends
                    // the session with ERROR shutting_down instead of a torn connection.
                    do {
                        for try await frame in inbound { sink.yield(.frame(frame)) }
                        if !Task.isCancelled { sink.yield(.closed(nil)) }
                    } catch is CancellationError {
                        return
                    } catch {
                        if !Task.isCancelled { sink.yield(.closed(error)) }
                    }
                }
                group.addTask {
                    while !Task.isCancelled {
                        do { try await Task.sleep(for: .seconds(1)) } catch { return }
                        sink.yield(.tick)
                    }
                }
                if let localChanges {
                    group.addTask {
                        for await _ in localChanges { sink.yield(.localChanges) }
                    }
                }
                var transportError: (any Error)?
                var skew: Int64?
                var caughtUp = false
                try await outbound.write(contentsOf: onStore { $0.start(nowMillis: clock()) })
                loop: for await event in events {
                    let frames: [Frame]
                    switch event {
                    case .frame(let frame):
                        let before = driver.statistics.applied
                        frames = try await onStore { $0.receive(frame, nowMillis: clock()) }
                        if driver.statistics.applied > before { onApplied() }
                        progress?.update(driver.statistics)
                    case .tick: frames = try await onStore { $0.tick(nowMillis: clock()) }
                    case .localChanges: frames = try await onStore { $0.localChangesAvailable(nowMillis: clock()) }
                    case .shutdown:
                        let closing = stop.closing
                        frames = try await onStore { $0.abort(closing.code, closing.detail, nowMillis: clock()) }
                    case .closed(let error):
                        transportError = error
                        driver.transportClosed()
                        break loop
                    }
                    if !caughtUp, driver.pulledToEnd {
                        // A live session is in step from here on: that counts as a successful sync.
                        caughtUp = true
                        await onCaughtUp()
                    }
                    if skew == nil, let hello = driver.session.peerHello {
                        skew = (Int64(bitPattern: hello.wallMillis) - Int64(bitPattern: clock())) / 1000
                    }
                    if !frames.isEmpty { try await outbound.write(contentsOf: frames) }
                    if driver.isClosed { break }
                }
                if !driver.isClosed, Task.isCancelled {
                    // Shutdown: the event stream ends at once in a cancelled task, so say goodbye here.
                    let closing = stop.closing
                    // Without the store threads: aborting touches no store, and the pool may be stopping.
                    let frames = driver.abort(closing.code, closing.detail, nowMillis: clock())
                    do { try await outbound.write(contentsOf: frames) } catch {
                        logger.debug(
                            "could not send shutting_down", metadata: ["peer": "\(peer)", "error": "\(error)"])
                    }
                }
                group.cancelAll()
                sink.finish()
                var outcome = SessionOutcome(peer: peer.rawValue, succeeded: false, statistics: driver.statistics)
                outcome.protocolVersion = driver.session.version
                outcome.clockSkewSeconds = skew
                outcome.rotationSent = driver.rotationSent
                outcome.announcedRotation = driver.receivedRotation
                switch driver.closeReason {
                case .done?:
                    outcome.succeeded = true
                case .localError(let e)?:
                    outcome.succeeded = e.code == .shuttingDown
                    outcome.errorCode = PeerErrorCode(e.code)
                    outcome.error = e.detail
                case .peerError(let e)?:
                    outcome.errorCode = PeerErrorCode(e.code)
                    // The peer's own words: shown as its claim, escaped.
                    outcome.error = "\(peer) said: " + EscapedText.quote(e.detail, charactersMax: 512)
                case .transportClosed?, nil:
                    outcome.errorCode = (transportError as? TransportError).map { PeerErrorCode($0.code) } ?? .closed
                    outcome.error = transportError.map { "\($0)" } ?? "the connection closed before the sync finished"
                }
                return outcome
            }
        } onCancel: {
            sink.yield(.shutdown)
        }
    }
}

/// A session driver handed between the session's task and the store threads. The driver is not
/// thread-safe; the session's loop awaits each call before the next, so one thread uses it at a
/// time, which is what `@unchecked` promises here.
final class DriverOnStoreThreads: @unchecked Sendable {
    let driver: SessionDriver
    init(_ driver: SessionDriver) { self.driver = driver }
}
