import Foundation
import Logging
import NIOCore
import NIOPosix
import SyncCore
import SyncProtocol
import SyncStore
import SyncTransport

/// Dials configured peers and runs sessions with them.
public enum PeerSync {
    /// Dials `peer` and runs a session; every failure, from DNS to the last frame, becomes an outcome.
    public static func dial(
        _ peer: NodeSettings.Peer, runtime: NodeRuntime, mode: SessionMode, localChanges: AsyncStream<Void>? = nil,
        onApplied: @escaping @Sendable () -> Void = {}, onCaughtUp: @escaping @Sendable () async -> Void = {},
        stop: SessionStop = SessionStop(), progress: SyncProgress? = nil
    ) async -> SessionOutcome {
        var failed = SessionOutcome(peer: peer.id.rawValue, succeeded: false, statistics: .init())
        do {
            let connection = try await TransportDialer.connect(
                host: peer.address.host, port: peer.address.port, expectedPeerID: peer.id.rawValue,
                configuration: runtime.transport, group: runtime.group,
                logger: runtime.logger)
            let outcome = await SessionRunner.run(
                connection, store: runtime.store, storeThreads: runtime.storeThreads, mode: mode,
                localChanges: localChanges, rotation: runtime.rotation,
                keyPolicy: runtime.keyPolicy,
                logger: runtime.logger, clock: { WallClock.now() }, onApplied: onApplied, onCaughtUp: onCaughtUp,
                stop: stop, progress: progress)
            runtime.afterSession(outcome)
            return outcome
        } catch let error as TransportError {
            failed.errorCode = PeerErrorCode(error.code)
            failed.error = error.message
        } catch let error as SyncError {
            failed.errorCode = PeerErrorCode(error.code)
            failed.error = error.message
        } catch let error as NIOConnectionError {
            failed.errorCode = .unreachable
            let reasons = error.connectionErrors.map { failure -> String in
                if let io = failure.error as? IOError { return String(cString: strerror(io.errnoCode)).lowercased() }
                return "\(failure.error)"
            }
            let why =
                reasons.isEmpty
                ? (error.dnsAError ?? error.dnsAAAAError).map { "\($0)" } ?? "no address"
                : reasons.joined(separator: ", ")
            failed.error = "cannot reach \(peer.address): \(why) (is the peer's daemon running and the address right?)"
        } catch {
            failed.errorCode = .unreachable
            failed.error = "cannot reach \(peer.address): \(error)"
        }
        return failed
    }

    /// One-shot sync with each of `peers` in turn (releasing parked writes whose time has come
    /// first), each recorded in the peers' status as `via`.
    public static func once(
        _ peers: [NodeSettings.Peer], runtime: NodeRuntime, via: String = "spsync sync",
        progress: (String) -> SyncProgress? = { _ in nil }
    ) async -> [SessionOutcome] {
        var outcomes: [SessionOutcome] = []
        await releaseParked(runtime)
        for peer in peers {
            let startedAt = WallClock.now()
            let outcome = await dial(peer, runtime: runtime, mode: .oneShot, progress: progress(peer.id.rawValue))
            do {
                try PeerStatusFile.record(
                    [(outcome, startedAt, WallClock.now())], via: via, config: runtime.config, home: runtime.home,
                    localSeq: (try? runtime.store.lastLocalSeq()) ?? 0)
            } catch {
                runtime.logger.warning("cannot save peer status", metadata: ["error": "\(error)"])
            }
            runtime.logger.info(
                outcome.succeeded ? "sync done" : "sync failed",
                metadata: [
                    "peer": "\(peer.id)", "in": "\(outcome.statistics.applied)",
                    "out": "\(outcome.statistics.writesOut)",
                    "error": "\(outcome.error ?? "")",
                ])
            outcomes.append(outcome)
        }
        await releaseParked(runtime)
        return outcomes
    }

    /// Applies parked writes whose time has come; returns how many (0 when it failed, logged).
    @discardableResult
    static func releaseParked(_ runtime: NodeRuntime) async -> Int {
        do {
            let n = try await runtime.storeWork { try runtime.store.releaseParked(wallMillis: WallClock.now()) }
            if n > 0 { runtime.logger.info("released parked writes", metadata: ["count": "\(n)"]) }
            return n
        } catch {
            runtime.logger.error("releasing parked writes failed", metadata: ["error": "\(error)"])
            return 0
        }
    }
}
